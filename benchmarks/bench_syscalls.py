"""Per-syscall cost of pledge() on Linux, measured with C loops (benchmarks/syscall_loop.c).

Conditions, each in a fresh child process (enforcement cannot be undone):

  a  unfiltered
  b  a one-instruction allow-all seccomp filter (RET ALLOW): the floor any seccomp sandbox pays
  c  pledgepy.pledge("stdio rpath")
  d  eleven pledge() calls: one with 12 promises, then ten narrowing calls ending at "stdio rpath"

Syscall kinds: getppid; read (1 byte of /dev/zero); fstat (glibc: newfstatat(fd, "",
AT_EMPTY_PATH)); open+close O_RDONLY of a file three directories deep; mmap+munmap (anonymous,
4096 bytes, PROT_READ|PROT_WRITE).  Every child runs each loop --reps times (kinds interleaved)
and reports the median, first unfiltered (its own baseline), then under its condition.
Two views, both medians over --runs children per condition (conditions take turns in
rotating order):

* absolute: the filtered phase of each condition's children (no differences across
  conditions: children differ from one another by more than the 50-100 ns measured);
* paired: each child's filtered minus its own unfiltered phase, less the same difference
  in the unfiltered children (drift), with a bootstrap interval over children.  A cost
  whose interval includes 0 is printed as unresolved, ratios are formed only from
  resolved costs, and a target is judged only when the ratio's interval is on one side
  of it.  For exact per-syscall figures see bpf_replay.py (instructions executed).

Which syscalls the kernel's seccomp cache serves is computed by benchmarks/seccomp_cache.py.

Usage (from the repository root, after ``pip install -e .`` or not)::

    python3 benchmarks/bench_syscalls.py [--runs 7] [--reps 3] [--scale 1.0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONDITIONS = {
    "a": "unfiltered",
    "b": "allow-all filter",
    "c": 'pledge("stdio rpath")',
    "d": "10 narrowing calls",
}
KINDS = ("getppid", "read", "fstat", "open+close", "mmap+munmap")
# Iterations per loop at --scale 1 (each loop then takes roughly 10-50 ms here).
ITERATIONS = {"getppid": 200_000, "read": 200_000, "fstat": 100_000,
              "open+close": 20_000, "mmap+munmap": 30_000}
# What pledge("stdio rpath") does with the syscalls each loop makes (x86_64, glibc >= 2.33).
VERDICT = {
    "getppid": "unconditional",
    "read": "unconditional",
    "fstat": "unconditional under rpath (newfstatat)",
    "open+close": "argument-checked (openat flags); close unconditional",
    "mmap+munmap": "argument-checked (mmap prot); munmap unconditional",
}
TARGET = {"getppid": 1.1, "read": 1.1, "fstat": 1.1, "open+close": 1.5, "mmap+munmap": 1.5}
NARROWING_TARGET = 1.5
FIRST = ("stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc").split()
CHAIN = [" ".join(FIRST[: len(FIRST) - i]) for i in range(len(FIRST) - 1)]  # 12 ... 2 promises
assert CHAIN[-1] == "stdio rpath" and len(CHAIN) == 11

CHILD = r"""
import ctypes, json, os, statistics, sys, warnings
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["root"])
warnings.simplefilter("ignore")   # "dns" in the chain is partial; the final status is checked
import pledgepy

lib = ctypes.CDLL(cfg["lib"])
D, I, L = ctypes.c_double, ctypes.c_int, ctypes.c_long
for name, args in (("loop_getppid", [L]), ("loop_read", [I, L]), ("loop_fstat", [I, L]),
                   ("loop_open_close", [ctypes.c_char_p, L]), ("loop_mmap_munmap", [L])):
    getattr(lib, name).restype = D
    getattr(lib, name).argtypes = args
