"""Two installs of pledgepy, paired: each round runs the same command from both (the order
swapped every round), and the figure is the median of the per-round differences (NEW −
BASE) with its 25th–75th percentiles, for wall time and for CPU time (user + system of the
command and what it waited for: less disturbed on a busy machine).

    python3 benchmarks/bench_paired.py --new NEW/bin/python --base BASE/bin/python [--rounds 60]

Commands: ``pledge -q -p "stdio rpath" /bin/true`` (each install's console script), and
``python -c "import pledgepy; pledgepy.pledge('stdio rpath')"``; then, in fresh children,
``import pledgepy`` and it with the backend's load (``LinuxBackend()``) timed in-process
(perf_counter_ns), paired the same way. Run from ``/`` (``python -c`` puts the working
directory first on sys.path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_cli import TRUE, once  # noqa: E402


def commands(python: str) -> dict[str, list[str]]:
    bindir = os.path.dirname(python)
    return {
        'pledge -q -p "stdio rpath" /bin/true': [os.path.join(bindir, "pledge"), "-q", "-p",
                                                  "stdio rpath", TRUE],
        "python -c \"import pledgepy; pledgepy.pledge('stdio rpath')\"": [
            python, "-c", "import pledgepy; pledgepy.pledge('stdio rpath')"],
    }


INPROC = ("import time\nt = time.perf_counter_ns()\nimport pledgepy\nt1 = time.perf_counter_ns()\n"
          "from pledgepy.backends.linux import LinuxBackend\nLinuxBackend()\n"
          "print(t1 - t, time.perf_counter_ns() - t)\n")


def inproc(python: str) -> tuple[float, float]:
    """Seconds of ``import pledgepy`` and of it + the backend's load, in a fresh child."""
    out = subprocess.run([python, "-c", INPROC], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]) / 1e9, int(out[1]) / 1e9


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], statistics.median(values), q[2]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new", required=True, help="the interpreter of the install measured")
    p.add_argument("--base", required=True, help="the interpreter of the install compared to")
    p.add_argument("--rounds", type=int, default=60)
    a = p.parse_args()
    os.chdir("/")
    new, base = commands(a.new), commands(a.base)
    for label in new:
        for argv in (new[label], base[label]):  # warm caches, outside the figures
            once(argv)
        walls: list[float] = []
        cpus: list[float] = []
        meds: dict[str, list[float]] = {"new": [], "base": []}
        for r in range(a.rounds):
            order = [("new", new[label]), ("base", base[label])]
            if r % 2:
                order.reverse()
            got = {who: once(argv) for who, argv in order}
            walls.append(got["new"][0] - got["base"][0])
            cpus.append(got["new"][1] - got["base"][1])
            meds["new"].append(got["new"][1])
            meds["base"].append(got["base"][1])
        cq, wq = quartiles(cpus), quartiles(walls)
        print(f"| {label} | {a.rounds} | {cq[1] * 1e3:+.1f} ms ({cq[0] * 1e3:+.1f} to "
              f"{cq[2] * 1e3:+.1f}) | {wq[1] * 1e3:+.1f} ms ({wq[0] * 1e3:+.1f} to "
              f"{wq[2] * 1e3:+.1f}) | {statistics.median(meds['new']) * 1e3:.1f} / "
              f"{statistics.median(meds['base']) * 1e3:.1f} ms |", flush=True)
    got2: dict[str, list[tuple[float, float]]] = {"new": [], "base": []}
    for r in range(a.rounds):
        order = [("new", a.new), ("base", a.base)]
        if r % 2:
            order.reverse()
        for who, python in order:
            got2[who].append(inproc(python))
    for i, label in enumerate(("in-process: `import pledgepy`",
                               "in-process: `import pledgepy` + `LinuxBackend()`")):
        diffs = [n[i] - b[i] for n, b in zip(got2["new"], got2["base"], strict=True)]
        q = quartiles(diffs)
        print(f"| {label} | {a.rounds} | — | {q[1] * 1e3:+.2f} ms ({q[0] * 1e3:+.2f} to "
              f"{q[2] * 1e3:+.2f}) | {statistics.median(x[i] for x in got2['new']) * 1e3:.2f} / "
              f"{statistics.median(x[i] for x in got2['base']) * 1e3:.2f} ms |", flush=True)
    print(f"(load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
