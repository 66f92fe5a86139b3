"""Start workers from one long-lived thread.

A worker dies with its parent (PR_SET_PDEATHSIG), and Linux means the parent
*thread*: a worker started from a short-lived thread (an executor's, asyncio's
to_thread) would be killed when that thread ends. So a worker is forked from
the main thread, which Python keeps until the process exits (it waits there for
the other threads), or else from this module's thread, which lives while a worker
it started lives (or a job is queued) and ends after :data:`IDLE` seconds without
either: a program that used a worker once from a thread is not left
multi-threaded for the rest of its life (3.12 warns at every fork then, and a
later fork child inherits a lock that thread might hold).
"""

from __future__ import annotations

import os
import queue
import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Outcome:
    """One job's result or exception, for the thread waiting on it (what a
    concurrent.futures.Future does here, without importing concurrent.futures and,
    through it, logging: ~8 ms of the caller's start-up, and logging's at-fork hook
    and ~10 more module files, each an unveil rule, in every fork-mode worker)."""

    __slots__ = ("ready", "value", "error")

    def __init__(self) -> None:
        self.ready = threading.Lock()
        self.ready.acquire()  # released by the keeper thread once the job has ended
        self.value: Any = None
        self.error: BaseException | None = None


#: Seconds the keeper thread waits, with no worker of its own alive, before it ends.
IDLE = 1.0

_jobs: queue.SimpleQueue[tuple[Callable[[], object], _Outcome]] = queue.SimpleQueue()
_lock = threading.Lock()  # held to start the thread, to queue a job, and to end the thread
_thread: threading.Thread | None = None


def _started(value: object) -> int | None:
    """A pidfd of the process a job started (its result's ``pid``), or None."""
    pid = getattr(value, "pid", None)
    if not isinstance(pid, int):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:  # already gone (and reaped): nothing to outlive
        return None


def _prune(pidfds: list[int]) -> None:
    """Close the pidfds of processes that have ended (a pidfd polls readable then)."""
    poller = select.poll()  # not select(): a descriptor may be above FD_SETSIZE
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    for fd, _ in poller.poll(0):
        os.close(fd)
        pidfds.remove(fd)


def _run() -> None:
    global _thread
    pidfds: list[int] = []  # the workers this thread started: it must outlive each
    while True:
        try:
            job, outcome = _jobs.get(timeout=IDLE)
        except queue.Empty:
            _prune(pidfds)
            if pidfds:
                continue
            with _lock:  # run() queues under it: no job can arrive unseen after this check
                if _jobs.empty():
                    _thread = None
                    return
            continue
        try:
            outcome.value = job()
            fd = _started(outcome.value)
            if fd is not None:
                pidfds.append(fd)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.error = exc
        finally:
            del job
            outcome.ready.release()
            del outcome


def run(job: Callable[[], T]) -> T:
    """Run *job* on the keeper thread and return its result (or raise its exception);
    on the main thread, run it there (no hand-over to a thread and back: ~1 ms)."""
    if threading.current_thread() is threading.main_thread():
        return job()
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="pledgepy-worker-keeper", daemon=True)
            _thread.start()
        outcome = _Outcome()
        _jobs.put((job, outcome))
    with outcome.ready:  # acquired once the keeper has released it
        pass
    if outcome.error is not None:
        try:
            raise outcome.error
        finally:
            outcome.error = None  # no reference cycle through the traceback
    return outcome.value  # type: ignore[no-any-return]
