"""The worker keeper thread ends once no worker it started is alive (round 11).

Before, the keeper (the thread that forks workers asked for from other threads, so
that PR_SET_PDEATHSIG is tied to a thread that lives) ran for the rest of the
process: a program that used a Worker once from an asyncio or executor thread
stayed multi-threaded, and Python 3.12+ warned at each later fork (the test
suite's pty tests showed it). Both tests fail on main: the first because the
thread never ends, the second guards that ending it does not kill a live worker.
"""

from __future__ import annotations

import threading
import time

import pledgepy
from pledgepy.worker import keeper


def _keepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pledgepy-worker-keeper"]


def _in_thread(fn: object) -> None:
    t = threading.Thread(target=fn)  # type: ignore[arg-type]
    t.start()
    t.join()


def _wait_gone(limit: float) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not _keepers():
            return True
        time.sleep(0.05)
    return not _keepers()


def test_the_keeper_ends_after_its_last_worker() -> None:
    assert _wait_gone(keeper.IDLE * 3 + 2), "a keeper from an earlier test is still running"
    w = pledgepy.Worker("os", promises="stdio")
    _in_thread(lambda: w.call("getpid"))
    assert _keepers(), "the worker was not started from the keeper thread"
    w.close()
    assert _wait_gone(keeper.IDLE * 3 + 2), [t.name for t in threading.enumerate()]


def test_a_live_worker_keeps_its_keeper_and_survives_its_caller_thread() -> None:
    w = pledgepy.Worker("os", promises="stdio")
    pids: list[int] = []
    _in_thread(lambda: pids.append(w.call("getpid")))
    try:
        time.sleep(keeper.IDLE * 2.5)  # past IDLE: the keeper must still be there
        assert _keepers()
        assert w.call("getpid") == pids[0]  # the same process: it did not die with a thread
        assert w.stats.restarts == 0
    finally:
        w.close()
    assert _wait_gone(keeper.IDLE * 3 + 2)
    # and a worker asked for from a thread after that starts a new keeper
    w2 = pledgepy.Worker("os", promises="stdio")
    try:
        _in_thread(lambda: pids.append(w2.call("getpid")))
        assert _keepers() and pids[1] != pids[0]
    finally:
        w2.close()
