"""Cost of calling pledge() on Linux, and of a pledged interpreter's start-up.

* In-process: fresh child interpreters time ``import pledgepy``, the first ``pledge()`` and a
  narrowing ``pledge()`` with time.perf_counter_ns around each call (medians of --children).
  Targets (issue 14): first call <= 1 ms (backend load included), narrowing call <= 0.3 ms,
  import + first pledge <= 3 ms over `python -c pass`.
* Wall time: ``python -c "import pledgepy; pledgepy.pledge('stdio rpath')"`` against
  ``python -c pass`` (subprocess timing, --wall runs each, alternating; medians).
  Target: <= 20 ms more.  ``import pledgepy`` alone and ``import pyseccomp`` (the design card's
  binding, kept off the hot path) are timed the same way for the record.

Usage (from the repository root)::

    python3 benchmarks/bench_pledge_call.py [--children 21] [--wall 31] [--json FILE]
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

FIRST_TARGET_MS = 1.0
NARROW_TARGET_MS = 0.3
WALL_TARGET_MS = 3.0
BIG = "stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc"
BIG_NARROW = BIG.rsplit(" ", 1)[0]

CHILD = r"""
import json, sys, time, warnings
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["root"])
warnings.simplefilter("ignore")
t0 = time.perf_counter_ns()
import pledgepy
t1 = time.perf_counter_ns()
if cfg.get("preload"):
    pledgepy.api.backend()  # load the platform backend first, to time the call alone
t1b = time.perf_counter_ns()
pledgepy.pledge(cfg["first"])
t2 = time.perf_counter_ns()
pledgepy.pledge(cfg["narrow"])
t3 = time.perf_counter_ns()
st = pledgepy.status()
print(json.dumps({"import": t1 - t0, "backend": t1b - t1, "first": t2 - t1b,
                  "narrow": t3 - t2, "level": st.level,
                  "mechanism": st.mechanism, "pyseccomp": "pyseccomp" in sys.modules,
                  "seccomp": "seccomp" in sys.modules}))
"""

IMPORT_PYSECCOMP = r"""
import json, time
t0 = time.perf_counter_ns()
import pyseccomp
print(json.dumps({"import": time.perf_counter_ns() - t0}))
"""

WALL = {
    "pass": "pass",
    "import pledgepy": "import pledgepy",
    "import pledgepy; pledge('stdio rpath')": "import pledgepy; pledgepy.pledge('stdio rpath')",
    "import pyseccomp": "import pyseccomp",
}


ENV: dict[str, str] | None = None  # children's environment (None: inherit unchanged)


def bytecode_env(prefix: str) -> dict[str, str]:
    """Inherited environment, but with bytecode caching on and the cache under *prefix*.

    A normal installation has .pyc files; an environment with PYTHONDONTWRITEBYTECODE=1
    recompiles pledgepy (and anything without a .pyc) in every child, which measures the
    compiler, not pledge().  PYTHONPYCACHEPREFIX keeps the cache out of the source tree.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV)


def warm(first: str, narrow: str) -> None:
    """Fill the bytecode cache before anything is timed (failures are reported later)."""
    cfg = json.dumps({"root": str(ROOT), "first": first, "narrow": narrow})
    for _ in range(2):
        _run(CHILD, cfg)
    for code in WALL.values():
        _run(code)


