"""pledgepy against its peers, timed in one interleaved run (workloads.py's programs).

* start-up: wall time of ``python -c <program>`` less that of ``python -c pass`` run
  just before it (same interpreter), median over --rounds rounds, programs in a rotating
  order each round;
* apply: the program's own perf_counter_ns around the apply (after import), median;
* open(): ns per ``os.close(os.open(file))`` in a Python loop of --loops, in fresh
  children under each condition (a file beneath the rules), median over --children,
  conditions in rotating order; less the unrestricted children's median.

Timings on a shared machine are noisy; the spread (25th–75th percentile) is printed next
to each median.  The per-syscall BPF column comes from bpf_replay.py (deterministic).

    python3 benchmarks/compare.py [--rounds 21] [--children 9] [--loops 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

#: table row -> (start-up program, its baseline, open() condition or None, BPF stack name).
ROWS = {
    "pledgepy": ("pledgepy pledge", "pass", "pledgepy unveil+pledge", "single"),
    "pledgepy unveil (10 paths + lock)": ("pledgepy unveil", "pass", "pledgepy unveil", None),
    "pyseccomp (PyPI; libseccomp, tree)": ("pyseccomp tree", "pass", "pyseccomp+landlock",
                                           "libseccomp tree"),
    "pyseccomp (default layout)": ("pyseccomp default", "pass", None, "libseccomp default"),
    "python3-seccomp (Debian; system python3; tree)": ("python3-seccomp tree", "system pass",
                                                       None, "libseccomp tree"),
    "landlock (PyPI)": ("landlock", "pass", "landlock", None),
    "sandlock (PyPI)": ("sandlock", "pass", "sandlock", None),
}
OPEN_FILE = next((p for p in ("/usr/lib/os-release", "/etc/hostname", "/etc/passwd")
                  if os.path.isfile(p)), "/etc/passwd")

_PATHS = repr(workloads.PATHS)
_UNVEIL = "".join(f"pledgepy.unveil({p!r}, 'r')\n" for p in workloads.PATHS)
#: open() condition -> setup code run before the loop.
CONDITIONS = {
    "unrestricted": "",
    "pledgepy unveil": "import pledgepy\n" + _UNVEIL + "pledgepy.unveil(None, None)\n",
    "pledgepy unveil+pledge": ("import pledgepy\n" + _UNVEIL + "pledgepy.unveil(None, None)\n"
                               "pledgepy.pledge('stdio rpath')\n"),
    "landlock": f"import landlock\nr = landlock.Ruleset()\nr.allow(*{_PATHS})\nr.apply()\n",
    "sandlock": f"import sandlock\nsandlock.confine(sandlock.Sandbox(fs_readable={_PATHS}))\n",
    "pyseccomp+landlock": None,  # built from workloads' pyseccomp program, below
}
LOOP = """
import os, time
best = []
for _ in range(3):
    t = time.perf_counter_ns()
    for _ in range({n}):
        os.close(os.open({path!r}, os.O_RDONLY | os.O_CLOEXEC))
    best.append((time.perf_counter_ns() - t) / {n})
