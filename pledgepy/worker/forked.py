"""``start="fork"``: the worker is a fork of this process, not a fresh interpreter.

Fast (no interpreter start, the module is usually imported already) but the
child starts as a copy of this process's memory: every secret the parent holds
(keys, tokens, decrypted data, other requests' bytes) is in the worker, and a
compromised library in it can read them. Only its descriptors and environment
are cleared. Use "spawn" when the parent holds anything the library must not see.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import os
import select
import signal
import subprocess
import sys
import threading
import warnings
from typing import IO, TYPE_CHECKING

from .fence import Fence

if TYPE_CHECKING:
    from ..backends.base import WorkerSupervisor


class Forked:
    """The parts of subprocess.Popen that Conn uses, for a forked child."""

    def __init__(self, pid: int, stdout: IO[bytes]) -> None:
        self.pid, self.stdout = pid, stdout
        self.returncode: int | None = None
        self.pidfd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if timeout is not None:
                ready, _, _ = select.select([self.pidfd], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired("worker", timeout)
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self.pidfd)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)


def _clear_environment() -> None:
    """Empty os.environ and the C environment (unsetenv of each name)."""
    data = getattr(os.environ, "_data", None)  # os._Environ's dict of encoded names
    if type(data) is dict:  # its names as they are: no decoding, no encoding back
        for key in list(data):
            os.unsetenv(key)
        data.clear()
    else:
        for name in list(os.environ):
            del os.environ[name]  # (half the CPU of os.environ.clear()'s popitem loop)


def _child(channel: int, out: int, env: dict[str, str], ppid: int) -> None:
    """In the fork: standard streams, environment, signals, then the worker's main."""
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir("/")
        os.setsid()  # a session of its own, which its processes cannot leave: see sweep.py
        _clear_environment()
        os.environ.update(env)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            _signal.signal(sig, _signal.SIG_DFL)  # signal.signal's enum conversions cost more
        # fresh streams: the parent's unflushed output must not come out of the worker
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from .child import main

        main(channel, ppid)
    finally:
        os._exit(1)


def start(channel: int, env: dict[str, str], supervisor: WorkerSupervisor | None,
          promises: frozenset[str] = frozenset()) -> Forked:
    """Fork a worker that serves on descriptor *channel* (called through keeper.run).

    What the worker would otherwise work out after the fork is done here once, for
    every fork after it: which loaded paths are files, the modules its pledge
    would import lazily, loading the filter machinery and compiling the filters for
    *promises* (with a placeholder for the worker's pid, which it writes in). Nothing
    of it grants anything: the worker still lists, judges and confines itself, and
    what it changes of its copy stays in its copy.
    """
    with _starting:  # one at a time: the main thread's and the keeper's (keeper.run)
        return _start(channel, env, supervisor, promises)


#: Held while a fork is prepared and made: what forked.start learns before forking
#: (child.loaded_files' record of the modules it looked at) is never half-updated in a fork.
_starting = threading.Lock()


def _start(channel: int, env: dict[str, str], supervisor: WorkerSupervisor | None,
           promises: frozenset[str]) -> Forked:
    # once a worker has run (it may have planted a module in a sys.path directory),
    # the warm-up's imports come from the standard library's directories alone
    with Fence():
        from .. import runtime
        from . import child

        if len(sys.modules) != child.looked_at:  # only a warm-up: new modules since the last
            runtime.import_lazily()  # the worker's pledge would import them (unicodedata: ~1 ms)
            child.loaded_files()
            child.looked_at = len(sys.modules)
        if supervisor is not None:
            supervisor.prepare(promises)
    read, write = os.pipe()
    ppid = os.getpid()
    with warnings.catch_warnings():
        # 3.12+ warns that forking with threads may deadlock the child: the fork runs
        # only pledgepy's code, the module's import and setup (a lock another thread
        # held at the fork hangs the start, which the start timeout ends)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(channel, write, env, ppid)
    os.close(write)
    return Forked(pid, os.fdopen(read, "rb"))
