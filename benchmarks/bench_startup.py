"""Start-up cost of pledgepy from a normal (non-editable) installation: a wheel in a venv.

An editable install measures the wrong thing: its finder imports pathlib, re and
more at interpreter start-up, and its sources are read from the checkout. This
builds a wheel of the checkout, installs it into a fresh venv, and times there:

* wall: ``python -c "import pledgepy; pledgepy.pledge('stdio rpath')"`` and
  ``python -c "import pledgepy"`` against ``python -c pass``; one round runs each
  command once, in an order that rotates every round; the figure is the median of
  the per-round differences (paired), with the 25th-75th percentile.
* in-process (fresh child each, kinds interleaved), wall and CPU time (user + system of
  all the child's threads: time spent waiting for a CPU on a busy machine is not in
  it, though its work is; forked helpers are not): ``import pledgepy``; loading
  the backend; the first ``pledge("stdio rpath")`` with the backend loaded and as
  a program sees it (load included); a narrowing to ``"stdio"``; unveil of 10 and
  100 paths + lock (backend loaded first).
* deterministic: the modules ``import pledgepy`` and the first pledge load.

Targets (issue 14): import + first pledge <= 3 ms over ``pass``; ``import pledgepy``
<= 1.5 ms; first pledge <= 1 ms (backend load included); narrowing <= 0.3 ms; unveil
10 paths + lock <= 2 ms, 100 paths <= 10 ms.

Usage (from the repository root; needs network access to the package index for the
venv's dependencies, or --venv with one made before)::

    python3 benchmarks/bench_startup.py [--rounds 41] [--children 21] [--venv DIR]
        [--baseline DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS_MS = {"wall import+pledge": 3.0, "wall import": 1.5, "import": 1.5,
              "first pledge (load included)": 1.0, "narrowing": 0.3,
              "unveil 10 + lock": 2.0, "unveil 100 + lock": 10.0}

WALL = {
    "pass": "pass",
    "import": "import pledgepy",
    "import+pledge": "import pledgepy; pledgepy.pledge('stdio rpath')",
}

CHILD = r"""
import sys, time
kind, where = sys.argv[1], sys.argv[2]
wall, cpu = time.perf_counter_ns, time.process_time_ns
out = {}

def step(name, t, c):
    out[name] = wall() - t
    out[name + " (CPU)"] = cpu() - c

t0, c0 = wall(), cpu()
import pledgepy
step("import", t0, c0)
t1, c1 = wall(), cpu()
if kind == "load":
    pledgepy.api.backend()
    step("backend load", t1, c1)
elif kind == "first":
    pledgepy.pledge("stdio rpath")
    step("first pledge (load included)", t1, c1)
    t2, c2 = wall(), cpu()
    pledgepy.pledge("stdio")
    step("narrowing", t2, c2)
elif kind == "call":
    pledgepy.api.backend()
    t2, c2 = wall(), cpu()
    pledgepy.pledge("stdio rpath")
    step("first pledge (backend loaded)", t2, c2)
elif kind.startswith("unveil"):
    n = int(kind[6:])
    paths = [f"{where}/d{i}" for i in range(n)]
    pledgepy.api.backend()
    t2, c2 = wall(), cpu()
    for p in paths:
        pledgepy.unveil(p, "r")
    pledgepy.unveil(None, None)
    step(f"unveil {n} + lock", t2, c2)
