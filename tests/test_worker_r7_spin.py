"""Worker(spin=...): polling before blocking keeps every guarantee of call(), stays
within the worker's pledge, and an idle worker's CPU use stays bounded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import pledgepy
from pledgepy import Limits
from pledgepy.worker import worker as worker_module
from pledgepy.worker.conn import Conn

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
HOSTILE = "tests.programs.worker_hostile"
MAX = worker_module.MAX_SPIN
#: Slack for a loaded 2-CPU machine: scheduling, clock reads, one syscall.
SLACK = 0.005


def cpu(w: pledgepy.Worker) -> float:
    """The worker's CPU seconds so far (its kernel CPU clock)."""
    assert w.pid is not None
    return time.clock_gettime(((~w.pid) << 3) | 2)


def idle_cpu(w: pledgepy.Worker, calls: int = 200) -> float:
    """The worker's CPU seconds over 100 ms of idleness after back-to-back calls."""
    for i in range(calls):
        assert w.call("echo", i) == i
    before = cpu(w)
    time.sleep(0.1)
    return cpu(w) - before


@pytest.mark.parametrize("bad", [-0.001, MAX * 2, True, "0.001", None])
def test_spin_must_be_seconds_within_the_cap(bad: Any) -> None:
    with pytest.raises(ValueError, match="spin"):
        pledgepy.Worker(HOSTILE, promises="stdio", spin=bad)


def test_an_idle_spinning_worker_uses_at_most_its_spin_of_cpu() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as w:
        assert w._conn is not None and w._conn.spin.window == MAX
        # it stopped when its window closed (on a busy machine it may not spin at all:
        # a preempted spinner pauses, see test_a_preempted_spinner_stops_spinning)
        assert idle_cpu(w) <= MAX + SLACK
    with pledgepy.Worker(HOSTILE, promises="stdio") as w:  # the default
        assert idle_cpu(w) <= worker_module.SPIN + SLACK


def test_spin_0_never_polls() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=0) as w:
        assert w._conn is not None and w._conn.spin.window == 0
        assert idle_cpu(w) < 0.001
        assert w._conn.spin.waited == 0.0  # the parent's spin bookkeeping never ran


def test_spinning_stays_within_stdio_across_short_and_long_gaps() -> None:
    """The worker's spin (non-blocking receives) runs pledged: a refused syscall would
    end these calls in a WorkerViolation."""
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=0.002) as w:
        for gap in (0.0, 0.0005, 0.004, 0.0, 0.05, 0.0):
            for i in range(20):
                assert w.call("echo", [i, b"x" * 3000]) == [i, b"x" * 3000]
                if gap:
                    time.sleep(gap)
        assert w.call("echo", b"y" * 300_000) == b"y" * 300_000  # a frame in pieces
        assert w.stats.failures == 0 and w.stats.restarts == 0 and w.stats.violations == 0


def test_timeout_holds_while_the_parent_spins() -> None:
    # a timeout shorter than the spin: the first call spins (nothing was waited for yet)
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX, timeout=MAX / 2) as w:
        assert w._conn is not None and w._conn.spin.waited <= MAX
        start = time.monotonic()
        with pytest.raises(pledgepy.WorkerTimeout) as caught:
            w.call("sleep", 5.0)
        assert caught.value.limit == "timeout"
        assert time.monotonic() - start < 1.0
        w.timeout = None  # the next call need not be quick on a loaded machine
        assert w.call("echo", 2) == 2 and w.stats.restarts == 1


def test_cpu_limit_holds_while_both_sides_spin() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX, limits=Limits(cpu=0.3)) as w:
        assert w.call("burn", 0.05) == 0.05
        with pytest.raises(pledgepy.WorkerTimeout) as caught:
            w.call("spin")
        assert caught.value.limit == "cpu"
        assert w.call("echo", 3) == 3


def test_the_growing_backstop_is_not_tripped_by_the_spin() -> None:
    """RLIMIT_CPU is set from the CPU used so far: a worker using most of its per-call
    budget and spinning between calls, 1.5 s of CPU in all, is not killed by SIGXCPU."""
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX, limits=Limits(cpu=0.05)) as w:
        start = cpu(w)
        deadline = time.monotonic() + 30.0
        while cpu(w) - start < 1.5 and time.monotonic() < deadline:
            assert w.call("burn", 0.03) == 0.03
            time.sleep(MAX * 0.5)  # within the window: the worker spins through it
        assert cpu(w) - start >= 1.5
        assert w.stats.failures == 0 and w.stats.restarts == 0


