"""Round 12, the command's start-up: it forks before the backend loads, each side loading
its own at once; what only the parent decides reaches the child as a word down a pipe.

Each test fails on main (abaa2c8): there the backend loaded before the fork, and
``run.verdict``/``run.heard``/``cli._decide`` did not exist."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile

import pytest

from pledgepy.command import run
from pledgepy.command.limits import identity
from pledgepy.command.options import EXIT_SANDBOX
from tests.childproc import ROOT

PATHS = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]


def _command(body: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``cli.main(argv)`` in a fresh ``python -I``, after *body* (which may patch it)."""
    code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import api, cli\n"
            f"{body}\nrc = cli.main({argv!r})\nsys.stdout.flush()\nos._exit(rc)\n")
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)


def test_the_command_forks_before_its_backend_loads() -> None:
    """Fails on main: the backend (its 25 modules and native build check) loaded in the
    parent before the fork, and the child waited for it."""
    r = _command("os.register_at_fork(before=lambda: print("
                 "'pledgepy.backends.linux' in sys.modules, api._backend is not None))",
                 ["-q", "-p", "stdio rpath", "/bin/true"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"], r.stdout


def test_a_refusal_after_the_fork_runs_nothing_and_is_said_once() -> None:
    """The parent refuses once forked (here: told to, as a stale native build would):
    one message, its exit status, the child ends unheard and PROG never runs. Fails on
    main: no ``cli._decide``."""
    with tempfile.TemporaryDirectory() as d:
        mark = os.path.join(d, "ran")
        r = _command("def refuse(*a):\n    print('pledge: refused here', file=sys.stderr)\n"
                     "    return 3\ncli._decide = refuse",
                     ["-q", "-p", "stdio rpath wpath cpath proc exec", "-v", f"rwc:{d}",
                      "/bin/sh", "-c", f"touch {mark}"])
        assert (r.returncode, r.stderr) == (3, "pledge: refused here\n")
        assert not os.path.exists(mark)


def test_a_parent_that_fails_once_forked_runs_nothing() -> None:
    """An exception in the parent's decision (after the fork) ends the child unheard and
    reaches the caller as it is. Fails on main: no ``cli._decide``."""
    with tempfile.TemporaryDirectory() as d:
        mark = os.path.join(d, "ran")
        r = _command("def boom(*a):\n    raise RuntimeError('decided badly')\n"
                     "cli._decide = boom",
                     ["-q", "-p", "stdio rpath wpath cpath proc exec", "-v", f"rwc:{d}",
                      "/bin/sh", "-c", f"touch {mark}"])
        assert r.returncode == 1 and "RuntimeError: decided badly" in r.stderr, r.stderr
        assert r.stderr.count("pledge:") == 0, r.stderr
        assert not os.path.exists(mark)


def test_the_childs_own_failure_is_said_in_one_line_and_never_returns() -> None:
    """Should only the child fail (here: its backend load, with an exception nobody
    expects), it says so in one line, ends with EXIT_SANDBOX and PROG never runs.
    Fails on main: there the exception left ``run.child`` and ``cli.main`` in the
    forked child (a traceback, exit 1; a caller of ``cli.main`` ran on in two
    processes)."""
    with tempfile.TemporaryDirectory() as d:
        mark = os.path.join(d, "ran")
        r = _command("PARENT = os.getpid()\nreal = api.backend\n"
                     "def backend():\n    if os.getpid() != PARENT:\n"
                     "        raise RuntimeError('no backend in the child')\n    return real()\n"
                     "api.backend = backend",
                     ["-q", "-p", "stdio rpath wpath cpath proc exec", "-v", f"rwc:{d}",
                      "/bin/sh", "-c", f"touch {mark}"])
        assert r.returncode == EXIT_SANDBOX, r.stderr
        assert r.stderr == "pledge: setting up /bin/sh: no backend in the child\n", r.stderr
        assert not os.path.exists(mark)


JOB = run.Job("/bin/true", ["true"], frozenset({"stdio", "rpath", "prot_exec", "exec"}), (),
              identity(None, None), {})


@pytest.mark.parametrize("supervised, after, shim, load", [
    (True, frozenset({"stdio", "rpath"}), "/x/shim.so", ("/lib/a.so", "/lib/b b.so")),
    (True, frozenset({"stdio", "rpath", "prot_exec"}), None, ()),
    (False, None, None, ()),
])
def test_the_parents_word_reaches_the_child_as_said(
        supervised: bool, after: frozenset[str] | None, shim: str | None,
        load: tuple[str, ...]) -> None:
    """Fails on main: no ``run.verdict``/``run.heard``."""
    sent = JOB._replace(after=after, shim=shim, load=load)
    got_supervised, got = run.heard(run.verdict(supervised, sent), JOB)
    assert got_supervised == supervised
    assert (got.after, got.shim, got.load) == (after, shim, load)
    assert (got.path, got.argv, got.promises) == (JOB.path, JOB.argv, JOB.promises)


@pytest.mark.parametrize("said", [b"X\0stdio\0", b"S\0\0", b"S", b""])
def test_a_garbled_word_is_refused(said: bytes) -> None:
    """Fails on main: no ``run.heard``."""
    with pytest.raises(ValueError):
        run.heard(said, JOB)
