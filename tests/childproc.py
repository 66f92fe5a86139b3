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


def _drop_to(uid: int):
    def demote() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return demote


def run(code: str, *, unprivileged: bool = False, env: dict[str, str] | None = None,
        timeout: float = 60, cwd: str | os.PathLike[str] | None = None,
        args: list[str] | None = None) -> Result:
    """Run *code* with ``python -c`` in a new process; return its outcome."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.pop("PLEDGEPY_STRICT", None)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        child_env.update(env)
    preexec = None
    if unprivileged:
        if os.geteuid() != 0:
            raise RuntimeError("unprivileged runs need root to drop from")
        preexec = _drop_to(NOBODY)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *(args or [])],
        capture_output=True, text=True, env=child_env, timeout=timeout,
        preexec_fn=preexec, cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


SIGABRT = signal.SIGABRT
SIGSYS = signal.SIGSYS
