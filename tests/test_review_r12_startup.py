"""Round 12, the command's start-up: what its forked child does with an error nobody
expected (found while moving the child's work around)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile

import pytest

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
    """Right after the fork the parent yields its CPU, before anything of its own (its
    sys.path, signals, the supervisor's imports): the new child starts on the parent's
    CPU, and the parent's next ~2 ms held it off (benchmarks/RESULTS.md, Round 12).
    Fails on main: no yield."""
    code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import cli\n"
            "TOP = os.getpid()\nevents = []\nreal_fork, real_yield = os.fork, os.sched_yield\n"
            "def fork():\n    pid = real_fork()\n"
            "    if pid:\n        events.append('fork')\n    return pid\n"
            "def sched_yield():\n    if os.getpid() == TOP:\n        events.append('yield')\n"
            "    real_yield()\n"
            "os.fork, os.sched_yield = fork, sched_yield\n"
            "real_dirs = cli.without_program_dirs\n"
            "def dirs(*a):\n    events.append('own work')\n    return real_dirs(*a)\n"
            "cli.without_program_dirs = dirs\n"
            "rc = cli.main(['-q', '-p', 'stdio rpath', '/bin/true'])\nprint(events)\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['fork', 'yield', 'own work']", r.stdout


def _plan_builds(argv: list[str]) -> list[str]:
    """The supervisor's builds of the loader's plan, each as "before" or "after" the
    child's ids were read (shim.identity_of), for ``cli.main(argv)``."""
    code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import api, cli\n"
            "api.backend()\nfrom pledgepy.backends.linux.exec import shim\n"
            "TOP = os.getpid()\nevents = []\nreal_build, real_ids = shim.build, shim.identity_of\n"
            "def build(*a, **k):\n    if os.getpid() == TOP:\n"
            "        events.append('after' if 'ids' in events else 'before')\n"
            "    return real_build(*a, **k)\n"
            "def identity_of(pid):\n    events.append('ids')\n    return real_ids(pid)\n"
            "shim.build, shim.identity_of = build, identity_of\n"
            f"rc = cli.main({argv!r})\n"
            "print(' '.join(e for e in events if e != 'ids'))\nsys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_the_loaders_plan_is_built_while_the_child_sets_up() -> None:
    """The supervisor's first plan is cold (~1-2 ms): built for the likely ids while the
    child sets itself up, not while the loader waits on its first call, and used as the
    child's ids turn out the same. Fails on main: built once, after the ids were read."""
    assert _plan_builds(["-q", "-p", "stdio rpath", "/bin/true"]) == ["before"]


@pytest.mark.skipif(os.geteuid() != 0, reason="-u needs root")
def test_a_plan_for_other_ids_is_not_used() -> None:
    """PROG runs as another user (-u): the plan built ahead names the wrong uid, so the
    loader's first call builds it again for the child's real ids. Fails on main: no
    plan was built ahead."""
    assert _plan_builds(["-q", "-u", "nobody", "-p", "stdio rpath", "/bin/true"]) == \
        ["before", "after"]
