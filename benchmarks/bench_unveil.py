"""Cost of unveil on Linux (Landlock): unveil + lock, and open+close under rules.

Each sample runs in a fresh child process (Landlock cannot be undone); the
report gives medians. Usage::

    python3 benchmarks/bench_unveil.py [--runs N] [--append]

``--append`` adds the results to benchmarks/RESULTS.md under "unveil (Landlock)".
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## unveil (Landlock)"

PRE = """
import json, os, sys, time, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
import pledgepy
"""

LOCK = """
paths = [os.path.join({dir!r}, f"f{{i}}") for i in range({n})]
from pledgepy.backends.linux.landlock import abi as landlock
tl = time.perf_counter_ns()
landlock.probe()  # loads the Landlock layer (cffi, pre-parsed declarations): once
t0 = time.perf_counter_ns()
if {many}:
    pledgepy.unveil_many([(p, "r") for p in paths])
else:
    for p in paths:
        pledgepy.unveil(p, "r")
ta = time.perf_counter_ns()
pledgepy.unveil(None, None)
t1 = time.perf_counter_ns()
print(json.dumps({{"ns": t1 - t0, "add": ta - t0, "load": t0 - tl,
                  "real": type(pledgepy.api.backend()).__name__ == "LinuxBackend"}}))
"""

OPEN = """
target = os.path.join({dir!r}, "f0")
if {rules}:
    for i in range({rules}):
        pledgepy.unveil(os.path.join({dir!r}, f"f{{i}}"), "r")
    pledgepy.unveil(None, None)
    assert pledgepy.status().unveil.in_force
for _ in range(1000):
    os.close(os.open(target, os.O_RDONLY))
t0 = time.perf_counter_ns()
for _ in range({loops}):
    os.close(os.open(target, os.O_RDONLY))
t1 = time.perf_counter_ns()
print(json.dumps({{"ns": (t1 - t0) / {loops}}}))
"""


def sample(code: str) -> dict[str, object]:
    """Run *code* in a new interpreter; return the JSON it prints."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(code: str, runs: int) -> float:
    return statistics.median(float(sample(code)["ns"]) for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="child processes per figure")
    parser.add_argument("--loops", type=int, default=20000, help="open+close pairs per child")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.landlock import abi as landlock

    abi = landlock.version()
    if abi == 0:
        print("no Landlock on this kernel: nothing to measure", file=sys.stderr)
        return 1
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(100):
            Path(tmp, f"f{i}").write_text("x")
        pre = PRE.format(root=str(ROOT))
        real = sample(pre + LOCK.format(dir=tmp, n=1, many=False))["real"]
        load = statistics.median(float(sample(pre + LOCK.format(dir=tmp, n=1, many=False))["load"])
                                 for _ in range(args.runs))
        rows.append(("load the Landlock layer (cffi, pre-parsed declarations; once per process)",
                     f"{load / 1e6:.2f} ms"))
        for n in (10, 100):
            ns = median_of(pre + LOCK.format(dir=tmp, n=n, many=False), args.runs)
            rows.append((f"unveil {n} paths + lock (layer loaded)", f"{ns / 1e6:.2f} ms"))
            for many in (False, True):  # the adding alone, without the lock
                add = statistics.median(
                    float(sample(pre + LOCK.format(dir=tmp, n=n, many=many))["add"])
                    for _ in range(args.runs))
                how = "unveil_many() of" if many else "unveil() of each of"
                rows.append((f"{how} {n} paths, before the lock", f"{add / 1e6:.2f} ms"))
        base = median_of(pre + OPEN.format(dir=tmp, rules=0, loops=args.loops), args.runs)
        rows.append(("open+close, no Landlock", f"{base:.0f} ns"))
        for rules in (1, 100):
            ns = median_of(pre + OPEN.format(dir=tmp, rules=rules, loops=args.loops), args.runs)
            rows.append((f"open+close, {rules} rule(s) in force", f"{ns:.0f} ns "
                         f"(ratio {ns / base:.2f})"))
    command = f"python3 benchmarks/bench_unveil.py --runs {args.runs} --loops {args.loops}"
    lines = [
        f"Machine: Linux {platform.release()} {platform.machine()}, Landlock ABI {abi}, "
        f"Python {platform.python_version()}; backend: "
        f"{'LinuxBackend' if real else 'test stand-in (unveil only)'}.",
        f"Command: `{command}` (medians of {args.runs} child processes; "
        f"open+close: {args.loops} pairs per child, on a file beneath the rules).",
        "",
        "| measure | median |",
        "|---|---|",
        *(f"| {a} | {b} |" for a, b in rows),
    ]
    print("\n".join(lines))
    if args.append:
        results = ROOT / "benchmarks" / "RESULTS.md"
        text = results.read_text() if results.exists() else "# Benchmark results\n"
        section = HEADING + "\n\n" + "\n".join(lines) + "\n"
        if HEADING in text:
            start = text.index(HEADING)
            nxt = text.find("\n## ", start + len(HEADING))
            text = text[:start] + section + (text[nxt:] if nxt != -1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        results.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
