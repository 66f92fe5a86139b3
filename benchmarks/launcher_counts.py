"""Deterministic counts of the native launcher's start-up: user-space instructions
(callgrind's Ir) of its steps, and the syscalls of each of its phases (strace).

    python3 benchmarks/launcher_counts.py [--pledge PATH] [PROMISES [PROG ...]]

Defaults: the ``pledge`` beside this interpreter, ``stdio rpath``, ``/bin/true``. The
launcher must be the native one (an ELF file). Callgrind counts the steps before the
fork: valgrind (3.19) answers Landlock's syscalls with ENOSYS, so under it the child cannot
confine itself and hands the job to the Python command; what follows the fork is not the
common path and is not reported. strace (``-f``, the launcher's own path enforced with
PLEDGEPY_LAUNCHER=native) counts the three phases: the launcher before its fork, the child
until its execve of PROG, the supervisor after it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The launcher's steps (launch.h), as callgrind names them.
STEPS = ("pl_package_dir", "pl_tables_check", "pl_digest", "pl_discover")


def instructions(argv: list[str]) -> tuple[int, dict[str, int]]:
    """(program total, inclusive Ir of each of :data:`STEPS`) of the starting process."""
    with tempfile.TemporaryDirectory() as where:
        out = os.path.join(where, "cg.%p")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        *argv], capture_output=True, check=True,
                       env={k: v for k, v in os.environ.items() if k != "PLEDGEPY_LAUNCHER"})
        files = [os.path.join(where, f) for f in os.listdir(where)]
        best: tuple[int, dict[str, int]] = (0, {})
        for f in files:
            if os.path.getsize(f) == 0:
                continue
            text = subprocess.run(["callgrind_annotate", "--inclusive=yes", f],
                                  capture_output=True, text=True, check=True).stdout
            total = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", text, re.M)
            steps = {}
            for step in STEPS:
                m = re.search(rf"^\s*([\d,]+)\s.*:{step} \[", text, re.M)
                if m:
                    steps[step] = int(m.group(1).replace(",", ""))
            if total and "pl_discover" in steps:
                best = (int(total.group(1).replace(",", "")), steps)
        if not best[1]:
            raise SystemExit("callgrind: no profile with pl_discover (not the native launcher?)")
        return best


def syscalls(argv: list[str]) -> list[tuple[str, int, dict[str, int]]]:
    """(phase, syscalls, the most frequent) for each phase of one run under strace -f."""
    with tempfile.TemporaryDirectory() as where:
        log = os.path.join(where, "trace")
        subprocess.run(["strace", "-f", "-qq", "-o", log, *argv], capture_output=True,
                       check=True, env=dict(os.environ, PLEDGEPY_LAUNCHER="native"))
        lines = Path(log).read_text().splitlines()
    first = int(lines[0].split()[0])
    phases: dict[str, dict[str, int]] = {"launcher, before its fork": {},
                                         "child, until its execve of PROG": {},
                                         "supervisor, after the fork": {}}
    child: int | None = None
    child_execed = False
    for line in lines:
        pid_s, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.startswith("<...") or rest.startswith("+++") or rest.startswith("---"):
            continue  # the end of a call counted at its start; exits; signals
        name = rest.split("(", 1)[0]
        pid = int(pid_s)
        if pid == first and child is None:
            phase = "launcher, before its fork"
        elif pid == first:
            phase = "supervisor, after the fork"
        elif pid == child and not child_execed:
            phase = "child, until its execve of PROG"
            if name == "execve":
                child_execed = True
        else:
            continue  # PROG itself
        got = phases[phase]
        got[name] = got.get(name, 0) + 1
        if pid == first and name in ("clone", "clone3", "fork", "vfork") and child is None:
            m = re.search(r"= (\d+)$", rest)
            child = int(m.group(1)) if m else None
    return [(k, sum(v.values()), dict(sorted(v.items(), key=lambda kv: -kv[1])[:4]))
            for k, v in phases.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pledge", default=shutil.which("pledge", path=os.path.dirname(sys.executable)))
    p.add_argument("promises", nargs="?", default="stdio rpath")
    p.add_argument("prog", nargs="*", default=["/bin/true"])
    a = p.parse_args()
    if a.pledge is None:
        raise SystemExit("no pledge beside this interpreter: --pledge PATH")
    with open(a.pledge, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise SystemExit(f"{a.pledge}: not the native launcher")
    argv = [a.pledge, "-q", "-p", a.promises, *a.prog]
    _, steps = instructions(argv)
    print(f"`{' '.join(argv[1:])}` (the launcher's own path)\n")
    print("| step before the fork (callgrind, inclusive Ir) | instructions |\n|---|---|")
    for step in STEPS:
        if step in steps:
            print(f"| `{step}` | {steps[step]:,} |")
    print("\n| phase (strace -f) | syscalls | most frequent |\n|---|---|---|")
    for phase, n, top in syscalls(argv):
        print(f"| {phase} | {n} | {', '.join(f'{k} {v}' for k, v in top.items())} |")


if __name__ == "__main__":
    main()
