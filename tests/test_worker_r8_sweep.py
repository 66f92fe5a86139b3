"""A worker's processes end with it: it has a session of its own, which its
filters do not let them leave, and the parent kills the session's members
whenever it ends the worker (close, a violation, a timeout, a restart)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import pledgepy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
FORKER = "tests.programs.worker_forker"
STARTS = ["spawn", "fork"]


def alive(pid: int) -> bool:
    """True while *pid* runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


def settled(pids: list[int]) -> list[int]:
    """The pids of *pids* still running after the kernel had time to end them."""
    deadline = time.monotonic() + 2.0
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [p for p in pids if alive(p)]


@pytest.fixture
def left() -> Iterator[list[int]]:
    """Pids the test saw a worker leave; killed afterwards whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("start", STARTS)
def test_close_ends_the_orphans_a_worker_left(start: str, left: list[int]) -> None:
    outsider = subprocess.Popen(["sleep", "30"], start_new_session=True)  # not the worker's
    try:
        with pledgepy.Worker(FORKER, promises="stdio proc", start=start) as w:
            left += w.call("leave", 3)
            assert all(alive(p) for p in left)
            assert w.call("leave", 0) == []  # they do not disturb the worker
        assert settled(left) == []
        assert outsider.poll() is None  # nothing but the worker's own
    finally:
        outsider.kill()
        outsider.wait()


@pytest.mark.parametrize("start", STARTS)
def test_a_violation_ends_the_workers_processes_too(start: str, left: list[int]) -> None:
    with pledgepy.Worker(FORKER, promises="stdio proc", start=start) as w:
        left += w.call("leave", 2)
        with pytest.raises(pledgepy.WorkerViolation, match=r'needs "rpath"'):
            w.call("read", "/etc/hostname")
        assert settled(left) == []
        assert w.call("leave", 0) == []  # a fresh worker


@pytest.mark.parametrize("start", STARTS)
def test_a_timeout_ends_the_workers_processes_too(start: str, left: list[int]) -> None:
    with pledgepy.Worker(FORKER, promises="stdio proc", start=start, timeout=1.0) as w:
        left += w.call("leave", 2)
        with pytest.raises(pledgepy.WorkerTimeout):
            w.call("leave_then_spin", 2)
        assert settled(left) == []


@pytest.mark.parametrize("start", STARTS)
def test_leaving_the_session_is_a_violation_that_names_setsid(start: str,
                                                              left: list[int]) -> None:
    with pledgepy.Worker(FORKER, promises="stdio proc", start=start) as w:
        with pytest.raises(pledgepy.WorkerViolation) as caught:
            w.call("setsid")
        assert "setsid(): refused to a worker's processes" in caught.value.message
        # and from a process it forked (a grandchild, orphaned first): reported the
        # same way, and that process ended with the worker
        with pytest.raises(pledgepy.WorkerViolation, match=r"setsid\(\)"):
            w.call("leave", 1, True)
        assert w.stats.violations == 2


def test_a_worker_run_as_another_user_is_swept_too(left: list[int]) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching user needs root")
    with pledgepy.Worker(FORKER, promises="stdio proc", user=65534) as w:
        left += w.call("leave", 2)
        owners = {os.stat(f"/proc/{p}").st_uid for p in left}
        assert owners == {65534}
    assert settled(left) == []
