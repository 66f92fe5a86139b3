"""multiprocessing under a pledge: refuse a start that cannot work, at once.

A worker that dies of a violation before it reports back leaves ``Pool.map``
waiting forever (the pool replaces the dead worker, the task is lost). So once
pledged, ``Process.start`` checks the promises its start method needs and
raises ``PermissionError`` naming the missing ones before anything is started;
``pledge()`` also imports what multiprocessing would import lazily.
"""

from __future__ import annotations

import errno
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: What each start method needs in the pledging process (README: multiprocessing).
#: fork: fork() and the pipes and semaphores (sem_open creates files in /dev/shm).
#: spawn: a new interpreter is exec'd under these promises (reads its modules,
#: maps its libraries). forkserver: spawn's, and a unix socket to the server
#: (chmod'ed: fattr) that descriptors cross (sendfd, recvfd).
NEEDS: dict[str, frozenset[str]] = {
    "fork": frozenset({"stdio", "proc", "rpath", "wpath", "cpath"}),
    "spawn": frozenset({"stdio", "proc", "exec", "rpath", "wpath", "cpath", "prot_exec"}),
    "forkserver": frozenset({"stdio", "proc", "exec", "rpath", "wpath", "cpath", "prot_exec",
                             "unix", "fattr", "sendfd", "recvfd"}),
}

#: When exec'd programs run under execpromises alone (Linux's spawner), the pledging
#: process needs only CALLER and the new interpreter CHILD, from execpromises.
#: spawn: the caller forks nothing, creates the semaphores; the child reads its
#: modules, maps its libraries, opens the semaphores (O_RDWR). forkserver: the caller
#: binds and chmods the server's socket and passes descriptors; the server forks the
#: workers and receives their descriptors.
CALLER: dict[str, frozenset[str]] = {
    "spawn": frozenset({"stdio", "proc", "exec", "rpath", "wpath", "cpath"}),
    "forkserver": frozenset({"stdio", "proc", "exec", "rpath", "wpath", "cpath", "unix",
                             "fattr", "sendfd", "recvfd"}),
}
CHILD: dict[str, frozenset[str]] = {
    "spawn": frozenset({"stdio", "rpath", "wpath", "prot_exec"}),
    "forkserver": frozenset({"stdio", "rpath", "wpath", "prot_exec", "proc", "unix", "recvfd"}),
}

#: Modules multiprocessing imports on first use of a pool, a queue or a start method.
LAZY = ("multiprocessing.pool", "multiprocessing.queues", "multiprocessing.synchronize",
        "multiprocessing.connection", "multiprocessing.reduction", "multiprocessing.popen_fork",
        "multiprocessing.popen_spawn_posix", "multiprocessing.popen_forkserver",
        "multiprocessing.forkserver", "multiprocessing.resource_tracker",
        "multiprocessing.dummy", "_multiprocessing", "_posixshmem", "concurrent.futures.process")

_held: Callable[[], frozenset[str] | None] | None = None
_spawned: Callable[[], frozenset[str] | None] | None = None
_original: dict[str, Callable[..., Any]] = {}


class StartRefused(PermissionError):
    """A multiprocessing start method needs promises this process does not hold."""


def missing(method: str, held: frozenset[str] | None) -> frozenset[str]:
    """The promises *method* needs that *held* lacks (none when unpledged)."""
    if held is None:
        return frozenset()
    return NEEDS.get(method, NEEDS["forkserver"]) - held


def check(method: str, held: frozenset[str] | None,
          spawned: frozenset[str] | None = None) -> None:
    """Raise :class:`StartRefused` if *method* cannot start a process under *held*, its
    exec'd interpreter running under *spawned* (None: under *held* too)."""
    if spawned is not None and method in CALLER and held is not None:
        lack, child = CALLER[method] - held, CHILD[method] - spawned
    else:
        lack, child = missing(method, held), frozenset()
    if lack or child:
        names = " ".join(f'"{p}"' for p in sorted(lack))
        told = " ".join(f'"{p}"' for p in sorted(child))
        need = (f"{names} (not pledged)" if lack else "") + (" and " if lack and child else "") \
            + (f"{told} in execpromises" if child else "")
        raise StartRefused(
            errno.EPERM,
            f"multiprocessing start method {method!r} needs {need}: its "
            f"processes would die before reporting back; pledge them or use another "
            f"start method")


def _now(method: str) -> None:
    check(method, _held() if _held is not None else None,
          _spawned() if _spawned is not None else None)


