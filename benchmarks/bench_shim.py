"""Start-up cost of the pledge command's start-up shim (issue 12 item 1).

Paired, interleaved runs of the installed command on /bin/true: with the shim
(``-p "stdio rpath"``: narrowed before main) and without it (``-p "stdio rpath
prot_exec exec"``: the asked promises already cover the loader's, nothing to
narrow), plus plain /bin/true. Prints the medians (ms) and the shim's extra.

    python3 benchmarks/bench_shim.py --runs 41 [--compare OTHER/bin/pledge]

``--compare`` runs another install's command (an older version, say) on the same two
cases in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

CASES = {
    "plain /bin/true": ["/bin/true"],
    "pledge, no shim": ["-q", "-p", "stdio rpath prot_exec exec", "/bin/true"],
    "pledge, shim": ["-q", "-p", "stdio rpath", "/bin/true"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=41)
    ap.add_argument("--compare", metavar="PLEDGE", help="another pledge console script")
    a = ap.parse_args()
    pledge = shutil.which("pledge", path=os.path.dirname(sys.executable)) or "pledge"
    cases = {name: argv if argv[0] == "/bin/true" else [pledge, *argv]
             for name, argv in CASES.items()}
    if a.compare:
        cases.update({f"{name}, compared": [a.compare, *argv] for name, argv in CASES.items()
                      if argv[0] != "/bin/true"})
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(a.runs):
        for name, cmd in cases.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            times[name].append((time.perf_counter() - t) * 1e3)
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, m in med.items():
        print(f"{name:<28} {m:7.2f} ms")
    print(f"shim's extra                 {med['pledge, shim'] - med['pledge, no shim']:7.2f} ms")
    if a.compare:
        print(f"shim's extra, compared       "
              f"{med['pledge, shim, compared'] - med['pledge, no shim, compared']:7.2f} ms")


if __name__ == "__main__":
    main()
