"""Instructions (callgrind's Ir) that pledgepy and its peers execute in user space.

Deterministic where timings on a shared machine are not: each program of workloads.py
runs under ``valgrind --tool=callgrind`` (median of --runs, hash seed fixed) and a
measure is the difference of two programs (``import pledgepy`` minus ``pass``, ...).
Valgrind 3.19 answers seccomp(2) and Landlock's syscalls with ENOSYS; vg_shim.c,
preloaded, answers them as the kernel would on success (the kernel's own work is not
user space and would not be counted anyway).  Valgrind's translation cache is mapped
writable and executable, so pledge() warns about W^X memory (warnings are ignored with
``-W ignore`` in every program; the scan of /proc/self/maps is counted as in a real run).

    python3 benchmarks/callgrind_counts.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

#: label -> (program, baseline program).
MEASURES = [
    ("pledgepy: `import pledgepy`", "pledgepy import", "pass"),
    ("pledgepy: first `pledge(\"stdio rpath\")`", "pledgepy pledge", "pledgepy import"),
    ("pledgepy: narrowing to `pledge(\"stdio\")`", "pledgepy narrow", "pledgepy pledge"),
    ("pledgepy: unveil 10 paths + lock", "pledgepy unveil", "pledgepy import"),
    ("pledgepy: unveil 100 paths + lock", "pledgepy unveil 100", "pledgepy import"),
    ("pledgepy: loading the backend (`LinuxBackend()`)", "pledgepy backend", "pledgepy import"),
    ("pledgepy: `import pledgepy.cli` (the command's imports)", "pledgepy cli import",
     "pass"),
    ("pledgepy: the command's backend load, after its imports", "pledgepy cli backend",
     "pledgepy cli import"),
    ("pledgepy: the command's parent after its backend load (shim check, supervisor's "
     "modules)", "pledgepy cli parent", "pledgepy cli backend"),
    ("pledgepy: 10 compiles of `stdio rpath`'s filter, warm", "pledgepy compile full x10",
     "pledgepy compile"),
    ("pledgepy: 10 compiles of the narrowing delta to `stdio`, warm",
     "pledgepy compile delta x10", "pledgepy compile"),
    ("pledgepy: import + `pledge(\"stdio rpath\")` over `pass`", "pledgepy pledge", "pass"),
    ("pyseccomp: import + build + load, tree layout, over `pass`", "pyseccomp tree", "pass"),
    ("pyseccomp: import + build + load, default layout, over `pass`", "pyseccomp default",
     "pass"),
    ("python3-seccomp (system python3): import + build + load, tree, over its `pass`",
     "python3-seccomp tree", "system pass"),
    ("landlock (PyPI): import + 10 paths + apply, over `pass`", "landlock", "pass"),
    ("sandlock: import + confine 10 paths, over `pass`", "sandlock", "pass"),
]


def landlock_abi() -> int:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, int(libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0),
                                   ctypes.c_long(1))))


def shim(tmp: str) -> str:
    out = os.path.join(tmp, "vg_shim.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", out, str(HERE / "vg_shim.c"),
                    "-ldl"], check=True)
    return out


def ir(argv: list[str], tmp: str, preload: str, abi: int,
       base_env: dict[str, str]) -> int | str:
    """Total Ir of one run of *argv* under callgrind, or why it failed."""
    out = os.path.join(tmp, "cg.out")
    env = dict(base_env, PYTHONHASHSEED="0", LD_PRELOAD=preload,
               VG_SHIM_LANDLOCK_ABI=str(abi))
    # cwd "/": `python -c` puts the working directory first on sys.path, and from the
    # checkout that would measure its sources instead of the interpreter's installed copy
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          *argv], env=env, capture_output=True, text=True, cwd="/")
    if run.returncode != 0:
        last = [ln for ln in run.stderr.splitlines() if ln and not ln.startswith("==")]
        return f"fails under valgrind ({last[-1] if last else run.returncode})"
    text = Path(out).read_text()
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    os.unlink(out)
    if m is None:
        raise RuntimeError("no summary in callgrind's output")
    return int(m.group(1))


def measure(runs: int, only: str = "") -> tuple[dict[str, list[int]], dict[str, str]]:
    """Ir of every program whose name starts with *only* or is a baseline (runs
    interleaved), and why some could not run."""
    names = [n for n in workloads.PROGRAMS
             if n.startswith(only) or n in ("pass", "system pass")]
    skipped = {n: why for n in names if (why := workloads.available(n)) is not None}
    names = [n for n in names if n not in skipped]
    counts: dict[str, list[int]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="pledgepy-cg-") as tmp:
        base_env = workloads.env(os.path.join(tmp, "pycache"))
        for n in names:  # warm the bytecode caches, outside the counts
            subprocess.run(workloads.program(n), capture_output=True, env=base_env, cwd="/")
        preload, abi = shim(tmp), landlock_abi()
        for _ in range(runs):
            for n in names:
                if n in skipped:
                    continue
                got = ir(workloads.program(n), tmp, preload, abi, base_env)
                if isinstance(got, str):
                    skipped[n] = got
                    del counts[n]
                else:
                    counts[n].append(got)
    return counts, skipped


def report(counts: dict[str, list[int]], skipped: dict[str, str]) -> list[str]:
    med = {n: statistics.median(v) for n, v in counts.items()}
    lines = ["| measure | Ir (millions), median | runs' range (millions) |", "|---|---|---|"]
    for label, prog, base in MEASURES:
        if prog not in med or base not in med:
            why = skipped.get(prog) or skipped.get(base)
            if why is None:  # left out by --only
                continue
            lines.append(f"| {label} | not measured: {why} | |")
            continue
        diffs = [a - b for a, b in zip(counts[prog], counts[base], strict=True)]
        lines.append(f"| {label} | {(med[prog] - med[base]) / 1e6:.2f} "
                     f"| {min(diffs) / 1e6:.2f}–{max(diffs) / 1e6:.2f} |")
    lines += ["", "Programs' totals (Ir, millions, median): "
              + "; ".join(f"`{n}` {v / 1e6:.1f}" for n, v in med.items()) + "."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", metavar="PREFIX",
                        help="run only the programs whose name starts with PREFIX "
                        "(e.g. 'pledgepy'), and the baselines")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    print("\n".join(report(*measure(args.runs, args.only))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
