"""OpenBSD's read allowances of ``stdio``, ``dns`` and ``getpw`` for an exec'd program:
the supervisor opens (or stats) the file itself.

OpenBSD lets a pledged process read ``/etc/localtime`` and the zoneinfo tree under
``stdio``, ``resolv.conf`` and ``hosts`` under ``dns``, ``passwd`` and ``group`` under
``getpw``, without ``rpath`` (pledge_namei; policy.PATHS). In a pledged process the
SIGSYS handler makes such an open again under a Landlock layer granting exactly those
paths. An exec'd program has no handler: its open comes to the supervisor as a
violation, and ``pledge -p stdio date`` died of its time zone (while ``pledge --learn``
counted that open as ``stdio`` and suggested exactly that command).

So, as for ``/dev/tty`` (ttyopen.py), the supervisor reads the path, and when it is one
of those files, spelled plainly (absolute, no ``.``, ``..`` or empty component) and
opened read-only, opens it *itself* (O_NONBLOCK: never blocking on a FIFO put there),
checks that what it opened is a regular file whose real path is an allowance path too
(no link out of the tree; an allowance file itself,
such as systemd-resolved's ``/etc/resolv.conf``, may lead out from a directory only root
may change) and that PROG's user may reach and read it (every directory searched and
the file, by their ACLs or modes: reach.py), and hands the
descriptor over as the call's result (SECCOMP_IOCTL_NOTIF_ADDFD). The program's call
never runs, so changing the path after the read gains it nothing: at worst it gets an
allowance file it could have asked for. ``newfstatat`` of such a path (glibc's
``stat("/etc/localtime")``, NSS's ``stat("/etc/nsswitch.conf")``) is answered with the
stat of the file so opened, written into the program's buffer (process_vm_writev, as
answer.py's fstat); ``AT_SYMLINK_NOFOLLOW`` is not answered (a violation as before).
Anything else stays a violation. Like OpenBSD's allowance, it bypasses unveil for
those files only. Beyond OpenBSD's table, under stdio: what glibc reads where OpenBSD's
libc asks sysctl (:data:`SYSCONF`) or reads nothing (gettext's catalogs, :data:`CATALOGS`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct

from .. import native, prepared
from ..syscalls import BY_ARCH
from . import reach
from .answer import FS_IDS, status_ids, still_pending

#: The promises whose read allowances are answered here (tmppath writes and creates:
#: not answered; /dev/null and /dev/tty: ttyopen.py).
PROMISES = ("stdio", "dns", "getpw")
#: Flags such an open may carry: access mode (read only), O_NONBLOCK, O_NOCTTY,
#: O_CLOEXEC, O_LARGEFILE (0o100000 on x86_64, 0o400000 on aarch64), O_NOFOLLOW
#: (0o400000 on x86_64, 0o100000 on aarch64).
PLAIN = os.O_ACCMODE | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | 0o100000 | 0o400000
_NOFOLLOW = os.O_NOFOLLOW
#: SECCOMP_IOCTL_NOTIF_ADDFD and its SEND flag
NOTIF_ADDFD, ADDFD_FLAG_SEND = 0x40182103, 2
_AT_FDCWD = -100
_AT_NO_AUTOMOUNT = 0x800
#: sizeof(struct stat) of the kernel's newfstatat, per architecture
_STAT_SIZE = {"x86_64": 144, "aarch64": 128}
PATH_MAX = 4096
_PAGE = 4096
OFF_MAX = (1 << 63) - 1


def _int(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


#: glibc's message catalogs (gettext: coreutils' ``id`` prints its "uid=" through it, and
#: under ``LANG=C.UTF-8`` looks for ``C.UTF-8/LC_MESSAGES/coreutils.mo``): trees whose
#: ``LOCALE/LC_MESSAGES/DOMAIN.mo`` files are answered under stdio too. Not OpenBSD's
#: (its base tools read none): public system data, as the locales the shim loads.
CATALOGS = ("/usr/share/locale", "/usr/share/locale-langpack")


#: Files glibc's sysconf() reads on Linux where OpenBSD's asks sysctl (allowed under
#: stdio there): answered under stdio too, as the CPU-count files of policy.PATHS.
SYSCONF = ("/proc/sys/kernel/ngroups_max",)


def allowances(promises: frozenset[str]) -> tuple[str, ...]:
    """The read allowance paths of *promises* answered here (a directory: its tree)."""
    table = prepared.paths()
    duped = prepared.data()["duped"]
    return (*(path for promise in PROMISES if promise in promises
              for path, letters in table.get(promise, ())
              if "r" in letters and path not in duped),
            *(SYSCONF if "stdio" in promises else ()))


def granting(path: str) -> frozenset[frozenset[str]]:
    """The promises (dns, getpw) whose read allowance holds *path*, a plain absolute
    path: each alone lets a read-only open or a stat of it through, as rpath would
    (learn mode counts it so: ``id`` needs "stdio getpw", as OpenBSD's pledges)."""
    table = prepared.paths()
    return frozenset(frozenset({promise}) for promise in PROMISES[1:]
                     if any(path == a or path.startswith(a.rstrip("/") + "/")
                            for a, letters in table.get(promise, ()) if "r" in letters))


def stdio_extra(path: str) -> bool:
    """Whether *path* is one of the files answered under stdio beyond OpenBSD's table
    (:data:`SYSCONF`, message catalogs)."""
    return path in SYSCONF or _catalog(path)


def served(path: str, promises: frozenset[str]) -> bool:
    """Whether a read of *path* under *promises* needs no unveil rule: the command
    answers it (without rpath), or its Landlock rules grant it (with rpath: the
    allowance files and catalogs, not :data:`SYSCONF`, which rpath's open then needs
    unveiled)."""
    if "rpath" in promises and path in SYSCONF:
        return False
    held = _SERVED.get(promises)
    if held is None:  # learn's report asks this for every path a run used: once a set
        allowed = allowances(promises)
        held = _SERVED[promises] = (frozenset(allowed),
                                    tuple(a.rstrip("/") + "/" for a in allowed))
    return (path in held[0] or path.startswith(held[1])  # as _inside(path, allowances())
            or "stdio" in promises and _catalog(path))


#: promises -> (the allowance paths, their trees' prefixes), for :func:`served`.
_SERVED: dict[frozenset[str], tuple[frozenset[str], tuple[str, ...]]] = {}


def _catalog(path: str) -> bool:
    """Whether *path* (spelled plainly) is a message catalog: TREE/LOCALE/LC_MESSAGES/X.mo."""
    for tree in CATALOGS:
        rest = path[len(tree) + 1:].split("/") if path.startswith(tree + "/") else []
        if len(rest) == 3 and rest[1] == "LC_MESSAGES" and rest[2].endswith(".mo"):
            return True
    return False


def _inside(path: str, allowed: tuple[str, ...]) -> bool:
    return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)


