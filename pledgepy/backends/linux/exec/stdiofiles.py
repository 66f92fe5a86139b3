"""The files OpenBSD's promises reach, for a worker: its parent answers the calls.

In a pledged process the SIGSYS handler serves the path allowances (``stdio``'s
``/dev/null`` and ``/etc/localtime``, ``dns``'s and ``getpw``'s files under
``/etc``) and fails glibc's reads of the CPU-count and overcommit files with ENOENT
where no allowance is in force. A worker's violations go to its parent instead,
which did none of it: a ``stdio`` worker died of ``os.cpu_count()``, of a thread
freeing memory (glibc's malloc reads ``/proc/sys/vm/overcommit_memory``), of
``time.localtime()`` (glibc stats ``/etc/localtime`` at every call) and of writing
``/dev/null``; a ``stdio inet dns`` one of ``getaddrinfo()``, a ``stdio getpw`` one
of ``pwd.getpwuid()``: OpenBSD allows each. So the parent answers them as the
handler would:

- the CPU-count files (and glibc's fallback ``/proc/stat``) and the overcommit file
  fail with ENOENT, as on a system without them (glibc then counts the CPUs the
  process may run on, and malloc shrinks heaps as under any overcommit mode but 2):
  the worker is given nothing; so do OpenSSL's lookups of an issuer by hash name in
  its certificate directory (a peer with an unknown CA fails the handshake with its
  verification error, not the worker with a violation);
- ``stat()`` of a file a held promise allows reading (policy.PATHS: a file, not a
  directory) or of ``/dev/null`` is the parent's stat of it, and under ``dns`` or ``getpw`` ``stat("/")``
  (glibc's NSS makes it before each lookup) the parent's stat of ``/``;
- a read-only open of such a file, or an open of ``/dev/null`` (access mode 0, 1 or
  2), is answered with a descriptor the parent opens on that path itself and
  installs in the worker (SECCOMP_IOCTL_NOTIF_ADDFD, which answers the call with
  it), only if it is a regular file every user may read (``/dev/null``: the
  character device every user may read and write), so a parent of another user
  never hands over what the worker's own user could not open.

The path is read from the worker (process_vm_readv, so a parent without ptrace
access to the non-dumpable worker answers nothing: the call stays a violation) and
must be exactly one of these; what the parent then opens or stats is its own
constant, never the worker's memory, which may have changed meanwhile. The call the
worker made never runs.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import stat
import struct
import sys

from .. import prepared
from ..consts import O__TMPFILE, O_ACCMODE, O_PATH
from ..syscalls import BY_ARCH
from . import reach
from .answer import _STAT_SIZE, FS_IDS, _calls, _int, _vm, status_ids, still_pending

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
_DEVNULL = b"/dev/null"
#: the promises whose lookups stat "/" first (glibc's NSS)
_NSS = frozenset({"dns", "getpw"})
#: the longest path compared: 4096 would do, but none of these is longer than this
_LONGEST = 256


@functools.lru_cache(maxsize=64)
def readable(promises: frozenset[str]) -> frozenset[bytes]:
    """The files *promises* allow reading through their path allowances, but
    /dev/null (served for writing too) and the directories (the zoneinfo tree, /tmp:
    a path beneath them would have to be judged, not compared). Whether each is one
    every user may read is checked when it is served."""
    out: set[bytes] = set()
    for promise, entries in prepared.paths().items():
        if promise in promises:
            out.update(path.encode() for path, letters in entries
                       if letters == "r" and os.path.isfile(path))
    return frozenset(out - {_DEVNULL})


@functools.lru_cache(maxsize=1)  # once a process: a failed import is not tried again
def prime() -> None:
    """In the parent, before its first worker starts: load OpenSSL's module for
    :func:`_cert_dirs`. Never later: a worker allowed to write into a directory of
    this process's sys.path (a script's, or the working directory under ``-m``) could
    put an ``_ssl.py`` there, and its first violation had this unconfined process
    import and run it."""
    try:
        import _ssl  # noqa: F401
    except ImportError:  # a Python without ssl: no lookup to answer
        pass
    _cert_dirs()


@functools.lru_cache(maxsize=1)
def _cert_dirs() -> tuple[bytes, ...]:
    """OpenSSL's default certificate directory and $SSL_CERT_DIR's (as this process
    sees them), and where they lead: see :func:`_cert_lookup`. Only from an ``_ssl``
    already loaded (:func:`prime`): nothing is imported while a worker runs."""
    _ssl = sys.modules.get("_ssl")
    if _ssl is None:
        return ()
    _, _, env, capath = _ssl.get_default_verify_paths()
    dirs = [capath, *os.environ.get(env, "").split(":")]
    dirs += [os.path.realpath(d) for d in dirs if d]
    return tuple(dict.fromkeys(os.fsencode(os.path.normpath(d)) for d in dirs
                               if d and os.path.isabs(d)))


_HEX = frozenset(b"0123456789abcdef")


def _cert_lookup(path: bytes) -> int:
    """1 for "dir/HHHHHHHH.N" (or ".rN") under an OpenSSL certificate directory, the
    name its lookup of an issuer (or CRL) stats; 2 for the directory itself, which
    OpenSSL 3 stats and lists first; 0 otherwise. As in the in-process handler
    (sigsys.c: cert_lookup), these fail as for missing files: the handshake then
    fails with its verification error instead of the worker's violation."""
    for d in _cert_dirs():
        if path == d:
            return 2
        if not path.startswith(d + b"/"):
            continue
        name = path[len(d) + 1:]
        stem, dot, ext = name.partition(b".")
        ext = ext[1:] if ext.startswith(b"r") else ext
        if len(stem) == 8 and set(stem) <= _HEX and dot and ext.isdigit():
            return 1
    return 0


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


