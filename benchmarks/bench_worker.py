"""pledgepy.Worker: small-call round trip, libmagic in a worker vs in-process, start-up.

    python benchmarks/bench_worker.py [--reps 7] [--calls 2000]

Interleaved: each repetition measures every condition once, in turn; the
medians over repetitions are printed (a Markdown table for RESULTS.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pledgepy  # noqa: E402


def heads(n: int) -> list[bytes]:
    """2 KiB heads of real files of this machine (programs, libraries, text)."""
    out: list[bytes] = []
    for pattern in ("/usr/bin/*", "/usr/lib/x86_64-linux-gnu/*.so*", "/usr/share/doc/*/*",
                    "/etc/*"):
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, "rb") as f:
                    out.append(f.read(2048))
            except OSError:
                continue
            if len(out) >= n:
                return out
    return out


def per_second(fn: object, items: list[bytes]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)  # type: ignore[operator]
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--calls", type=int, default=2000)
    opts = ap.parse_args()
    import magic

    files = heads(500)
    rounds: dict[str, list[float]] = {k: [] for k in (
        "round trip (echo of 16 bytes), µs", "round trip with Limits(cpu=2.0), µs",
        "libmagic in-process, calls/s",
        "libmagic in a worker, calls/s", "spawn to first answer, ms",
        "fork to first answer, ms",
        "max_calls=1, calls/s")}
    echo = pledgepy.Worker("os", promises="stdio")
    timed = pledgepy.Worker("os", promises="stdio", limits=pledgepy.Limits(cpu=2.0))
    mw = pledgepy.Worker("magic", promises="stdio", setup="examples.libmagic_worker:warm_up")
    magic.from_buffer(b"")
    with echo, timed, mw:
        for _ in range(opts.reps):
            payload = [b"x" * 16] * opts.calls
            start = time.perf_counter()
            for p in payload:
                echo.call("fsencode", p)
            rounds["round trip (echo of 16 bytes), µs"].append(
                (time.perf_counter() - start) / opts.calls * 1e6)
            start = time.perf_counter()
            for p in payload:
                timed.call("fsencode", p)
            rounds["round trip with Limits(cpu=2.0), µs"].append(
                (time.perf_counter() - start) / opts.calls * 1e6)
            rounds["libmagic in-process, calls/s"].append(per_second(magic.from_buffer, files))
            rounds["libmagic in a worker, calls/s"].append(
                per_second(lambda b: mw.call("from_buffer", b), files))
            start = time.perf_counter()
            with pledgepy.Worker("os", promises="stdio") as w:
                w.call("getpid")
                rounds["spawn to first answer, ms"].append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            with pledgepy.Worker("os", promises="stdio", start="fork") as w:
                w.call("getpid")
                rounds["fork to first answer, ms"].append((time.perf_counter() - start) * 1e3)
            single = pledgepy.Worker("os", promises="stdio", max_calls=1)
            rounds["max_calls=1, calls/s"].append(per_second(
                lambda b, s=single: s.call("getpid"), files[:10]))
            single.close()
    print(f"Command: `python benchmarks/bench_worker.py --reps {opts.reps} --calls {opts.calls}`"
          f" ({len(files)} file heads); Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.\n")
    print("| measure | median |\n|---|---|")
    for name, values in rounds.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    ratio = statistics.median(rounds["libmagic in a worker, calls/s"]) / \
        statistics.median(rounds["libmagic in-process, calls/s"])
    print(f"\nlibmagic in a worker / in-process: {ratio:.2f}")


if __name__ == "__main__":
    main()
