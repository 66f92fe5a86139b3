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

import ctypes
import errno
import fcntl
import os
import struct

from ..consts import AT_EMPTY_PATH
from ..syscalls import BY_ARCH

#: SECCOMP_IOCTL_NOTIF_ID_VALID: _IOW('!', 2, __u64).
_ID_VALID = 0x40082102
#: sizeof(struct stat) of the kernel's fstat, per architecture; struct statx is 256.
_STAT_SIZE = {"x86_64": 144, "aarch64": 128}
_STATX_SIZE = 256
_AT_FDCWD_INVALID = -1  # descriptors below 0 (AT_FDCWD among them) are path lookups
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW, _AT_NO_AUTOMOUNT = 0x100, 0x800

_libc = ctypes.CDLL(None, use_errno=True)


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _vm(fn: str, pid: int, local: ctypes.Array[ctypes.c_char], remote: int, n: int) -> bool:
    """process_vm_readv/writev of *n* bytes; True when all of them moved."""
    here = _IOVec(ctypes.cast(local, ctypes.c_void_p), n)
    there = _IOVec(remote, n)
    call = getattr(_libc, fn)
    call.restype = ctypes.c_ssize_t
    done = call(ctypes.c_int(pid), ctypes.byref(here), ctypes.c_ulong(1), ctypes.byref(there),
                ctypes.c_ulong(1), ctypes.c_ulong(0))
    return bool(done == n)


def _still_pending(listener: int, ident: int) -> bool:
    try:
        fcntl.ioctl(listener, _ID_VALID, struct.pack("Q", ident))
    except OSError:
        return False
    return True


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
    fd = ctypes.c_int(args[0] & 0xFFFFFFFF).value
    if shape is None or "stdio" not in promises or not shape.flags & AT_EMPTY_PATH \
            or args[1] == 0 or fd <= _AT_FDCWD_INVALID:
        return None
    if not _still_pending(listener, ident):  # from here on *pid* is that worker's thread
        return None
    first = ctypes.create_string_buffer(1)
    if not _vm("process_vm_readv", pid, first, args[1], 1) or first.raw != b"\0":
        return None
    # the descriptor through its magic link, never a copy of it here: closing a copy
    # would release every POSIX lock this process holds on the file
    where = f"/proc/{pid}/fd/{fd}".encode()
    out = ctypes.create_string_buffer(shape.size)
    # following the link to the file, as fstat would see it, and never automounting it
    if shape.nr == BY_ARCH[arch]["fstat"]:
        rc = _libc.syscall(ctypes.c_long(BY_ARCH[arch]["newfstatat"]), ctypes.c_long(_AT_FDCWD),
                           where, out, ctypes.c_long(_AT_NO_AUTOMOUNT))
    else:  # statx(AT_FDCWD, where, flags, mask, out)
        flags = shape.extra[0] & ~(AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW) | _AT_NO_AUTOMOUNT
        rc = _libc.syscall(ctypes.c_long(shape.nr), ctypes.c_long(_AT_FDCWD), where,
                           ctypes.c_long(flags), ctypes.c_long(shape.extra[1]), out)
    err = ctypes.get_errno()
    if not _still_pending(listener, ident):  # so *pid* was that thread throughout
        return None
    if rc != 0 and err == errno.ENOENT:
        return -errno.EBADF  # no such descriptor
    if rc != 0 and err in (errno.EACCES, errno.EPERM):
        return None  # no ptrace access to it: a violation, as before
    if rc != 0:
        return -err
    if not _still_pending(listener, ident):
        return None
    if not _vm("process_vm_writev", pid, out, shape.buf, shape.size):
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
            or ctypes.c_int(args[0] & 0xFFFFFFFF).value != _AT_FDCWD or args[2] != os.O_RDONLY
            or args[1] == 0):
        return None
    path = ctypes.create_string_buffer(len(_PROC_STAT))
    if not _vm("process_vm_readv", pid, path, args[1], len(_PROC_STAT)):
        return None
    return -errno.ENOENT if path.raw == _PROC_STAT else None


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
    handler = ctypes.create_string_buffer(8)
    if not _vm("process_vm_readv", pid, handler, args[1], 8):
        return None
    return 0 if handler.raw == bytes(8) else None  # SIG_DFL is 0
