"""Start workers from one long-lived thread.

A worker dies with its parent (PR_SET_PDEATHSIG), and Linux means the parent
*thread*: a worker started from a short-lived thread (an executor's, asyncio's
to_thread) would be killed when that thread ends. So every worker is forked
from this thread, which lives as long as the process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
_jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = queue.SimpleQueue()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        job, future = _jobs.get()
        try:
            future.set_result(job())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            future.set_exception(exc)


def run(job: Callable[[], T]) -> T:
    """Run *job* on the keeper thread and return its result (or raise its exception)."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="pledgepy-worker-keeper", daemon=True)
            _thread.start()
    future: Future[object] = Future()
    _jobs.put((job, future))
    return future.result()  # type: ignore[return-value]
