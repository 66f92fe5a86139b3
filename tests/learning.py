"""Helpers for the learn-mode tests: learn a run, apply what was learned, compare."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

from tests.childproc import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
PLEDGE = [sys.executable, "-m", "pledgepy"]
#: What the pledge command adds itself, so dropping it from -p changes nothing.
ADDED = frozenset({"exec", "rpath", "prot_exec"})


def run(argv: list[str], cwd: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env={**ENV, **(env or {})},
                          cwd=cwd, timeout=120)


def learn(argv: list[str], cwd: str, *extra: str, env: dict[str, str] | None = None,
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run *argv* under ``pledge --learn --json``: (the run, the report)."""
    out = os.path.join(cwd, ".learned.json")
    r = run([*PLEDGE, "--learn", "--json", "-o", out, *extra, *argv], cwd, env)
    with open(out, encoding="utf-8") as f:
        report = json.load(f)
    os.unlink(out)
    return r, report


def command(report: dict[str, Any], promises: list[str] | None = None) -> list[str]:
    """The suggested command as argv for this interpreter (with other *promises*)."""
    words = shlex.split(report["command"])
    assert words[0] == "pledge" and words[1] == "-p"
    if promises is not None:
        words[2] = " ".join(promises)
    return [*PLEDGE, "-q", *words[1:]]


def violated(r: subprocess.CompletedProcess[str]) -> bool:
    """True when the pledge command reported a broken promise."""
    return r.returncode in (128 + 6, 128 + 9, 128 + 31) or any(
        line.startswith("pledge: ") and (" needs " in line or "not allowed" in line)
        for line in r.stderr.splitlines())