best.sort()
print(f"ns={{best[1]}}")
"""


def _condition_code(name: str) -> str:
    code = CONDITIONS[name]
    if code is None:  # libseccomp's tree filter of the policy, then Landlock's rules
        argv = workloads.program("pyseccomp tree")
        code = argv[-1] + str(CONDITIONS["landlock"])
    return code


def _ns(out: str) -> float:
    for line in out.splitlines():
        if line.startswith("ns="):
            return float(line[3:])
    raise RuntimeError(f"no ns= in {out!r}")


ENV: dict[str, str] = dict(os.environ)


def _wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=ENV)
    return (time.perf_counter() - t) * 1e3


def spread(values: list[float], fmt: str = ".1f") -> str:
    if len(values) < 2:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:{fmt}}–{q[2]:{fmt}}"


def measure(rounds: int, children: int, loops: int) -> dict[str, object]:
    global ENV
    with tempfile.TemporaryDirectory(prefix="pledgepy-cmp-") as tmp:
        ENV = workloads.env(tmp)
        return _measure(rounds, children, loops)


def _measure(rounds: int, children: int, loops: int) -> dict[str, object]:
    progs = sorted({p for p, _, _, _ in ROWS.values()} | {b for _, b, _, _ in ROWS.values()})
    skipped = {p: why for p in progs if (why := workloads.available(p)) is not None}
    progs = [p for p in progs if p not in skipped]
    timed = [p for p in progs if not p.endswith("pass")]
    argv = {p: workloads.program(p) for p in progs}
    rep = {p: workloads.program(p, report=True) for p in timed}
    startup: dict[str, list[float]] = {p: [] for p in timed}
    apply: dict[str, list[float]] = {p: [] for p in timed}
    for p in progs:  # warm the bytecode caches
        subprocess.run(argv[p], capture_output=True, env=ENV)
    base_of = {p: b for p, b, _, _ in ROWS.values()}
    for r in range(rounds):
        for p in timed[r % len(timed):] + timed[:r % len(timed)]:
            base = _wall(argv[base_of[p]])
            startup[p].append(_wall(argv[p]) - base)
        for p in timed:
            out = subprocess.run(rep[p], check=True, capture_output=True, text=True,
                                 env=ENV).stdout
            apply[p].append(_ns(out) / 1e6)
    conds = ["unrestricted"] + [c for _, _, c, _ in ROWS.values() if c is not None]
    opens: dict[str, list[float]] = {c: [] for c in conds}
    py = workloads.interpreter("venv")
    for r in range(children):
        for c in conds[r % len(conds):] + conds[:r % len(conds)]:
            code = _condition_code(c) + LOOP.format(n=loops, path=OPEN_FILE)
            child = subprocess.run([py, "-W", "ignore", "-c", code], capture_output=True,
                                   text=True, env=ENV)
            if child.returncode == 0:
                opens[c].append(_ns(child.stdout))
            else:
                skipped[c] = (child.stderr.strip().splitlines() or ["failed"])[-1]
    return {"startup": startup, "apply": apply, "open": opens, "skipped": skipped,
            "rounds": rounds, "children": children, "loops": loops}


def bpf_cells() -> dict[str, str]:
    """Per BPF stack name: instructions for openat O_RDONLY / mmap PROT_READ / ioctl TCGETS."""
    import bpf_replay
    import peer_filters

    stacks = {"single": bpf_replay.filters_of(bpf_replay.SCENARIOS["single"]),
              **peer_filters.programs()}
    calls = [c for c in bpf_replay.CALLS
             if c[0] in ("openat O_RDONLY", "mmap PROT_READ (file)", "ioctl TCGETS", "getppid")]
    out = {}
    for name, stack in stacks.items():
        out[name] = " / ".join(str(bpf_replay.replay(stack, bpf_replay.NR[sc], a)[0])
                               for _, sc, a in calls)
    return out


def report(res: dict[str, object], bpf: dict[str, str]) -> list[str]:
    startup, apply, opens = res["startup"], res["apply"], res["open"]
    skipped = res["skipped"]
    assert isinstance(startup, dict) and isinstance(apply, dict) and isinstance(opens, dict)
    assert isinstance(skipped, dict)
    base_open = opens.get("unrestricted") or [float("nan")]
    b = statistics.median(base_open)
    lines = [
        "| tool | start-up over `python -c pass` (import + apply), ms | apply in-process, ms "
        "| BPF instructions: openat O_RDONLY / mmap PROT_READ / ioctl TCGETS / getppid "
        "| open()+close() under its rules, ns (over unrestricted) |",
        "|---|---|---|---|---|"]
    for tool, (prog, _, cond, stack) in ROWS.items():
        if prog in skipped:
            lines.append(f"| {tool} | not run: {skipped[prog]} | | | |")
            continue
        s, a = startup[prog], apply[prog]
        cell_open = "—"
        if cond is not None and cond in skipped:
            cell_open = f"failed: {skipped[cond]}"
        elif cond is not None and opens.get(cond):
            o = opens[cond]
            cell_open = f"{statistics.median(o):.0f} ({statistics.median(o) - b:+.0f}; {spread(o, '.0f')})"
        lines.append(f"| {tool} | {statistics.median(s):+.1f} ({spread(s)}) "
                     f"| {statistics.median(a):.2f} ({spread(a, '.2f')}) "
                     f"| {bpf.get(stack, '—') if stack else 'no seccomp filter'} | {cell_open} |")
    lines += ["", "open() conditions: pledgepy: unveil of the ten directories, lock, then "
              "`pledge(\"stdio rpath\")` (seccomp + Landlock); pledgepy unveil: the unveil "
              "and lock only; pyseccomp: its tree filter of the same policy plus landlock "
              "(PyPI) rules for the same directories; landlock, sandlock (`confine`): their "
              "rules alone. Apply in-process: after import — pledge() (backend load "
              "included); unveil + lock; libseccomp rules built and loaded; Ruleset + apply; "
              "confine().",
              "", f"open()+close() unrestricted: {b:.0f} ns ({spread(base_open, '.0f')}); "
              f"file {OPEN_FILE}, beneath the rules ({', '.join(workloads.PATHS)}, read). "
              f"{res['rounds']} rounds of start-up, {res['children']} children per open() "
              f"condition, {res['loops']} open+close per loop (median of 3 loops per child). "
              "In brackets: 25th–75th percentile."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--children", type=int, default=9)
    parser.add_argument("--loops", type=int, default=20000)
    args = parser.parse_args()
    res = measure(args.rounds, args.children, args.loops)
    print("\n".join(report(res, bpf_cells())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
