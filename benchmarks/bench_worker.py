"""pledgepy.Worker: round trip, libmagic (worker, Pyro5, multiprocessing, in-process),
start-up, max_calls=1 and the worker's memory.

    python benchmarks/bench_worker.py [--reps 7] [--calls 2000]
    python benchmarks/bench_worker.py --spin-only [--reps 7] [--calls 2000]
    python benchmarks/bench_worker.py --start-only [--reps 9] [--starts 8] [--compare TREE]

Needs the ``bench`` extra (python-magic over the system libmagic, Pyro5), except
``--start-only``: start to first answer from a small caller (a fresh interpreter that
imports only pledgepy) for ``start="fork"`` and ``"spawn"``, in --reps callers of
--starts starts each; with ``--compare TREE`` the same against another checkout (its
``.venv/bin/python``), the two alternating caller by caller.
``call()`` is measured with the default ``spin`` and with ``spin=0`` (no polling
before blocking), alternating; ``--spin-only`` measures only those rows.
Interleaved: each repetition measures every condition once, in turn; the
medians over repetitions are printed (a Markdown table for RESULTS.md).
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pledgepy  # noqa: E402

WARM_UP = "examples.libmagic_worker:warm_up"


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


def per_second(fn: Callable[[bytes], object], items: list[bytes]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def all_per_second(fn: Callable[[list[bytes]], object], items: list[bytes]) -> float:
    start = time.perf_counter()
    fn(items)
    return len(items) / (time.perf_counter() - start)


def worker_cpu(w: pledgepy.Worker) -> float:
    """CPU seconds (user + system) the worker process has used so far."""
    assert w.pid is not None
    return time.clock_gettime(((~w.pid) << 3) | 2)  # the kernel's CPU clock of a process


def cpu_clocks(w: pledgepy.Worker, since: float = 0.0) -> float:
    """This thread's CPU seconds plus the worker's, minus *since*: counts that the
    other jobs of a shared machine disturb less than the wall clock."""
    return time.thread_time() + worker_cpu(w) - since


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB, from /proc/<pid>/smaps_rollup."""
    found = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                found[key] = int(rest.split()[0])
    return found["Rss"], found["Pss"]


# ---- the comparisons: the same libmagic call through Pyro5 and a multiprocessing Pool ----
class PyroMagic:
    """What the article's Pyro5 service exposes."""

    def from_buffer(self, data: Any) -> str:
        import magic

        if isinstance(data, dict):  # serpent sends bytes as base64 text
            import serpent

            data = serpent.tobytes(data)
        return str(magic.from_buffer(data))


def pyro_server(path: str) -> None:
    import magic
    from Pyro5 import api

    magic.from_buffer(b"")
    daemon = api.Daemon(unixsocket=path)
    daemon.register(api.expose(PyroMagic), "magic")
    print("ready", flush=True)
    daemon.requestLoop()


def _mp_init() -> None:
    import magic

    magic.from_buffer(b"")


def _mp_from_buffer(data: bytes) -> str:
    import magic

    return str(magic.from_buffer(data))


#: One small caller: *starts* workers of each start method, each called once; per start
#: (method, wall ms, the worker's CPU ms to its answer, the caller's CPU ms).
#: Printed as text (json would load re, enum and more: each an unveil rule of a fork).
_CALLER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import pledgepy
out = []
for i in range(int(sys.argv[2])):
    for how in ("fork", "spawn"):
        p0, t0 = time.process_time(), time.perf_counter()
        with pledgepy.Worker("os", promises="stdio", start=how) as w:
            w.call("getpid")
            wall, mine = time.perf_counter() - t0, time.process_time() - p0
            worker = time.clock_gettime(((~w.pid) << 3) | 2)
        out.append(f"{how} {i} {wall * 1e3} {worker * 1e3} {mine * 1e3}")