def _plain(path: bytes) -> str | None:
    """*path* as text when it is absolute and spelled without ``.``, ``..`` or empty
    components (so it names what it says); None otherwise."""
    if not path.startswith(b"/") or len(path) >= PATH_MAX:
        return None
    parts = path[1:].split(b"/")
    if any(p in (b"", b".", b"..") for p in parts):
        return None
    try:
        return path.decode()
    except UnicodeDecodeError:
        return None


def _path_at(pid: int, address: int) -> bytes | None:
    """The NUL-terminated string at *address* in *pid* (page by page, at most PATH_MAX
    bytes); None when it cannot be read or has no NUL within that."""
    if address == 0 or address > OFF_MAX - PATH_MAX:
        return None
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        out = b""
        at = address
        while len(out) < PATH_MAX:
            chunk = os.pread(fd, min(_PAGE - at % _PAGE, PATH_MAX - len(out)), at)
            if not chunk:
                return None
            end = chunk.find(b"\0")
            if end >= 0:
                return out + chunk[:end]
            out += chunk
            at += len(chunk)
        return None
    finally:
        os.close(fd)


class _Refused(Exception):
    """Not an allowance open: the call stays a violation."""


class _Unread(_Refused):
    """The path or the caller's ids could not be read: a violation while the caller
    still waits (a bad pointer), nothing at all once it has gone (answer says why).
    *gone*: its /proc entries had gone already (its process is ending)."""

    def __init__(self, gone: bool = False) -> None:
        super().__init__()
        self.gone = gone


#: The kernel's PF_EXITING (include/linux/sched.h): the task is on its way out.
_PF_EXITING = 0x4