#: the ids /dev/null is served with (not asked: the device every user may read and write)
_NO_IDS: tuple[int | None, set[int]] = (-1, set())


#: what :func:`_who` says of a path every user may reach and read (reach.may_read with
#: no user): no ids to judge it with
_EVERYONE: tuple[int | None, set[int]] = (None, set())


def _who(pid: int, path: bytes) -> tuple[int | None, set[int]] | None:
    """Whom to judge *path* for: every user when each directory on its way and the file
    grant every user what an open needs (most served files: no ids read, a read of
    /proc/PID/status costs ~30 us here), else the worker thread's fsuid and groups
    (answer.status_ids); None when that thread has gone."""
    if reach.may_read(os.fsdecode(path), None, set()):
        return _EVERYONE
    try:
        return status_ids(pid, FS_IDS)
    except OSError:
        return None


def _servable(fd: int, path: bytes, who: tuple[int | None, set[int]]) -> bool:
    """*fd* (opened here) is what may be handed to any worker: /dev/null the device
    every user may read and write, anything else a regular file every user may read
    by its mode and that the worker's user (*who*: its fsuid and groups) may reach and
    read as the kernel judges its own open (reach.py: every directory searched and the
    file, by their ACLs: the other-read bit alone let a 0700 directory or a
    "user:nobody:---" entry through, with this process's rights)."""
    st = os.fstat(fd)
    if path == _DEVNULL:
        return stat.S_ISCHR(st.st_mode) and st.st_mode & 0o006 == 0o006
    uid, gids = who
    # the file opened by its own ACL or mode; the walk to it (_who walked it already
    # when it found every user may: not twice)
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IROTH) \
        and reach.allows(st, reach.acl(f"/proc/self/fd/{fd}", follow=True), uid, gids,
                         reach.READ) \
        and (who is _EVERYONE or reach.may_read(os.fsdecode(path), uid, gids))


