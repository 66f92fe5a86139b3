"""What each promise allows on Linux: the one table (OpenBSD's kern_pledge.c is the model).

Read a promise's entry to see every syscall it allows and under which
argument tests. A rule whose ``needs`` names several promises allows the call
only when all of them are held (``open(O_RDWR)`` needs "rpath wpath").
Syscalls in no rule are violations; ``ENOSYS`` lists those that fail with
ENOSYS instead, so libc falls back to calls whose arguments can be checked.
"""

from __future__ import annotations

from .consts import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_UNIX,
    ARCH_GET_FS,
    ARCH_GET_GS,
    ARCH_SET_FS,
    AT_EMPTY_PATH,
    AT_REMOVEDIR,
    CLONE_NAMESPACES,
    CLONE_PTRACE,
    CLONE_THREAD_FLAGS,
    CLONE_UNTRACED,
    EACCES,
    EPERM,
    F_ADD_SEALS,
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_GET_SEALS,
    F_GETFD,
    F_GETFL,
    F_GETLK,
    F_GETOWN,
    F_GETOWN_EX,
    F_GETPIPE_SZ,
    F_GETSIG,
    F_OFD_GETLK,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_SETFD,
    F_SETFL,
    F_SETLK,
    F_SETLKW,
    F_SETOWN,
    F_SETOWN_EX,
    F_SETPIPE_SZ,
    F_SETSIG,
    FIOCLEX,
    FIONBIO,
    FIONCLEX,
    FIONREAD,
    IOC_DIR_MASK,
    IOC_TYPE_MASK,
    IOC_TYPE_VIDEO,
    IP_ADD_MEMBERSHIP,
    IP_DROP_MEMBERSHIP,
    IP_MINTTL,
    IP_MTU_DISCOVER,
    IP_MULTICAST_IF,
    IP_MULTICAST_LOOP,
    IP_MULTICAST_TTL,
    IP_PKTINFO,
    IP_RECVERR,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_DONTFRAG,
    IPV6_JOIN_GROUP,
    IPV6_LEAVE_GROUP,
    IPV6_MINHOPCOUNT,
    IPV6_MULTICAST_HOPS,
    IPV6_MULTICAST_IF,
    IPV6_MULTICAST_LOOP,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVPKTINFO,
    IPV6_RECVTCLASS,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    MADV_HWPOISON,
    MADV_SOFT_OFFLINE,
    MTIOCGET,
    MTIOCTOP,
    NETLINK_ROUTE,
    O__TMPFILE,
    O_ACCMODE,
    O_ASYNC,
    O_CREAT,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    PR_GET_DUMPABLE,
    PR_GET_NAME,
    PR_GET_NO_NEW_PRIVS,
    PR_GET_PDEATHSIG,
    PR_GET_SECCOMP,
    PR_SET_DUMPABLE,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    PR_SET_VMA,
    PROT_EXEC,
    RETRY_REFUSED,
    S_IFBLK,
    S_IFCHR,
    S_IFIFO,
    S_IFMT,
    S_ISGID,
    S_ISUID,
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_SET_MODE_FILTER,
    SIGABRT,
    SIGSYS,
    SIOCATMARK,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PEERCRED,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_RCVTIMEO,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_SNDTIMEO,
    SO_TIMESTAMP,
    SO_TYPE,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    SOCK_TYPE_MASK,
    SOL_SOCKET,
    TCFLSH,
    TCGETS,
    TCP_CORK,
    TCP_FASTOPEN,
    TCP_FASTOPEN_CONNECT,
    TCP_INFO,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_MAXSEG,
    TCP_MD5SIG,
    TCP_NODELAY,
    TCP_QUICKACK,
    TCP_USER_TIMEOUT,
    TCSBRK,
    TCSBRKP,
    TCSETS,
    TCSETSF,
    TCSETSW,
    TCXONC,
    TIOCCBRK,
    TIOCGPGRP,
    TIOCGPTN,
    TIOCGPTPEER,
    TIOCGWINSZ,
    TIOCNOTTY,
    TIOCOUTQ,
    TIOCSBRK,
    TIOCSCTTY,
    TIOCSPGRP,
    TIOCSPTLCK,
    TIOCSWINSZ,
    UINT32_NEG1,
)
from .rules import (
    OWN_GIDS,
    OWN_UID,
    PATHS_HELD,
    SELF,
    Rule,
    allow,
    allow_any,
    bits_clear,
    bits_set,
    fail,
    from_handler,
    is_descriptor,
    is_self,
    none_of,
    null,
    one_of,
    when,
)

