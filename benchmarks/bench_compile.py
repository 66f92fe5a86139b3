"""The BPF compile alone: the native compiler (native/bpf.c) against the Python one.

In one process, warm (plans built, each compiler run once first): the full filter of
``pledge("stdio rpath")`` and the delta of its narrowing to ``"stdio"``. Rounds alternate
the compilers (A/B/A/B...), each round timing a batch of compiles; the figure is the
median per compile over the rounds, with the 25th-75th percentile. The encoding alone
(Python) and the C call alone are timed the same way. callgrind_counts.py counts the
same work in instructions (10 compiles of each), which a busy machine does not disturb.

    python3 benchmarks/bench_compile.py [--rounds 41] [--batch 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable


def _per_call(fn: Callable[[], object], batch: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(batch):
        fn()
    return (time.perf_counter_ns() - t0) / batch / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    from pledgepy.backends.linux import native
    from pledgepy.backends.linux.seccomp import filter, kernel, plan

    mod = native.load()
    if mod is None:
        print(f"the native module is not built: {native.MISSING}", file=sys.stderr)
        return 1
    arch = kernel.arch() or "x86_64"
    full = plan.build(frozenset({"stdio", "rpath"}), arch)
    delta = plan.narrow(full, frozenset({"stdio"})).delta(full)
    code = filter.encode(full)
    kinds: dict[str, Callable[[], object]] = {
        "full, Python": lambda: filter.compile_python(full),
        "full, native": lambda: filter.compile_native(full, None, None, mod),
        "delta, Python": lambda: filter.compile_python(delta),
        "delta, native": lambda: filter.compile_native(delta, None, None, mod),
        "full: encoding alone": lambda: filter.encode(full),
        "full: the C call alone": lambda: filter.compile_encoded(code, mod),
    }
    for fn in kinds.values():
        fn()
    got: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for name, fn in kinds.items():
            got[name].append(_per_call(fn, args.batch))
    print(f"{len(full.actions)} numbers listed; full filter {len(filter.compile_plan(full)) // 8} "
          f"instructions, delta {len(filter.compile_plan(delta)) // 8}")
    print("| compile (warm) | µs per compile, median | 25th–75th |")
    print("|---|---|---|")
    for name, values in got.items():
        q = statistics.quantiles(values, n=4)
        print(f"| {name} | {statistics.median(values):.1f} | {q[0]:.1f}–{q[2]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
