"""Run every benchmark and write its sections into benchmarks/RESULTS.md.

    python3 benchmarks/all.py                  # everything (root; valgrind; ~15 min)
    python3 benchmarks/all.py --deterministic  # only the counts: BPF replay, callgrind
    python3 benchmarks/all.py --skip-run       # counts and the peer comparison only

Sections written (each replaced in RESULTS.md, the others left as they are):
bpf_replay.py (BPF instructions per syscall, pledgepy and libseccomp), callgrind_counts.py
(instructions in user space), compare.py (pledgepy against its peers, one interleaved
run), and unless --deterministic, run.py's own sections (per-syscall loops, pledge()'s
cost) and bench_unveil.py.  Timings want a quiet machine; the counts do not.

Needs: root (filters are read back with ptrace), gcc, valgrind; the peers where they are
to be measured: ``pip install pyseccomp landlock sandlock`` into the interpreter running
this, ``apt-get install python3-seccomp`` (for the system python3).  A peer that is
missing is reported as not run.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_syscalls  # noqa: E402
import bpf_replay  # noqa: E402
import callgrind_counts  # noqa: E402
import compare  # noqa: E402
import run  # noqa: E402

H_BPF = "## Deterministic: BPF instructions per syscall (replay of the installed filters)"
H_CG = "## Deterministic: instructions executed in user space (callgrind)"
H_CMP = "## pledgepy and its peers (one interleaved run)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deterministic", action="store_true", help="only the counts")
    parser.add_argument("--cg-runs", type=int, default=3, help="callgrind runs per program")
    parser.add_argument("--rounds", type=int, default=21, help="compare.py start-up rounds")
    parser.add_argument("--children", type=int, default=9, help="compare.py open() children")
    parser.add_argument("--skip-run", action="store_true",
                        help="leave out run.py and bench_unveil.py (their own sections)")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    command = "python3 benchmarks/all.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    head = [f"Date: {datetime.date.today().isoformat()}. Command: `{command.strip()}`. "
            f"{run.source_note()}.", f"Machine: {bench_syscalls.machine()}.", ""]
    sections: dict[str, list[str]] = {}

    print("bpf_replay ...", file=sys.stderr)
    sections[H_BPF] = head + bpf_replay.markdown(bpf_replay.collect(peers=True)) + [
        "", "The libseccomp columns are libseccomp's own compilation (export_bpf) of the "
        "same policy (peer_filters.py): binary tree (SCMP_FLTATR_CTL_OPTIMIZE=2) and the "
        "default layout. Cosmopolitan's pledge: not measured (no binary here)."]
    print("callgrind_counts ...", file=sys.stderr)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    counts, skipped = callgrind_counts.measure(args.cg_runs)
    sections[H_CG] = head + [
        f"Ir under `valgrind --tool=callgrind`, median of {args.cg_runs} runs of each "
        "`python -W ignore -c …` program (PYTHONHASHSEED=0, bytecode cached); a measure is "
        "the difference of two programs. seccomp(2) and Landlock's syscalls are answered "
        "by benchmarks/vg_shim.c (valgrind cannot run them); the kernel's work is not "
        "counted.", "", *callgrind_counts.report(counts, skipped)]
    if not args.deterministic:
        print("compare ...", file=sys.stderr)
        res = compare.measure(args.rounds, args.children, 20000)
        sections[H_CMP] = head + compare.report(res, compare.bpf_cells())
    out = [line for h, body in sections.items() for line in (h, "", *body, "")]
    print("\n".join(out))
    if args.no_write:
        return 0
    results = HERE / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    for h, body in sections.items():
        text = run.replace_section(text, h, "\n".join(body))
    results.write_text(text)
    if not (args.deterministic or args.skip_run):
        subprocess.run([sys.executable, str(HERE / "run.py"), "--append", "--unveil"],
                       check=True)
    print(f"written: {results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
