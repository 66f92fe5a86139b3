"""When a forked child of the command's process first runs Python, by what the parent does.

    python3 benchmarks/fork_start.py [--runs 30]

Each run is a fresh ``python -I`` holding what the command's parent holds at its fork
(``pledgepy.cli`` and the loaded backend); it forks, and the child writes how long after
the fork its first Python line ran. The parent meanwhile waits at once ("idle"), spins
for 3 ms ("busy", as the command's parent imports the supervisor's answers), or calls
``os.sched_yield()`` and then spins ("yield", what ``cli._main`` does since round 12).
The three are interleaved run by run; medians and quartiles. Prints markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

PROBE = r"""
import gc, os, sys, time
gc.disable()
from pledgepy import api, cli
api.backend().exec_supervisor()
mode = sys.argv[1]
r, w = os.pipe()
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.write(w, b"%f" % ((time.perf_counter() - t) * 1e3))
    os._exit(0)
if mode == "yield":
    os.sched_yield()
if mode != "idle":
    end = time.perf_counter() + 0.003
    while time.perf_counter() < end:
        pass
os.waitpid(pid, 0)
print(os.read(r, 100).decode())
"""

LABELS = {"idle": "waits at once", "busy": "busy 3 ms",
          "yield": "`os.sched_yield()`, then busy 3 ms"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args()
    os.chdir("/")  # the installed package, not a checkout's sources
    got: dict[str, list[float]] = {m: [] for m in LABELS}
    for _ in range(a.runs):
        for mode in LABELS:
            out = subprocess.run([sys.executable, "-I", "-c", PROBE, mode], capture_output=True,
                                 text=True, check=True).stdout
            got[mode].append(float(out))
    print(f"Command: `python3 benchmarks/fork_start.py --runs {a.runs}`; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}.\n")
    print("| the parent after the fork | child's first line after the fork, median (25th–75th) |")
    print("|---|---|")
    for mode, label in LABELS.items():
        q = statistics.quantiles(got[mode], n=4)
        print(f"| {label} | {q[1]:.2f} ms ({q[0]:.2f} to {q[2]:.2f}) |")


if __name__ == "__main__":
    main()