IMPORT_HINT = 'importing a module that was not imported before pledge() needs "rpath"'
EXTENSION_HINT = ("loading an extension module needs it: import it before pledge(), "
                  "or call pledgepy.unveil_imports() first")
SETID_BITS = S_ISUID | S_ISGID
CREATE_BITS = O_CREAT | O__TMPFILE


def _open_rules(syscall: str, flags: int, mode: int) -> tuple[Rule, ...]:
    """open/openat: the access mode, O_TRUNC and creation each need their promise.

    O_RDONLY needs rpath, O_WRONLY wpath, O_RDWR both; access mode 3 none (OpenBSD:
    EINVAL; Landlock checks no right for it, so it would open files unveil hides);
    O_TRUNC adds wpath;
    O_CREAT/O_TMPFILE add cpath and may not set setuid/setgid bits.
    O_PATH descriptors (no I/O) need rpath, or unveil (:func:`_o_path_rule`).
    """
    reading = one_of(flags, O_RDONLY, mask=O_ACCMODE)
    writing = one_of(flags, O_WRONLY, mask=O_ACCMODE)
    both = one_of(flags, O_RDWR, mask=O_ACCMODE)
    no_trunc, no_create = bits_clear(flags, O_TRUNC), bits_clear(flags, CREATE_BITS)
    create, plain_mode = none_of(flags, 0, mask=CREATE_BITS), bits_clear(mode, SETID_BITS)
    return (
        when("rpath", syscall, reading, no_trunc, no_create, hint=IMPORT_HINT),
        when("wpath", syscall, writing, no_create),
        when("rpath wpath", syscall, both, no_create),
        when("rpath wpath", syscall, reading, bits_set(flags, O_TRUNC), no_create),
        when("rpath cpath", syscall, reading, no_trunc, create, plain_mode),
        when("wpath cpath", syscall, writing, create, plain_mode),
        when("rpath wpath cpath", syscall, both, create, plain_mode),
        when("rpath wpath cpath", syscall, reading, create, plain_mode),
    )


def _o_path_rule(syscall: str, flags: int) -> Rule:
    """O_PATH descriptors (no I/O): what unveil needs to name paths for Landlock."""
    return when("unveil", syscall, bits_set(flags, O_PATH), bits_clear(flags, CREATE_BITS | O_TRUNC))


_STDIO_FCNTL = (F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_GETOWN, F_GETSIG, F_GETOWN_EX,
                F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS)
_LOCK_FCNTL = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
_STDIO_PRCTL = (PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP, PR_SET_NO_NEW_PRIVS,
                PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_GET_DUMPABLE,
                PR_GET_PDEATHSIG, PR_SET_PDEATHSIG, PR_SET_VMA)
# isatty() is ioctl(TCGETS) on Linux; OpenBSD answers it under stdio too (F_ISATTY).
_STDIO_IOCTL = (FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS)
_TTY_IOCTL = (TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TCFLSH,
              TCXONC, TCSBRK, TCSBRKP, TIOCSBRK, TIOCCBRK, TIOCOUTQ, TIOCSCTTY, TIOCNOTTY,
              TIOCGPTN, TIOCSPTLCK)
_SOCKOPT_SOCKET_READ = (SO_TYPE, SO_ERROR, SO_RCVBUF, SO_SNDBUF, SO_DOMAIN, SO_PROTOCOL,
                        SO_ACCEPTCONN)
_SOCKOPT_SOCKET = (SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_LINGER,
                   SO_OOBINLINE, SO_RCVLOWAT, SO_SNDLOWAT, SO_RCVTIMEO, SO_SNDTIMEO,
                   SO_RCVBUF, SO_SNDBUF, SO_TIMESTAMP, SO_TYPE, SO_ERROR, SO_DOMAIN,
                   SO_PROTOCOL, SO_ACCEPTCONN, SO_PEERCRED)
_SOCKOPT_TCP = (TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
                TCP_INFO, TCP_QUICKACK, TCP_FASTOPEN, TCP_USER_TIMEOUT, TCP_FASTOPEN_CONNECT)
