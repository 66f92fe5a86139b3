"""Run pledge()'s benchmarks and print the results as markdown (optionally into RESULTS.md).

    python3 benchmarks/run.py                  # print only
    python3 benchmarks/run.py --append         # also write the sections into benchmarks/RESULTS.md
    python3 benchmarks/run.py --unveil         # also run bench_unveil.py (its own section)

Runs benchmarks/bench_syscalls.py (per-syscall cost) and benchmarks/bench_pledge_call.py
(cost of pledge() itself and of a pledged interpreter's start-up).  ``--append`` replaces this
script's sections in RESULTS.md and leaves every other section as it is.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_pledge_call  # noqa: E402
import bench_syscalls  # noqa: E402

H_SYSCALLS = "## pledge(): per-syscall cost (seccomp-BPF)"
H_CALL = "## pledge(): cost of the call and of start-up"


def source_note() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "pledgepy"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "source: not a git checkout"
    return f"source: commit {head}" + (" with uncommitted changes in pledgepy/" if dirty else "")


def verdict_lines(verdicts: list[tuple[str, bool | None, str]]) -> list[str]:
    word = {True: "**met**", False: "**MISSED**", None: "**inconclusive**"}
    return [f"- {word[ok]} — {name}: {detail}" for name, ok, detail in verdicts]


def replace_section(text: str, heading: str, body: str) -> str:
    section = heading + "\n\n" + body.rstrip("\n") + "\n"
    if heading in text:
        start = text.index(heading)
        nxt = text.find("\n## ", start + len(heading))
        return text[:start] + section + (text[nxt:] if nxt != -1 else "")
    return text.rstrip("\n") + "\n\n" + section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="bench_syscalls: children/condition")
    parser.add_argument("--reps", type=int, default=3, help="bench_syscalls: reps per child")
    parser.add_argument("--scale", type=float, default=1.0, help="bench_syscalls: iterations ×")
    parser.add_argument("--children", type=int, default=21, help="bench_pledge_call: children")
    parser.add_argument("--wall", type=int, default=31, help="bench_pledge_call: python -c runs")
    parser.add_argument("--append", action="store_true", help="write into benchmarks/RESULTS.md")
    parser.add_argument("--unveil", action="store_true", help="also run bench_unveil.py")
    args = parser.parse_args()

    command = "python3 benchmarks/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    today = datetime.date.today().isoformat()
    head = [f"Date: {today}. Command: `{command.strip()}`. {source_note()}.",
            f"Machine: {bench_syscalls.machine()}. A noisy 2-core VM: differences of a few "
            "tens of ns are near the noise."]

    print("bench_syscalls ...", file=sys.stderr)
    sres = bench_syscalls.measure(args.runs, args.reps, args.scale)
    sres["cache"] = bench_syscalls.cache_note()
    s_lines, s_verdicts = bench_syscalls.report(sres)
    s_body = head + [
        "",
        f"C loops (benchmarks/syscall_loop.c, gcc -O2), ns per iteration; {args.runs} fresh "
        f"children per condition, {args.reps} reps of each loop per child, iterations per loop "
        f"{sres['iterations']}. Conditions: (a) unfiltered, (b) one-instruction allow-all filter, "
        "(c) `pledge(\"stdio rpath\")`, (d) `pledge()` of 12 promises then 10 narrowing calls "
        "down to \"stdio rpath\". Kernel cache column: benchmarks/seccomp_cache.py replays the "
        "kernel's cache emulation on the filters pledgepy compiles.",
        "See the spread table before trusting a ratio of two small differences.",
        "", *s_lines, "", "Targets (judged on the paired figures):", "",
        *verdict_lines(s_verdicts)]

    print("bench_pledge_call ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pledgepy-pyc-") as tmp:
        bench_pledge_call.ENV = bench_pledge_call.bytecode_env(tmp)
        cres = bench_pledge_call.measure(args.children, args.wall)
    c_lines, c_verdicts = bench_pledge_call.report(cres)
    c_body = head + ["", *c_lines, "", "Targets:", "", *verdict_lines(c_verdicts)]

    out = [H_SYSCALLS, "", *s_body, "", H_CALL, "", *c_body]
    print("\n".join(out))
    if args.unveil:
        cmd = [sys.executable, str(HERE / "bench_unveil.py")] + (["--append"] if args.append else [])
        subprocess.run(cmd, check=True, cwd=ROOT)
    if args.append:
        results = HERE / "RESULTS.md"
        text = results.read_text() if results.exists() else "# Benchmark results\n"
        text = replace_section(text, H_SYSCALLS, "\n".join(s_body))
        text = replace_section(text, H_CALL, "\n".join(c_body))
        results.write_text(text)
        print(f"written: {results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
