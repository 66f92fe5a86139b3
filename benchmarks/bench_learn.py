"""Learn-mode slowdown: the same run plain and under ``pledge --learn``, medians.

    python3 benchmarks/bench_learn.py [--runs 5] [--files 5000] [--reads 100000]
                                      [--installed] [--compare OTHER/bin/python]

The fixed cost (``true``), then two syscall-heavy runs: ``tar cf`` of a tree
of FILES small files (into a file: to /dev/null GNU tar reads nothing), and a
Python script reading one small file READS times (open, read, close). Each
condition runs RUNS times, alternating; the table gives median wall times and
their ratio, and the median CPU time (user + system, the run and the recorder
together), which a machine shared with other jobs disturbs less than the
wall clock. Prints markdown for benchmarks/RESULTS.md.

By default the source tree is timed (PYTHONPATH); ``--installed`` times the package
installed for this interpreter instead, and ``--compare PYTHON`` adds, in the same
alternating runs, ``--learn`` through another interpreter's installed package (an
older version, say), as a last column.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READS = """
import sys
n = int(sys.argv[1])
for _ in range(n):
    with open(sys.argv[2], 'rb') as f:
        f.read()
"""


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / "tree" / f"d{i // 100}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(b"x" * 64)
    (root / "small").write_bytes(b"y" * 64)
    (root / "reads.py").write_text(READS)


def _time(argv: list[str], cwd: Path, tree: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the run and everything it started)."""
    # bytecode caches allowed, as in an installed copy (CI sets PYTHONDONTWRITEBYTECODE,
    # which makes every start compile the recorder's modules again)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if tree:
        env["PYTHONPATH"] = str(ROOT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--reads", type=int, default=100000)
    ap.add_argument("--installed", action="store_true",
                    help="time the installed package, not the source tree")
    ap.add_argument("--compare", metavar="PYTHON",
                    help="also --learn through this interpreter's installed package")
    opts = ap.parse_args()
    tree = not opts.installed
    flags = ["-m", "pledgepy", "--learn", "--json", "-o", "/dev/null"]
    learn = [sys.executable, *flags]
    other = [opts.compare, *flags] if opts.compare else None
    counted: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _tree(work, opts.files)
        cases = {
            "start-up only: true": ["true"],
            f"tar cf of {opts.files} files": ["tar", "cf", "out.tar", "tree"],
            f"python: {opts.reads} small file reads":
                [sys.executable, "reads.py", str(opts.reads), "small"],
        }
        extra = (" --installed" if opts.installed else "") + \
            (f" --compare {opts.compare}" if opts.compare else "")
        print(f"Command: `python3 benchmarks/bench_learn.py --runs {opts.runs} --files "
              f"{opts.files} --reads {opts.reads}{extra}`. Machine: {platform.platform()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load "
              f"{os.getloadavg()[0]:.1f}.\n")
        print("| run | plain (median s) | --learn (median s) | ratio | CPU plain | CPU --learn "
              "| CPU ratio |" + (" compared: --learn (median s, ratio) | compared: CPU (median s, "
                                   "ratio) |" if other else ""))
        print("|---|---|---|---|---|---|---|" + ("---|---|" if other else ""))
        medians: dict[str, tuple[float, float]] = {}
        for name, argv in cases.items():
            _time([*learn, *argv], work, tree)  # warm: caches, bytecode
            if other:
                _time([*other, *argv], work, False)
            plain, learned, compared = [], [], []
            for _ in range(opts.runs):
                plain.append(_time(argv, work))
                learned.append(_time([*learn, *argv], work, tree))
                if other:
                    compared.append(_time([*other, *argv], work, False))
            p, q = (statistics.median(w for w, _ in plain),
                    statistics.median(w for w, _ in learned))
            pc, qc = (statistics.median(c for _, c in plain),
                      statistics.median(c for _, c in learned))
            medians[name] = (p, q)
            tail = ""
            if other:
                o = statistics.median(w for w, _ in compared)
                oc = statistics.median(c for _, c in compared)
                tail = f" {o:.3f}, {o / p:.2f}× | {oc:.3f}, {oc / max(pc, 1e-3):.2f}× |"
            print(f"| {name} | {p:.3f} | {q:.3f} | {q / p:.2f}× | {pc:.3f} | {qc:.3f} "
                  f"| {qc / max(pc, 1e-3):.2f}× |{tail}", flush=True)
            counted[name] = _recorded([*learn[:-1], str(work / "report.json"), *argv], work,
                                      tree)
        print("\nRecorded calls (each one a notification the program waited for), by "
              "syscall, from one more run's report (its evidence and loader counts):\n")
        print("| run | recorded calls | by syscall |")
        print("|---|---|---|")
        for name, by in counted.items():
            top = ", ".join(f"{k} {v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))
            print(f"| {name} | {sum(by.values())} | {top} |")
        _floor(work, medians, {k: sum(v.values()) for k, v in counted.items()})


def _floor(work: Path, medians: dict[str, tuple[float, float]],
           calls: dict[str, int]) -> None:
    """The ratio no recorder on USER_NOTIF can beat: the plain run, plus each recorded
    call's bare round trip (notify_roundtrip.c: a supervisor that only continues it),
    plus the fixed cost of this command's --learn (the `true` row), over the plain run."""
    exe = work / "notify_roundtrip"
    try:
        subprocess.run(["cc", "-O2", "-o", str(exe), str(ROOT / "benchmarks" /
                        "notify_roundtrip.c")], check=True, capture_output=True)
        out = [subprocess.run([str(exe), "20000"], check=True, capture_output=True,
                              text=True).stdout for _ in range(3)]
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"\n(no floor: notify_roundtrip.c could not be built or run: {exc})")
        return
    trip = min(float(o.split()[0]) for o in out) * 1e-6  # best of 3: a floor
    fixed = medians["start-up only: true"][1]
    print(f"\nFloor (a bare USER_NOTIF round trip here: {trip * 1e6:.2f} µs, best of 3 runs "
          "of notify_roundtrip.c; fixed cost: the `true` row's --learn median):\n")
    print("| run | plain | + recorded calls × round trip | + fixed cost | floor ratio "
          "| measured ratio |")
    print("|---|---|---|---|---|---|")
    for name, (p, q) in medians.items():
        if name not in calls or name.startswith("start-up"):
            continue
        notif = calls[name] * trip
        print(f"| {name} | {p:.3f} s | {notif:.3f} s | {fixed:.3f} s | "
              f"{(p + notif + fixed) / p:.2f}× | {q / p:.2f}× |")


def _recorded(argv: list[str], cwd: Path, tree: bool) -> dict[str, int]:
    """syscall -> calls recorded in one run (the report's counts: C counts every call
    it merges, so these are the notifications; the loader's are marked)."""
    import json

    _time(argv, cwd, tree)
    report = json.loads((cwd / "report.json").read_text())
    by: dict[str, int] = {}
    rows = {(e["syscall"], e["argument"]): e["count"] for e in report["evidence"]
            if e["count"] is not None}  # (a row per promise it is evidence for: once)
    rows.update({(e["syscall"], e["argument"]): e["count"] for e in report["refused"]})
    for (syscall, _), count in rows.items():
        by[syscall] = by.get(syscall, 0) + count
    for e in report["loader"]["calls"]:
        by[f"(loader) {e['syscall']}"] = by.get(f"(loader) {e['syscall']}", 0) + e["count"]
    return by


if __name__ == "__main__":
    main()