_SOCKOPT_IP = (IP_TOS, IP_TTL, IP_RECVERR, IP_MTU_DISCOVER, IP_RECVTTL)
_SOCKOPT_IPV6 = (IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_RECVERR)
#: What OpenBSD's pledge_sockopt adds for inet (and, at SOL_SOCKET, unix) beyond the
#: lists above, where Linux has the option: any SOL_SOCKET option but SO_RTABLE;
#: IP_MINTTL and IP_RECVDSTADDR (Linux's IP_PKTINFO); the IPv6 receive options. Under
#: dns OpenBSD adds only IPV6_RECVPKTINFO (and IPV6_USE_MIN_MTU, not Linux's).
_INET_SOCKET = (*_SOCKOPT_SOCKET, SO_DEBUG, SO_DONTROUTE)
_INET_TCP = (*_SOCKOPT_TCP, TCP_MD5SIG)
_INET_IP = (*_SOCKOPT_IP, IP_MINTTL, IP_PKTINFO)
_INET_IPV6 = (*_SOCKOPT_IPV6, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS,
              IPV6_DONTFRAG, IPV6_MINHOPCOUNT)
_DNS_IPV6 = (*_SOCKOPT_IPV6, IPV6_RECVPKTINFO)
_MCAST_IP = (IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_ADD_MEMBERSHIP,
             IP_DROP_MEMBERSHIP)
_MCAST_IPV6 = (IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_JOIN_GROUP,
               IPV6_LEAVE_GROUP)
_NO_NEW_NAMESPACES = bits_clear(0, CLONE_NAMESPACES | CLONE_PTRACE | CLONE_UNTRACED)
_STAT_HINT = IMPORT_HINT


def _sockopts(needs: str, level: int, names: tuple[int, ...]) -> tuple[Rule, ...]:
    return (when(needs, "setsockopt", one_of(1, level), one_of(2, *names)),
            when(needs, "getsockopt", one_of(1, level), one_of(2, *names)))


#: The nscd probe traps under a pledge that holds none of its refusals' promises, and
#: "needs unix" alone sends the reader the wrong way: with unix the lookup goes on to
#: read its files and traps again, on what dns or getpw allow.
NSCD_HINT = ('glibc\'s nscd probe before a lookup: a host or service lookup needs "dns", '
             'a user or group lookup "getpw"')


#: OpenBSD's syslog(3) sends through sendsyslog(2), which every pledge allows; Linux's
#: connects a datagram unix socket to /dev/log, which needs "unix" (and would reach any
#: unix socket: BPF cannot see the address). Connected before the pledge, the log is
#: written with send(), a stdio call.
SYSLOG_HINT = ("syslog on Linux sends to /dev/log through a unix socket (OpenBSD's "
               "sendsyslog(2) needs no promise): open it before pledge(), with openlog() and "
               "LOG_NDELAY, or logging's SysLogHandler")


def _nscd_probe(needs: str) -> Rule:
    """glibc's nscd probe, exactly as it spells it: refused quietly, so glibc uses its files."""
    return fail(needs, "socket", EACCES, one_of(0, AF_UNIX),
                one_of(1, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK), one_of(2, 0),
                why="glibc probes nscd before every lookup; a failed socket() means no nscd",
                hint=NSCD_HINT)


def netlink_probe(needs: str) -> Rule:
    """glibc's getaddrinfo(AI_ADDRCONFIG) asks the kernel's routing socket which address
    families have addresses (check_pf), exactly as it spells it: refused quietly, so
    glibc assumes both (OpenBSD has no netlink; Python's AI_ADDRCONFIG died of it)."""
    return fail(needs, "socket", EACCES, one_of(0, AF_NETLINK),
                one_of(1, SOCK_RAW | SOCK_CLOEXEC), one_of(2, NETLINK_ROUTE),
                why="glibc asks netlink for AI_ADDRCONFIG; a failed socket() means both families")


def _inet_socket(needs: str) -> Rule:
    return when(needs, "socket", one_of(0, AF_INET, AF_INET6),
                one_of(1, SOCK_STREAM, SOCK_DGRAM, mask=SOCK_TYPE_MASK),
                one_of(2, 0, IPPROTO_TCP, IPPROTO_UDP))


