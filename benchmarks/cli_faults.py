"""Page faults of ``pledge -p "stdio rpath" /bin/true``, by phase, and what one costs here.

    python3 benchmarks/cli_faults.py [--runs 9]

A count that timings on a shared VM cannot blur: each run is a fresh ``python -I``
running ``pledgepy.cli.main`` (as bin/pledge does) with an audit hook that notes
``ru_minflt`` (minor faults) at start, after the imports, at the fork and at the
end (parent), and at the exec (child). Medians of --runs. Then the cost of one
fault of each kind on this machine (a fresh page; a page shared with a forked
child, written in the child), medians of 5, so that counts convert to time.
Prints markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import statistics
import subprocess
import sys
import time

PROBE = r"""
import json, os, resource, sys
marks = {}
def flt():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
r, w = os.pipe()
def hook(ev, args):
    if ev == "os.fork":
        marks["parent: at the fork"] = flt()
    elif ev == "os.exec":
        os.write(w, json.dumps({"child: at its exec": flt()}).encode() + b"\n")
marks["parent: interpreter started"] = flt()
sys.addaudithook(hook)
import gc
gc.disable()
from pledgepy.cli import main
marks["parent: imports done"] = flt()
status = main(["-q", "-p", "stdio rpath", "/bin/true"])
marks["parent: at the end"] = flt()
os.close(w)
child = json.loads(os.read(r, 4096).splitlines()[0])
print(json.dumps({**marks, **child, "status": status}))
"""

ORDER = ["parent: interpreter started", "parent: imports done", "parent: at the fork",
         "parent: at the end", "child: at its exec"]


def faults(runs: int) -> dict[str, float]:
    got: dict[str, list[int]] = {k: [] for k in ORDER}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-I", "-c", PROBE], capture_output=True,
                             text=True, check=True, cwd="/").stdout
        row = json.loads(out)
        if row["status"] != 0:
            raise SystemExit(f"pledge exited {row['status']}")
        for k in ORDER:
            got[k].append(row[k])
    return {k: statistics.median(v) for k, v in got.items()}


def fault_cost(pages: int = 4000) -> tuple[float, float]:
    """(µs per fault of a fresh page, µs per write fault of a page shared with a child)."""
    fresh, shared = [], []
    for _ in range(5):
        m = mmap.mmap(-1, pages * mmap.PAGESIZE)
        t = time.perf_counter()
        for i in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
            m[i] = 1
        fresh.append((time.perf_counter() - t) / pages * 1e6)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            t = time.perf_counter()
            for i in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
                m[i] = 2
            os.write(w, repr((time.perf_counter() - t) / pages * 1e6).encode())
            os._exit(0)
        os.close(w)
        shared.append(float(os.read(r, 64)))
        os.close(r)
        os.waitpid(pid, 0)
        m.close()
    # the loop's own cost (a write to a page already faulted) is subtracted
    m = mmap.mmap(-1, pages * mmap.PAGESIZE)
    for i in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
        m[i] = 1
    t = time.perf_counter()
    for i in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
        m[i] = 3
    loop = (time.perf_counter() - t) / pages * 1e6
    return statistics.median(fresh) - loop, statistics.median(shared) - loop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=9)
    args = p.parse_args()
    f = faults(args.runs)
    fresh, shared = fault_cost()
    base = f["parent: interpreter started"]
    rows = [
        ("interpreter start (before any pledgepy code)", base),
        ("parent: importing pledgepy.cli", f["parent: imports done"] - base),
        ("parent: cli.main up to the fork (backend, discovery of PROG, NSS)",
         f["parent: at the fork"] - f["parent: imports done"]),
        ("child: from the fork to its exec (set-up, unveil, filter)", f["child: at its exec"]),
        ("parent: from the fork to the end (supervisor imports, serving, wait)",
         f["parent: at the end"] - f["parent: at the fork"]),
    ]
    print(f"Command: `python3 benchmarks/cli_faults.py --runs {args.runs}`; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}.\n")
    print("| phase of `pledge -p \"stdio rpath\" /bin/true` | minor faults (median) |")
    print("|---|---|")
    for label, n in rows:
        print(f"| {label} | {n:.0f} |")
    after = f["child: at its exec"] + f["parent: at the end"] - f["parent: at the fork"]
    print(f"| **after the fork, both processes** | **{after:.0f}** |")
    print()
    print("| one fault on this machine | µs (median of 5) |")
    print("|---|---|")
    print(f"| a fresh page | {fresh:.2f} |")
    print(f"| a page shared with the parent, written in a forked child | {shared:.2f} |")


if __name__ == "__main__":
    main()
