"""A worker module whose calls start threads that allocate, or count CPUs, after the
pledge: glibc reads files for both (for tests/test_review_r11_worker.py)."""

from __future__ import annotations

import os
import threading


def arenas(n: int) -> int:
    """*n* threads that each allocate (outside pymalloc: glibc's malloc) while all the
    others hold theirs: past 8 arenas glibc sizes its arena limit by the CPU count,
    which it reads from /sys/devices/system/cpu/online."""
    barrier = threading.Barrier(n)
    held: list[int] = []

    def work() -> None:
        block = bytearray(1 << 16)  # over pymalloc's 512 bytes: malloc in this thread's arena
        barrier.wait()
        held.append(len(block))

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(held)


def shrink() -> int:
    """A thread that allocates and frees enough to shrink its arena's heap: glibc reads
    /proc/sys/vm/overcommit_memory once, before the first shrink."""
    done: list[int] = []

    def work() -> None:
        blocks = [bytearray(100_000) for _ in range(40)]  # below the mmap threshold
        done.append(sum(map(len, blocks)))
        del blocks

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return done[0]


def cpu_count() -> int | None:
    return os.cpu_count()


def allowed_cpus() -> int:
    return len(os.sched_getaffinity(0))


def read(path: str, mode: str = "r") -> str:
    with open(path, mode) as f:
        return f.read() if "r" in mode else ""
