"""Start-up of the ``pledge`` command: ``pledge -p "stdio rpath" /bin/true`` over ``/bin/true``.

    python3 benchmarks/bench_cli.py --rounds 40 [--compare OTHER/bin/pledge]

Part 1 runs each command once per round, the commands interleaved (one after the
other, round after round), and reports the median wall time of each and the
median of the paired differences against ``/bin/true`` of the same round. The
``pledge`` measured is the installed console script next to this interpreter.

Part 2 is the breakdown: fresh interpreters (``python -I``) run
``pledgepy.cli.main`` itself on ``-p "stdio rpath" /bin/true`` with its steps
wrapped in timers (import, options, finding the program, loading the backend,
the narrowing checks, the default unveil's discovery, Landlock rules, the
filters, the supervisor's hand-over, exec and wait), medians over ``--rounds``
(half of Part 1's). Steps in the forked child are timed there and sent up a
pipe; a step that runs more than once (``unveil()``, ``serve``) is summed.
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
#: The Python command beside the native launcher (when the install has one): the same
#: job, all of it in Python, in the same rounds.
PLEDGE_PYTHON = shutil.which("pledge-python", path=BIN)
if PLEDGE_PYTHON is not None:
    COMMANDS.update({
        'pledge-python -V -p "stdio rpath" true': [PLEDGE_PYTHON, "-q", "-V", "-p", "stdio rpath",
                                                   TRUE],
        'pledge-python -p "stdio rpath" true': [PLEDGE_PYTHON, "-q", "-p", "stdio rpath", TRUE],
    })


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


#: pledgepy.cli.main itself, its steps timed: run with ``python -I`` in a fresh process.
#: Each wrapped function records (name, start, end) on the monotonic clock, which the
#: forked child shares; the child sends its records up a pipe just before it execs.
STEPS = r"""
import os, sys, time
T0 = time.perf_counter()
marks = []
def timed(mod, name, label):
    real = getattr(mod, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            marks.append((label, t, time.perf_counter(), os.getpid()))
    setattr(mod, name, wrapper)
from pledgepy import api, cli
from pledgepy.command import discover, limits, loader, run
marks.append(("import pledgepy.cli", T0, time.perf_counter(), os.getpid()))
PARENT = os.getpid()
for mod, name, label in [
        (cli, "_options", "options"), (cli, "_job", "find PROG, is it dynamic"),
        (loader, "keeps", "parent: may it narrow (loader.keeps)"),
        (loader, "nss_modules", "parent: NSS modules to preload"),
        (discover, "plan", "child: discovery (ELF closure, loader cache)"),
        (api, "unveil_many", "child: unveil_many() (the default unveil)"),
        (api, "unveil", "child: unveil() calls"),
        (limits, "drop_capabilities", "child: drop capabilities"),
        (limits, "close_inherited", "child: close inherited fds"),
        (api, "lock_unveil_for", "child: lock unveil (Landlock ruleset)")]:
    timed(mod, name, label)
# the backend's load timed where the command does it (the parent, before the fork; a
# variant that loads it elsewhere, as round 12's in both processes after the fork,
# shows as parent and child rows), its own steps wrapped once it is loaded: loading it
# here first, as before round 12, hid where that happens
real_backend = api.backend
def backend():
    if api._backend is not None:
        return real_backend()
    t = time.perf_counter()
    try:
        return real_backend()
    finally:
        who = "parent" if os.getpid() == PARENT else "child"
        marks.append((f"{who}: load the backend", t, time.perf_counter(), os.getpid()))
        from pledgepy.backends.linux.exec import shim, supervise
        for mod, name, label in [
                (shim, "library", "parent: the shim's build check"),
                (shim, "environment", "child: the shim's environment"),
                (supervise, "confine", "child: compile + install the opening filter"),
                (supervise, "told_listener", "parent: wait for the child's listener"),
                (shim, "identity_of", "parent: the child's ids (for the loader's rules)"),
                (supervise, "serve", "parent: serve (exec, loader's calls, shim's READY; then to exit)")]:
            if not hasattr(getattr(mod, name), "timed"):
                timed(mod, name, label)
                getattr(mod, name).timed = True
api.backend = backend
real_fork, real_execv = os.fork, os.execv
r, w = os.pipe()
def fork():
    t = time.perf_counter()
    pid = real_fork()
    marks.append(("fork" if pid else "child: fork returns", t, time.perf_counter(), os.getpid()))
    return pid
def execv(path, argv):
    marks.append(("child: exec", time.perf_counter(), time.perf_counter(), os.getpid()))
    os.write(w, repr([m for m in marks if m[3] != PARENT]).encode())
    real_execv(path, argv)
os.fork, os.execv = fork, execv
t = time.perf_counter()
rc = cli.main(["-q", "-p", "stdio rpath", TRUE])
marks.append(("cli.main, all of it", t, time.perf_counter(), PARENT))
os.close(w)
marks += eval(os.read(r, 1 << 16).decode() or "[]")  # our own child's repr
calls = {}
for name, a, b, _ in marks:  # several unveil() calls, two serve()s: summed
    calls[name] = calls.get(name, 0.0) + (b - a)
print(repr(sorted(calls.items(), key=lambda kv: min(a for n, a, _, _ in marks if n == kv[0]))))
sys.exit(rc)
"""


def breakdown(rounds: int) -> list[str]:
    got: dict[str, list[float]] = {}
    code = f"TRUE = {TRUE!r}\n" + STEPS
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                             check=True, env=env).stdout
        for name, took in eval(out):  # our own child's repr of (str, float) pairs
            got.setdefault(name, []).append(took)
    rows = ["| step (fresh `python -I`, in the order they start) | median |", "|---|---|"]
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
        COMMANDS[f'{other} -p "stdio rpath" true'] = [os.path.abspath(other), "-q", "-p",
                                                       "stdio rpath", TRUE]
    # `python -c` puts the current directory first on sys.path: run from a checkout, the
    # import row would import its sources (no bytecode cache: ~15 ms of compiling), not
    # the installed package the command uses
    os.chdir("/")
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
