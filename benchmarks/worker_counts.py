"""Counts per call of pledgepy.Worker's call path, next to libmagic in-process.

    python benchmarks/worker_counts.py [--reps 5] [--tree CHECKOUT]

Counts first (what a busy machine disturbs least): per call, each process's
syscalls, context switches, CPU migrations and page faults (``perf stat``
software events, when perf can count them; else context switches and minor faults
from /proc), then CPU time: libmagic's own, measured inside the worker around each
call (benchmarks/timed_magic.py) and around one call doing every head back to back,
against the same in-process; each process's CPU per call; and the time each was
runnable but waiting for a CPU (/proc/.../schedstat), next to the wall time.
Interleaved, medians over --reps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if "--tree" in sys.argv[:-1]:  # another checkout's pledgepy, before anything imports it
    sys.path.insert(0, os.path.abspath(sys.argv[sys.argv.index("--tree") + 1]))
sys.path.insert(1 if "--tree" in sys.argv[:-1] else 0, HERE)

import pledgepy  # noqa: E402
from benchmarks import timed_magic  # noqa: E402
from benchmarks.bench_worker import WARM_UP, heads, worker_cpu  # noqa: E402

MODULE = "benchmarks.timed_magic"
EVENTS = ("raw_syscalls:sys_enter", "context-switches", "cpu-migrations", "page-faults")
NAMES = {"raw_syscalls:sys_enter": "syscalls", "context-switches": "context switches",
         "cpu-migrations": "CPU migrations", "page-faults": "page faults"}


def _perf_works() -> bool:
    if shutil.which("perf") is None:
        return False
    probe = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(EVENTS), "true"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "not supported" not in probe.stderr \
        and "<not counted>" not in probe.stderr


def _schedstat(path: str) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) from /proc/.../schedstat."""
    with open(path) as f:
        run, wait, _ = f.read().split()
    return int(run), int(wait)


