"""pledgepy.Worker: call a module's functions in a pledged, limited child process."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import strictness
from ..errors import PledgeWarning, UnsupportedError
from ..promises import parse
from . import codec, limits, pledged
from .conn import IN_FLIGHT, Conn
from .errors import RemoteError, WorkerError, WorkerLimitExceeded, WorkerProtocolError
from .fence import Fence
from .limits import Limits
from .status import WorkerStats, WorkerStatus

if TYPE_CHECKING:
    from ..backends.base import WorkerSupervisor

STARTS = ("spawn", "fork")
NAMESPACES = ("user", "net", "ipc")
#: The default and the largest ``spin`` (seconds): see :class:`Worker`.
SPIN = 0.0005
MAX_SPIN = 0.01


def _cpus_allowed() -> int:
    """The CPUs this process may run on (its affinity, where the platform has one)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return len(getaffinity(0)) if getaffinity is not None else (os.cpu_count() or 1)


def _user_ids(user: str | int | None) -> tuple[int, int] | None:
    if user is None:
        return None
    import pwd

    entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _supervisor() -> WorkerSupervisor | None:
    from .. import api

    return api.backend().worker_supervisor()


class Worker:
    """A child process that imports *module* and runs its public functions, pledged.

    The child is a fresh interpreter (``start="spawn"``) with this process's
    ``sys.path`` and nothing else of its memory. It hardens itself, imports
    *module*, runs *setup* (``"module:function"``), unveils exactly the files
    they loaded plus *unveil*, pledges *promises* and answers :meth:`call`.
    Every failure is a :class:`WorkerError`; after one the next call gets a
    fresh worker (unless ``restart=False``).

    *spin* (seconds, at most :data:`MAX_SPIN`; ``0`` turns it off) is how long each
    side of :meth:`call` polls without blocking before it sleeps: the parent for the
    reply, the worker for the next call. Back-to-back calls then never let either
    CPU halt, which on a VM without halt polling costs ~40-100 µs a wake-up, more
    than a short call. It adapts: a side spins only while its last wait ended within
    *spin*, pauses after being preempted while spinning or when its peer was kept
    from running through most of a spun wait (see :mod:`.spin`), and
    does not spin at all when this process may run on one CPU only (checked when a
    worker starts), in :meth:`acall`, or while another call of this process's
    workers is running. An idle worker spends at most *spin* of CPU after a call.

    *max_message* (bytes) and *max_items* (values at any depth) bound one reply:
    decoding it costs this process at most ~100 bytes an item plus its strings' and
    bytes' length (without *max_items* a 64 MiB reply of empty lists was ~5 GiB).
    """

    def __init__(self, module: str, *, promises: str, execpromises: str | None = None,
                 setup: str | None = None, unveil: Any = (), limits: Limits | None = None,
                 timeout: float | None = None, start: str = "spawn",
                 max_calls: int | None = None, restart: bool = True,
                 env: dict[str, str] | None = None, user: str | int | None = None,
                 namespaces: tuple[str, ...] | list[str] = (), strict: bool | None = None,
                 max_message: int = codec.MAX_MESSAGE, start_timeout: float = 60.0,
                 spin: float = SPIN, max_items: int = codec.MAX_ITEMS) -> None:
        held = parse(promises, "promises")
        if held is None:
            raise ValueError("a worker needs promises (\"\" allows nothing but exiting)")
        if start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, not {start!r}")
        if max_calls is not None and max_calls < 1:
            raise ValueError("max_calls must be >= 1 or None")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError("limits must be a pledgepy.Limits")
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items must be an int >= 1, not {max_items!r}")
        if isinstance(spin, bool) or not isinstance(spin, (int, float)) \
                or not 0 <= spin <= MAX_SPIN:
            raise ValueError(f"spin is seconds from 0 to {MAX_SPIN}, not {spin!r}")
        rules = [(os.path.abspath(os.fspath(p)), str(m)) for p, m in unveil]
        for _, perms in rules:
            if set(perms) - set("rwxc"):
                raise ValueError(f"unveil permissions are a subset of 'rwxc', not {perms!r}")
        self.module, self.promises, self.setup = module, " ".join(sorted(held)), setup
        self.limits = limits or Limits()
        self.timeout, self.max_calls, self.restart = timeout, max_calls, restart
        self.max_message, self.start_timeout = max_message, start_timeout
        self.max_items = max_items
        self.start_method = start
        self.spin = float(spin)
        self.stats = WorkerStats()
        self._strict = strictness.resolve(strict)
        self._env = dict(env) if env is not None else {}
        self._ids = _user_ids(user)
        unknown = sorted(set(namespaces) - set(NAMESPACES))
        if unknown:
            raise ValueError(f"namespaces are some of {NAMESPACES}, not {unknown}")
        self.namespaces = tuple(n for n in NAMESPACES if n in namespaces)
        self._gaps = self._judge(held, execpromises, self.namespaces)
        self._supervisor = _supervisor() if sys.platform.startswith("linux") else None
        self._rules = rules
        self._conn: Conn | None = None
        self._ready: dict[str, Any] = {}
        self._dead = False
        self._started = False
        self._lock = threading.RLock()
        self._finalizer = weakref.finalize(self, Worker._finalize, [None])

    def _judge(self, held: frozenset[str], execpromises: str | None,
               namespaces: tuple[str, ...]) -> list[str]:
        """What cannot be enforced as asked: refused now (strict) or warned about."""
        gaps = []
        if namespaces and not sys.platform.startswith("linux"):
            gaps.append("namespaces: Linux only; the worker runs in this process's")
        if execpromises is not None:
            parse(execpromises, "execpromises")
            gaps.append("execpromises: not applied; programs the worker execs keep its promises")
        if not sys.platform.startswith("linux"):
            gaps.append(f"{sys.platform}: the worker is not confined (Linux only so far)")
        elif _supervisor() is None:
            gaps.append("violations are reported by the worker itself, which can silence them "
                        "(no seccomp listener: the native module is missing)")
        if self._ids is not None and os.geteuid() != 0:
            gaps.append("user: only root can switch the worker to another user")
        if self.limits.nproc is not None and os.geteuid() == 0 and self._ids is None:
            # every promise set allows threads ("stdio" does, as on OpenBSD), and each is
            # a process to RLIMIT_NPROC, which the kernel does not apply to root: a root
            # worker made 500 threads under Limits(nproc=64), and could take every pid
            gaps.append("nproc: RLIMIT_NPROC does not hold for root, and the promises allow "
                        + ("forking and threads" if "proc" in held else "threads")
                        + " (pass user= to limit them)")
        strictness.refuse_or_warn(self._strict, "Worker", gaps)
        if gaps:
            with Fence():  # the warning's display imports linecache: see fence.py
                warnings.warn("Worker enforced only in part: " + "; ".join(gaps),
                              PledgeWarning, stacklevel=3)
        return gaps

    # ---- life ----
    def _config(self) -> dict[str, Any]:
        main = sys.modules.get("__main__")
        return {
            "module": self.module, "setup": self.setup, "promises": self.promises,
            "unveil": [list(r) for r in self._rules], "limits": self.limits.wire(),
            "uid": self._ids[0] if self._ids and os.geteuid() == 0 else None,
            "gid": self._ids[1] if self._ids and os.geteuid() == 0 else None,
            "max_message": self.max_message, "strict": self._strict,
            "namespaces": list(self.namespaces) if sys.platform.startswith("linux") else [],
            "supervised": self._supervisor is not None,
            "spin": self._spin_now(),
            # a fork has __main__ already; a spawned interpreter loads the script again
            "main_file": getattr(main, "__file__", None)
            if self.module == "__main__" and self.start_method == "spawn" else None,
        }

    def _spin_now(self) -> float:
        """*spin* for a worker starting now: 0 when this process may use one CPU only
        (a spinning side would take it from the other)."""
        return self.spin if self.spin and _cpus_allowed() > 1 else 0.0

    def start(self) -> Worker:
        """Start the worker now (calls start it when needed); return self."""
        with self._lock:
            self._ensure()
        return self

    def _ensure(self) -> Conn:
        if self._conn is not None:
            return self._conn
        if self._dead and not self.restart:
            raise WorkerError("the worker failed and restart=False")
        if not pledged.hears():  # it could not be heard, nor started under these promises
            raise WorkerError(f"a worker cannot be started now: {pledged.PLEDGED}; start it "
                              "before pledge()")
        if self._started:
            self.stats.restarts += 1
        self._started = True
        config = self._config()
        conn = Conn(config, self._env, self.max_message, self._supervisor, self.module,
                    self.start_method, config["spin"], self.max_items)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, Worker._finalize, [conn])
        try:
            reply = conn.handshake(config, self.start_timeout)
        except WorkerError:
            self._dead = True
            self.stats.failures += 1
            conn.kill()
            raise
        if not (isinstance(reply, list) and reply[:1] == ["ready"] and len(reply) == 2
                and isinstance(reply[1], dict)):
            conn.kill()
            self._dead = True
            self.stats.failures += 1
            if isinstance(reply, list) and reply[:1] == ["fail"] and len(reply) == 4:
                if reply[1] in ("UnsupportedNamespaces", "UnsupportedError"):
                    # strict, in the worker: what it could not enforce (a module raising
                    # one gets the same: a refusal to start, never more)
                    raise UnsupportedError(f"Worker: {reply[2]}")
                raise RemoteError(*(str(x) for x in reply[1:4]))
            raise WorkerProtocolError("the worker's first message was not 'ready'")
        self._ready = reply[1]
        refused = [str(r) for r in self._ready.get("refused", ())]
        with Fence():  # a warning's display imports linecache: see fence.py
            if refused:
                warnings.warn("Worker enforced only in part: " + "; ".join(refused),
                              PledgeWarning, stacklevel=4)
            for text in [*self._ready.get("notes", []), *self._ready.get("warnings", [])]:
                warnings.warn(f"worker: {text}", PledgeWarning, stacklevel=4)
        self._conn = conn
        return conn

    @staticmethod
    def _finalize(holder: list[Conn | None]) -> None:
        if holder[0] is not None:
            holder[0].kill()

    def _count(self, conn: Conn) -> None:
        """Add the violations *conn* heard since last counted to ``stats`` (under
        "error" too, where the worker goes on after each: they were never counted)."""
        self.stats.violations += conn.violations - conn.counted
        conn.counted = conn.violations

    def _drop(self, failed: bool) -> None:
        if self._conn is not None:
            self._count(self._conn)
            if failed:
                self._conn.kill()
            else:
                self._conn.close()
            self._conn = None
        self._dead = self._dead or failed

    def close(self) -> None:
        """End the worker (it is restarted by the next call).

        A call in flight on another thread is not waited for (a worker that never
        answers, under no ``timeout``, held close() forever): its worker is killed, and
        that call raises a WorkerError saying so.
        """
        if not self._lock.acquire(blocking=False):
            conn, dead = self._conn, self._dead
            if conn is not None:
                conn.interrupt()
            with self._lock:
                if conn is not None and conn.interrupted:
                    self._dead = dead  # closed, not failed: restart=False still restarts
                self._drop(failed=False)
            return
        try:
            self._drop(failed=False)
        finally:
            self._lock.release()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- calls ----
    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``module.name(*args, **kwargs)`` in the worker; its result, or a WorkerError."""
        return self._call(name, args, kwargs, spin=True)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *,
              spin: bool) -> Any:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"a worker calls public names of its module, not {name!r}")
        frame = codec.encode(["call", name, list(args), kwargs], self.max_message)
        with self._lock:
            conn = self._ensure()
            self.stats.calls += 1
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            alone = IN_FLIGHT.enter()
            try:
                try:
                    reply = conn.exchange(frame, deadline=deadline, cpu=self.limits.cpu,
                                          spin=spin and alone)
                finally:
                    IN_FLIGHT.leave()
                    self._count(conn)
                value = self._result(reply)
            except WorkerError:
                self.stats.failures += 1
                self._drop(failed=True)
                raise
            conn.calls += 1
            if self.max_calls is not None and conn.calls >= self.max_calls:
                self._drop(failed=False)
            return value

    def map(self, name: str, *iterables: Iterable[Any], window: int = 32) -> list[Any]:
        """``[name(*args) for args in zip(*iterables)]`` in the worker, in order, pipelined.

        Up to *window* calls wait in the worker's channel, so it goes from one call
        to the next without waiting for the parent: several times the calls per
        second of :meth:`call` in a loop for short calls. Each call keeps its own
        ``timeout`` and ``Limits.cpu`` (counting at most 1 ms of the quick calls whose
        replies the worker sends with its own), and ``max_calls`` still holds. The first
        failure is raised (the worker is replaced, as after :meth:`call`); the calls
        after it do not return, and may or may not have run.
        """
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"a worker calls public names of its module, not {name!r}")
        if window < 1:
            raise ValueError("window must be >= 1")
        frames_out = [codec.encode(["call", name, list(args), {}], self.max_message)
                      for args in zip(*iterables, strict=False)]
        results: list[Any] = []
        with self._lock:
            while len(results) < len(frames_out):
                conn = self._ensure()
                room = len(frames_out) - len(results)
                if self.max_calls is not None:
                    room = min(room, self.max_calls - conn.calls)
                batch = frames_out[len(results):len(results) + room]
                try:
                    IN_FLIGHT.enter()  # never spins, but its worker is busy
                    try:
                        replies = conn.pipeline(batch, window=window, timeout=self.timeout,
                                                cpu=self.limits.cpu)
                    except WorkerError:
                        self.stats.calls += 1  # the call that was running
                        raise
                    finally:
                        IN_FLIGHT.leave()
                        self._count(conn)
                    self.stats.calls += len(replies)
                    for reply in replies:
                        results.append(self._result(reply))
                        conn.calls += 1
                except WorkerError:
                    self.stats.failures += 1
                    self._drop(failed=True)
                    raise
                if self.max_calls is not None and conn.calls >= self.max_calls:
                    self._drop(failed=False)
        return results

    @staticmethod
    def _result(reply: Any) -> Any:
        if isinstance(reply, list) and len(reply) == 2 and reply[0] == "ok":
            return reply[1]
        if isinstance(reply, list) and len(reply) == 5 and reply[0] == "err" and \
                all(isinstance(x, str) for x in reply[1:4]):
            kind, message, tb, limit = reply[1:]
            if isinstance(limit, str) and limit in limits.RLIMITS:
                raise WorkerLimitExceeded(f"the worker hit Limits.{limit}: {kind}: {message}",
                                          limit)
            raise RemoteError(kind, message, tb)
        raise WorkerProtocolError("the worker's reply is not one")

    async def acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """:meth:`call` for asyncio (runs in the loop's default executor, and never
        spins there: a polling thread would take the event loop's CPU and GIL)."""
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self._call, name, args,
                                                                  kwargs, spin=False))

    # ---- what it is ----
    @property
    def pid(self) -> int | None:
        """The running worker's process id, if one is running."""
        return self._conn.pid if self._conn is not None else None

    def status(self) -> WorkerStatus:
        """The worker's confinement, as applied by the running worker (or as asked)."""
        ready = self._ready if self._conn is not None else {}
        unveils = ready.get("unveils") or [list(r) for r in self._rules]
        return WorkerStatus(
            running=self._conn is not None, pid=self.pid, promises=self.promises,
            unveils=tuple((str(p), str(m)) for p, m in unveils),
            limits=tuple(f"{k}={v}" for k, v in self.limits.wire().items() if v is not None),
            hardening=tuple(str(s) for s in ready.get("hardening", ())),
            namespaces=tuple(str(n) for n in ready.get("namespaces", ())),
            violations_heard_by="parent" if self._supervisor is not None else "worker",
            not_enforced=tuple(self._gaps) + tuple(str(r) for r in ready.get("refused", ()))
            + tuple(str(w) for w in [*ready.get("notes", ()), *ready.get("warnings", ())]),
            start=self.start_method)

    def __repr__(self) -> str:
        return f"<pledgepy.Worker {self.module!r} promises={self.promises!r} pid={self.pid}>"


__all__ = ["Worker", "Limits", "UnsupportedError"]