def in_process(children: int, first: str, narrow: str, want: str = "full",
               preload: bool = False) -> dict[str, object]:
    cfg = json.dumps({"root": str(ROOT), "first": first, "narrow": narrow, "preload": preload})
    rows = []
    for _ in range(children):
        out = _run(CHILD, cfg)
        if out.returncode != 0:
            raise SystemExit(f"child failed (exit {out.returncode}):\n{out.stderr}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    levels = {r["level"] for r in rows}
    if levels != {want}:  # "dns" is enforced only in part on Linux (see pledgepy.status())
        raise SystemExit(f"pledge({narrow!r}) in force at level {levels}, expected {want!r}")
    med = {k: statistics.median(r[k] for r in rows) / 1e6
           for k in ("import", "backend", "first", "narrow")}
    return {"ms": med, "pyseccomp_loaded": any(r["pyseccomp"] or r["seccomp"] for r in rows),
            "mechanism": rows[0]["mechanism"]}


def pyseccomp_import(children: int) -> float | None:
    """Median in-process import time of pyseccomp (ms), or None if it is not installed."""
    times = []
    for _ in range(children):
        out = _run(IMPORT_PYSECCOMP)
        if out.returncode != 0:
            return None
        times.append(json.loads(out.stdout.strip().splitlines()[-1])["import"])
    return statistics.median(times) / 1e6


def wall(runs: int) -> dict[str, float | None]:
    """Median wall time (ms) of each ``python -c`` command, the commands taking turns."""
    names = list(WALL)
    times: dict[str, list[float]] = {n: [] for n in names}
    failed: set[str] = set()
    for n in names:  # warm the page cache once
        if _run(WALL[n]).returncode != 0:
            failed.add(n)
    for i in range(runs):
        order = names[i % len(names):] + names[: i % len(names)]
        for n in order:
            if n in failed:
                continue
            t0 = time.perf_counter_ns()
            proc = subprocess.run([sys.executable, "-c", WALL[n]], cwd=ROOT, env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t1 = time.perf_counter_ns()
            if proc.returncode != 0:
                raise SystemExit(f"python -c {WALL[n]!r} failed (exit {proc.returncode})")
            times[n].append((t1 - t0) / 1e6)
    return {n: (statistics.median(times[n]) if times[n] else None) for n in names}


def measure(children: int, runs: int) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.seccomp import kernel as seccomp

    why = seccomp.unavailable()
    if why:
        raise SystemExit(f"pledge() cannot enforce here: {why}\n(build the SIGSYS handler: "
                         "python3 pledgepy/backends/linux/native/build.py)")
    warm("stdio rpath", "stdio")
    warm(BIG, BIG_NARROW)
    return {
        "children": children, "wall_runs": runs,
        "bytecode": "inherited environment" if ENV is None else
                    "bytecode cache on (PYTHONPYCACHEPREFIX in a temporary directory)",
        "small": in_process(children, "stdio rpath", "stdio"),
        "small_loaded": in_process(children, "stdio rpath", "stdio", preload=True),
        "big": in_process(children, BIG, BIG_NARROW, want="partial"),
        "pyseccomp_inproc": pyseccomp_import(children),
        "wall": wall(runs),
    }


def report(res: dict[str, object]) -> tuple[list[str], list[tuple[str, bool | None, str]]]:
    small, big, w = res["small"]["ms"], res["big"]["ms"], res["wall"]
    loaded = res["small_loaded"]["ms"]
    n = res["children"]
    lines = [
        f"Children's Python: {res['bytecode']}.",
        "",
        f"In-process, medians of {n} fresh children (time.perf_counter_ns around each call):",
        "",
        "| measure | median | target |",
        "|---|---|---|",
        f"| `import pledgepy` | {small['import']:.2f} ms | — |",
        f"| first `pledge(\"stdio rpath\")` | {small['first']:.2f} ms "
        f"| ≤ {FIRST_TARGET_MS} ms |",
        f"| narrowing `pledge(\"stdio\")` after it | {small['narrow']:.2f} ms "
        f"| ≤ {NARROW_TARGET_MS} ms |",
        f"| of which: loading the Linux backend (first use, lazy) | "
        f"{loaded['backend']:.2f} ms | — |",
        f"| first `pledge(\"stdio rpath\")`, backend already loaded | {loaded['first']:.2f} ms "
        f"| ≤ {FIRST_TARGET_MS} ms |",
        f"| first `pledge()` with 12 promises (\"{BIG}\") | {big['first']:.2f} ms "
        f"| ≤ {FIRST_TARGET_MS} ms |",
        f"| narrowing 12 → 11 promises (drop \"proc\") | {big['narrow']:.2f} ms "
        f"| ≤ {NARROW_TARGET_MS} ms |",
    ]
    py = res["pyseccomp_inproc"]
    lines.append("| `import pyseccomp` (in-process, for the record) | "
                 + (f"{py:.2f} ms" if py is not None else "not installed") + " | — |")
    lines += ["", f"Wall time of `python -c ...`, medians of {res['wall_runs']} alternating runs "
              "(subprocess timing, fork+exec included):", "",
              "| command | median | more than `pass` |", "|---|---|---|"]
    base = w["pass"]
    for name, ms in w.items():
        if ms is None:
            lines.append(f"| `python -c \"{WALL[name]}\"` | failed (not installed?) | — |")
        else:
            lines.append(f"| `python -c \"{WALL[name]}\"` | {ms:.1f} ms | {ms - base:+.1f} ms |")
    lines += ["", "pyseccomp (or libseccomp's `seccomp` module) loaded by import + pledge(): "
              + ("YES" if res["small"]["pyseccomp_loaded"] else "no") + "."]
    extra = w["import pledgepy; pledge('stdio rpath')"] - base
    verdicts: list[tuple[str, bool | None, str]] = [
        (f"first pledge(\"stdio rpath\") ≤ {FIRST_TARGET_MS} ms", small["first"] <= FIRST_TARGET_MS,
         f"{small['first']:.2f} ms"),
        (f"first pledge(\"stdio rpath\"), backend loaded ≤ {FIRST_TARGET_MS} ms",
         loaded["first"] <= FIRST_TARGET_MS, f"{loaded['first']:.2f} ms"),
        (f"narrowing pledge(\"stdio\") ≤ {NARROW_TARGET_MS} ms",
         small["narrow"] <= NARROW_TARGET_MS, f"{small['narrow']:.2f} ms"),
        (f"first pledge() with 12 promises ≤ {FIRST_TARGET_MS} ms",
         big["first"] <= FIRST_TARGET_MS, f"{big['first']:.2f} ms"),
        (f"narrowing 12 → 11 promises ≤ {NARROW_TARGET_MS} ms",
         big["narrow"] <= NARROW_TARGET_MS, f"{big['narrow']:.2f} ms"),
        (f"python -c \"import pledgepy; pledge(...)\" ≤ {WALL_TARGET_MS} ms over python -c pass",
         extra <= WALL_TARGET_MS, f"{extra:+.1f} ms"),
    ]
    return lines, verdicts


def _word(ok: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "INCONCLUSIVE"}[ok]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=21, help="fresh children per figure")
    parser.add_argument("--wall", type=int, default=31, help="runs of each python -c command")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--as-is", action="store_true",
                        help="children inherit the environment unchanged (default: bytecode "
                             "cache on, in a temporary PYTHONPYCACHEPREFIX)")
    args = parser.parse_args()
    global ENV
    with tempfile.TemporaryDirectory(prefix="pledgepy-pyc-") as tmp:
        ENV = None if args.as_is else bytecode_env(tmp)
        res = measure(args.children, args.wall)
    lines, verdicts = report(res)
    print("\n".join(lines))
    print()
    for name, ok, detail in verdicts:
        print(f"- {_word(ok)} {name}: {detail}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
