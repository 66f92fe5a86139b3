"""The one violation a worker's parent answers instead of refusing: fstat(fd) as glibc
spells it, ``newfstatat(fd, "", buf, AT_EMPTY_PATH)`` (or ``statx(fd, "", ...)``).

In a pledged process the SIGSYS handler emulates it; a worker's violations go to
its parent instead, so the parent does what the handler does, without ever
letting the worker's call run (SECCOMP_USER_NOTIF_FLAG_CONTINUE would re-read a
path the worker can change):

1. read the path's first byte from the worker (process_vm_readv); only "" is
   answered, anything else stays a violation;
2. stat/statx the worker's descriptor through its magic link (/proc/<tid>/fd/N):
   the answer is about that descriptor only, whatever the path memory holds by
   then, which is exactly what fstat(2), allowed under "stdio", tells anyway. Never
   a copy of it (pidfd_getfd): closing the copy here would release every POSIX
   lock this process holds on the file, which the worker would then control;
3. check the notification is still pending (the pid is still that worker),
   write the result into the worker's buffer with process_vm_writev (which
   honours the worker's page protections, unlike /proc/<pid>/mem) and answer 0.

Steps 1 to 3 need ptrace access to the worker, which is not dumpable: a parent
without CAP_SYS_PTRACE cannot answer, and the call stays a violation.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from .. import native
from ..consts import AT_EMPTY_PATH
from ..syscalls import BY_ARCH

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

#: SECCOMP_IOCTL_NOTIF_ID_VALID: _IOW('!', 2, __u64).
_ID_VALID = 0x40082102
#: sizeof(struct stat) of the kernel's fstat, per architecture; struct statx is 256.
_STAT_SIZE = {"x86_64": 144, "aarch64": 128}
_STATX_SIZE = 256
_AT_FDCWD_INVALID = -1  # descriptors below 0 (AT_FDCWD among them) are path lookups
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW, _AT_NO_AUTOMOUNT = 0x100, 0x800


def _int(value: int) -> int:
    """The low 32 bits of a syscall argument as the kernel reads an ``int``."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _calls() -> tuple[Any, Any] | None:
    """(lib, ffi) of the native module its supervisor already loaded and checked (the
    calls below are its, not ctypes': ctypes costs the command's start-up ~8 M
    instructions); None without it, and then nothing is answered (a violation)."""
    lib = native.checked_lib()
    return None if lib is None else (lib, native.ffi())


def _vm(calls: tuple[Any, Any], pid: int, local: Any, remote: int, n: int,
        write: bool = False) -> bool:
    """process_vm_readv (or, *write*, writev) of *n* bytes; True when all of them moved."""
    return bool(calls[0].pp_vm_copy(pid, local, remote, n, 1 if write else 0) == n)


def memory_closed(tid: int) -> bool:
    """Whether thread *tid*'s memory is closed to this process (its /proc mem refused:
    not dumpable, and no CAP_SYS_PTRACE here over it), so no path it names is read."""
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        return True
    except OSError:  # gone, or anything else: nothing to add
        return False
    os.close(fd)
    return False


def still_pending(listener: int, ident: int) -> bool:
    """Whether notification *ident* still waits for an answer (its caller is there)."""
    try:
        fcntl.ioctl(listener, _ID_VALID, struct.pack("Q", ident))
    except OSError:
        return False
    return True


#: Columns of /proc/PID/status's Uid: and Gid: lines.
REAL_IDS, FS_IDS = 0, 3


def status_ids(pid: int, column: int) -> tuple[int, set[int]]:
    """*pid*'s uid and groups from /proc/<pid>/status: its real ids (``REAL_IDS``) or
    those the kernel checks file access with (``FS_IDS``), the supplementary groups
    with either. uid -1 (no file's owner) when the line is missing; OSError when the
    process is gone."""
    uid, gids = -1, set()
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            key, _, value = line.partition(b":")
            if key == b"Uid":
                uid = int(value.split()[column])
            elif key == b"Gid":
                gids.add(int(value.split()[column]))
            elif key == b"Groups":
                gids.update(int(g) for g in value.split())
    return uid, gids