def _exiting(pid: int) -> bool:
    """Whether thread *pid* is exiting (its memory may be gone while its call is still
    pending: an exit_group under way), or gone: /proc/PID/stat's flags."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        flags = int(stat[stat.rindex(b")") + 2:].split()[6])
    except (OSError, ValueError, IndexError):
        return True
    return bool(flags & _PF_EXITING)


def _same_root(pid: int) -> bool:
    """Whether *pid* sees the supervisor's ``/`` (not under ``-c DIR``, whose files are
    not the ones the supervisor would open)."""
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):  # its process is ending meanwhile
            raise _Unread(gone=True) from None
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _linked(path: str, allowed: tuple[str, ...]) -> bool:
    """Whether *path*, which led out of the allowances, is itself one of their files
    (not a name in a tree) in a directory only root may change: systemd-resolved's
    ``/etc/resolv.conf`` is a link to ``/run/systemd/resolve/stub-resolv.conf``, and
    OpenBSD's allowance names the path, whatever it leads to. A link planted in a tree,
    or in a directory another user may write, is still refused."""
    if path not in allowed:
        return False
    try:
        st = os.stat(os.path.dirname(path))
    except OSError:
        return False
    return st.st_uid == 0 and not st.st_mode & 0o022


def _open(pid: int, address: int, flags: int, allowed: tuple[str, ...],
          root: bool = False, catalogs: bool = False) -> int:
    """Our descriptor of the allowance file the program named (its errno as OSError when
    the open fails, as the program's own would); _Refused when it is not one. *root*:
    ``/`` itself is one too (a stat of it); *catalogs*: so are message catalogs."""
    try:  # an unreadable path (a bad pointer) or a caller gone: not ours to answer
        raw = _path_at(pid, address)
        uid, gids = status_ids(pid, FS_IDS)  # what the kernel checks an open with
    except OSError as exc:
        # (another errno from a thread of an exiting process: it runs nothing of its
        # own again, its call is no violation either; seen once in CI under load)
        raise _Unread(exc.errno in (errno.ENOENT, errno.ESRCH) or _exiting(pid)) from None
    if raw is None:  # a gone process's memory reads as empty, as a bad pointer's
        raise _Unread(gone=_exiting(pid))
    if root and raw == b"/":
        if not _same_root(pid):
            raise _Refused
        return os.open("/", os.O_PATH | os.O_CLOEXEC)
    path = _plain(raw) if raw is not None else None
    catalog = path is not None and catalogs and _catalog(path)
    if path is None or not (_inside(path, allowed) or catalog) or not _same_root(pid):
        raise _Refused
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
                 | (flags & _NOFOLLOW))
    try:
        st = os.fstat(fd)
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not stat.S_ISREG(st.st_mode) or not (
                _catalog(real) if catalog else _inside(real, allowed) or _linked(path, allowed)):
            raise _Refused
        # by the mode, and as PROG's own open would judge it: every directory searched
        # and the file's ACL too (reach.py: a 0700 directory or a "user:nobody:---"
        # entry was no refusal, and root's open lent PROG its rights)
        # (the file opened, by its own ACL or mode; then the walk to it. No capability
        # counted: the command drops them)
        if not reach.allows(st, reach.acl(f"/proc/self/fd/{fd}", follow=True), uid, gids,
                            reach.READ) or not reach.may_read(path, uid, gids,
                                                              not flags & _NOFOLLOW):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        if not flags & os.O_NONBLOCK:  # the description is the program's from now on
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def answer(listener: int, ident: int, pid: int, nr: int, args: tuple[int, ...],
           promises: frozenset[str], arch: str) -> int | None:
    """Answer a read-only open or a stat of an allowance path of *promises*: None when
    it is not one (a violation), -1 when it was answered with a descriptor or its caller
    went away meanwhile (nothing to send: an allowance is no violation, even of a thread
    another's exit_group ended; counted as one, PROG's status said it broke a promise),
    else the result to send (0 or -errno)."""
    table = BY_ARCH.get(arch, {})
    if nr == table.get("openat"):
        dirfd, address, flags, opening = _int(args[0]), args[1], args[2], True
    elif nr == table.get("open"):
        dirfd, address, flags, opening = _AT_FDCWD, args[0], args[1], True
    elif nr == table.get("newfstatat") and arch in _STAT_SIZE:
        dirfd, address, flags, opening = _int(args[0]), args[1], args[3], False
    else:
        return None
    flags &= 0xFFFFFFFF
    if opening and (flags & ~PLAIN or flags & os.O_ACCMODE != os.O_RDONLY):
        return None
    if not opening and flags & ~_AT_NO_AUTOMOUNT:  # lstat, AT_EMPTY_PATH: not these
        return None
    allowed = allowances(promises)
    del dirfd  # only absolute paths are answered: the descriptor plays no part
    if not allowed:
        return None
    lib, ffi = native.lib(), native.ffi()
    try:
        # stat("/"): glibc's NSS before each lookup (its metadata only)
        fd = _open(pid, address, flags if opening else 0, allowed,
                   root=not opening and bool(promises & {"dns", "getpw"}),
                   catalogs=opening and "stdio" in promises)
    except _Unread as exc:
        # its caller went (its process ended) before its path could be read: the call
        # never ran and nothing tells what it named, so it is judged no violation, as an
        # allowance's call whose caller went is (the program's exit status stays its own)
        if exc.gone:  # ending already (its memory is gone), perhaps not yet off the list
            return -errno.ESRCH if still_pending(listener, ident) else -1
        return None if still_pending(listener, ident) else -1
    except _Refused:
        return None
    except OSError as exc:
        return -(exc.errno or errno.EACCES) if still_pending(listener, ident) else -1
    try:
        if opening:
            newfd_flags = os.O_CLOEXEC if flags & os.O_CLOEXEC else 0
            try:
                fcntl.ioctl(listener, NOTIF_ADDFD,
                            struct.pack("=QIIII", ident, ADDFD_FLAG_SEND, fd, 0, newfd_flags))
            except OSError as exc:
                if exc.errno == errno.EMFILE:  # at its -O limit: what its own open says
                    return -errno.EMFILE
                if exc.errno == errno.ENOENT:  # no longer pending: its caller has gone
                    return -1
                return None  # a kernel before 5.14: the violation it was
            return -1
        size = _STAT_SIZE[arch]
        out = ffi.new("unsigned char[]", size)
        rc = int(lib.pp_stat_path(f"/proc/self/fd/{fd}".encode(), out, 0))
        if rc != 0:
            return None
        if not still_pending(listener, ident):
            return -1  # its caller has gone
        if lib.pp_vm_copy(pid, out, args[2], size, 1) != size:
            return -errno.EFAULT
        return 0
    finally:
        os.close(fd)
