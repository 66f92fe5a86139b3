"""Cost of subprocess.run(["/bin/true"]) under a pledge with execpromises (made by the
spawner, exec/spawner.py) versus unpledged, with a small and a 1 GiB caller.

    python3 benchmarks/bench_spawn.py --runs 5 --spawns 100

Each condition runs in fresh child processes, the conditions interleaved run by run;
prints the median per spawn as markdown. "beyond" pledges a caller that holds only
"stdio proc exec" (execpromises wider than promises).
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
if {pledged!r}:
    pledgepy.pledge({pledged!r}, "stdio rpath prot_exec")
subprocess.run(["/bin/true"])  # warm
times = []
for _ in range({spawns}):
    t = time.perf_counter()
    subprocess.run(["/bin/true"])
    times.append(time.perf_counter() - t)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


CONDITIONS = (("unpledged", ""), ("pledged", "stdio rpath proc exec prot_exec"),
              ("beyond", "stdio proc exec"))


def once(pledged: str, big: int, spawns: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = CHILD.format(pledged=pledged, big=big, spawns=spawns)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, check=True)
    return float(json.loads(r.stdout)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--spawns", type=int, default=100)
    a = ap.parse_args()
    print("| caller | unpledged | pledged, execpromises | beyond promises | difference |")
    print("|---|---|---|---|---|")
    for label, big in (("small", 0), ("1 GiB", 1 << 30)):
        got: dict[str, list[float]] = {name: [] for name, _ in CONDITIONS}
        for _ in range(a.runs):  # interleaved: the machine's load hits every condition
            for name, pledged in CONDITIONS:
                got[name].append(once(pledged, big, a.spawns))
        u, p, b = (statistics.median(got[name]) for name, _ in CONDITIONS)
        print(f"| {label} | {u:.2f} ms | {p:.2f} ms | {b:.2f} ms | {p - u:+.2f} ms |")


if __name__ == "__main__":
    main()