def test_violation_crash_and_restart_under_spin() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as w:
        w.call("echo", 0)
        with pytest.raises(pledgepy.WorkerViolation, match='"rpath"'):
            w.call("read", "/etc/hostname")
        assert w.call("echo", 1) == 1
        with pytest.raises(pledgepy.WorkerViolation):
            w.call("silence_then_violate")
        assert w.call("echo", 2) == 2
        with pytest.raises(pledgepy.WorkerCrashed) as crashed:
            w.call("abort")
        assert crashed.value.signal == 6
        assert w.call("echo", 3) == 3
        assert w.stats.restarts == 3 and w.stats.failures == 3


def test_max_calls_and_map_under_spin() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX, max_calls=3) as w:
        pids = set()
        for i in range(7):
            assert w.call("echo", i) == i
            if w.pid is not None:
                pids.add(w.pid)
        assert w.stats.restarts == 2
        assert w.map("echo", range(10)) == list(range(10))
    with pledgepy.WorkerPool(2, HOSTILE, promises="stdio", spin=MAX) as pool:
        assert pool.map("echo", range(50)) == list(range(50))


def _spins(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record the *spin* of every Conn.exchange of a call."""
    seen: list[bool] = []
    real = Conn.exchange

    def exchange(self: Conn, frame: bytes | None, **kw: Any) -> Any:
        if frame is not None:
            seen.append(bool(kw.get("spin")) and self.spin.window > 0)
        return real(self, frame, **kw)

    monkeypatch.setattr(Conn, "exchange", exchange)
    return seen


def test_acall_never_spins_and_call_does(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spins(monkeypatch)
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as w:
        assert w.call("echo", 1) == 1
        assert asyncio.run(w.acall("echo", 2)) == 2
    with pledgepy.WorkerPool(1, HOSTILE, promises="stdio", spin=MAX) as pool:
        assert asyncio.run(pool.acall("echo", 3)) == 3
        assert pool.call("echo", 4) == 4
    assert seen == [True, False, False, True]


def test_only_a_lone_call_spins(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spins(monkeypatch)
    with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as slow, \
            pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as quick:
        runner = threading.Thread(target=slow.call, args=("sleep", 0.5))
        runner.start()
        time.sleep(0.2)  # the slow call is running
        assert quick.call("echo", 1) == 1
        runner.join()
        assert quick.call("echo", 2) == 2
    assert seen == [True, False, True]


def test_one_allowed_cpu_turns_spinning_off() -> None:
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        w = pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX).start()
    finally:
        os.sched_setaffinity(0, allowed)
    with w:
        assert w._conn is not None and w._conn.spin.window == 0
        assert idle_cpu(w) < 0.001  # the worker got spin=0 too
        assert w._conn.spin.waited == 0.0


def test_a_preempted_spinner_stops_spinning_for_a_while() -> None:
    """With every CPU busy, a spinning side loses its CPU (it yields it at once) and
    pauses spinning, so it does not keep the busy CPUs from their other tasks."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(len(os.sched_getaffinity(0)))]
    try:
        with pledgepy.Worker(HOSTILE, promises="stdio", spin=MAX) as w:
            assert w._conn is not None
            deadline = time.monotonic() + 10.0
            while w._conn.spin.calm_until == 0.0 and time.monotonic() < deadline:
                assert w.call("echo", 1) == 1
            assert w._conn.spin.calm_until > 0.0
            assert w._conn.spin.until(time.monotonic()) == 0.0  # calm: no spin now
            assert w.call("echo", 2) == 2
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_resolve_is_realpath_of_files(tmp_path: Any) -> None:
    """child._resolve (one lstat per file, directories' real paths kept) gives what
    ``realpath if isfile`` gives, through file and directory symlinks."""
    from pledgepy.worker import child

    real = tmp_path / "real"
    real.mkdir()
    (real / "mod.py").write_text("")
    (tmp_path / "linked_dir").symlink_to(real)
    (real / "link.py").symlink_to(real / "mod.py")
    (real / "dangling.py").symlink_to(tmp_path / "missing")
    (real / "to_dir").symlink_to(real)
    for path in ["real/mod.py", "linked_dir/mod.py", "real/link.py", "linked_dir/link.py",
                 "real/dangling.py", "real/to_dir", "real", "missing.py", "real/mod.py/x"]:
        full = str(tmp_path / path)
        want = os.path.realpath(full) if os.path.isfile(full) else None
        assert child._resolve(full) == want, path
    assert child._resolve("bad\0path") is None
