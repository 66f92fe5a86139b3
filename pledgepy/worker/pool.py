"""Several workers behind one call(), and @isolated functions."""

from __future__ import annotations

import functools
import queue
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .worker import Worker

F = TypeVar("F", bound=Callable[..., Any])


class WorkerPool:
    """*size* :class:`Worker` s of the same module; each call goes to an idle one.

    *options* are :class:`Worker`'s (``spin`` too: a call spins only while no other
    call of this process's workers runs, so ``map`` over several workers does not).
    """

    def __init__(self, size: int, module: str, **options: Any) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = [Worker(module, **options) for _ in range(size)]
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        for w in self.workers:
            self._idle.put(w)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`Worker.call`, on the next idle worker (waits for one)."""
        return self._call(name, args, kwargs, spin=True)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *,
              spin: bool) -> Any:
        w = self._idle.get()
        try:
            return w._call(name, args, kwargs, spin=spin)
        finally:
            self._idle.put(w)

    async def acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """:meth:`call` for asyncio (never spinning: see :meth:`Worker.acall`)."""
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self._call, name, args,
                                                                  kwargs, spin=False))

    def map(self, name: str, *iterables: Iterable[Any]) -> list[Any]:
        """``[name(*args) for args in zip(*iterables, strict=False)]``, spread over the workers, in order.

        The first WorkerError is raised once every call has ended.
        """
        with ThreadPoolExecutor(len(self.workers)) as ex:
            futures = [ex.submit(self.call, name, *args) for args in zip(*iterables, strict=False)]
            return [f.result() for f in futures]

    def close(self) -> None:
        """End every worker."""
        for w in self.workers:
            w.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def isolated(promises: str, **options: Any) -> Callable[[F], F]:
    """Run each call of a module-level function in a :class:`Worker` (started on first call).

    Arguments and results cross as plain data. In the worker the module is
    imported again and the undecorated function runs.
    """
    def wrap(fn: F) -> F:
        if "." in fn.__qualname__ or "<" in fn.__qualname__:
            raise ValueError(f"@isolated needs a module-level function, not {fn.__qualname__}")
        module = fn.__module__
        if module == "__pledgepy_main__":
            module = "__main__"
        holder: list[Worker] = []

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not holder:
                holder.append(Worker(_importable(module), promises=promises, **options))
            return holder[0].call(fn.__name__, *args, **kwargs)

        call.__pledgepy_isolated__ = fn  # type: ignore[attr-defined]
        call.worker = holder  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]
    return wrap


def _importable(module: str) -> str:
    if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
        raise ValueError("@isolated functions of an interactive __main__ cannot be imported "
                         "by a worker: put them in a module")
    return module
