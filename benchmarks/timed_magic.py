"""A worker module for benchmarks/worker_counts.py: libmagic's own CPU time, measured
inside the process that runs it (its thread's CPU clock around the call)."""

from __future__ import annotations

import time

import magic


def warm_up() -> None:
    """Load the magic database while files can still be read."""
    magic.from_buffer(b"")


def from_buffer(head: bytes) -> list[object]:
    """[libmagic's description of *head*, the nanoseconds of CPU it took]."""
    began = time.thread_time_ns()
    found = magic.from_buffer(head)
    return [found, time.thread_time_ns() - began]


def batch(heads: list[bytes]) -> int:
    """libmagic over every head back to back (no switch between them): CPU ns in all."""
    began = time.thread_time_ns()
    for head in heads:
        magic.from_buffer(head)
    return time.thread_time_ns() - began