#: OpenBSD's path allowances (kern_pledge.c pledge_namei): promise -> (path, unveil letters).
#: BPF cannot see paths, so such an open traps like any violation; the SIGSYS handler
#: makes it again from its own call site, which the filter lets through only while a
#: Landlock layer whose rights cover exactly these paths is in force (:data:`PATHS_HELD`,
#: landlock/allowances.py). What the layer refuses is a violation, as on OpenBSD.
#: Missing paths grant nothing; a directory grants its whole tree.
PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "stdio": (
        ("/dev/null", "rw"),  # answered by the handler from a descriptor: see DUPED
        ("/etc/localtime", "r"),
        # CPython's default TZPATH: zoneinfo.ZoneInfo() under stdio
        ("/usr/share/zoneinfo", "r"), ("/usr/lib/zoneinfo", "r"),
        ("/usr/share/lib/zoneinfo", "r"), ("/etc/zoneinfo", "r"),
        # glibc's CPU count (sysconf, malloc's arena limit): os.cpu_count(), executors
        ("/sys/devices/system/cpu/online", "r"), ("/sys/devices/system/cpu/possible", "r"),
        ("/sys/devices/system/cpu/present", "r"),
        # glibc's malloc, before it shrinks a thread's arena (MADV_DONTNEED or not): any
        # threaded program that frees memory (pledge.com unveils it under stdio too)
        ("/proc/sys/vm/overcommit_memory", "r"),
    ),
    "dns": (
        ("/etc/resolv.conf", "r"), ("/etc/hosts", "r"), ("/etc/services", "r"),
        ("/etc/protocols", "r"),
        # what glibc's resolver reads on Linux besides
        ("/etc/nsswitch.conf", "r"), ("/etc/gai.conf", "r"), ("/etc/host.conf", "r"),
    ),
    "getpw": (
        ("/etc/passwd", "r"), ("/etc/group", "r"),  # never shadow
        ("/etc/nsswitch.conf", "r"),
    ),
    "tmppath": (("/tmp", "rwc"),),
    # the controlling terminal (getpass, a shell's check_dev_tty); under the pledge
    # command the supervisor answers it instead (exec/ttyopen.py)
    "tty": (("/dev/tty", "rw"),),
}
#: Allowance paths the handler answers with a copy of a descriptor opened before the
#: filter, so they need no Landlock layer (which would cost every open of the program).
DUPED: frozenset[str] = frozenset({"/dev/null"})


def _allowance_rules(promise: str, syscall: str, flags: int, mode: int) -> tuple[Rule, ...]:
    """The opens *promise*'s :data:`PATHS` need, never O_PATH (Landlock does not check it)."""
    needs = f"{promise} {PATHS_HELD}"
    letters = "".join(sorted({c for p, m in PATHS[promise] if p not in DUPED for c in m}))
    reading = one_of(flags, O_RDONLY, mask=O_ACCMODE)
    no_path = from_handler(), bits_clear(flags, O_PATH)
    no_create = bits_clear(flags, CREATE_BITS)
    why = "the paths OpenBSD lets through (see Differences from OpenBSD)"
    rules = [when(needs, syscall, reading, no_create, bits_clear(flags, O_TRUNC), *no_path, why=why)]
    if "w" in letters:  # O_CREAT: Python's open(os.devnull, "w"); the layer refuses creating
        rules.append(when(needs, syscall, one_of(flags, O_WRONLY, O_RDWR, mask=O_ACCMODE),
                          bits_clear(flags, O__TMPFILE), bits_clear(mode, SETID_BITS), *no_path,
                          why=why))
    if "c" in letters:  # creating for reading (writing is the rule above): only O_RDONLY,
        # whose file_open check Landlock makes (access mode 3 has neither read nor write
        # for it), without O_TRUNC (unchecked by Landlock before ABI 3) and never O_TMPFILE
        # (no creation right checks it; the handler answers it EOPNOTSUPP, as a
        # filesystem without it does, and tempfile falls back)
        rules.append(when(needs, syscall, reading, bits_set(flags, O_CREAT),
                          bits_clear(flags, O__TMPFILE | O_TRUNC), bits_clear(mode, SETID_BITS),
                          *no_path, why=why))
    return tuple(rules)


def _paths_rules() -> dict[str, tuple[Rule, ...]]:
    out: dict[str, tuple[Rule, ...]] = {}
    for promise in PATHS:
        rules = (*_allowance_rules(promise, "open", 1, 2), *_allowance_rules(promise, "openat", 2, 3))
        if promise == "tmppath":
            needs = f"tmppath {PATHS_HELD}"
            rules += (when(needs, "unlink", from_handler()),
                      when(needs, "unlinkat", from_handler(), bits_clear(2, AT_REMOVEDIR)))
        out[promise] = rules
    # The handler makes these calls again for any promise; the shapes no held promise
    # allows fail (it then reports the violation) instead of trapping inside it.
    # with an errno no kernel returns (RETRY_REFUSED), so that a real EPERM of the retried
    # call (a devices cgroup, a sealed file) reaches the program as itself
    out[PATHS_HELD] = tuple(fail(PATHS_HELD, name, RETRY_REFUSED, from_handler(),
                                 why="the handler's retry")
                            for name in ("open", "openat", "unlink", "unlinkat"))
    return out


