"""The tables the SIGSYS handler reads to explain a violation.

For each syscall number: its name, which argument to show and how to name
its values, and every rule of the policy (all promises, fewest first), so the
handler can say which promises the trapped call lacked.
"""

from __future__ import annotations

from ....promises import VOCABULARY
from .. import consts as c
from .. import policy
from ..rules import OWN_GIDS, OWN_UID, PATHS_HELD, SELF, Rule
from ..syscalls import BY_ARCH

KEY_NONE, KEY_FLAGS, KEY_ENUM, KEY_INT = 0, 1, 2, 3
#: octal mode; file type by name and octal mode; clone's kind (thread, fork,
#: vfork) and flags; socket family and type; sockopt level and option.
KEY_OCTAL, KEY_MKNOD, KEY_CLONE, KEY_SOCKET, KEY_SOCKOPT = 4, 5, 6, 7, 8
#: a signal by name, else its number (the real-time ones: glibc and musl reserve
#: different numbers below their SIGRTMIN, so "SIGRTMIN+n" would be a guess)
KEY_SIGNAL = 9

_OPEN = ((c.O_ACCMODE, c.O_RDONLY, "O_RDONLY"), (c.O_ACCMODE, c.O_WRONLY, "O_WRONLY"),
         (c.O_ACCMODE, c.O_RDWR, "O_RDWR"), (c.O_CREAT, c.O_CREAT, "O_CREAT"),
         (c.O_TRUNC, c.O_TRUNC, "O_TRUNC"), (c.O__TMPFILE, c.O__TMPFILE, "O_TMPFILE"),
         (c.O_PATH, c.O_PATH, "O_PATH"))
_PROT = ((1, 1, "PROT_READ"), (2, 2, "PROT_WRITE"), (c.PROT_EXEC, c.PROT_EXEC, "PROT_EXEC"))
_MODE = ((c.S_ISUID, c.S_ISUID, "S_ISUID"), (c.S_ISGID, c.S_ISGID, "S_ISGID"))
_FAMILY = tuple((0xFFFFFFFF, v, n) for v, n in (
    (c.AF_UNIX, "AF_UNIX"), (c.AF_INET, "AF_INET"), (c.AF_INET6, "AF_INET6"),
    (c.AF_NETLINK, "AF_NETLINK"), (17, "AF_PACKET")))