class _Shape:
    """Where fstat-as-a-path-call keeps its arguments, for one syscall."""

    def __init__(self, flags: int, buf: int, size: int, nr: int, extra: tuple[int, ...]) -> None:
        self.flags, self.buf, self.size, self.nr, self.extra = flags, buf, size, nr, extra


def _shape(arch: str, nr: int, args: list[int]) -> _Shape | None:
    table = BY_ARCH.get(arch, {})
    if nr == table.get("newfstatat") and arch in _STAT_SIZE:
        return _Shape(args[3], args[2], _STAT_SIZE[arch], table["fstat"], ())
    if nr == table.get("statx"):
        return _Shape(args[2], args[4], _STATX_SIZE, nr, (args[2], args[3]))
    return None


def fstat_for(listener: int, ident: int, pid: int, nr: int, args: list[int],
              promises: frozenset[str], arch: str) -> int | None:
    """Answer fstat spelled as a path call: the syscall's result (0 or -errno), or
    None when this notification is not that (or cannot be answered): a violation."""
    shape = _shape(arch, nr, args)
    fd = _int(args[0])
    if shape is None or "stdio" not in promises or not shape.flags & AT_EMPTY_PATH \
            or args[1] == 0 or fd <= _AT_FDCWD_INVALID:
        return None
    calls = _calls()
    if calls is None:
        return None
    lib, ffi = calls
    if not still_pending(listener, ident):  # from here on *pid* is that worker's thread
        return None
    first = ffi.new("unsigned char[]", 1)
    if not _vm(calls, pid, first, args[1], 1) or first[0] != 0:
        return None
    # the descriptor through its magic link, never a copy of it here: closing a copy
    # would release every POSIX lock this process holds on the file
    where = f"/proc/{pid}/fd/{fd}".encode()
    out = ffi.new("unsigned char[]", shape.size)
    # following the link to the file, as fstat would see it, and never automounting it
    if shape.nr == BY_ARCH[arch]["fstat"]:
        rc = int(lib.pp_stat_path(where, out, _AT_NO_AUTOMOUNT))
    else:  # statx(AT_FDCWD, where, flags, mask, out)
        flags = shape.extra[0] & ~(AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW) | _AT_NO_AUTOMOUNT
        rc = int(lib.pp_statx_path(where, _int(flags), shape.extra[1] & 0xFFFFFFFF, out))
    err = -rc
    if not still_pending(listener, ident):  # so *pid* was that thread throughout
        return None
    if rc != 0 and err == errno.ENOENT:
        return -errno.EBADF  # no such descriptor
    if rc != 0 and err in (errno.EACCES, errno.EPERM):
        return None  # no ptrace access to it: a violation, as before
    if rc != 0:
        return -err
    if not still_pending(listener, ident):
        return None
    if not _vm(calls, pid, out, shape.buf, shape.size, write=True):
        return -errno.EFAULT
    return 0


_PROC_STAT = b"/proc/self/stat\0"


def proc_stat_for(pid: int, nr: int, args: list[int],
                  promises: frozenset[str], arch: str) -> int | None:
    """CPython 3.12+'s fopen("/proc/self/stat") after fork, answered ENOENT as the
    in-process handler does (nothing opened, the call never runs); None otherwise.

    Deciding on memory the worker can change is safe here: whatever it points the
    path at, the answer is a failure, never the call."""
    table = BY_ARCH.get(arch, {})
    if ("stdio" not in promises or nr != table.get("openat")
            or _int(args[0]) != _AT_FDCWD or args[2] != os.O_RDONLY
            or args[1] == 0):
        return None
    calls = _calls()
    if calls is None:
        return None
    path = calls[1].new("unsigned char[]", len(_PROC_STAT))
    if not _vm(calls, pid, path, args[1], len(_PROC_STAT)):
        return None
    return -errno.ENOENT if bytes(calls[1].buffer(path)) == _PROC_STAT else None


_SIGSYS = 31


