"""A worker module whose calls attack the parent (tests/test_review_r10_workerattack.py).

Like worker_hostile, it imports only what a worker has loaded already.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

#: clone(2)'s flags: the new process is the caller's parent's child; SIGCHLD on exit.
CLONE_PARENT, SIGCHLD = 0x8000, 17
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}
ELEMENTS = {"list": b"\x90", "dict": b"\x80", "int": b"\xe0"}  # [], {}, -32: one byte each


def _write_all(data: bytes) -> None:
    fd = int(sys.argv[1])  # the worker's command line names its channel
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:1 << 20]):]


def amplify(count: int, kind: str) -> None:
    """Reply ["ok", [x] * count] in msgpack of our own, x one byte that decodes to an
    object of ~30-80 bytes in the parent; then wait (the parent must not need more)."""
    body = b"\x92\xa2ok\xdd" + count.to_bytes(4, "big") + ELEMENTS[kind] * count
    _write_all(len(body).to_bytes(4, "big") + body)
    time.sleep(30)


def echo(value: object) -> object:
    return value


def clone_parent() -> int:
    """A process made a child of the worker's parent (CLONE_PARENT), ending at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pid = int(libc.syscall(_SYS_CLONE[os.uname().machine], CLONE_PARENT | SIGCHLD, 0, 0, 0, 0))
    if pid == 0:
        os._exit(0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone")
    return pid


def threads(count: int) -> int:
    """Start *count* threads that wait (small stacks: the address space is not the
    limit); how many started."""
    threading.stack_size(1 << 16)
    stop = threading.Event()
    for _ in range(count):
        threading.Thread(target=stop.wait, daemon=True).start()
    return count


def leave_spinning(how: str) -> str:
    """Return, leaving a thread that spins for ever, with SIGXCPU (RLIMIT_CPU's soft
    limit) ignored or blocked so that the soft limit cannot end it."""
    import signal

    if how == "ignore":
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGXCPU})  # the thread inherits it

    def spin() -> None:
        while True:
            pass

    threading.Thread(target=spin, daemon=True).start()
    return "spinning"
