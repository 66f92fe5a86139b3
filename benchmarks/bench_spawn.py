"""Cost of subprocess.run(["/bin/true"]) under a pledge with execpromises (the explainer's
hand-over included) versus unpledged, and with a 1 GiB caller (fork, not vfork).

    python3 benchmarks/bench_spawn.py --runs 5 --spawns 100

Each condition runs in fresh child processes; prints the median per spawn as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, subprocess, sys, time, warnings
warnings.simplefilter("ignore")
import pledgepy
big = bytearray({big}) if {big} else None
if big is not None:
    big[::4096] = b"x" * len(big[::4096])  # touch every page: a real 1 GiB caller
if {pledged}:
    pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath prot_exec")
subprocess.run(["/bin/true"])  # warm
times = []
for _ in range({spawns}):
    t = time.perf_counter()
    subprocess.run(["/bin/true"])
    times.append(time.perf_counter() - t)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


def measure(pledged: bool, big: int, runs: int, spawns: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = []
    for _ in range(runs):
        code = CHILD.format(pledged=pledged, big=big, spawns=spawns)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True)
        out.append(json.loads(r.stdout))
    return statistics.median(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--spawns", type=int, default=100)
    a = ap.parse_args()
    print("| caller | unpledged | pledged, execpromises | difference |")
    print("|---|---|---|---|")
    for label, big in (("small", 0), ("1 GiB", 1 << 30)):
        u = measure(False, big, a.runs, a.spawns)
        p = measure(True, big, a.runs, a.spawns)
        print(f"| {label} | {u:.2f} ms | {p:.2f} ms | {p - u:+.2f} ms |")


if __name__ == "__main__":
    main()