#: clone's flags beyond its kind (thread, vfork or fork, which the handler names itself)
_CLONE = tuple((v, v, n) for v, n in (
    (c.CLONE_PTRACE, "CLONE_PTRACE"), (c.CLONE_UNTRACED, "CLONE_UNTRACED"),
    (c.CLONE_NEWNS, "CLONE_NEWNS"), (c.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (c.CLONE_NEWUTS, "CLONE_NEWUTS"), (c.CLONE_NEWIPC, "CLONE_NEWIPC"),
    (c.CLONE_NEWUSER, "CLONE_NEWUSER"), (c.CLONE_NEWPID, "CLONE_NEWPID"),
    (c.CLONE_NEWNET, "CLONE_NEWNET")))


_SOCK_TYPES = tuple((c.SOCK_TYPE_MASK, v, n) for v, n in (
    (1, "SOCK_STREAM"), (2, "SOCK_DGRAM"), (3, "SOCK_RAW"), (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"), (6, "SOCK_DCCP"), (10, "SOCK_PACKET")))
_SOCKET = _FAMILY + tuple((0xFFFFFFFF, v, n) for v, n in (
    (4, "AF_IPX"), (5, "AF_APPLETALK"), (9, "AF_X25"), (15, "AF_KEY"), (16, "AF_NETLINK"),
    (29, "AF_CAN"), (31, "AF_BLUETOOTH"), (38, "AF_ALG"), (40, "AF_VSOCK"), (44, "AF_XDP"))
    if v != c.AF_NETLINK) + _SOCK_TYPES
#: The standard signals, numbered alike on x86_64 and aarch64 (the kernel's generic
#: numbering, which x86 shares). Written here rather than read from the signal module,
#: as the socket options are: the tables must not depend on the Python that builds them.
SIGNAL_NAMES: tuple[tuple[int, str], ...] = (
    (1, "SIGHUP"), (2, "SIGINT"), (3, "SIGQUIT"), (4, "SIGILL"), (5, "SIGTRAP"),
    (6, "SIGABRT"), (7, "SIGBUS"), (8, "SIGFPE"), (9, "SIGKILL"), (10, "SIGUSR1"),
    (11, "SIGSEGV"), (12, "SIGUSR2"), (13, "SIGPIPE"), (14, "SIGALRM"), (15, "SIGTERM"),
    (16, "SIGSTKFLT"), (17, "SIGCHLD"), (18, "SIGCONT"), (19, "SIGSTOP"), (20, "SIGTSTP"),
    (21, "SIGTTIN"), (22, "SIGTTOU"), (23, "SIGURG"), (24, "SIGXCPU"), (25, "SIGXFSZ"),
    (26, "SIGVTALRM"), (27, "SIGPROF"), (28, "SIGWINCH"), (29, "SIGIO"), (30, "SIGPWR"),
    (31, "SIGSYS"))
_SIGNALS = tuple((0xFFFFFFFF, v, n) for v, n in SIGNAL_NAMES)
_FILE_TYPES = tuple((c.S_IFMT, v, n) for v, n in (
    (0o100000, "S_IFREG"), (c.S_IFIFO, "S_IFIFO"), (c.S_IFCHR, "S_IFCHR"),
    (c.S_IFBLK, "S_IFBLK"), (0o140000, "S_IFSOCK"), (0, "S_IFREG")))
#: sockopt levels (mask ~0) and, per level (the mask), option names.
_LEVELS = ((c.SOL_SOCKET, "SOL_SOCKET", "SO_"), (0, "IPPROTO_IP", "IP_"),
           (6, "IPPROTO_TCP", "TCP_"), (17, "IPPROTO_UDP", "UDP_"),
           (41, "IPPROTO_IPV6", "IPV6_"), (132, "IPPROTO_SCTP", "SCTP_"),
           (263, "SOL_ALG", "ALG_"), (270, "SOL_NETLINK", "NETLINK_"),
           (282, "SOL_TLS", "TLS_"))


#: Option names beyond consts' (whose names are the policy's), by level prefix, from
#: Linux's UAPI headers (socket.h, in.h, tcp.h, in6.h, if_alg.h, netlink.h). Written here
#: rather than read from the socket module: its names differ between Python versions
#: (3.10 has 113 of these entries, 3.13 140) and the tables must be the same whichever
#: Python builds the abi3 module. test_startup_r5 checks the running socket module names
#: no option value missing from here.
SOCKET_OPTION_NAMES: dict[str, tuple[tuple[int, str], ...]] = {
    "SO_": ((12, "SO_PRIORITY"), (16, "SO_PASSCRED"), (25, "SO_BINDTODEVICE"),
            (31, "SO_PEERSEC"), (34, "SO_PASSSEC"), (36, "SO_MARK"), (49, "SO_INCOMING_CPU"),
            (62, "SO_BINDTOIFINDEX")),
    "IP_": ((3, "IP_HDRINCL"), (4, "IP_OPTIONS"), (6, "IP_RECVOPTS"), (7, "IP_RETOPTS"),
            (13, "IP_RECVTOS"), (19, "IP_TRANSPARENT"),
            (20, "IP_RECVORIGDSTADDR"), (24, "IP_BIND_ADDRESS_NO_PORT"),
            (37, "IP_UNBLOCK_SOURCE"), (38, "IP_BLOCK_SOURCE"),
            (39, "IP_ADD_SOURCE_MEMBERSHIP"), (40, "IP_DROP_SOURCE_MEMBERSHIP")),
    "TCP_": ((7, "TCP_SYNCNT"), (8, "TCP_LINGER2"), (9, "TCP_DEFER_ACCEPT"),
             (10, "TCP_WINDOW_CLAMP"), (13, "TCP_CONGESTION"), (16, "TCP_THIN_LINEAR_TIMEOUTS"),
             (17, "TCP_THIN_DUPACK"), (19, "TCP_REPAIR"),
             (20, "TCP_REPAIR_QUEUE"), (21, "TCP_QUEUE_SEQ"), (22, "TCP_REPAIR_OPTIONS"),
             (24, "TCP_TIMESTAMP"), (25, "TCP_NOTSENT_LOWAT"), (26, "TCP_CC_INFO"),
             (27, "TCP_SAVE_SYN"), (28, "TCP_SAVED_SYN"), (29, "TCP_REPAIR_WINDOW"),
             (31, "TCP_ULP"), (32, "TCP_MD5SIG_EXT"), (33, "TCP_FASTOPEN_KEY"),
             (34, "TCP_FASTOPEN_NO_COOKIE"), (35, "TCP_ZEROCOPY_RECEIVE"), (36, "TCP_INQ"),
             (37, "TCP_TX_DELAY")),
    "IPV6_": ((7, "IPV6_CHECKSUM"), (9, "IPV6_NEXTHOP"), (50, "IPV6_PKTINFO"),
              (52, "IPV6_HOPLIMIT"),
              (53, "IPV6_RECVHOPOPTS"), (54, "IPV6_HOPOPTS"), (55, "IPV6_RTHDRDSTOPTS"),
              (56, "IPV6_RECVRTHDR"), (57, "IPV6_RTHDR"), (58, "IPV6_RECVDSTOPTS"),
              (59, "IPV6_DSTOPTS"), (60, "IPV6_RECVPATHMTU"), (61, "IPV6_PATHMTU")),
    "ALG_": ((1, "ALG_SET_KEY"), (2, "ALG_SET_IV"), (3, "ALG_SET_OP"),
             (4, "ALG_SET_AEAD_ASSOCLEN"), (5, "ALG_SET_AEAD_AUTHSIZE"),
             (6, "ALG_SET_DRBG_ENTROPY"), (7, "ALG_SET_KEY_BY_KEY_SERIAL")),
    "NETLINK_": ((1, "NETLINK_ADD_MEMBERSHIP"), (2, "NETLINK_DROP_MEMBERSHIP"),
                 (3, "NETLINK_PKTINFO"), (4, "NETLINK_BROADCAST_ERROR"),
                 (5, "NETLINK_NO_ENOBUFS"), (6, "NETLINK_RX_RING"), (7, "NETLINK_TX_RING"),
                 (8, "NETLINK_LISTEN_ALL_NSID"), (9, "NETLINK_LIST_MEMBERSHIPS"),
                 (10, "NETLINK_CAP_ACK"), (11, "NETLINK_EXT_ACK"),
                 (12, "NETLINK_GET_STRICT_CHK")),
}
#: Names the socket module gives values under these prefixes that are no option of
#: that level (a VSOCK option, a limit, a routing header type, ALG operations, netlink
#: protocols): test_startup_r5 accepts them unnamed.
NOT_SOCKET_OPTIONS = frozenset({
    "SO_VM_SOCKETS_BUFFER_SIZE", "IP_MAX_MEMBERSHIPS", "IPV6_RTHDR_TYPE_0",
    "ALG_OP_DECRYPT", "ALG_OP_ENCRYPT", "ALG_OP_SIGN", "ALG_OP_VERIFY", "ALG_SET_PUBKEY",
    "NETLINK_USERSOCK", "NETLINK_FIREWALL", "NETLINK_NFLOG",
    "NETLINK_XFRM", "NETLINK_IP6_FW", "NETLINK_DNRTMSG", "NETLINK_CRYPTO"})


def _sockopts() -> tuple[tuple[int, int, str], ...]:
    out: list[tuple[int, int, str]] = [(0xFFFFFFFFFFFFFFFF, v, n) for v, n, _ in _LEVELS]
    for level, _, prefix in _LEVELS:
        seen: dict[int, str] = {}
        for n in sorted(dir(c)):  # consts first: its names are the ones the policy uses
            v = getattr(c, n)
            if n.startswith(prefix) and isinstance(v, int) and not isinstance(v, bool) \
                    and 0 <= v < 1 << 16 and v not in seen and n != prefix + "MASK":
                seen[v] = n
        for v, n in SOCKET_OPTION_NAMES.get(prefix, ()):
            seen.setdefault(v, n)
        out.extend((level, v, n) for v, n in sorted(seen.items()))
    return tuple(out)


def _named(prefixes: tuple[str, ...], *more: object) -> tuple[tuple[int, int, str], ...]:
    """Values named by consts (the policy's names), then by modules *more*."""
    seen: dict[int, str] = {}
    for src in (c, *more):
        for n in sorted(dir(src)):
            v = getattr(src, n)
            if (n.startswith(prefixes) and isinstance(v, int) and not isinstance(v, bool)
                    and n not in ("IOC_TYPE_MASK", "IOC_TYPE_VIDEO") and v not in seen):
                seen[v] = n
    return tuple((0xFFFFFFFF, v, n) for v, n in seen.items())


def _ioctls() -> tuple[tuple[int, int, str], ...]:
    import termios  # built on Linux: the terminal requests glibc and Python use

    # requests are _IO* numbers; termios's small TCSA*/TC*FLUSH values are arguments
    return tuple(e for e in _named(("TC", "TIOC", "FIO", "SIOC", "MTIOC"), termios)
                 if e[1] >= 0x100 and "_" not in e[2])  # TIOCM_DSR: a modem bit


#: syscall -> (argument shown, how, value names)
KEYS: dict[str, tuple[int, int, tuple[tuple[int, int, str], ...]]] = {
    "open": (1, KEY_FLAGS, _OPEN), "openat": (2, KEY_FLAGS, _OPEN),
    "mmap": (2, KEY_FLAGS, _PROT), "mprotect": (2, KEY_FLAGS, _PROT),
    "pkey_mprotect": (2, KEY_FLAGS, _PROT),
    "chmod": (1, KEY_OCTAL, ()), "fchmod": (1, KEY_OCTAL, ()),
    "fchmodat": (2, KEY_OCTAL, ()), "fchmodat2": (2, KEY_OCTAL, ()),
    "mkdir": (1, KEY_OCTAL, ()), "mkdirat": (2, KEY_OCTAL, ()), "creat": (1, KEY_OCTAL, ()),
    "umask": (0, KEY_OCTAL, ()),
    "socket": (0, KEY_SOCKET, _SOCKET), "socketpair": (0, KEY_SOCKET, _SOCKET),
    "clone": (0, KEY_CLONE, _CLONE), "mknod": (1, KEY_MKNOD, _FILE_TYPES),
    "mknodat": (2, KEY_MKNOD, _FILE_TYPES),
    "ioctl": (1, KEY_ENUM, _ioctls()),
    "fcntl": (1, KEY_ENUM, _named(("F_",))),
    "prctl": (0, KEY_ENUM, _named(("PR_",))),
    "kill": (0, KEY_INT, ()), "tgkill": (0, KEY_INT, ()), "write": (0, KEY_INT, ()),
    "rt_sigaction": (0, KEY_SIGNAL, _SIGNALS), "setsockopt": (1, KEY_SOCKOPT, _sockopts()),
    "getsockopt": (1, KEY_SOCKOPT, _sockopts()),
}

#: syscall -> its path arguments shown in a message: (dirfd index or -1, path index) x 2.
PATH_ARGS: dict[str, tuple[int, int, int, int]] = {
    **{n: (-1, 0, -1, -1) for n in (
        "open", "creat", "execve", "truncate", "stat", "lstat", "access", "readlink", "chdir",
        "chroot", "statfs", "chmod", "chown", "lchown", "utime", "utimes", "unlink", "rmdir",
        "mkdir", "mknod", "getxattr", "lgetxattr", "setxattr", "lsetxattr", "listxattr",
        "llistxattr", "removexattr", "lremovexattr", "acct", "swapon", "swapoff", "umount2",
        "uselib")},
    **{n: (0, 1, -1, -1) for n in (
        "openat", "openat2", "execveat", "newfstatat", "statx", "faccessat", "faccessat2",
        "readlinkat", "fchmodat", "fchmodat2", "fchownat", "utimensat", "futimesat",
        "unlinkat", "mkdirat", "mknodat", "name_to_handle_at", "open_tree")},
    "rename": (-1, 0, -1, 1), "link": (-1, 0, -1, 1), "symlink": (-1, 0, -1, 1),
    "renameat": (0, 1, 2, 3), "renameat2": (0, 1, 2, 3), "linkat": (0, 1, 2, 3),
    "symlinkat": (-1, 0, 1, 2), "mount": (-1, 0, -1, 1), "pivot_root": (-1, 0, -1, 1),
    "inotify_add_watch": (-1, 1, -1, -1),
}
#: (syscall, argument) -> what the argument is, for "(its type is refused)".
ROLES = {("socket", 0): "family", ("socket", 1): "type", ("socket", 2): "protocol",
         ("socketpair", 0): "family", ("socketpair", 1): "type",
         ("setsockopt", 1): "level", ("setsockopt", 2): "option",
         ("getsockopt", 1): "level", ("getsockopt", 2): "option",
         ("ioctl", 1): "request", ("fcntl", 1): "command", ("prctl", 0): "option",
         # no promise sets setuid/setgid bits (policy.SETID_BITS): say it is the mode
         ("open", 2): "setuid/setgid mode", ("openat", 3): "setuid/setgid mode",
         ("creat", 1): "setuid/setgid mode", ("chmod", 1): "setuid/setgid mode",
         ("fchmod", 1): "setuid/setgid mode", ("fchmodat", 2): "setuid/setgid mode",
         ("fchmodat2", 2): "setuid/setgid mode", ("mknod", 1): "file type or mode",
         ("mknodat", 2): "file type or mode"}
#: Shown for a refused path under /sys/devices/system/cpu (see policy.PATHS).
CPU_HINT = ('the CPU count: under "stdio" only /sys/devices/system/cpu/online, possible and '
            "present are readable; call os.cpu_count() before pledge() or unveil the file")
#: Shown for a refused path under /run/systemd/userdb: glibc's nss-systemd module
#: (nsswitch.conf's "passwd: files systemd") reads systemd's user records there for a
#: user or group the files lack, and for every enumeration.
USERDB_HINT = ("glibc's nss-systemd reads systemd's user records for a user or group "
               "/etc/passwd and /etc/group lack, and for a listing of them all; OpenBSD's "
               '"getpw" answers "not found"')


#: What replaces the hints that speak to Python programs (policy.IMPORT_HINT, dropped;
#: policy.EXTENSION_HINT) in a message about another program a pledged one started.
LOADER_HINT = ("a dynamically linked program's loader needs it, as do dlopen() and JITs: "
               "add it to the execpromises")

PLACEHOLDER_SELF, PLACEHOLDER_ANY = 1, 2


class Rows:
    """The handler's tables for one architecture, as rows of C struct fields."""

    __slots__ = ("sys", "rules", "conds", "vals", "flags", "strings", "promise_names",
                 "import_hint", "cpu_hint", "userdb_hint", "extension_hint", "loader_hint",
                 "allow")

    def __init__(self) -> None:
        self.sys: list[tuple[int, ...]] = []
        self.rules: list[tuple[int, ...]] = []
        self.conds: list[tuple[int, ...]] = []
        self.vals: list[int] = []
        self.flags: list[tuple[int, ...]] = []
        self.strings = bytearray()
        self.promise_names: list[int] = []
        self.import_hint = self.cpu_hint = self.userdb_hint = -1
        self.extension_hint = self.loader_hint = -1
        self.allow: list[tuple[int, ...]] = []  # (path, promise bit, letters r=1 w=2 c=4)


def _sort_key(rule: Rule) -> int:
    return len(rule.needs)


def build(arch: str) -> Rows:
    """Flatten the policy into the handler's tables for *arch* (done at build time).

    Placeholders become flags in a condition's last field: this process's pid
    is compared with getpid(); the uid and groups match anything (they only
    choose which message to print).
    """
    numbers = BY_ARCH[arch]
    out = Rows()
    offsets: dict[str, int] = {}

    def text(s: str) -> int:
        if s not in offsets:
            offsets[s] = len(out.strings)
            out.strings.extend(s.encode() + b"\0")
        return offsets[s]

    bit = {p: i for i, p in enumerate(VOCABULARY)}
    by_name: dict[str, list[Rule]] = {}
    for rule in policy.all_rules():
        # the kernel answers refusals and path allowances (no trap to explain)
        if rule.needs and not rule.errno and PATHS_HELD not in rule.needs:
            by_name.setdefault(rule.syscall, []).append(rule)
        elif rule.errno and rule.hint:
            # but a refusal's hint explains a trap of its shape where none of its
            # promises is held: a row that needs nothing (never an alternative), once
            hinted = rule._replace(needs=frozenset())
            if hinted not in by_name.get(rule.syscall, ()):
                by_name.setdefault(rule.syscall, []).append(hinted)
    names = {nr: name for name, nr in numbers.items()}
    for nr in range(max(numbers.values()) + 1):
        name = names.get(nr)
        keyarg, keyfmt, flags = KEYS.get(name or "", (0, KEY_NONE, ()))
        rules = sorted(by_name.get(name or "", []), key=_sort_key)
        first_rule, first_flag = len(out.rules), len(out.flags)
        for rule in rules:
            first_cond = len(out.conds)
            for arg in rule.args:
                special = 0
                values: list[int] = []
                for v in arg.values:
                    if v == SELF:
                        special |= PLACEHOLDER_SELF
                    elif v in (OWN_UID, OWN_GIDS):
                        special |= PLACEHOLDER_ANY
                    else:
                        values.append(v & 0xFFFFFFFFFFFFFFFF)
                role = ROLES.get((rule.syscall, arg.index))
                out.conds.append((arg.mask, arg.index, int(arg.wide), int(arg.negate),
                                  len(values), len(out.vals), special,
                                  text(role) if role else -1))
                out.vals.extend(values)
            needs = sum(1 << bit[p] for p in rule.needs)
            out.rules.append((needs, first_cond, len(rule.args),
                              text(rule.hint) if rule.hint else -1))
        for mask, value, fname in flags:
            out.flags.append((mask, value, text(fname)))
        out.sys.append((text(name) if name else -1, keyarg, keyfmt, first_rule, len(rules),
                        first_flag, len(flags), *PATH_ARGS.get(name or "", (-1, -1, -1, -1))))
    out.promise_names = [text(p) for p in VOCABULARY] + [text("?")] * (64 - len(VOCABULARY))
    out.import_hint, out.cpu_hint = text(policy.IMPORT_HINT), text(CPU_HINT)
    out.userdb_hint = text(USERDB_HINT)
    out.extension_hint, out.loader_hint = text(policy.EXTENSION_HINT), text(LOADER_HINT)
    # OpenBSD's path allowances, so a refused open of one names its promise too
    for promise, entries in policy.PATHS.items():
        for path, marks in entries:
            letters = sum(v for c, v in (("r", 1), ("w", 2), ("c", 4)) if c in marks)
            out.allow.append((text(path), bit[promise], letters))
    return out


def _c_int(value: int) -> str:
    return f"{value}ull" if value > 0x7FFFFFFF else str(value)


def c_source(arch: str) -> str:
    """The tables for *arch* as C definitions (``static const`` arrays)."""
    rows = build(arch)

    def array(ctype: str, name: str, items: list[tuple[int, ...]]) -> str:
        body = ",\n".join("{" + ", ".join(_c_int(v) for v in item) + "}" for item in items) or "{0}"
        return f"static const {ctype} {name}[] = {{\n{body}\n}};\n"

    strings = ", ".join(str(b) for b in rows.strings)
    return (
        array("struct pp_sys", "T_SYS", rows.sys)
        + array("struct pp_rule", "T_RULES", rows.rules)
        + array("struct pp_cond", "T_CONDS", rows.conds)
        + f"static const uint64_t T_VALS[] = {{{', '.join(f'{v}ull' for v in rows.vals) or '0'}}};\n"
        + array("struct pp_flag", "T_FLAGS", rows.flags)
        + f"static const char T_STRINGS[] = {{{strings}}};\n"
        + f"static const uint32_t T_PROMISE_NAMES[64] = {{{', '.join(map(str, rows.promise_names))}}};\n"
        + array("struct pp_allow", "T_ALLOW", rows.allow)
        + f"#define T_NALLOW {len(rows.allow)}\n"
        + f"#define T_NSYS {len(rows.sys)}\n"
        + f"#define T_IMPORT_HINT {rows.import_hint}\n#define T_CPU_HINT {rows.cpu_hint}\n"
        + f"#define T_USERDB_HINT {rows.userdb_hint}\n"
        + f"#define T_EXTENSION_HINT {rows.extension_hint}\n"
        + f"#define T_LOADER_HINT {rows.loader_hint}\n"
        + f"#define T_STDIO_BIT {1 << VOCABULARY.index('stdio')}ull\n"
        + f"#define T_ERROR_BIT {1 << VOCABULARY.index('error')}ull\n"
        + f"#define T_RETRY_REFUSED {c.RETRY_REFUSED}\n"
    )


