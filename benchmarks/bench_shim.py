"""Start-up cost of the pledge command's start-up shim (issue 12 item 1).

Paired, interleaved runs of the installed command on /bin/true and ``ls``: with
the shim (``-p "stdio"``, ``-p "stdio rpath"``: the loader's promises end before
main) and without it (``-p "stdio rpath prot_exec exec"``: the asked promises
already cover the loader's, nothing to narrow), plus the plain programs. Prints
the medians (ms) and the shim's extra.

Then the deterministic part: how many of the loader's calls reached the
supervisor (each a notification answered CONTINUE, or a quiet errno, before the
shim's READY) for each program, counted by the supervisor itself.

    python3 benchmarks/bench_shim.py --runs 41 [--compare OTHER/bin/pledge]

``--compare`` runs another install's command (an older version, say) on the same
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

LS = shutil.which("ls") or "/bin/ls"
CASES = {
    "plain /bin/true": ["/bin/true"],
    "true, no shim": ["-q", "-p", "stdio rpath prot_exec exec", "/bin/true"],
    "true, shim, stdio rpath": ["-q", "-p", "stdio rpath", "/bin/true"],
    "true, shim, stdio": ["-q", "-p", "stdio", "/bin/true"],
    "plain ls": [LS, "/"],
    "ls, no shim": ["-q", "-p", "stdio rpath prot_exec exec", "-v", "/", LS, "/"],
    "ls, shim": ["-q", "-p", "stdio rpath", "-v", "/", LS, "/"],
}
#: The programs whose loader calls are counted (promises, -v paths, argv).
COUNTED = {
    '-p stdio /bin/true': ("stdio", [], ["/bin/true"]),
    '-p "stdio rpath" /bin/true': ("stdio rpath", [], ["/bin/true"]),
    '-p "stdio rpath" ls /': ("stdio rpath", ["-v", "/"], [LS, "/"]),
    '-p "stdio rpath getpw" ls -l /': ("stdio rpath getpw", ["-v", "/"], [LS, "-l", "/"]),
}
COUNT = """
import os, sys
from pledgepy import cli
from pledgepy.backends.linux.exec import shim
real = shim.watch
got = []
def watch(*a, **k):
    state = real(*a, **k)
    got.append(state.continued)
    return state
shim.watch = watch
fd = os.open(os.devnull, os.O_WRONLY)
saved = os.dup(1)
os.dup2(fd, 1)
rc = cli.main(sys.argv[1:])
os.dup2(saved, 1)
print(got[0] if got else "no shim", rc)
"""


def counts() -> list[str]:
    rows = ["| command | loader calls answered by the supervisor |", "|---|---|"]
    env = {**os.environ, "LC_ALL": "C"}
    for name, (promises, paths, argv) in COUNTED.items():
        out = subprocess.run([sys.executable, "-c", COUNT, "-q", "-p", promises, *paths, *argv],
                             capture_output=True, text=True, check=True, env=env).stdout.split()
        rows.append(f"| `pledge {name}` | {out[0]} (exit {out[1]}) |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=41)
    ap.add_argument("--compare", metavar="PLEDGE", help="another pledge console script")
    a = ap.parse_args()
    pledge = shutil.which("pledge", path=os.path.dirname(sys.executable)) or "pledge"
    cases = {name: argv if name.startswith("plain") else [pledge, *argv]
             for name, argv in CASES.items()}
    if a.compare:
        cases.update({f"{name}, compared": [a.compare, *argv] for name, argv in CASES.items()
                      if not name.startswith("plain")})
    times: dict[str, list[float]] = {name: [] for name in cases}
    null = subprocess.DEVNULL
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(a.runs):
        for name, cmd in cases.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=null, env=env)
            times[name].append((time.perf_counter() - t) * 1e3)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"Command: `python3 benchmarks/bench_shim.py --runs {a.runs}"
          f"{' --compare ' + a.compare if a.compare else ''}`; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}.\n")
    print("| case | median |\n|---|---|")
    for name, m in med.items():
        print(f"| {name} | {m:.2f} ms |")
    for prog in ("true", "ls"):
        for tail in ("", ", compared") if a.compare else ("",):
            shim = f"{prog}, shim, stdio rpath" if prog == "true" else "ls, shim"
            print(f"| {prog}: shim's extra{tail} | "
                  f"{med[shim + tail] - med[f'{prog}, no shim' + tail]:.2f} ms |")
    print()
    print("\n".join(counts()))


if __name__ == "__main__":
    main()
