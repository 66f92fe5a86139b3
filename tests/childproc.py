"""Run a snippet of Python in a fresh child process (enforcement is irreversible).

Every enforcement test goes through :func:`run`: the child imports pledgepy
from this checkout, runs *code*, and the test asserts on its exit status,
signal and output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def signal(self) -> int | None:
        """The signal that killed the child, or None."""
        return -self.returncode if self.returncode < 0 else None

    def explain(self) -> str:
        return f"rc={self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


# The interpreter may live where uid 65534 cannot read it, so the child starts
# as root, loads what it needs, and drops to nobody before the test's code:
# setuid() away from root clears every capability, which is what matters.
DROP = """
import os as _os, pledgepy as _p, pledgepy.api as _api, pledgepy.imports as _imports
import errno, socket, stat, threading, tempfile, signal, ctypes, mmap, fcntl, json, time
_api.backend()
import pledgepy.backends.linux.landlock.ruleset, pledgepy.backends.linux.landlock.unveil
import pledgepy.backends.linux.landlock.abi
pledgepy.backends.linux.landlock.abi.probe()
import pledgepy.runtime, pledgepy.backends.linux.seccomp.kernel as _sc, traceback, linecache, warnings
import subprocess, queue
_sc.unavailable()
_os.setgroups([]); _os.setgid({uid}); _os.setuid({uid})
assert _os.geteuid() == {uid}
with open('/proc/self/status') as _f:
    assert [l for l in _f if l.startswith('CapEff:')][0].split()[1] == '0000000000000000'
del _os, _p, _api, _imports, _f, _sc
"""


def run(code: str, *, unprivileged: bool = False, env: dict[str, str] | None = None,
        timeout: float = 60, cwd: str | os.PathLike[str] | None = None,
        args: list[str] | None = None) -> Result:
    """Run *code* with ``python -c`` in a new process; return its outcome.

    With *unprivileged*, the child drops to uid/gid 65534 (no capabilities)
    before *code* runs; import what the code needs lazily before that point.
    """
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.pop("PLEDGEPY_STRICT", None)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        child_env.update(env)
    code = textwrap.dedent(code)
    if unprivileged:
        if os.geteuid() != 0:
            raise RuntimeError("unprivileged runs need root to drop from")
        code = DROP.format(uid=NOBODY) + code
    proc = subprocess.run(
        [sys.executable, "-c", code, *(args or [])],
        capture_output=True, text=True, env=child_env, timeout=timeout, cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_program(target: str, *args: str, **kw: Any) -> Result:
    """Run ``tests.programs.MODULE:FUNCTION`` in a new process (see :func:`run`)."""
    module, _, function = target.partition(":")
    code = f"import tests.programs.{module} as _m\n_m.{function}()\n"
    return run(code, args=list(args) or None, **kw)


SIGABRT = signal.SIGABRT
SIGSYS = signal.SIGSYS
