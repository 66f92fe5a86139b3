"""A deliberately hostile worker module: each function tries one escape or abuse.

Used as the module of a :class:`pledgepy.Worker` by tests/test_worker_hostile.py.
It imports only what the worker has loaded already, so it loads as uid 65534 too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
from typing import Any


def echo(value: Any) -> Any:
    return value


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def connect(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect(("127.0.0.1", port))
        s.sendall(b"hello from the worker")
    return "connected"


def exec_sh() -> None:
    os.execv("/bin/sh", ["sh", "-c", "id"])


def fork_bomb() -> None:
    while True:
        os.fork()


def allocate(size: int) -> int:
    return len(bytearray(size))


def spin() -> None:
    while True:
        pass


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def fill(path: str, size: int) -> int:
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(0, size, len(chunk)):
            f.write(chunk)
    return size


def hoard(path: str, count: int) -> int:
    """Open *path* *count* times and keep every descriptor."""
    kept = [open(path, "rb") for _ in range(count)]  # noqa: SIM115
    return len(kept)


def write_fd(fd: int) -> int:
    return os.write(fd, b"from the worker")


def abort() -> None:
    os.abort()


def segfault() -> None:
    ctypes.string_at(0)


def silence_then_violate() -> bytes:
    """Replace the SIGSYS handler, block every signal, close stderr, then break a promise."""
    signal.signal(signal.SIGSYS, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))
    os.close(2)
    return read("/etc/shadow")


def _channel() -> int:
    return int(sys.argv[1])  # the worker's command line names its channel


def raw_reply(kind: str) -> None:
    """Write a reply of our own to the parent: garbage, an extension type, or 1 GiB."""
    fd = _channel()
    frames = {
        "garbage": (10).to_bytes(4, "big") + b"\xc1" * 10,  # 0xc1: never used by msgpack
        "ext": (4).to_bytes(4, "big") + b"\xd4\x05\x01\x02",  # fixext1, type 5
        "object": (3).to_bytes(4, "big") + b"\x93\x01\x02",  # a bare list, not a reply
        "huge": (1 << 30).to_bytes(4, "big") + b"x" * 65536,
    }
    os.write(fd, frames[kind])
    time.sleep(30)  # the parent must not wait for the rest


def big(size: int) -> bytes:
    return b"x" * size


def unplain() -> object:
    return object()


def burn(seconds: float) -> float:
    """Use *seconds* of CPU, then answer: an honest, slow call."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