lib.install_allow_all.restype = I
zero = os.open("/dev/zero", os.O_RDONLY)
path = cfg["file"].encode()
loops = {
    "getppid": lambda n: lib.loop_getppid(n),
    "read": lambda n: lib.loop_read(zero, n),
    "fstat": lambda n: lib.loop_fstat(zero, n),
    "open+close": lambda n: lib.loop_open_close(path, n),
    "mmap+munmap": lambda n: lib.loop_mmap_munmap(n),
}

def filters():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Seccomp_filters:"):
                return int(line.split()[1])
    return None

def phase():
    samples = {k: [] for k in loops}
    for k, run in loops.items():                 # warm-up
        run(max(1, cfg["n"][k] // 10))
    for _ in range(cfg["reps"]):
        for k, run in loops.items():
            ns = run(cfg["n"][k])
            if ns < 0:
                raise OSError(int(-ns), f"{k}: {os.strerror(int(-ns))}")
            samples[k].append(ns)
    return {k: statistics.median(v) for k, v in samples.items()}

before = phase()                                 # this child's own unfiltered baseline
cond = cfg["cond"]
if cond == "b":
    rc = lib.install_allow_all()
    if rc != 0:
        raise OSError(-rc, os.strerror(-rc))
elif cond == "c":
    pledgepy.pledge("stdio rpath")
elif cond == "d":
    for promises in cfg["chain"]:
        pledgepy.pledge(promises)
if cond in "cd":
    st = pledgepy.status()
    assert st.level == "full" and st.promises == {"stdio", "rpath"}, st
nfilters = filters()
after = phase()
print(json.dumps({"before": before, "after": after, "filters": nfilters}))
"""


def build(tmp: Path) -> Path:
    """Compile syscall_loop.c into *tmp*; return the shared object's path."""
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise SystemExit(f"{cc} not found: a C compiler is needed (set CC)")
    out = tmp / "syscall_loop.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(HERE / "syscall_loop.c")],
                   check=True)
    return out


def check_backend() -> None:
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.seccomp import kernel as seccomp

    why = seccomp.unavailable()
    if why:
        raise SystemExit(f"pledge() cannot enforce here: {why}\n(build the SIGSYS handler: "
                         "python3 pledgepy/backends/linux/native/build.py)")


def child(cfg: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"condition {cfg['cond']} failed (exit {out.returncode}):\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int, reps: int, scale: float, progress: bool = True) -> dict[str, Any]:
    """Run every condition *runs* times; return medians and the raw per-child figures."""
    check_backend()
    n = {k: max(100, int(v * scale)) for k, v in ITERATIONS.items()}
    after: dict[str, dict[str, list[float]]] = {c: {k: [] for k in KINDS} for c in CONDITIONS}
    delta: dict[str, dict[str, list[float]]] = {c: {k: [] for k in KINDS} for c in CONDITIONS}
    nfilters: dict[str, set[object]] = {c: set() for c in CONDITIONS}
    conds = list(CONDITIONS)
    with tempfile.TemporaryDirectory(prefix="pledgepy-bench-") as tmpname:
        tmp = Path(tmpname)
        lib = build(tmp)
        deep = tmp / "d1" / "d2" / "d3"
        deep.mkdir(parents=True)
        target = deep / "file.txt"
        target.write_text("pledgepy\n")
        for i in range(runs):
            order = conds[i % len(conds):] + conds[: i % len(conds)]
            for c in order:
                res = child({"root": str(ROOT), "lib": str(lib), "file": str(target), "cond": c,
                             "chain": CHAIN, "n": n, "reps": reps})
                for k in KINDS:
                    after[c][k].append(float(res["after"][k]))
                    delta[c][k].append(float(res["after"][k]) - float(res["before"][k]))
                nfilters[c].add(res["filters"])
            if progress:
                print(f"  run {i + 1}/{runs} done", file=sys.stderr)
    med = {c: {k: statistics.median(after[c][k]) for k in KINDS} for c in CONDITIONS}
    # Paired: each child's change against its own unfiltered baseline, less the change seen
    # by the unfiltered children (a) themselves (drift between the two phases).
    paired = {c: {k: statistics.median(delta[c][k]) - statistics.median(delta["a"][k])
                  for k in KINDS} for c in CONDITIONS}
    return {"runs": runs, "reps": reps, "iterations": n, "median": med, "paired": paired,
            "after": after, "delta": delta,
            "filters": {c: sorted(map(str, v)) for c, v in nfilters.items()}}


CONFIDENCE = 0.95
_RESAMPLES = 2000


def _bootstrap(filtered: list[float], unfiltered: list[float]) -> list[float]:
    """Resampled estimates of median(filtered) - median(unfiltered), children resampled."""
    rng = random.Random(14)  # fixed: the same data gives the same interval
    med = statistics.median
    return [med(rng.choices(filtered, k=len(filtered)))
            - med(rng.choices(unfiltered, k=len(unfiltered))) for _ in range(_RESAMPLES)]


def _interval(values: list[float]) -> tuple[float, float]:
    """The central CONFIDENCE interval of *values*."""
    v = sorted(values)
    tail = (1 - CONFIDENCE) / 2
    return v[int(tail * len(v))], v[min(len(v) - 1, int((1 - tail) * len(v)))]


def _resolved(boot: list[float]) -> bool:
    lo, hi = _interval(boot)
    return lo > 0 or hi < 0


def _cost_cell(value: float, boot: list[float]) -> str:
    lo, hi = _interval(boot)
    if not _resolved(boot):
        return f"unresolved ({lo:+.0f}…{hi:+.0f})"
    return f"{value:+.0f} ({lo:+.0f}…{hi:+.0f})"


def _ratio_verdict(num: float, den: float, boot_num: list[float], boot_den: list[float],
                   target: float) -> tuple[float, bool | None, str]:
    """The ratio num/den, met/missed/None against *target*, and its table cell."""
    if not (_resolved(boot_num) and _resolved(boot_den)) or den <= 0:
        return float("nan"), None, "—"
    ratios = [n / d for n, d in zip(boot_num, boot_den, strict=True) if d > 0]
    if len(ratios) < len(boot_den) * CONFIDENCE:
        return float("nan"), None, "—"
    lo, hi = _interval(ratios)
    ok = True if hi <= target else False if lo > target else None
    return num / den, ok, f"{num / den:.2f} ({lo:.2f}…{hi:.2f})"


def _word(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "inconclusive"}[ok]


def _spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
    return f"{q[0]:.0f}–{q[2]:.0f}"


def report(res: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool | None, str]]]:
    """Markdown lines for *res*, and (target, met, detail) verdicts (on the paired figures)."""
    med, paired = res["median"], res["paired"]
    a, b, c, d = (med[x] for x in "abcd")
    lines = [
        "Absolute cost, ns per iteration (median over children of each child's filtered phase):",
        "",
        "| syscall (loop) | (a) unfiltered | (b) allow-all | (c) pledge | (d) 10× narrowed |",
        "|---|---|---|---|---|",
    ]
    # Differences across children are not printed: children differ from one another by
    # more than the tens of ns being measured (only the paired view below can see them).
    for k in KINDS:
        lines.append(f"| {k} | {a[k]:.0f} | {b[k]:.0f} | {c[k]:.0f} | {d[k]:.0f} |")
    lines += [
        "",
        "Added cost, paired (each child measures itself unfiltered first, then under its "
        "condition; median of the differences, less the unfiltered children's own drift), ns, "
        f"with its {int(CONFIDENCE * 100)} % bootstrap interval over children. A figure whose "
        "interval includes 0 is **unresolved** (below what this run can see) and no ratio is "
        "formed from it; a target is judged only when the ratio's whole interval is on one "
        "side of it. benchmarks/bpf_replay.py counts the filters' instructions exactly.",
        "",
        "| syscall (loop) | kernel cache under pledge | (b) allow-all | (c) pledge "
        "| (d) 10× narrowed | (c)/(b) | target | (d)/(c) | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts: list[tuple[str, bool | None, str]] = []
    cache = res.get("cache", {})
    delta = res["delta"]
    for k in KINDS:
        boot = {x: _bootstrap(delta[x][k], delta["a"][k]) for x in "bcd"}
        cells = {x: _cost_cell(paired[x][k], boot[x]) for x in "bcd"}
        r_c, ok_c, cell_c = _ratio_verdict(paired["c"][k], paired["b"][k], boot["c"], boot["b"],
                                           TARGET[k])
        r_d, ok_d, cell_d = _ratio_verdict(paired["d"][k], paired["c"][k], boot["d"], boot["c"],
                                           NARROWING_TARGET)
        lines.append(f"| {k} | {cache.get(k, '?')} | {cells['b']} | {cells['c']} | {cells['d']} "
                     f"| {cell_c} | ≤ {TARGET[k]} {_word(ok_c)} "
                     f"| {cell_d} | ≤ {NARROWING_TARGET} {_word(ok_d)} |")
        verdicts.append((f"{k}: pledge added cost ≤ {TARGET[k]}× allow-all's", ok_c,
                         f"paired {cell_c} ({VERDICT[k]})"))
        verdicts.append((f"{k}: 10× narrowed added cost ≤ {NARROWING_TARGET}× single pledge's",
                         ok_d, f"paired {cell_d}"))
    lines += ["", "Spread across children (25th–75th percentile), ns: absolute (a) | "
              "paired difference (a) (b) (c) (d):", "",
              "| syscall | (a) absolute | (a) diff | (b) diff | (c) diff | (d) diff |",
              "|---|---|---|---|---|---|"]
    for k in KINDS:
        lines.append(f"| {k} | {_spread(res['after']['a'][k])} | "
                     + " | ".join(_spread(res["delta"][x][k]) for x in "abcd") + " |")
    f = res["filters"]
    lines += ["", "Seccomp filters stacked (/proc/self/status Seccomp_filters): "
              + ", ".join(f"({x}) {'/'.join(f[x])}" for x in "abcd") + "."]
    return lines, verdicts


def cache_note() -> dict[str, str]:
    """Per loop: whether the kernel's seccomp cache serves its syscalls under pledge."""
    sys.path.insert(0, str(HERE))
    import seccomp_cache

    per = {"getppid": ["getppid"], "read": ["read"], "fstat": ["newfstatat"],
           "open+close": ["openat", "close"], "mmap+munmap": ["mmap", "munmap"]}
    one = seccomp_cache.cached(seccomp_cache.pledge_programs(["stdio rpath"]),
                               sum(per.values(), []))
    chain = seccomp_cache.cached(seccomp_cache.pledge_programs(CHAIN), sum(per.values(), []))
    out = {}
    for k, names in per.items():
        parts = [f"{s} {'cached' if one[s] else 'filter runs'}"
                 + ("" if one[s] == chain[s] else " (differs when narrowed)") for s in names]
        out[k] = ", ".join(parts)
    return out


def machine() -> str:
    jit = Path("/proc/sys/net/core/bpf_jit_enable")
    ssb = Path("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"Linux {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), "
            f"glibc {platform.libc_ver()[1]}, Python {platform.python_version()}; "
            f"bpf_jit_enable={jit.read_text().strip() if jit.exists() else '?'}; "
            f"spec_store_bypass: {ssb.read_text().strip() if ssb.exists() else '?'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="child processes per condition")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each loop per child")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the iteration counts")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    res = measure(args.runs, args.reps, args.scale)
    res["cache"] = cache_note()
    lines, verdicts = report(res)
    print(machine())
    print(f"iterations per loop: {res['iterations']}; {args.runs} children per condition, "
          f"{args.reps} reps per child; ns per iteration, medians")
    print("\n".join(lines))
    print()
    for name, ok, detail in verdicts:
        print(f"- {_word(ok).upper()} {name}: {detail}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