def sigsys_default_for(pid: int, nr: int, args: list[int],
                       promises: frozenset[str], arch: str) -> int | None:
    """posix_spawn's ``rt_sigaction(SIGSYS, {SIG_DFL}, NULL)`` in its child (popen(),
    system()), answered 0 without running it, as the in-process handler does; None
    otherwise (a handler, SIG_IGN, or a call asking the old action: a violation).

    Deciding on memory the caller can change is safe here: whatever the action holds
    by the time of the answer, nothing runs, and SIGSYS keeps its disposition."""
    if ("stdio" not in promises or nr != BY_ARCH.get(arch, {}).get("rt_sigaction")
            or args[0] & 0xFFFFFFFF != _SIGSYS or args[1] == 0 or args[2] != 0):
        return None
    calls = _calls()
    if calls is None:
        return None
    handler = calls[1].new("unsigned char[]", 8)
    if not _vm(calls, pid, handler, args[1], 8):
        return None
    return 0 if bytes(calls[1].buffer(handler)) == bytes(8) else None  # SIG_DFL is 0


#: Writing extended attributes: no promise allows it (BPF cannot read the name, and
#: ``security.capability`` would give a file capabilities, as a setuid bit would). OpenBSD
#: has no such calls; GNU ``sed -i``, ``cp -p`` and ``mv`` copy a file's ACL with
#: ``fsetxattr`` and fall back to ``fchmod`` when the filesystem has none.
XATTR_WRITES = ("setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
                "fremovexattr", "setxattrat", "removexattrat")


#: NUMA memory policy: no promise allows it (OpenBSD has none); libnuma's constructor asks
#: it (procps' ps loads libnuma) and takes ENOSYS for a kernel without NUMA.
NUMA = ("get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node")


def numa_for(nr: int, promises: frozenset[str], arch: str) -> int | None:
    """Under ``stdio``, a NUMA policy call answered ENOSYS without running it (as a kernel
    built without NUMA); None otherwise (a violation)."""
    if "stdio" not in promises:
        return None
    table = BY_ARCH.get(arch, {})
    return -errno.ENOSYS if any(table.get(n) == nr for n in NUMA) else None


def xattr_write_for(nr: int, promises: frozenset[str], arch: str) -> int | None:
    """Under ``fattr``, a write of extended attributes answered EOPNOTSUPP without running
    it (as a filesystem without them); None otherwise (a violation). Nothing is read
    from the caller's memory: whatever the name, nothing is set."""
    if "fattr" not in promises:
        return None
    table = BY_ARCH.get(arch, {})
    return -errno.EOPNOTSUPP if any(table.get(n) == nr for n in XATTR_WRITES) else None


#: FICLONE, FICLONERANGE, FIDEDUPERANGE (the same numbers on x86_64 and aarch64): a
#: copy that shares the source's blocks, which GNU cp (9.0 on: --reflink=auto) and mv
#: try before copying the bytes; OpenBSD has no such call.
REFLINKS = (0x40049409, 0x4020940D, 0xC0189436)


def reflink_for(nr: int, call: list[int], promises: frozenset[str], arch: str) -> int | None:
    """Under ``stdio``, a reflink ioctl answered EOPNOTSUPP without running it (as a
    filesystem without shared extents: cp then copies with read and write, which its
    promises decide); None otherwise (a violation)."""
    if "stdio" not in promises or nr != BY_ARCH.get(arch, {}).get("ioctl"):
        return None
    return -errno.EOPNOTSUPP if call[1] & 0xFFFFFFFF in REFLINKS else None



#: inotify's calls that make a descriptor: a watch takes a path Landlock does not check
#: (its events would tell of hidden files), and OpenBSD's tail -f uses kqueue instead.
INOTIFY_INITS = ("inotify_init", "inotify_init1")


def inotify_for(nr: int, promises: frozenset[str], arch: str) -> int | None:
    """Under ``stdio``, inotify_init answered ENOSYS without running it (a kernel without
    inotify: GNU tail -f then polls, with stat under its promises); None otherwise."""
    if "stdio" not in promises:
        return None
    table = BY_ARCH.get(arch, {})
    return -errno.ENOSYS if any(table.get(n) == nr for n in INOTIFY_INITS) else None