PATHS_RULES = _paths_rules()

#: Allowed under every promise set, even "": exiting, narrowing (like OpenBSD's
#: PLEDGE_ALWAYS), and what the violation handler needs to report and abort.
#: Narrowing includes entering a nested Landlock domain (restrict_self and
#: NO_NEW_PRIVS only ever take away; a ruleset fd grants nothing by itself).
ALWAYS: tuple[Rule, ...] = (
    *allow("", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "getpid", "gettid"),
    # NEW_LISTENER: a child narrowed before exec hands its violations to the
    # explainer (exec/explain.py); a listener's USER_NOTIF ranks below every other
    # verdict, so it can only hear calls the filters already in force allow
    when("", "seccomp", one_of(0, SECCOMP_SET_MODE_FILTER),
         one_of(1, 0, SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_NEW_LISTENER)),
    *allow("", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"),
    when("", "prctl", one_of(0, PR_SET_NO_NEW_PRIVS)),
    when("", "write", one_of(0, 2)),
    when("", "rt_sigaction", one_of(0, SIGABRT)),
    when("", "tgkill", is_self(0), one_of(2, SIGABRT)),
)

#: promise -> the rules it contributes. Conjunctive rules ("rpath wpath") are
#: listed under the first promise they name.
POLICY: dict[str, tuple[Rule, ...]] = {
    "stdio": (
        *allow("stdio",
               # descriptors and I/O
               "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
               "pwritev", "preadv2", "pwritev2", "close", "close_range", "dup", "dup2",
               "dup3", "lseek", "fsync", "fdatasync", "ftruncate", "fstat", "sendfile",
               "splice", "tee", "vmsplice", "copy_file_range", "fadvise64",
               "sync_file_range", "pipe", "pipe2", "poll", "ppoll", "select",
               "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
               "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
               "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
               "recvfrom", "shutdown", "getsockname", "getpeername", "umask",
               # memory
               "brk", "munmap", "mremap", "mincore", "msync", "mlock", "mlock2", "munlock",
               # time
               "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
               "gettimeofday", "time", "getitimer", "setitimer", "alarm", "pause", "times",
               "getrusage",
               # POSIX timers: setitimer's per-process kin (GNU timeout(1) arms one); a
               # timer signals only its own process (SIGEV_THREAD_ID: a thread of it)
               "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
               "timer_delete",
               # identity of self
               "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
               "getresgid", "getgroups", "getpgid", "getpgrp", "getsid", "getrlimit",
               "uname", "sysinfo", "getrandom", "getcpu", "sched_getaffinity",
               "sched_yield",
               # signals (rt_sigaction below)
               "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
               "sigaltstack", "restart_syscall",
               # threads and waiting
               "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
               "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
               "membarrier", "wait4", "waitid"),
        # SIGSYS carries the penalty: its handler may be read but never replaced, so a
        # violation cannot be caught and survived (OpenBSD's SIGABRT is uncatchable).
        when("stdio", "rt_sigaction", none_of(0, SIGSYS)),
        when("stdio", "rt_sigaction", one_of(0, SIGSYS), null(1)),
        when("stdio", "socketpair", one_of(0, AF_UNIX)),
        # advice on its own memory, never memory failure injection: a poisoned page is
        # taken from every process mapping it (a page of libc: each dies of SIGBUS)
        when("stdio", "madvise", none_of(2, MADV_HWPOISON, MADV_SOFT_OFFLINE)),
        when("stdio", "mmap", bits_clear(2, PROT_EXEC)),
        when("stdio", "mprotect", bits_clear(2, PROT_EXEC)),
        when("stdio", "pkey_mprotect", bits_clear(2, PROT_EXEC)),
        when("stdio", "fcntl", one_of(1, *_STDIO_FCNTL)),
        # O_ASYNC makes the kernel signal the descriptor's owner, which a tty
        # sets to its foreground group: another process group (see proc)
        when("stdio", "fcntl", one_of(1, F_SETFL), bits_clear(2, O_ASYNC)),
        when("stdio", "ioctl", one_of(1, *_STDIO_IOCTL)),
        when("stdio", "prctl", one_of(0, *_STDIO_PRCTL)),
        # non-dumpable only (no core, no ptrace by its own user: less, never more);
        # GNU timeout sets it before it re-raises its child's fatal signal
        when("stdio", "prctl", one_of(0, PR_SET_DUMPABLE), one_of(1, 0)),
        when("stdio", "arch_prctl", one_of(0, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS)),
        when("stdio", "prlimit64", one_of(0, 0, SELF), null(2)),  # read own limits only
        when("stdio", "sendto", null(4)),
        when("stdio", "kill", is_self(0)),
        when("stdio", "tgkill", is_self(0)),
        when("stdio", "rt_sigqueueinfo", is_self(0)),
        when("stdio", "rt_tgsigqueueinfo", is_self(0)),
        # threads: the flags pthread_create passes, never a new namespace
        when("stdio", "clone", bits_set(0, CLONE_THREAD_FLAGS), _NO_NEW_NAMESPACES),
        # fstat(fd) as glibc spells it; the handler turns a "" path into NULL. Only of
        # a descriptor: since Linux 6.11 a NULL path names the dirfd, so AT_FDCWD
        # (or any negative one) would stat the working directory, which needs rpath
        when("stdio", "newfstatat", is_descriptor(0), null(1), bits_set(3, AT_EMPTY_PATH)),
        when("stdio", "statx", is_descriptor(0), null(1), bits_set(2, AT_EMPTY_PATH)),
        *_sockopts("stdio", SOL_SOCKET, _SOCKOPT_SOCKET_READ),
        # OpenBSD's pledge_sockopt lets stdio alone set these on any socket held (one
        # received or opened before the pledge): asyncio sets TCP_NODELAY on each TCP
        # transport it makes
        *_sockopts("stdio", IPPROTO_TCP, (TCP_NODELAY,)),
        *_sockopts("stdio", IPPROTO_IP, (IP_TOS,)),
        *_sockopts("stdio", IPPROTO_IPV6, (IPV6_TCLASS,)),
        *allow("stdio", "capget",
               why="reads capability sets, as id(1) and node do; changing them (capset) is never allowed"),
        *allow("stdio", "pkey_alloc", "pkey_free",
               why="memory protection keys only take access away from this process's own pages"),
        # OpenBSD's [SYS_fchdir] = PLEDGE_STDIO: into a directory the process holds open;
        # what it then opens relative to it still needs rpath and the unveil rules
        *allow("stdio", "fchdir", why="changes to a directory already open"),
    ),
    "rpath": (
        *_open_rules("open", 1, 2),
        *_open_rules("openat", 2, 3),
        *allow("rpath", "chdir", "getdents", "getdents64", "statfs", "fstatfs",
               hint=_STAT_HINT),
        *allow_any("rpath wpath cpath", "getcwd", hint=_STAT_HINT),
        *allow_any("rpath wpath cpath dpath", "stat", "lstat", "newfstatat", "statx",
                   hint=_STAT_HINT),
        *allow_any("rpath wpath", "access", "faccessat", "faccessat2", "readlink",
                   "readlinkat", hint=_STAT_HINT),
        *allow("rpath", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
               "flistxattr", why="read-only metadata, as ls -l reads for ACLs and SELinux labels"),
        # With rpath a program reads /etc/passwd itself, as on OpenBSD (pwd.db); glibc
        # asks nscd first (bash does at start-up when HOME or SHELL is unset).
        _nscd_probe("rpath"),
    ),
    "wpath": (
        *allow("wpath", "truncate"),
    ),
    "cpath": (
        when("wpath cpath", "creat", bits_clear(1, SETID_BITS)),
        *allow("cpath", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
               "symlinkat", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat"),
    ),
    # dpath: FIFOs and device nodes, never regular files (cpath) or setid bits
    "dpath": (
        when("dpath", "mknod", one_of(1, S_IFIFO, S_IFCHR, S_IFBLK, mask=S_IFMT),
             bits_clear(1, SETID_BITS)),
        when("dpath", "mknodat", one_of(2, S_IFIFO, S_IFCHR, S_IFBLK, mask=S_IFMT),
             bits_clear(2, SETID_BITS)),
    ),
    # tmppath: OpenBSD limits it to /tmp by path; BPF cannot read paths (see NO_MEANING).
    "tmppath": (),
    "inet": (
        _inet_socket("inet"),
        netlink_probe("inet"),
        *allow("inet", "connect", "bind", "listen", "accept", "accept4"),
        when("inet", "sendto"),
        when("inet", "ioctl", one_of(1, SIOCATMARK)),
        *_sockopts("inet", SOL_SOCKET, _INET_SOCKET),
        *_sockopts("inet", IPPROTO_TCP, _INET_TCP),
        *_sockopts("inet", IPPROTO_IP, _INET_IP),
        *_sockopts("inet", IPPROTO_IPV6, _INET_IPV6),
    ),
    "mcast": (
        *_sockopts("inet mcast", IPPROTO_IP, _MCAST_IP),
        *_sockopts("inet mcast", IPPROTO_IPV6, _MCAST_IPV6),
    ),
    "fattr": (
        when("fattr", "chmod", bits_clear(1, SETID_BITS)),
        when("fattr", "fchmod", bits_clear(1, SETID_BITS)),
        when("fattr", "fchmodat", bits_clear(2, SETID_BITS)),
        when("fattr", "fchmodat2", bits_clear(2, SETID_BITS)),
        *allow("fattr", "utime", "utimes", "utimensat", "futimesat"),
        # chown to yourself and your own groups (-1 leaves one unchanged)
        *(when("fattr", name, one_of(u, OWN_UID, UINT32_NEG1), one_of(u + 1, OWN_GIDS, UINT32_NEG1))
          for name, u in (("chown", 1), ("fchown", 1), ("lchown", 1), ("fchownat", 2))),
        # any other uid or group fails with EPERM, as OpenBSD's pledge_chown() answers it
        # (GNU sed -i, xz and cp -p copy a file's group and go on when that fails); under
        # chown its unconditional rules allow them first
        *(fail("fattr", name, EPERM, none_of(i, OWN_UID, UINT32_NEG1) if i == u else
               none_of(i, OWN_GIDS, UINT32_NEG1), why="OpenBSD's fattr: a chown to another "
               "uid or group fails with EPERM (chown lets it run)")
          for name, u in (("chown", 1), ("fchown", 1), ("lchown", 1), ("fchownat", 2))
          for i in (u, u + 1)),
    ),
    "chown": (
        *allow("chown", "chown", "fchown", "lchown", "fchownat"),
    ),
    "flock": (
        *allow("flock", "flock"),
        when("flock", "fcntl", one_of(1, *_LOCK_FCNTL)),
    ),
    "unix": (
        when("unix", "socket", one_of(0, AF_UNIX),
             one_of(1, SOCK_STREAM, SOCK_SEQPACKET, mask=SOCK_TYPE_MASK), one_of(2, 0)),
        # a datagram one is what syslog(3) and logging's SysLogHandler open on first use
        when("unix", "socket", one_of(0, AF_UNIX), one_of(1, SOCK_DGRAM, mask=SOCK_TYPE_MASK),
             one_of(2, 0), hint=SYSLOG_HINT),
        *allow("unix", "connect", "bind", "listen", "accept", "accept4"),
        when("unix", "sendto"),
        *_sockopts("unix", SOL_SOCKET, _INET_SOCKET),
    ),
    "dns": (
        # glibc's resolver: UDP/TCP sockets, sendmmsg for parallel A/AAAA queries.
        # The configuration files need rpath on Linux (see NO_MEANING).
        _inet_socket("dns"),
        *allow("dns", "connect", "bind", "sendmmsg"),
        when("dns", "sendto"),
        *_sockopts("dns", SOL_SOCKET, _SOCKOPT_SOCKET),
        *_sockopts("dns", IPPROTO_IPV6, _DNS_IPV6),
        *_sockopts("dns", IPPROTO_IP, _SOCKOPT_IP),
        _nscd_probe("dns"),
        netlink_probe("dns"),
    ),
    # getpw: the files are read with open(), which needs rpath on Linux.
    "getpw": (_nscd_probe("getpw"),),
    # The kernel cannot look inside msg_control, so every sendmsg/recvmsg is
    # treated as one that may carry descriptors.
    "sendfd": (*allow("sendfd", "sendmsg", "sendmmsg"),),
    "recvfd": (*allow("recvfd", "recvmsg", "recvmmsg"),),
    "tape": (when("tape", "ioctl", one_of(1, MTIOCTOP, MTIOCGET)),),
    "tty": (
        when("tty", "ioctl", one_of(1, *_TTY_IOCTL)),
        when("tty proc", "ioctl", one_of(1, TIOCSPGRP)),
        # OpenBSD's PTMGET (a pty pair from /dev/ptm) needs tty, rpath and wpath; glibc's
        # openpty() gets the pair as /dev/ptmx (an open: rpath wpath) and TIOCGPTPEER,
        # which opens only the peer of a master the process holds, not a path
        when("tty rpath wpath", "ioctl", one_of(1, TIOCGPTPEER)),
    ),
    "proc": (
        *allow("proc", "fork", "vfork", "kill", "tgkill", "tkill", "rt_sigqueueinfo",
               "rt_tgsigqueueinfo", "setpgid", "setsid", "getpriority", "setpriority",
               "setrlimit", "prlimit64", "sched_setaffinity", "sched_getscheduler",
               "sched_setscheduler", "sched_getparam", "sched_setparam",
               "sched_get_priority_max", "sched_get_priority_min", "ioprio_get",
               "ioprio_set", "pidfd_open", "pidfd_send_signal"),
        when("proc", "clone", _NO_NEW_NAMESPACES),
        when("proc", "fcntl", one_of(1, F_SETOWN, F_SETOWN_EX, F_SETSIG)),
        when("stdio proc", "fcntl", one_of(1, F_SETFL), bits_set(2, O_ASYNC)),
    ),
    "exec": (*allow("exec", "execve", "execveat"),),
    "prot_exec": (
        when("stdio prot_exec", "mmap", hint=EXTENSION_HINT),
        when("stdio prot_exec", "mprotect"),
        when("stdio prot_exec", "pkey_mprotect"),
    ),
    "settime": (*allow("settime", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex"),),
    "ps": (),
    "vminfo": (),
    "id": (*allow("id", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                  "setgroups", "setfsuid", "setfsgid", "setrlimit", "getpriority",
                  "setpriority"),
           # another process's limits need proc (OpenBSD has no call that sets them)
           when("id", "prlimit64", one_of(0, 0, SELF)),),
    "pf": (),
    "route": (),
    "wroute": (),
    "audio": (),
    # V4L2 requests: type 'V' with a direction (the VT console's 'V' ioctls have none)
    "video": (when("video", "ioctl", one_of(1, IOC_TYPE_VIDEO, mask=IOC_TYPE_MASK),
                   none_of(1, 0, mask=IOC_DIR_MASK)),),
    "bpf": (),
    # The Landlock syscalls are in ALWAYS (they can only restrict).
    "unveil": (_o_path_rule("open", 1), _o_path_rule("openat", 2)),
    "error": (),
}

#: Promises that grant nothing on Linux, and why (stricter than OpenBSD, never weaker).
NO_MEANING: dict[str, str] = {
    "ps": "Linux has no process sysctls; /proc needs rpath",
    "vminfo": "Linux has no VM sysctls; /proc needs rpath",
    "pf": "pf(4) does not exist on Linux",
    "route": "routing sysctls do not exist on Linux",
    "wroute": "routing sysctls do not exist on Linux",
    "audio": "audio(4) ioctls do not exist on Linux",
    "bpf": "OpenBSD's bpf(4) device ioctls do not exist on Linux (the bpf() syscall is never allowed)",
}

#: Fail with ENOSYS under every promise set: libc falls back to a checkable call
#: (clone3 -> clone, openat2 -> openat), or the call is a known bypass.
ENOSYS: tuple[str, ...] = (
    "clone3", "openat2", "memfd_create", "memfd_secret", "io_uring_setup",
    "io_uring_enter", "io_uring_register",
)

#: Syscalls that no promise may ever allow (a test checks the table keeps them out).
NEVER: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "personality", "userfaultfd", "bpf",
    "perf_event_open", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_by_handle_at", "name_to_handle_at", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "shmat", "iopl", "ioperm",
    "fanotify_init", "move_mount", "fsopen", "fsmount", "open_tree", "mount_setattr",
    "quotactl", "swapon", "swapoff", "reboot", "acct", "lookup_dcookie", "uselib",
    "process_madvise", "kcmp", "pidfd_getfd",
)


def all_rules() -> tuple[Rule, ...]:
    """Every rule: ALWAYS first, then each promise's in vocabulary order, then
    the path allowances' (:data:`PATHS_RULES`)."""
    out: list[Rule] = list(ALWAYS)
    for rules in POLICY.values():
        out.extend(rules)
    for rules in PATHS_RULES.values():
        out.extend(rules)
    return tuple(out)
