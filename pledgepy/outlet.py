"""The pledge command's stderr after the fork: a description of its own, writes that never stall.

The program the command runs inherits stderr's open file *description*, and
with it the O_NONBLOCK flag: it can set the flag, fill the pipe and make the
supervisor's next write fail. So the supervisor writes through a description
of its own where one can be had (a terminal or pipe, reopened through /proc;
the program cannot reach it), kept non-blocking, and every write waits at
most :data:`DEADLINE` for room, then drops the rest. A message may be lost; the
supervisor never stalls or fails on one.
"""

from __future__ import annotations

import fcntl
import io
import os
import select
import stat
import time

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    import socket
    from typing import TextIO

    from _typeshed import ReadableBuffer

#: Seconds a write may wait for room before its message is dropped.
DEADLINE = 2.0


def _own(fd: int) -> int | None:
    """A new description of what *fd* is, for a terminal or pipe; None if not possible."""
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or os.isatty(fd)):
            return None  # files never block (and a reopen would lose the offset)
        # O_NOCTTY: never become a controlling terminal; O_NONBLOCK: a FIFO without
        # a reader answers ENXIO instead of waiting for one
        return os.open(f"/proc/self/fd/{fd}",
                       os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # no /proc, a terminal we may not open, no reader left


def reopen(fd: int = 2) -> int:
    """A close-on-exec descriptor to write *fd*'s messages through; -1 if *fd* is closed."""
    own = _own(fd)
    if own is not None:
        return own
    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)  # shared: the writes cope
    except OSError:
        return -1


class Outlet(io.RawIOBase):
    """Writes to a descriptor that wait at most :data:`DEADLINE`, and never raise."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.sock: socket.socket | None = None
        try:  # a socket shares its description, but send() can refuse to wait itself
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                import socket  # only then (start-up)

                self.sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            self.sock = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def _write_some(self, data: memoryview) -> int:
        if self.sock is not None:
            import socket

            return self.sock.send(data, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        return os.write(self.fd, data)

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        end = time.monotonic() + DEADLINE
        while view:
            try:
                view = view[self._write_some(view):]
            except BlockingIOError:
                left = end - time.monotonic()
                if left <= 0:
                    break
                poller = select.poll()
                poller.register(self.fd, select.POLLOUT)
                poller.poll(left * 1000)
            except OSError:  # EPIPE, EIO (the terminal hung up), ...: nobody reads it
                break
        return size

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        super().close()


def text(fd: int) -> TextIO:
    """A line-buffered text stream over :class:`Outlet` on *fd*."""
    return io.TextIOWrapper(io.BufferedWriter(Outlet(fd)), encoding="utf-8",
                            errors="backslashreplace", line_buffering=True)
