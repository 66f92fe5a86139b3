"""The floor under a worker's round trip on this machine: two C processes passing one
byte back and forth over a socketpair (benchmarks/pingpong.c), blocking or spinning,
on one CPU, on two, or where the scheduler puts them.

    python benchmarks/bench_pingpong.py [--reps 7] [--n 20000]

Needs gcc. Interleaved: each repetition runs every condition once; medians printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
#: (label, parent CPU, child CPU, mode); -1: unpinned
CONDITIONS = [("same CPU, blocking", 0, 0, "block"), ("two CPUs, blocking", 0, 1, "block"),
              ("unpinned, blocking", -1, -1, "block"), ("two CPUs, spinning", 0, 1, "spin")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=20000)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "pingpong")
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "pingpong.c")], check=True)
        got: dict[str, list[float]] = {}
        for _ in range(opts.reps):
            for label, a, b, mode in CONDITIONS:
                if max(a, b) >= (os.cpu_count() or 1):
                    continue
                out = subprocess.run([exe, str(opts.n), str(a), str(b), mode], check=True,
                                     capture_output=True, text=True).stdout
                got.setdefault(label, []).append(float(out))
    print(f"Command: `python benchmarks/bench_pingpong.py --reps {opts.reps} --n {opts.n}`; "
          f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f} at the end.\n")
    print("| C round trip over a socketpair | µs (median) | min |\n|---|---|---|")
    for label, values in got.items():
        print(f"| {label} | {statistics.median(values):.1f} | {min(values):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
