"""A worker module that leaves processes behind (tests/test_worker_r8_sweep.py)."""

from __future__ import annotations

import os
import time


def leave(count: int, own_session: bool = False) -> list[int]:
    """Start *count* sleepers that outlive this call, each orphaned by a double fork
    (so its parent is init, not the worker), optionally calling setsid() first;
    their pids."""
    pids = []
    for _ in range(count):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            if os.fork():
                os._exit(0)
            if own_session:
                try:
                    os.setsid()
                except OSError:
                    pass
            os.write(w, b"%d\n" % os.getpid())
            while True:
                time.sleep(1)
        os.close(w)
        os.waitpid(pid, 0)
        pids.append(int(os.read(r, 64)))
        os.close(r)
    return pids


def leave_then_spin(count: int) -> None:
    """Leave *count* sleepers, then never answer (the call's timeout ends it)."""
    leave(count)
    while True:
        pass


def setsid() -> int:
    return os.setsid()


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