def _proc(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out = {"page faults": int(fields[7])}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                out["context switches"] = out.get("context switches", 0) + int(value)
    return out


class Counter:
    """Per-call counts of a set of processes over a block of calls."""

    def __init__(self, pids: dict[str, int], perf: bool) -> None:
        self.pids, self.perf = pids, perf
        self.runs: dict[str, subprocess.Popen[bytes]] = {}
        self.files: dict[str, str] = {}
        self.before: dict[str, dict[str, int]] = {}

    def __enter__(self) -> Counter:
        for who, pid in self.pids.items():
            if self.perf:
                fd, path = tempfile.mkstemp(suffix=".perf")
                os.close(fd)
                self.files[who] = path
                self.runs[who] = subprocess.Popen(
                    ["perf", "stat", "-x", ",", "-e", ",".join(EVENTS), "-p", str(pid),
                     "-o", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                self.before[who] = _proc(pid)
        if self.perf:
            time.sleep(0.3)  # perf attaches
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self.runs.values():
            run.send_signal(2)
            run.wait()

    def per_call(self, calls: int) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for who, pid in self.pids.items():
            got: dict[str, float] = {}
            if self.perf:
                with open(self.files[who]) as f:
                    for line in f:
                        parts = line.strip().split(",")
                        if len(parts) > 2 and parts[2] in NAMES and parts[0].isdigit():
                            got[NAMES[parts[2]]] = int(parts[0]) / calls
                os.unlink(self.files[who])
            else:
                after = _proc(pid)
                got = {k: (after[k] - self.before[who][k]) / calls for k in after}
            out[who] = got
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tree", help="count another checkout's pledgepy (its worker code too)")
    opts = ap.parse_args()
    import magic

    files = heads(500)
    timed_magic.warm_up()
    perf = _perf_works()
    spins = {"default spin": {}, "spin=0": {"spin": 0.0}}
    # counted: python-magic itself (no clock reads of ours); timed: benchmarks/timed_magic.py
    magics = {k: pledgepy.Worker("magic", promises="stdio", setup=WARM_UP, **v)
              for k, v in spins.items()}
    timed = {k: pledgepy.Worker(MODULE, promises="stdio", setup=f"{MODULE}:warm_up", **v)
             for k, v in spins.items()}
    echoes = {k: pledgepy.Worker("os", promises="stdio", **v) for k, v in spins.items()}
    counts: dict[tuple[str, str, str], list[float]] = {}
    cpu: dict[str, list[float]] = {}
    me = os.getpid()

    def count(what: str, pids: dict[str, int], calls: int, run: Callable[[], object]) -> None:
        with Counter(pids, perf) as c:
            run()
        for who, got in c.per_call(calls).items():
            for name, value in got.items():
                counts.setdefault((what, who, name), []).append(value)

    def add(name: str, value: float) -> None:
        cpu.setdefault(name, []).append(value)

    for w in [*magics.values(), *timed.values(), *echoes.values()]:
        w.start()
    try:
        for w in [*magics.values(), *timed.values()]:  # the first calls load what they load
            for head in files:
                w.call("from_buffer", head)
        for _ in range(opts.reps):
            count("libmagic in-process", {"this process": me}, len(files),
                  lambda: [magic.from_buffer(h) for h in files])
            for key, w in magics.items():
                count(f"libmagic call(), {key}", {"parent": me, "worker": w.pid or 0},
                      len(files), lambda w=w: [w.call("from_buffer", h) for h in files])
            for key, w in echoes.items():
                count(f"echo of 16 bytes, {key}", {"parent": me, "worker": w.pid or 0},
                      2000, lambda w=w: [w.call("fsencode", b"x" * 16) for _ in range(2000)])
            mine = [timed_magic.from_buffer(h)[1] for h in files]
            add("libmagic in-process, per call", statistics.fmean(mine) / 1e3)
            add("libmagic in-process, back to back", timed_magic.batch(files) / len(files) / 1e3)
            for key, w in timed.items():
                p0, w0 = time.thread_time(), worker_cpu(w)
                inside = [w.call("from_buffer", h)[1] for h in files]
                p1, w1 = time.thread_time(), worker_cpu(w)
                add(f"libmagic inside the worker, call(), {key}", statistics.fmean(inside) / 1e3)
                add(f"worker CPU per call(), {key}", (w1 - w0) / len(files) * 1e6)
                add(f"parent CPU per call(), {key}", (p1 - p0) / len(files) * 1e6)
            for key, w in magics.items():
                mine_path = f"/proc/{me}/task/{threading.get_native_id()}/schedstat"
                theirs_path = f"/proc/{w.pid}/schedstat"
                a, b = _schedstat(mine_path), _schedstat(theirs_path)
                began = time.perf_counter()
                for h in files:
                    w.call("from_buffer", h)
                wall = (time.perf_counter() - began) / len(files) * 1e6
                a2, b2 = _schedstat(mine_path), _schedstat(theirs_path)
                add(f"libmagic call(), {key}: wall", wall)
                add(f"libmagic call(), {key}: worker waiting for a CPU",
                    (b2[1] - b[1]) / len(files) / 1e3)
                add(f"libmagic call(), {key}: parent waiting for a CPU",
                    (a2[1] - a[1]) / len(files) / 1e3)
            add("libmagic inside the worker, all heads in one call",
                timed["spin=0"].call("batch", files) / len(files) / 1e3)
    finally:
        for w in [*magics.values(), *timed.values(), *echoes.values()]:
            w.close()
    source = "perf stat software events" if perf else "/proc/PID/stat and status"
    tree = os.path.basename(os.path.dirname(os.path.dirname(os.path.realpath(pledgepy.__file__))))
    print(f"Command: `python benchmarks/worker_counts.py --reps {opts.reps}"
          f"{' --tree ' + tree if opts.tree else ''}` ({len(files)} file heads, pledgepy from "
          f"{tree}); counts from {source}; Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; load "
          f"{os.getloadavg()[0]:.1f} at the end.\n")
    names = [n for n in NAMES.values() if any(k[2] == n for k in counts)]
    print("| per call (median) | process | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for what, who in dict.fromkeys((k[0], k[1]) for k in counts):
        cells = [statistics.median(counts[(what, who, n)]) if (what, who, n) in counts
                 else float("nan") for n in names]
        print(f"| {what} | {who} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print("\n| per call, µs (CPU unless said; waiting: /proc/.../schedstat) | median |\n|---|---|")
    for name, values in cpu.items():
        print(f"| {name} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
