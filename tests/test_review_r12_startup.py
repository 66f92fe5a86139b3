"""Round 12, the command's start-up: what its forked child does with an error nobody
expected (found while moving the child's work around)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile

from pledgepy.command.options import EXIT_SANDBOX
from tests.childproc import ROOT

PATHS = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]


def test_an_unexpected_error_in_the_child_is_one_line_and_never_returns() -> None:
    """An exception the child's handlers do not name (here a RuntimeError from its
    backend, in the child only) ends it with one line and EXIT_SANDBOX; PROG never runs
    and nothing of the caller's runs again in the child. Fails on main (abaa2c8): the
    exception left ``run.child`` through ``cli.main`` in the forked child, so the
    caller's code after ``cli.main`` ran twice (here: "after main" printed by both
    processes) and a traceback was printed."""
    with tempfile.TemporaryDirectory() as d:
        mark = os.path.join(d, "ran")
        code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import api, cli\n"
                "PARENT = os.getpid()\nreal = api.backend\n"
                "def backend():\n    if os.getpid() != PARENT:\n"
                "        raise RuntimeError('no backend in the child')\n    return real()\n"
                "api.backend = backend\n"
                "try:\n"
                f"    rc = cli.main(['-q', '-p', 'stdio rpath wpath cpath proc exec', '-v', "
                f"'rwc:{d}', '/bin/sh', '-c', 'touch {mark}'])\n"
                "finally:\n    print('after main', flush=True)\nos._exit(rc)\n")
        r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                           text=True, cwd=ROOT, timeout=60, check=False)
        assert (r.returncode, r.stdout) == (EXIT_SANDBOX, "after main\n"), r.stderr
        assert r.stderr == ("pledge: setting up /bin/sh: RuntimeError: no backend in the "
                            "child\n"), r.stderr
        assert not os.path.exists(mark)


def test_the_parent_lets_the_child_run_first() -> None:
    """Right after the fork the parent yields its CPU, before anything of its own (the
    supervisor's imports): the new child starts on the parent's CPU, and the parent's
    next ~2 ms held it off (benchmarks/RESULTS.md, Round 12). Fails on main: no yield."""
    code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import cli\n"
            "TOP = os.getpid()\nevents = []\nreal_fork, real_yield = os.fork, os.sched_yield\n"
            "def fork():\n    pid = real_fork()\n"
            "    if pid:\n        events.append('fork')\n    return pid\n"
            "def sched_yield():\n    if os.getpid() == TOP:\n        events.append('yield')\n"
            "    real_yield()\n"
            "os.fork, os.sched_yield = fork, sched_yield\n"
            "sys.addaudithook(lambda ev, args: ev == 'import' and os.getpid() == TOP and "
            "args[0] == 'pledgepy.backends.linux.exec.answer' and events.append('answer'))\n"
            "rc = cli.main(['-q', '-p', 'stdio rpath', '/bin/true'])\nprint(events)\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['fork', 'yield', 'answer']", r.stdout
