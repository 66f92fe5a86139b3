"""open() cost with and without OpenBSD's path allowances in force (issue 10).

Each condition runs in fresh child processes, interleaved (one child of every
condition per round): os.open(path, O_RDONLY) + os.close in a loop, timed after
the pledge; the median over children is printed as a
Markdown table (ns per open+close). Run by hand, never in the test suite:

    python3 benchmarks/bench_allowances.py --runs 7 --loops 20000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import os, sys, time, pledgepy
promises, path, loops = sys.argv[1], sys.argv[2], int(sys.argv[3])
if promises != "-":
    pledgepy.pledge(promises)
flags = os.O_RDONLY | os.O_CLOEXEC
for _ in range(loops // 10):  # warm up
    os.close(os.open(path, flags))
t = time.perf_counter_ns()
for _ in range(loops):
    os.close(os.open(path, flags))
os.write(1, str((time.perf_counter_ns() - t) / loops).encode())
"""

#: an existing file in /tmp for tmppath's row (made by main(), removed after)
TMP_FILE = "/tmp/pledgepy-bench-allowances"

#: (label, promises or "-" for none, path)
CONDITIONS = (
    ("unpledged", "-", "/etc/hosts"),
    ('"stdio rpath wpath cpath" (no allowance layer; the procfs block handles writing only)',
     "stdio rpath wpath cpath", "/etc/hosts"),
    ('"stdio rpath" (no layer: /dev/null is answered from a descriptor)', "stdio rpath",
     "/etc/hosts"),
    ('"stdio dns", /etc/hosts through the allowance (trap + retry + layer)', "stdio dns",
     "/etc/hosts"),
    ('"stdio", /etc/localtime through the allowance', "stdio", "/etc/localtime"),
    ('"stdio", /dev/null (a copy of a descriptor opened before the filter)', "stdio",
     "/dev/null"),
    ('"stdio rpath tmppath", /etc/hosts (the layer handles only writing and creating)',
     "stdio rpath tmppath", "/etc/hosts"),
    ('"stdio getpw", /etc/passwd through the allowance', "stdio getpw", "/etc/passwd"),
    ('"stdio tmppath", a file in /tmp through the allowance', "stdio tmppath", TMP_FILE),
    ('"stdio", /sys/devices/system/cpu/online through the allowance', "stdio",
     "/sys/devices/system/cpu/online"),
)


def measure(promises: str, path: str, loops: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, promises, path, str(loops)],
                         capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return float(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="children per condition")
    parser.add_argument("--loops", type=int, default=20000, help="open+close per child")
    opts = parser.parse_args()
    Path(TMP_FILE).write_text("")
    samples: list[list[float]] = [[] for _ in CONDITIONS]
    try:
        for _ in range(opts.runs):  # interleaved: one child of each condition per round
            for i, (_, promises, path) in enumerate(CONDITIONS):
                samples[i].append(measure(promises, path, opts.loops))
    finally:
        Path(TMP_FILE).unlink()
    rows = [(label, statistics.median(s)) for (label, *_), s in
            zip(CONDITIONS, samples, strict=True)]
    base = rows[0][1]
    print("| condition | open+close, median ns | ratio |")
    print("|---|---|---|")
    for label, ns in rows:
        print(f"| {label} | {ns:.0f} | {ns / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