def _may_serve(path: bytes, who: tuple[int | None, set[int]]) -> bool:
    """*path* opens here as one :func:`_servable` (its stat is answered then)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return _servable(fd, path, who)
    finally:
        os.close(fd)


def _install(listener: int, ident: int, path: bytes, flags: int,
             cloexec: bool, who: tuple[int | None, set[int]]) -> Answer:
    """Open *path* here and answer call *ident* with it, installed in the worker (the
    answer is sent then); -errno for the caller to send if it cannot be opened here
    (EACCES: not one every user may open); :data:`GONE` if the notification has gone
    (the worker's thread ended)."""
    try:
        # O_NONBLOCK: a FIFO put at one of these paths must not stall this process in
        # open() (it is refused next: not a regular file); cleared before it is handed over
        fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        return -(exc.errno or errno.EIO), False
    try:
        if not _servable(fd, path, who):
            return -errno.EACCES, False
        os.set_blocking(fd, True)
        # a mutable buffer: ioctl() then returns the call's result (the worker's number)
        request = bytearray(struct.pack("QIIII", ident, _ADDFD_FLAG_SEND, fd, 0,
                                        os.O_CLOEXEC if cloexec else 0))
        try:
            return int(fcntl.ioctl(listener, _ADDFD, request, True)), True
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return GONE  # no longer pending
            # not installed (EMFILE: the worker's descriptor table is full): what its
            # own open would have said, for the caller to send
            return -(exc.errno or errno.EIO), False
    finally:
        os.close(fd)


#: The answer to a call whose caller went away before it was answered (another thread's
#: exit_group or execve ended it): nothing to send, and no violation -- the call never
#: ran. As the command's allowed.answer (-1): the worker only exited; called a violation,
#: its parent raised WorkerViolation for a worker that broke no promise.
GONE: Answer = (-1, True)


def answer_for(listener: int, ident: int, pid: int, nr: int, args: list[int],
               promises: frozenset[str], arch: str) -> Answer | None:
    """Answer *nr* if it is one of stdio's file calls above: (its result, True when
    the notification has been answered with it already: a descriptor installed; else
    the caller sends it). None when the call is none of them: a violation; :data:`GONE`
    when its caller went away before it could be read or answered."""
    table = BY_ARCH.get(arch, {})
    if "stdio" not in promises or args[1] == 0 or _int(args[0]) != _AT_FDCWD:
        return None
    is_open = nr == table.get("openat")
    is_stat = nr == table.get("newfstatat") and arch in _STAT_SIZE
    if not (is_open or is_stat):
        return None
    calls = _calls()
    if calls is None:
        return None
    if not still_pending(listener, ident):
        return GONE  # from here on *pid* is that worker's thread
    path = _path(calls, pid, args[1])
    if path is None:
        return GONE if not still_pending(listener, ident) else None
    served = readable(promises)
    if is_stat:
        flags = _int(args[3])
        if flags == 0 and _cert_lookup(path):
            return -errno.ENOENT, False
        if flags & ~_AT_SYMLINK_NOFOLLOW:
            return None
        if path not in served and path != _DEVNULL \
                and not (path == b"/" and promises & _NSS):
            return None
        if path != b"/":
            who = _who(pid, path)
            if who is None:
                return GONE if not still_pending(listener, ident) else None
            if not _may_serve(path, who):
                return -errno.EACCES, False  # its metadata only where reading it works
        out = calls[1].new("unsigned char[]", _STAT_SIZE[arch])
        rc = int(calls[0].pp_stat_path(path, out, flags))
        if rc != 0:
            return rc, False
        if not still_pending(listener, ident):
            return GONE
        written = _vm(calls, pid, out, args[2], _STAT_SIZE[arch], write=True)
        return (0 if written else -errno.EFAULT), False
    flags = args[2] & 0xFFFFFFFF
    cloexec = bool(flags & os.O_CLOEXEC)
    plain = flags & ~os.O_CLOEXEC
    if path in _ABSENT and plain == os.O_RDONLY:
        return -errno.ENOENT, False
    if flags & _O_DIRECTORY and flags & O_ACCMODE == os.O_RDONLY \
            and not flags & os.O_CREAT and _cert_lookup(path) == 2:
        return -errno.ENOENT, False
    if path in served and plain == os.O_RDONLY:
        who = _who(pid, path)
        if who is None:
            return GONE if not still_pending(listener, ident) else None
        return _install(listener, ident, path, os.O_RDONLY, cloexec, who)
    access = flags & O_ACCMODE
    if path == _DEVNULL and access != O_ACCMODE \
            and not flags & (O_PATH | _O_DIRECTORY | O__TMPFILE):
        # O_CREAT and O_TRUNC change nothing on the device: opened with its mode only
        return _install(listener, ident, _DEVNULL, access, cloexec, _NO_IDS)
    return None