def _start(self: Any) -> None:
    _now(getattr(self, "_start_method", None) or _default_method())
    _original["start"](self)


def _method_of(context: Any) -> str:
    return str(context.get_start_method()) if context is not None else _default_method()


def _pool_init(self: Any, processes: Any = None, initializer: Any = None, initargs: Any = (),
               maxtasksperchild: Any = None, context: Any = None) -> None:
    # before its queues: their semaphores alone would be a violation under fork
    self._state = "INIT"  # what Pool.__del__ reads first
    self._pool = []
    _now(_method_of(context))
    _original["pool"](self, processes, initializer, initargs, maxtasksperchild, context)


def _executor_init(self: Any, max_workers: Any = None, mp_context: Any = None,
                   *args: Any, **kw: Any) -> None:
    _now(_method_of(mp_context))
    _original["executor"](self, max_workers, mp_context, *args, **kw)


def _default_method() -> str:
    import multiprocessing

    return str(multiprocessing.get_context().get_start_method())


def prepare(held: Callable[[], frozenset[str] | None],
            spawned: Callable[[], frozenset[str] | None] | None = None) -> None:
    """When multiprocessing is loaded: import its lazy parts and guard Process.start.

    *held* returns the promises in force at the time of each start, *spawned* what
    exec'd programs run under when not those (None: they are).
    """
    global _held, _spawned
    if "multiprocessing" not in sys.modules:
        return
    for name in LAZY:
        try:
            __import__(name)
        except ImportError:
            continue
    _held, _spawned = held, spawned
    import subprocess
    from multiprocessing import process

    if hasattr(subprocess, "_USE_VFORK"):
        # CPython's vfork child resets every caught signal to its default before
        # exec, SIGSYS's too, which the pledge refuses while all signals are
        # blocked: the child (multiprocessing's spawn, its resource tracker) dies
        # without a word. Its fork path leaves the handlers to execve.
        subprocess._USE_VFORK = False

    from multiprocessing import pool

    if not _original:
        _original["start"] = process.BaseProcess.start
        process.BaseProcess.start = _start  # type: ignore[method-assign]
        _original["pool"] = pool.Pool.__init__
        pool.Pool.__init__ = _pool_init  # type: ignore[method-assign]
        futures = sys.modules.get("concurrent.futures.process")
        if futures is not None:
            _original["executor"] = futures.ProcessPoolExecutor.__init__
            futures.ProcessPoolExecutor.__init__ = _executor_init


#: multiprocessing's helpers alive at the first pledge (kind -> pid): started unconfined,
#: they serve this process outside the sandbox for as long as they run
_unconfined: dict[str, int] = {}


def _helpers() -> dict[str, int]:
    """The forkserver and resource tracker this process started that are running (as
    multiprocessing knows them: no syscall, so it works under any pledge)."""
    out: dict[str, int] = {}
    forkserver = sys.modules.get("multiprocessing.forkserver")
    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if isinstance(pid, int) and getattr(server, "_forkserver_address", None) is not None:
        out["forkserver"] = pid
    tracker = getattr(sys.modules.get("multiprocessing.resource_tracker"), "_resource_tracker",
                      None)
    pid = getattr(tracker, "_pid", None)
    if isinstance(pid, int) and getattr(tracker, "_fd", None) is not None:
        out["resource tracker"] = pid
    return out


#: What each unconfined helper does for whatever this process sends it.
HELPER_GAPS = {
    "forkserver": ("forks processes that run whatever this process sends it over its "
                   "unix socket (unix, sendfd): code outside the sandbox"),
    "resource tracker": ("unlinks any shared memory or semaphore name this process "
                         "registers on its pipe (a write: stdio), as only cpath may"),
}


def helper_gaps(first: bool, promises: frozenset[str] | None) -> list[str]:
    """The multiprocessing helpers started before the first pledge that still run (they
    are no part of the sandbox), for :func:`pledgepy.status`. *first*: this is the first
    pledge (the helpers alive now are unconfined); later, those seen then and still the
    same. A helper started after it runs under execpromises, as any exec'd program."""
    now = _helpers()
    if first:
        _unconfined.clear()
        _unconfined.update(now)
    out = []
    for kind, pid in sorted(_unconfined.items()):
        if now.get(kind) != pid or promises is None:
            continue
        if kind == "resource tracker" and "cpath" in promises:
            continue
        out.append(f"multiprocessing's {kind} (pid {pid}) was started before the first "
                   f"pledge() and runs unconfined: it {HELPER_GAPS[kind]}; start it after "
                   "pledge() (it then runs under execpromises)")
    return out
