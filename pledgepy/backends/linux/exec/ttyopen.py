"""OpenBSD's ``/dev/tty`` (under ``tty``) and ``/dev/null`` (under ``stdio``) allowances for
an exec'd program: the supervisor opens them.

OpenBSD lets a process holding ``tty`` open ``/dev/tty`` for reading and writing
without ``rpath``/``wpath``, and any pledged process ``/dev/null`` (pledge_namei;
the in-process handler answers it from a descriptor, as here, so a shell's
``>/dev/null`` (O_CREAT|O_TRUNC) works too). BPF cannot see the path, so the
program's open traps to the supervisor like any violation. The supervisor reads
the path the program passed, and when it is exactly ``/dev/tty`` opens
``/dev/tty`` *itself* and hands the descriptor over (SECCOMP_IOCTL_NOTIF_ADDFD
with SECCOMP_ADDFD_FLAG_SEND: the descriptor is the syscall's result). The
program's call never runs (no CONTINUE), so changing its memory after the read
gains it nothing: what it gets is always the supervisor's ``/dev/tty``, never the
file its pointer names later. The supervisor's controlling terminal is the
program's only when both have the same one (``tty_nr`` in /proc/<pid>/stat); a
program without one is answered ENXIO, as the kernel would; any other case stays
a violation. For ``/dev/tty`` only plain access flags are taken: no creating,
truncating, O_PATH; ``/dev/null`` takes O_CREAT and O_TRUNC (it exists: nothing is
created), and so ``creat()`` (x86_64), never O_PATH, O_DIRECTORY or O_TMPFILE.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from ..syscalls import BY_ARCH

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable

TTY = b"/dev/tty\0"
TTY_PATH = "/dev/tty"
NULL = b"/dev/null\0"
#: The highest offset pread takes (off_t): a pointer above it is no user address (and
#: os.pread would raise OverflowError, not OSError, for it).
OFF_MAX = (1 << 63) - 1
#: SECCOMP_IOCTL_NOTIF_ADDFD (_IOW('!', 3, struct seccomp_notif_addfd)) and its SEND flag
NOTIF_ADDFD, ADDFD_FLAG_SEND = 0x40182103, 2
#: Flags an allowed open may carry (x86_64 and aarch64 values): access mode, O_NONBLOCK,
#: O_APPEND, O_NOCTTY, O_CLOEXEC, O_LARGEFILE (0o100000 on x86_64, 0o400000 on aarch64),
#: O_NOFOLLOW (0o400000 on x86_64, 0o100000 on aarch64). Anything else: a violation.
PLAIN = (os.O_ACCMODE | os.O_NONBLOCK | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC
         | 0o100000 | 0o400000)
NULL_FLAGS = PLAIN | os.O_CREAT | os.O_TRUNC | os.O_EXCL


def _tty_nr(pid: int | str) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rpartition(b")")[2].split()[4])  # field 7, tty_nr


def _path_at(pid: int, address: int) -> bytes:
    """The path the program passed, as far as it can be one of ours (one page-safe read
    of the shorter first); b"" for a pointer no read reaches."""
    if address > OFF_MAX - len(NULL):
        return b""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        head = os.pread(fd, len(TTY), address)
        if head == NULL[:len(TTY)]:
            head += os.pread(fd, len(NULL) - len(TTY), address + len(TTY))
        return head
    finally:
        os.close(fd)


def _hand_over(listener: int, ident: int, flags: int, send_error: Callable[[int], object],
               path: str = "/dev/tty") -> bool:
    fd = os.open(path, (flags & (os.O_ACCMODE | os.O_NONBLOCK | os.O_APPEND))
                 | os.O_NOCTTY | os.O_CLOEXEC)  # never the supervisor's ctty anew
    try:
        newfd_flags = os.O_CLOEXEC if flags & os.O_CLOEXEC else 0
        fcntl.ioctl(listener, NOTIF_ADDFD,
                    struct.pack("=QIIII", ident, ADDFD_FLAG_SEND, fd, 0, newfd_flags))
    except OSError as exc:
        if exc.errno == errno.EMFILE:  # the program is at its descriptor limit (-O):
            send_error(errno.EMFILE)  # what its own open would say, not a violation
            return True
        return False  # gone meanwhile, or a kernel before 5.14: a violation as before
    finally:
        os.close(fd)
    return True


def answer(listener: int, ident: int, pid: int, nr: int, args: tuple[int, ...],
           promises: frozenset[str], arch: str, send_error: Callable[[int], object]) -> bool:
    """Answer an open of ``/dev/tty`` under ``tty`` or of ``/dev/null`` under ``stdio``
    (True), or leave it a violation (False).

    *send_error* is called with an errno to answer the call with a failure instead.
    """
    if not promises & {"tty", "stdio"}:
        return False
    table = BY_ARCH.get(arch, {})
    if nr == table.get("openat"):
        address, flags = args[1], args[2]
    elif nr == table.get("open"):
        address, flags = args[0], args[1]
    elif nr == table.get("creat"):  # x86_64's creat(path, mode): open's O_CREAT|O_WRONLY|O_TRUNC
        # (GNU tar's creat("/dev/null") for -f /dev/null); never /dev/tty's plain flags
        address, flags = args[0], os.O_CREAT | os.O_WRONLY | os.O_TRUNC
    else:
        return False
    if flags & ~NULL_FLAGS:
        return False
    try:
        path = _path_at(pid, address)
        if path == NULL and "stdio" in promises:
            if flags & os.O_CREAT and flags & os.O_EXCL:
                send_error(errno.EEXIST)
                return True
            return _hand_over(listener, ident, flags, send_error, "/dev/null")
        if path != TTY or "tty" not in promises or flags & ~PLAIN:
            return False
        theirs, ours = _tty_nr(pid), _tty_nr("self")
    except (OSError, ValueError, IndexError):
        return False
    if theirs == 0:
        send_error(errno.ENXIO)  # no controlling terminal: what its own open would say
        return True
    return theirs == ours and _hand_over(listener, ident, flags, send_error)
