"""Round 11, the worker: glibc's own reads under "stdio" in a worker that starts threads
or counts CPUs after its pledge.

On main each of these killed the worker as a violation: a worker's violations go to
its parent, which answered only fstat and CPython's /proc/self/stat with what the
in-process SIGSYS handler does; the handler's ENOENT for the CPU-count files (and
their fallback /proc/stat) and for malloc's /proc/sys/vm/overcommit_memory, given
where stdio's path allowances are not in force (never, in a worker), was missing. So a
library that starts a thread pool, or calls os.cpu_count(), died on its first call.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import pytest

import pledgepy
from tests import childproc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MOD = "tests.programs.worker_r11_threads"


@pytest.mark.parametrize("user", [None, childproc.NOBODY])
def test_threads_past_eight_arenas_allocate(user: int | None) -> None:
    """glibc reads /sys/devices/system/cpu/online to size its arena limit once a
    ninth thread allocates: on main a violation, now ENOENT and glibc falls back to
    sched_getaffinity."""
    with pledgepy.Worker(MOD, promises="stdio", user=user) as w:
        assert w.call("arenas", 16) == 16
        assert w.stats.violations == 0 and w.stats.failures == 0


def test_a_thread_that_frees_shrinks_its_heap() -> None:
    """glibc reads /proc/sys/vm/overcommit_memory before it first shrinks a thread's
    heap: on main a violation, now ENOENT (malloc shrinks as under any mode but 2)."""
    with pledgepy.Worker(MOD, promises="stdio") as w:
        assert w.call("shrink") == 40 * 100_000
        assert w.call("shrink") == 40 * 100_000
        assert w.stats.violations == 0


def test_cpu_count_is_the_cpus_the_worker_may_use() -> None:
    """os.cpu_count() (sysconf): the sysfs files and /proc/stat fail with ENOENT, so
    glibc counts the CPUs of the worker's affinity mask (the parent's, inherited)."""
    with pledgepy.Worker(MOD, promises="stdio") as w:
        assert w.call("cpu_count") == w.call("allowed_cpus") == len(os.sched_getaffinity(0))
        assert w.stats.violations == 0


@pytest.mark.parametrize("path", ["/sys/devices/system/cpu/online",
                                  "/sys/devices/system/cpu/possible",
                                  "/sys/devices/system/cpu/present", "/proc/stat",
                                  "/proc/sys/vm/overcommit_memory"])
def test_opened_from_python_they_give_nothing(path: str) -> None:
    """As in a pledged process without the allowances: FileNotFoundError, no content."""
    with pledgepy.Worker(MOD, promises="stdio") as w:
        with pytest.raises(pledgepy.RemoteError, match="FileNotFoundError"):
            w.call("read", path)
        assert w.call("cpu_count") is not None  # the same worker: it was not killed


@pytest.mark.parametrize(("path", "mode"), [
    ("/sys/devices/system/cpu/kernel_max", "r"),  # a neighbour of the CPU files
    ("/sys/devices/system/cpu/online/", "r"),
    ("/proc/sys/vm/overcommit_memory", "r+"),  # not for reading only
    ("/proc/self/stat", "r"),  # Python's open() is O_CLOEXEC: not CPython's fopen
    ("/etc/shadow", "r"),
])
def test_anything_else_stays_a_reported_violation(path: str, mode: str) -> None:
    """The answer is for exactly those paths, read-only (a violation on main as well:
    this fails if the answer grows past them)."""
    with pledgepy.Worker(MOD, promises="stdio") as w:
        with pytest.raises(pledgepy.WorkerViolation, match="openat"):
            w.call("read", path, mode)
        assert w.call("cpu_count") is not None  # and the next call gets a fresh worker


def _plain(value: Any) -> bool:
    """What codec.check accepts, spelt out: exact scalar types, lists and tuples of plain
    values, dicts of scalar keys and plain values."""
    if type(value) in (type(None), bool, int, float, str, bytes):
        return True
    if type(value) in (list, tuple):
        return all(_plain(x) for x in value)
    if type(value) is dict:
        return all(type(k) in (type(None), bool, int, float, str, bytes) and _plain(v)
                   for k, v in value.items())
    return False


def test_the_check_of_a_call_frame_refuses_what_the_walk_refuses() -> None:
    """codec.check's shortcut for messages shaped like a call (["call", name, [args],
    {}]) or a reply looks one level deeper than before: whatever it lets through must
    be plain data all the way down (this fails if the shortcut accepts one bad item)."""
    from pledgepy.worker import codec

    class Sub(list[int]):
        pass

    class Key(dict[str, int]):
        pass

    inner = [1, "s", b"b", None, True, 1.5, (1,), [2], {}, {"k": 1}, {1: [set()]}, set(),
             Sub(), Key(), bytearray(b"x"), object(), [object()], [[object()]], ({1},),
             {(1,): 2}, [1, {"a": object()}]]
    cases: list[object] = []
    for x in inner:
        cases += [["call", "f", [x], {}], ["call", "f", [1, x], {}], ["ok", x],
                  ["call", "f", [], {"k": x}], ["call", "f", [x], x], [x], [[x]], [x, x]]
    for value in cases:
        if _plain(value):
            codec.check(value)
        else:
            with pytest.raises(codec.CodecError):
                codec.check(value)


def test_a_worker_kept_from_running_stops_the_parents_spin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent spins for a reply so that its CPU does not halt; if meanwhile the
    worker was not running for most of the wait (on a busy machine: waiting for a CPU
    that the spinner keeps), the parent pauses spinning as if preempted. On main it
    kept spinning: it pauses only when it is preempted itself, which it is not when
    its spinning pushes the worker onto the CPUs other tasks hold. Here the worker
    sleeps through the call (not running, as a starved one), and the parent's own
    preemption check is switched off, so only the new rule can pause it."""
    from pledgepy.worker import spin

    monkeypatch.setattr(spin, "PREEMPTED", 10.0)
    with pledgepy.Worker("tests.programs.worker_hostile", promises="stdio",
                         spin=0.01) as w:
        conn = w._conn
        assert conn is not None
        w.call("echo", 1)
        # whatever that first call's wait taught it (a worker woken on a busy machine
        # may well have waited for a CPU), the next call spins
        conn.spin.calm_until, conn.spin.calm, conn.spin.waited = 0.0, spin.CALM, 0.0
        w.call("sleep", 0.001)  # within the window: the parent spun through it
        assert conn.spin.calm_until > time.monotonic()
        assert w.call("echo", 2) == 2  # blocking instead, the call still answers


