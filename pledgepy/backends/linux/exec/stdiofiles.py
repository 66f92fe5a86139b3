"""The files OpenBSD's ``stdio`` reaches, for a worker: its parent answers the opens.

In a pledged process the SIGSYS handler serves stdio's path allowances
(``/dev/null``, ``/etc/localtime``) and fails glibc's reads of the CPU-count and
overcommit files with ENOENT where no allowance is in force. A worker's violations go
to its parent instead, which did none of it: a ``stdio`` worker died of
``os.cpu_count()``, of a thread freeing memory (glibc's malloc reads
``/proc/sys/vm/overcommit_memory``), of ``time.localtime()`` (glibc stats
``/etc/localtime`` at every call) and of writing ``/dev/null``, all of which
OpenBSD's ``stdio`` allows. So the parent answers them as the handler would:

- the CPU-count files (and glibc's fallback ``/proc/stat``) and the overcommit file
  fail with ENOENT, as on a system without them (glibc then counts the CPUs the
  process may run on, and malloc shrinks heaps as under any overcommit mode but 2):
  the worker is given nothing;
- ``stat("/etc/localtime")`` is answered with the parent's stat of that file;
- an open of ``/dev/null`` (access mode 0, 1 or 2) or of ``/etc/localtime``
  (read-only) is answered with a descriptor the parent opens on that path itself and
  installs in the worker (SECCOMP_IOCTL_NOTIF_ADDFD, which answers the call with it).

The path is read from the worker (process_vm_readv, so a parent without ptrace
access to the non-dumpable worker answers nothing: the call stays a violation) and
must be exactly one of these; what the parent then opens or stats is its own
constant, never the worker's memory, which may have changed meanwhile. The call the
worker made never runs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from ..consts import O__TMPFILE, O_ACCMODE, O_PATH
from ..syscalls import BY_ARCH
from .answer import _STAT_SIZE, _calls, _int, _still_pending, _vm

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

    #: (the call's result, whether the notification has been answered with it already)
    Answer = tuple[int, bool]

_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_O_DIRECTORY = 0o200000
#: SECCOMP_IOCTL_NOTIF_ADDFD: _IOW('!', 3, struct seccomp_notif_addfd) (24 bytes).
_ADDFD = 0x40182103
_ADDFD_FLAG_SEND = 2  # install the descriptor and answer the call with its number
#: opens that fail with ENOENT, as on a system without the file (glibc copes)
_ABSENT = (b"/sys/devices/system/cpu/online", b"/sys/devices/system/cpu/possible",
           b"/sys/devices/system/cpu/present", b"/proc/stat",
           b"/proc/sys/vm/overcommit_memory")
_DEVNULL, _LOCALTIME = b"/dev/null", b"/etc/localtime"
_LONGEST = max(len(p) for p in (*_ABSENT, _DEVNULL, _LOCALTIME)) + 1


def _path(calls: tuple[Any, Any], pid: int, remote: int) -> bytes | None:
    """The NUL-terminated path at *remote* in *pid* if it is at most _LONGEST bytes
    (the pages it spans readable), else None."""
    ffi = calls[1]
    # read up to the end of its page first: the next page may be unmapped
    n = min(_LONGEST, 4096 - remote % 4096)
    buf = ffi.new("unsigned char[]", _LONGEST)
    if not _vm(calls, pid, buf, remote, n):
        return None
    data = bytes(ffi.buffer(buf, n))
    if b"\0" not in data and n < _LONGEST:
        rest = ffi.new("unsigned char[]", _LONGEST - n)
        if not _vm(calls, pid, rest, remote + n, _LONGEST - n):
            return None
        data += bytes(ffi.buffer(rest))
    end = data.find(b"\0")
    return data[:end] if end >= 0 else None


def _install(listener: int, ident: int, path: bytes, flags: int,
             cloexec: bool) -> Answer | None:
    """Open *path* here and answer call *ident* with it, installed in the worker (the
    answer is sent then); -errno for the caller to send if it cannot be opened here;
    None if the notification has gone (the worker's thread ended)."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC)
    except OSError as exc:
        return -(exc.errno or errno.EIO), False
    try:
        # a mutable buffer: ioctl() then returns the call's result (the worker's number)
        request = bytearray(struct.pack("QIIII", ident, _ADDFD_FLAG_SEND, fd, 0,
                                        os.O_CLOEXEC if cloexec else 0))
        try:
            return int(fcntl.ioctl(listener, _ADDFD, request, True)), True
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None  # no longer pending
            raise
    finally:
        os.close(fd)


def answer_for(listener: int, ident: int, pid: int, nr: int, args: list[int],
               promises: frozenset[str], arch: str) -> Answer | None:
    """Answer *nr* if it is one of stdio's file calls above: (its result, True when
    the notification has been answered with it already: a descriptor installed; else
    the caller sends it). None when the call is none of them: a violation."""
    table = BY_ARCH.get(arch, {})
    if "stdio" not in promises or args[1] == 0 or _int(args[0]) != _AT_FDCWD:
        return None
    is_open = nr == table.get("openat")
    is_stat = nr == table.get("newfstatat") and arch in _STAT_SIZE
    if not (is_open or is_stat):
        return None
    calls = _calls()
    if calls is None or not _still_pending(listener, ident):
        return None  # from here on *pid* is that worker's thread
    path = _path(calls, pid, args[1])
    if path is None:
        return None
    if is_stat:
        flags = _int(args[3])
        if path != _LOCALTIME or flags & ~_AT_SYMLINK_NOFOLLOW:
            return None
        out = calls[1].new("unsigned char[]", _STAT_SIZE[arch])
        rc = int(calls[0].pp_stat_path(_LOCALTIME, out, flags))
        if rc != 0:
            return rc, False
        if not _still_pending(listener, ident):
            return None
        written = _vm(calls, pid, out, args[2], _STAT_SIZE[arch], write=True)
        return (0 if written else -errno.EFAULT), False
    flags = args[2] & 0xFFFFFFFF
    cloexec = bool(flags & os.O_CLOEXEC)
    plain = flags & ~os.O_CLOEXEC
    if path in _ABSENT and plain == os.O_RDONLY:
        return -errno.ENOENT, False
    if path == _LOCALTIME and plain == os.O_RDONLY:
        return _install(listener, ident, _LOCALTIME, os.O_RDONLY, cloexec)
    access = flags & O_ACCMODE
    if path == _DEVNULL and access != O_ACCMODE \
            and not flags & (O_PATH | _O_DIRECTORY | O__TMPFILE):
        # O_CREAT and O_TRUNC change nothing on the device: opened with its mode only
        return _install(listener, ident, _DEVNULL, access, cloexec)
    return None

