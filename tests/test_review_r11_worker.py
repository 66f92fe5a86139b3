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
