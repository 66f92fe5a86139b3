"""open() cost of the procfs write block (wpath without prot_exec, no unveil).

Each condition runs in fresh child processes, interleaved (one child of every
condition per round): os.open(path, flags) + os.close in a loop, timed after
the pledge; the median over children is printed as a Markdown table (ns per
open+close). With prot_exec no block is entered, so the pairs differ only by
it. Run by hand, as root, never in the test suite:

    python3 benchmarks/bench_procwrite.py --runs 9 --loops 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import os, sys, time, warnings, pledgepy
promises, path, mode, loops = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
warnings.simplefilter("ignore")  # as root the code files are reported: not timed here
if promises != "-":
    pledgepy.pledge(promises)
flags = (os.O_WRONLY if mode == "w" else os.O_RDONLY) | os.O_CLOEXEC
for _ in range(loops // 10):  # warm up
    os.close(os.open(path, flags))
t = time.perf_counter_ns()
for _ in range(loops):
    os.close(os.open(path, flags))
os.write(1, str((time.perf_counter_ns() - t) / loops).encode())
"""

WITH = "stdio rpath wpath cpath"
WITHOUT = WITH + " prot_exec"


def conditions(shallow: str, deep: str) -> list[tuple[str, str, str, str]]:
    """(label, promises or "-", path, "r"/"w")."""
    return [
        ("unpledged, write", "-", shallow, "w"),
        (f'"{WITHOUT}" (no block), write, {shallow}', WITHOUT, shallow, "w"),
        (f'"{WITH}" (block), write, {shallow}', WITH, shallow, "w"),
        (f'"{WITHOUT}" (no block), write, {deep}', WITHOUT, deep, "w"),
        (f'"{WITH}" (block), write, {deep}', WITH, deep, "w"),
        (f'"{WITHOUT}" (no block), read, {shallow}', WITHOUT, shallow, "r"),
        (f'"{WITH}" (block), read, {shallow}', WITH, shallow, "r"),
    ]


def measure(promises: str, path: str, mode: str, loops: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, promises, path, mode, str(loops)],
                         capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return float(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="children per condition")
    parser.add_argument("--loops", type=int, default=20000, help="open+close per child")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-procwrite-") as d:
        shallow = os.path.join(d, "f")
        deep_dir = os.path.join(d, *"abcdefgh")
        os.makedirs(deep_dir)
        deep = os.path.join(deep_dir, "f")
        for path in (shallow, deep):
            Path(path).write_text("")
        rows = conditions(shallow, deep)
        samples: list[list[float]] = [[] for _ in rows]
        for _ in range(opts.runs):  # interleaved: one child of each condition per round
            for i, (_, promises, path, mode) in enumerate(rows):
                samples[i].append(measure(promises, path, mode, opts.loops))
        medians = [statistics.median(s) for s in samples]
    base = medians[0]
    print("| condition | open+close, median ns | ratio to unpledged write |")
    print("|---|---|---|")
    for (label, *_), ns in zip(rows, medians, strict=True):
        print(f"| {label.replace(d, '$TMP')} | {ns:.0f} | {ns / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