print("\\n".join(out))
"""


def start_only(reps: int, starts: int, compare: str | None) -> None:
    """Start to first answer from small callers, this tree against *compare*, alternating."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    trees = {"this tree": (sys.executable, here)}
    if compare:
        trees["compared"] = (os.path.join(compare, ".venv", "bin", "python"), compare)
    got: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(reps):
        for name, (python, tree) in trees.items():
            out = subprocess.run([python, "-c", _CALLER, tree, str(starts)], check=True,
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                how, n, *times = line.split()
                wall, worker, mine = map(float, times)
                which = "first" if n == "0" else "later"
                for what, value in (("wall", wall), ("worker CPU", worker),
                                    ("caller CPU", mine)):
                    got.setdefault((name, f"{how}, {which} start", what), []).append(value)
    print(f"Command: `python benchmarks/bench_worker.py --start-only --reps {reps} "
          f"--starts {starts}{' --compare TREE' if compare else ''}`; Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}.\n")
    names = list(trees)
    print("| start | measure, ms (median) | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for how in ("fork", "spawn"):
        for which in ("first", "later"):
            for what in ("wall", "worker CPU", "caller CPU"):
                cells = [statistics.median(got[(n, f"{how}, {which} start", what)])
                         for n in names]
                print(f"| {how}, {which} start | {what} | "
                      + " | ".join(f"{c:.1f}" for c in cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--start-only", action="store_true")
    ap.add_argument("--spin-only", action="store_true",
                    help="only the rows of call() with the default spin and spin=0")
    ap.add_argument("--starts", type=int, default=8)
    ap.add_argument("--compare", help="another checkout, with its .venv (--start-only)")
    ap.add_argument("--pyro-server", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.pyro_server:
        pyro_server(opts.pyro_server)
        return
    if opts.start_only:
        start_only(opts.reps, opts.starts, opts.compare)
        return
    import magic

    files = heads(500)
    magic.from_buffer(b"")
    rounds: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rounds.setdefault(name, []).append(value)

    # the same workers, with the default spin and with spin=0, measured alternately
    spins = {"default spin": {}, "spin=0": {"spin": 0.0}}
    echoes = {k: pledgepy.Worker("os", promises="stdio", **v) for k, v in spins.items()}
    magics = {k: pledgepy.Worker("magic", promises="stdio", setup=WARM_UP, **v)
              for k, v in spins.items()}
    payload = [b"x" * 16] * opts.calls

    def spin_rows(rep: int) -> None:
        order = list(spins) if rep % 2 == 0 else list(reversed(spins))
        for key in order:
            start = time.perf_counter()
            for p in payload:
                echoes[key].call("fsencode", p)
            add(f"round trip (echo of 16 bytes), {key}, µs",
                (time.perf_counter() - start) / opts.calls * 1e6)
        cpu = time.thread_time()
        add("libmagic in-process, calls/s", per_second(magic.from_buffer, files))
        add("libmagic in-process: CPU per call, µs",
            (time.thread_time() - cpu) / len(files) * 1e6)
        for key in order:
            mw = magics[key]
            mine, theirs = time.thread_time(), worker_cpu(mw)
            add(f"libmagic in a worker, call(), {key}, calls/s",
                per_second(lambda b, mw=mw: mw.call("from_buffer", b), files))
            mine, theirs = time.thread_time() - mine, worker_cpu(mw) - theirs
            add(f"libmagic call(), {key}: parent CPU per call, µs", mine / len(files) * 1e6)
            add(f"libmagic call(), {key}: worker CPU per call, µs", theirs / len(files) * 1e6)
            add(f"libmagic call(), {key}: parent + worker CPU per call, µs",
                (mine + theirs) / len(files) * 1e6)

    for w in [*echoes.values(), *magics.values()]:
        w.start()
    try:
        if opts.spin_only:
            for rep in range(opts.reps):
                spin_rows(rep)
            memory: dict[str, tuple[int, int]] = {}
        else:
            memory = full(opts, files, spin_rows, magics["default spin"], add)
    finally:
        for w in [*echoes.values(), *magics.values()]:
            w.close()
    print(f"Command: `python benchmarks/bench_worker.py --reps {opts.reps} --calls {opts.calls}"
          f"{' --spin-only' if opts.spin_only else ''}` ({len(files)} file heads); Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f} "
          "at the end.\n")
    print("| measure | median |\n|---|---|")
    for name, values in rounds.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    inproc = statistics.median(rounds["libmagic in-process, calls/s"])
    own = statistics.median(rounds["libmagic in-process: CPU per call, µs"])
    print("\n| ratio | median |\n|---|---|")
    for key in spins:
        mine = statistics.median(rounds[f"libmagic in a worker, call(), {key}, calls/s"])
        print(f"| worker call(), {key} / in-process | {mine / inproc:.2f} |")
        both = statistics.median(rounds[f"libmagic call(), {key}: parent + worker CPU per "
                                        "call, µs"])
        print(f"| in-process CPU / worker call(), {key}, CPU (both processes) | "
              f"{own / both:.2f} |")
    if opts.spin_only:
        return
    for name in ("call(), default spin", "map()"):
        mine = statistics.median(rounds[f"libmagic in a worker, {name}, calls/s"])
        if name == "map()":
            print(f"| worker {name} / in-process | {mine / inproc:.2f} |")
        for other in ("Pyro5", "multiprocessing Pool.apply", "multiprocessing Pool.map"):
            theirs = statistics.median(rounds[f"libmagic through {other}, calls/s"])
            print(f"| worker {name} / {other} | {mine / theirs:.2f} |")
    both = statistics.median(rounds["libmagic map(): parent + worker CPU per call, µs"])
    print(f"| in-process CPU / worker map() CPU (both processes) | {own / both:.2f} |")
    print("\n| process | RSS KiB | PSS KiB |\n|---|---|---|")
    for name, (rss, pss) in memory.items():
        print(f"| {name} | {rss} | {pss} |")


def full(opts: argparse.Namespace, files: list[bytes], spin_rows: Callable[[int], None],
         mw: pledgepy.Worker, add: Callable[[str, float], None]) -> dict[str, tuple[int, int]]:
    """Every row: the spin rows, map(), Pyro5, multiprocessing, start-up, max_calls=1;
    the memory of the processes."""
    import magic
    from Pyro5 import api

    timed = pledgepy.Worker("os", promises="stdio", limits=pledgepy.Limits(cpu=2.0))
    sock = os.path.join(tempfile.mkdtemp(), "pyro.sock")
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--pyro-server", sock],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    proxy = api.Proxy(f"PYRO:magic@./u:{sock}")
    pool = multiprocessing.get_context("spawn").Pool(1, initializer=_mp_init)
    try:
        with timed:
            assert mw.map("from_buffer", files) == [magic.from_buffer(b) for b in files] == \
                [proxy.from_buffer(b) for b in files] == pool.map(_mp_from_buffer, files)
            payload = [b"x" * 16] * opts.calls
            for rep in range(opts.reps):
                spin_rows(rep)
                start = time.perf_counter()
                for p in payload:
                    timed.call("fsencode", p)
                add("round trip with Limits(cpu=2.0), default spin, µs",
                    (time.perf_counter() - start) / opts.calls * 1e6)
                cpu = cpu_clocks(mw)
                add("libmagic in a worker, map(), calls/s",
                    all_per_second(lambda items: mw.map("from_buffer", items), files))
                add("libmagic map(): parent + worker CPU per call, µs",
                    cpu_clocks(mw, cpu) / len(files) * 1e6)
                add("libmagic through Pyro5, calls/s", per_second(proxy.from_buffer, files))
                add("libmagic through multiprocessing Pool.apply, calls/s",
                    per_second(lambda b: pool.apply(_mp_from_buffer, (b,)), files))
                add("libmagic through multiprocessing Pool.map, calls/s",
                    all_per_second(lambda items: pool.map(_mp_from_buffer, items), files))
                for how in ("spawn", "fork"):
                    start = time.perf_counter()
                    with pledgepy.Worker("os", promises="stdio", start=how) as w:
                        w.call("getpid")
                        add(f"{how} to first answer, ms", (time.perf_counter() - start) * 1e3)
                        add(f"{how}: worker CPU to ready, ms", worker_cpu(w) * 1e3)
                single = pledgepy.Worker("os", promises="stdio", max_calls=1)
                add("max_calls=1, calls/s", per_second(lambda b, s=single: s.call("getpid"),
                                                       files[:10]))
                single.close()
            assert mw.pid is not None
            pool_pid = pool._pool[0].pid  # type: ignore[attr-defined]
            return {"pledgepy worker (libmagic loaded)": memory_kib(mw.pid),
                    "Pyro5 server (libmagic loaded)": memory_kib(server.pid),
                    "multiprocessing Pool process (libmagic loaded)": memory_kib(pool_pid)}
    finally:
        pool.terminate()
        proxy._pyroRelease()
        server.kill()
        server.wait()

if __name__ == "__main__":
    main()