print(repr(out))
"""

MODULES = r"""
import json, sys
first = set(sys.modules)
import pledgepy
imported = set(sys.modules) - first
pledgepy.pledge("stdio rpath")
pledged = set(sys.modules) - first - imported
print(json.dumps({"import": sorted(imported), "pledge": sorted(pledged)}))
"""


def make_venv(where: Path) -> Path:
    """A venv at *where* with a wheel of this checkout installed; its python."""
    wheels = where / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    python = where / "venv" / "bin" / "python"
    wheel = sorted(wheels.glob("pledgepy-*.whl"))[-1]
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return python


def wall(pythons: list[Path], rounds: int) -> list[dict[str, list[float]]]:
    """Per-round differences (ms) of each command against ``pass``, for each interpreter;
    the commands and the interpreters are interleaved, in an order rotating every round."""
    names = list(WALL)
    jobs = [(i, n) for i in range(len(pythons)) for n in names]
    times: list[dict[str, list[float]]] = [{n: [] for n in names} for _ in pythons]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for r in range(rounds + 2):  # two warm-up rounds
        for i, name in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
            t0 = time.perf_counter_ns()
            subprocess.run([str(pythons[i]), "-c", WALL[name]], check=True, env=env, cwd="/")
            if r >= 2:
                times[i][name].append((time.perf_counter_ns() - t0) / 1e6)
    return [{f"wall {n}": [t - b for t, b in zip(one[n], one["pass"], strict=True)]
             for n in names if n != "pass"} for one in times]


def in_process(pythons: list[Path], children: int, where: str) -> list[dict[str, list[float]]]:
    """Each in-process figure from fresh children, kinds and interpreters interleaved (ms)."""
    kinds = ["load", "first", "call", "unveil10", "unveil100"]
    jobs = [(i, k) for i in range(len(pythons)) for k in kinds]
    got: list[dict[str, list[float]]] = [{} for _ in pythons]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for r in range(children):
        for i, kind in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
            out = subprocess.run([str(pythons[i]), "-W", "ignore", "-c", CHILD, kind, where],
                                 check=True, capture_output=True, text=True, env=env,
                                 cwd="/").stdout
            for key, value in json.loads(out.replace("'", '"')).items():
                got[i].setdefault(key, []).append(value / 1e6)
    return got


def modules(python: Path) -> dict[str, list[str]]:
    out = subprocess.run([str(python), "-c", MODULES], check=True, capture_output=True,
                         text=True, cwd="/").stdout
    got: dict[str, list[str]] = json.loads(out)
    return got


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q[0], statistics.median(values), q[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=41, help="wall-time rounds")
    parser.add_argument("--children", type=int, default=21, help="children per in-process kind")
    parser.add_argument("--venv", type=Path, help="a venv with pledgepy installed (not editable)")
    parser.add_argument("--baseline", type=Path,
                        help="another such venv (e.g. a wheel of an older commit), run "
                             "interleaved with the first; adds a ratio column")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pledgepy-startup-") as tmp:
        python = args.venv / "bin" / "python" if args.venv else make_venv(Path(tmp))
        pythons = [python] + ([args.baseline / "bin" / "python"] if args.baseline else [])
        dirs = Path(tmp) / "dirs"
        for i in range(100):
            (dirs / f"d{i}").mkdir(parents=True)
        figures = wall(pythons, args.rounds)
        for one, more in zip(figures, in_process(pythons, args.children, str(dirs)),
                             strict=True):
            one.update(more)
        mods = [modules(p) for p in pythons]
    print(f"Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().release} "
          f"{os.uname().machine}; interpreters: " + ", ".join(map(str, pythons)))
    for p, m in zip(pythons, mods, strict=True):
        print(f"Modules loaded ({p}): import pledgepy {len(m['import'])}, then the first "
              f"pledge('stdio rpath') {len(m['pledge'])}; standard library among them: "
              + ", ".join(x for x in m["import"] + m["pledge"] if not x.startswith("pledgepy")))
    print()
    extra = " | baseline median | ratio" if args.baseline else ""
    print(f"| measure | median ms | 25th-75th{extra} | target | n |")
    print("|---|---|---" + ("|---|---" if args.baseline else "") + "|---|---|")
    for name, values in figures[0].items():
        lo, mid, hi = quartiles(values)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"<= {target} {'met' if mid <= target else 'MISSED'}"
        cols = ""
        if args.baseline:
            base = statistics.median(figures[1][name])
            cols = f" | {base:.2f} | {mid / base:.2f}" if base > 0 else f" | {base:.2f} | -"
        print(f"| {name} | {mid:.2f} | {lo:.2f}-{hi:.2f}{cols} | {verdict} | {len(values)} |")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "modules": mods}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
