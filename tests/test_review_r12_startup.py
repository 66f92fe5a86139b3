"""Round 12, the command's start-up: the files the child needs (the default unveil's
discovery, the NSS modules the start-up shim loads) are read in a helper forked while
the parent loads the backend (:mod:`pledgepy.command.ahead`).

Each test fails on main (abaa2c8): there was no ``command.ahead``, the parent listed the
NSS modules and the child discovered, one after the other."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from pledgepy.command import ahead, discover, run
from pledgepy.command.limits import identity
from tests.childproc import ROOT

PATHS = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]

#: Counts, by process, the calls of the reading functions (the helper's included).
COUNTING = """
import os, sys
sys.path[:0] = {paths!r}
from pledgepy import cli
from pledgepy.command import discover, loader
TOP = os.getpid()
r, w = os.pipe()
def counted(mod, name):
    real = getattr(mod, name)
    def wrapper(*a, **k):
        # the helper is forked before the backend loads, the child after
        who = b"parent" if os.getpid() == TOP else b"child" \\
            if "pledgepy.backends.linux" in sys.modules else b"helper"
        os.write(w, b"%s %s\\n" % (who, name.encode()))
        return real(*a, **k)
    setattr(mod, name, wrapper)
counted(discover, "plan")
counted(loader, "nss_modules")
rc = cli.main({argv!r})
os.close(w)
print(rc, os.read(r, 1 << 16).decode().replace("\\n", ";"))
"""


def _calls(argv: list[str]) -> tuple[int, dict[str, list[str]]]:
    """(exit status, process -> the reading functions it called, in order)."""
    code = COUNTING.format(paths=PATHS, argv=argv)
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    rc, _, said = r.stdout.strip().partition(" ")
    out: dict[str, list[str]] = {}
    for line in filter(None, said.split(";")):
        who, name = line.split()
        out.setdefault(who, []).append(name)
    return int(rc), out


def test_the_files_are_read_ahead_and_not_again() -> None:
    """A dynamic PROG narrowed by the shim: the helper lists the NSS modules and
    discovers; neither the parent nor the child does again. Fails on main: the
    parent listed the modules and the child discovered."""
    rc, calls = _calls(["-q", "-p", "stdio rpath", "/bin/true"])
    assert rc == 0
    assert calls == {"helper": ["plan", "nss_modules"]}, calls


def test_what_is_read_ahead_follows_the_run() -> None:
    """``env`` executes another program: the helper's guess (exec kept) holds, and no
    modules are listed (no shim for it); with -V nothing is discovered, only the
    modules listed. Fails on main (see above)."""
    rc, calls = _calls(["-q", "-p", "stdio rpath proc exec", "/usr/bin/env", "true"])
    assert rc == 0
    assert calls == {"helper": ["plan"]}, calls  # exec kept: no shim, no modules
    rc, calls = _calls(["-q", "-V", "-p", "stdio rpath", "/bin/true"])
    assert rc == 0
    assert calls == {"helper": ["nss_modules"]}, calls


def test_a_script_host_is_left_to_the_child() -> None:
    """python3's discovery asks the interpreter its tree (a query run confined): the
    helper runs no program, so the child discovers as before; python keeps the loader's
    promises (it dlopens its extensions), so no modules are listed; /bin/true beside it,
    read ahead in full. Fails on main: there the parent listed the modules and the
    child discovered /bin/true."""
    rc, calls = _calls(["-q", "-p", "stdio rpath", sys.executable, "-c", "pass"])
    assert rc == 0
    assert calls == {"child": ["plan"]}, calls
    rc, calls = _calls(["-q", "-p", "stdio rpath", "/bin/true"])
    assert rc == 0
    assert calls == {"helper": ["plan", "nss_modules"]}, calls


JOB = run.Job("/bin/true", ["true"], frozenset({"stdio", "rpath", "prot_exec", "exec"}), (),
              identity(None, None), {})


@pytest.mark.parametrize("read", [
    ahead.Read(frozenset({"stdio", "rpath"}),
               discover.Plan((("/bin/true", "rx"), ("/tmp/a b", "rwc")), True,
                             ("a note", "another: caf\udce9")), ["/lib/x.so", "/lib/y y.so"]),
    ahead.Read(frozenset({"stdio"}), discover.Plan((), False, ()), None),
    ahead.Read(None, None, []),
    ahead.Read(None, None, None),
], ids=["full", "empty plan", "no plan", "nothing"])
def test_what_the_helper_read_crosses_the_pipe_as_it_was(read: ahead.Read) -> None:
    """Fails on main: no ``command.ahead``."""
    got = ahead.decode(ahead.encode(read))
    assert (got.held, got.nss) == (read.held, read.nss)
    if read.plan is None:
        assert got.plan is None
    else:
        assert got.plan is not None
        assert (got.plan.rules, got.plan.dynamic, got.plan.notes) == \
            (read.plan.rules, read.plan.dynamic, read.plan.notes)


@pytest.mark.parametrize("data", [b"", b"1 0 1 0 -1\nstdio\0/bin/true", b"x\n", b"1 0 0 0\n",
                                  b"1 0 0 0 -2\n", b"0 0 0 0 2\n\0/a"])
def test_a_garbled_answer_is_no_answer(data: bytes) -> None:
    """Fails on main: no ``command.ahead``."""
    with pytest.raises(ValueError):
        ahead.decode(data)


def test_a_helper_that_fails_is_no_answer_and_the_work_is_done_in_place() -> None:
    """The helper's discovery raises: it ends without an answer, and the child discovers
    itself (where an error is said as before). Fails on main: no ``command.ahead``."""
    code = (f"import os, sys\nsys.path[:0] = {PATHS!r}\nfrom pledgepy import cli\n"
            "from pledgepy.command import ahead, discover\nTOP = os.getpid()\n"
            "real = discover.plan\n"
            "def plan(*a, **k):\n    if os.getpid() == TOP:\n        raise AssertionError\n"
            "    if 'pledgepy.backends.linux' not in sys.modules:  # the helper's\n"
            "        raise RuntimeError('helper fails')\n    return real(*a, **k)\n"
            "discover.plan = plan\nreal_collect = ahead.Ahead.collect\ngot = []\n"
            "def collect(self):\n    got.append(real_collect(self))\n    return got[-1]\n"
            "ahead.Ahead.collect = collect\n"
            "rc = cli.main(['-q', '-p', 'stdio rpath', '/bin/true'])\nprint(rc, got)\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (0, "0 [None]\n", "")


def test_held_likely_is_what_the_child_holds(tmp_path: os.PathLike[str]) -> None:
    """The guess the helper discovers for agrees with run._unveil's *held* for a shim's
    narrowing (exec dropped) and for a program that executes another (exec kept).
    Fails on main: no ``command.ahead``."""
    asked = frozenset({"stdio", "rpath"})
    assert ahead.held_likely(JOB, asked) == JOB.promises - {"exec"}
    env = JOB._replace(path="/usr/bin/env", argv=["env", "true"])
    assert ahead.held_likely(env, asked) == JOB.promises
    assert ahead.held_likely(JOB, asked | {"exec"}) == JOB.promises