@pytest.mark.parametrize(("waited", "ran", "starved"), [
    (0.000_05, 0.0, False),  # too short to tell a halted CPU's wake-up from starving
    (0.001, 0.000_95, False),  # ran throughout
    (0.001, 0.000_6, False),  # ran for most of it
    (0.001, 0.000_4, True),
    (0.000_2, 0.0, True),
    (0.01, 0.0, True),
])
def test_starved_means_not_running_for_most_of_a_long_enough_wait(
        waited: float, ran: float, starved: bool) -> None:
    from pledgepy.worker import spin

    assert spin.starved(waited, ran) is starved


def test_a_parent_kept_from_running_stops_the_workers_spin() -> None:
    """The worker spins for the next call; if the parent meanwhile was not running for
    most of the wait (a busy machine: waiting for the CPU the spinner keeps), the worker
    pauses spinning as if preempted. On main it spun through every such wait. Here the
    parent sleeps 2 ms between calls (not running, as a starved one) and the worker's
    own preemption pause is switched off (its module sets spin.PREEMPTED), so only the
    new rule can pause it: 60 gaps of 2 ms cost main's worker about their length in
    CPU, now a few spins of 2 ms, the pause doubling while the gaps go on."""
    with pledgepy.Worker("tests.programs.worker_r11_spin", promises="stdio",
                         spin=0.01) as w:
        assert w.call("echo", 0) == 0
        assert w.pid is not None
        clock = ((~w.pid) << 3) | 2
        before = time.clock_gettime(clock)
        for i in range(60):
            time.sleep(0.002)
            assert w.call("echo", i) == i
        spent = time.clock_gettime(clock) - before
    assert spent < 0.04, f"the worker spun {spent * 1e3:.1f} ms through 120 ms of gaps"


#: A parent that drops to uid 65534 after loading what a fork-mode worker needs (the
#: interpreter's library may be unreadable to that uid, so nothing is spawned).
_NONROOT_PARENT = """
import os
import pledgepy, pledgepy.api, pledgepy.worker, tests.programs.worker_r11_threads
from pledgepy.worker import child, conn, forked
pledgepy.api.backend()
worker = pledgepy.Worker("tests.programs.worker_r11_threads", promises="stdio", start="fork")
os.setgroups([]); os.setgid(65534); os.setuid(65534)
with worker as w:
    print(w.call("allowed_cpus"))
    try:
        w.call("cpu_count")
    except pledgepy.WorkerViolation as exc:
        print("violation", exc.message)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to a uid without CAP_SYS_PTRACE")
def test_a_parent_that_cannot_read_the_path_reports_the_open() -> None:
    """Without ptrace access to the (non-dumpable) worker the parent cannot read which
    path is opened: it never answers blind, the open stays a reported violation (as
    fstat does there: README). This fails if the answer stops depending on the path."""
    r = childproc.run(_NONROOT_PARENT)
    assert r.returncode == 0, r.explain()
    lines = r.stdout.splitlines()
    assert lines[0].isdigit() and lines[1].startswith("violation "), r.explain()
    assert "openat(<unreadable>" in lines[1], r.explain()
