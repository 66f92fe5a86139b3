"""Start-up of the ``pledge`` command: ``pledge -p "stdio rpath" /bin/true`` over ``/bin/true``.

    python3 benchmarks/bench_cli.py --rounds 40 [--compare OTHER/bin/pledge]

Part 1 runs each command once per round, the commands interleaved (one after the
other, round after round), and reports the median wall time of each and the
median of the paired differences against ``/bin/true`` of the same round. The
``pledge`` measured is the installed console script next to this interpreter.

Part 2 is the breakdown: fresh interpreters (``python -I``, as the console
script is not) time each step of the command as ``pledgepy.cli.main`` runs it
(import, options, finding the program, loading the backend, the default unveil's
discovery, Landlock rules, the filter, the supervisor's hand-over, exec and
wait), medians over ``--rounds``. Steps in the forked child are timed there and
sent up a pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)
PLEDGE = shutil.which("pledge", path=BIN) or "pledge"
TRUE = shutil.which("true") or "/bin/true"
DEVNULL = os.open(os.devnull, os.O_RDWR)

COMMANDS = {
    "/bin/true": [TRUE],
    "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import pledgepy.cli'": [sys.executable, "-c", "import pledgepy.cli"],
    'pledge -V -p "stdio rpath" true': [PLEDGE, "-q", "-V", "-p", "stdio rpath", TRUE],
    'pledge -p "stdio rpath" true': [PLEDGE, "-q", "-p", "stdio rpath", TRUE],
}


def once(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of *argv* (stdio on /dev/null), spawn to reaped.

    CPU is user + system time of the process and the descendants it waited for
    (wait4's rusage): less disturbed by other users of the machine than wall time.
    """
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, fd) for fd in (0, 1, 2)])
    _, status, use = os.wait4(pid, 0)
    took = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv}: exit {os.waitstatus_to_exitcode(status)}")
    return took, use.ru_utime + use.ru_stime


def _spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return f"{q[1] * 1e3:+.1f} ms ({q[0] * 1e3:+.1f} to {q[2] * 1e3:+.1f})"


def end_to_end(rounds: int) -> list[str]:
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in COMMANDS}
    for argv in COMMANDS.values():  # warm the page cache
        once(argv)
    for _ in range(rounds):
        for name, argv in COMMANDS.items():
            times[name].append(once(argv))
    base = times["/bin/true"]
    rows = ["| command | wall, median | wall over /bin/true, paired (median, 25th–75th) "
            "| CPU, median | CPU over /bin/true, paired |", "|---|---|---|---|---|"]
    for name, got in times.items():
        wall = [g[0] - b[0] for g, b in zip(got, base, strict=True)]
        cpu = [g[1] - b[1] for g, b in zip(got, base, strict=True)]
        rows.append(f"| `{name}` | {statistics.median(g[0] for g in got) * 1e3:.1f} ms | "
                    f"{_spread(wall)} | {statistics.median(g[1] for g in got) * 1e3:.1f} ms | "
                    f"{_spread(cpu)} |")
    return rows


#: The steps of pledgepy.cli.main, timed; run with ``python -I`` in a fresh process.
STEPS = r"""
import os, sys, time
T0 = time.perf_counter()
marks = []
def mark(name, since=[T0]):
    now = time.perf_counter(); marks.append((name, now - since[0])); since[0] = now
from pledgepy import cli
from pledgepy.command import options, run
mark("import pledgepy.cli")
opts = cli._options(["-q", "-p", "stdio rpath", TRUE])
mark("options")
job, asked = cli._job(opts)
mark("find PROG, ELF PT_INTERP")
supervisor = cli.api.backend().exec_supervisor()
mark("load the backend")
r, w = os.pipe(); go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.close(go_w)
    sub = []
    def cmark(name, since=[time.perf_counter()]):
        now = time.perf_counter(); sub.append((name, now - since[0])); since[0] = now
    from pledgepy.command import discover, limits
    plan = discover.plan(job.path, job.argv, job.promises)
    cmark("child: discovery (ELF, ld.so.cache, stat)")
    for where, perms in plan.rules:
        cli.api.unveil(where, perms)
    cmark(f"child: {len(plan.rules)} unveil() calls")
    limits.drop_capabilities(); limits.close_inherited()
    cmark("child: drop capabilities, close fds")
    cli.api.lock_unveil_for(job.promises, strict=False, quiet=True, then_exec=True)
    cmark("child: lock unveil (Landlock ruleset)")
    supervisor.confine(job.promises)
    cmark("child: compile + install the filter")
    os.write(w, repr(sub).encode()); os.close(w)
    os.read(go_r, 1)
    os.execv(job.path, job.argv)
os.close(w); os.close(go_r)
child = eval(os.read(r, 4096).decode() or "[]")
t = time.perf_counter()
supervisor.watch(pid, job.promises, "true", go_w)
_, status = os.waitpid(pid, 0)
marks += child
marks.append(("parent: hand-over, exec, serve until exit, wait", time.perf_counter() - t))
print(repr(marks))
"""


def breakdown(rounds: int) -> list[str]:
    got: dict[str, list[float]] = {}
    code = f"TRUE = {TRUE!r}\n" + STEPS
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                             check=True).stdout
        for name, took in eval(out):  # our own child's repr of (str, float) pairs
            got.setdefault(name, []).append(took)
    rows = ["| step (fresh `python -I`) | median |", "|---|---|"]
    rows += [f"| {name} | {statistics.median(v) * 1e3:.2f} ms |" for name, v in got.items()]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--json", action="store_true", help="the tables as JSON lines")
    p.add_argument("--compare", metavar="PLEDGE", action="append", default=[],
                   help="another pledge console script (e.g. an older install) in the same "
                        "interleaved rounds")
    a = p.parse_args()
    for other in a.compare:
        COMMANDS[f'{other} -p "stdio rpath" true'] = [other, "-q", "-p", "stdio rpath", TRUE]
    tables = [end_to_end(a.rounds), breakdown(max(5, a.rounds // 2))]
    if a.json:
        print(json.dumps(tables))
        return
    extra = "".join(f" --compare {c}" for c in a.compare)
    print(f"Command: `python3 benchmarks/bench_cli.py --rounds {a.rounds}{extra}`; pledge: the console "
          f"script {os.path.basename(PLEDGE)} next to {os.path.basename(sys.executable)}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}.\n")
    for rows in tables:
        print("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
