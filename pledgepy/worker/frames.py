"""Reading length-prefixed frames from a socket into memory allocated once.

Both ends use it: a small frame is read with one ``recv_into`` into a fixed
scratch buffer and decoded from there (no per-call allocation of a receive
buffer, which for ``recv(1 << 20)`` meant an mmap and munmap per call); a
large one gets a buffer of exactly its announced size, after the size was
checked against the limit.
"""

from __future__ import annotations

import socket
from typing import Any

from . import codec

#: Frames up to this size are read into the scratch buffer.
SCRATCH = 1 << 16
#: What :meth:`FrameReader.read` returns when no whole frame is there yet.
MORE: Any = object()


class FrameReader:
    """Frames from *sock*, each announcing at most *limit* bytes and holding at most
    *items* values (*trusted*: from the parent, see :func:`codec.decode`)."""

    def __init__(self, sock: socket.socket, limit: int, *, trusted: bool = False,
                 items: int = codec.MAX_ITEMS) -> None:
        self.sock, self.limit, self.trusted, self.items = sock, limit, trusted, items
        self.scratch = bytearray(SCRATCH)
        self.view = memoryview(self.scratch)
        self.start = 0  # scratch[start:have] is received and not yet consumed
        self.have = 0
        self.body: bytearray | None = None  # a large frame's body, being filled
        self.got = 0

    def _compact(self) -> None:
        """Move what is left to the front: once a receive, not once a frame (a receive
        can bring dozens of replies)."""
        if self.start:
            rest = self.have - self.start
            if rest:
                self.scratch[:rest] = self.scratch[self.start:self.have]
            self.start, self.have = 0, rest

    def feed(self, data: bytes) -> None:
        """Take bytes received some other way (with descriptors, say): at most what
        scratch has room for, before any :meth:`read`."""
        self._compact()
        if self.body is not None or self.have + len(data) > SCRATCH:
            raise codec.CodecError("more data than the scratch buffer holds")
        self.scratch[self.have:self.have + len(data)] = data
        self.have += len(data)

    def read(self, flags: int = 0) -> Any:
        """Receive once (with *flags*, e.g. MSG_DONTWAIT); the next whole message, or
        MORE. EOFError at the end.

        CodecError for a frame over the limit or not plain data;
        BlockingIOError when a non-blocking socket (or receive) has nothing.
        """
        if self.body is not None:
            n = self.sock.recv_into(memoryview(self.body)[self.got:], 0, flags)
            if not n:
                raise EOFError
            self.got += n
        else:
            self._compact()
            n = self.sock.recv_into(self.view[self.have:], 0, flags)
            if not n:
                raise EOFError
            self.have += n
        return self.next()

    def next(self) -> Any:
        """The next whole message already received, or MORE."""
        if self.body is not None:
            if self.got < len(self.body):
                return MORE
            body, self.body = self.body, None
            return codec.decode(body, trusted=self.trusted, items=self.items)
        start = self.start
        if self.have - start < 4:
            return MORE
        need = codec.length(self.view[start:start + 4], self.limit)
        end = start + 4 + need
        if self.have >= end:
            value = codec.decode(self.view[start + 4:end], trusted=self.trusted,
                                 items=self.items)
            if end == self.have:
                self.start = self.have = 0
            else:
                self.start = end
            return value
        if 4 + need > SCRATCH:  # a large frame: its own buffer, of the size just checked
            self.body = bytearray(need)
            self.got = self.have - start - 4
            self.body[:self.got] = self.view[start + 4:self.have]
            self.start = self.have = 0
        return MORE
