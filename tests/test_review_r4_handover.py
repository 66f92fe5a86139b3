"""Review r4: a hostile program that speaks for the start-up shim before it runs (its
DT_PREINIT_ARRAY, as a DT_NEEDED library's constructor could) must not come out of the
hand-over with its violations unpunished: the command never exits 0 after it. (Since
issue 12's loader phase nothing is handed over: a forged report only ends the loader's
promises sooner, and seccomp() answers ENOSYS; these attacks are kept as they were.)"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
ENV.pop("LANG", None)
SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
SOURCE = Path(__file__).parent / "data" / "forged_handover.c"
CC = shutil.which("cc") or shutil.which("gcc")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs the command as root and nobody")


SETPRIV = shutil.which("setpriv")
NOBODY = [SETPRIV, "--reuid", "65534", "--regid", "65534", "--clear-groups"] if SETPRIV else []


@functools.cache
def _runs_as_nobody(program: str) -> bool:
    """Whether *program* starts as nobody at all (pyenv's interpreters load a libpython
    from a directory only root can read)."""
    r = subprocess.run([*NOBODY, program, "--version"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL, timeout=60)
    return r.returncode == 0


def pledge(*args: str, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed console script, as root or (the whole command, its supervisor too)
    as uid 65534 without capabilities (setpriv: the interpreter may live where only
    root can look, and it drops root's capabilities only at exec)."""
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    if unprivileged:
        if SETPRIV is None:
            pytest.skip("no setpriv to run the command as nobody")
        if not _runs_as_nobody(head[0]):
            pytest.skip(f"{head[0]} cannot start as nobody here")
        head = [*NOBODY, *head]
    return subprocess.run([*head, *args], capture_output=True, text=True, env=ENV,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


@pytest.fixture(scope="module")
def prog() -> Iterator[str]:
    if CC is None:
        pytest.skip("no C compiler for the test program")
    where = Path(tempfile.mkdtemp(prefix="pledgepy-r4-"))  # pytest's are root's only
    where.chmod(0o755)
    out = where / "forged_handover"
    subprocess.run([str(CC), "-O1", "-o", str(out), str(SOURCE)], check=True)
    yield str(out)
    shutil.rmtree(where)


def _caught(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 134, (r.returncode, r.stdout, r.stderr)
    assert "socket" not in r.stdout, r.stdout  # killed before its socket() ran
    assert 'needs "' in r.stderr or "is not allowed by any promise" in r.stderr, r.stderr


@pytest.mark.parametrize("user", [[], ["-u", "nobody"]])
def test_a_substituted_filter_is_caught(prog: str, user: list[str]) -> None:
    _caught(pledge("-q", *user, "-p", "stdio", prog, "substitute"))


@pytest.mark.parametrize("unprivileged", [False, True])
def test_a_filter_stacked_before_the_shims_is_caught(prog: str, unprivileged: bool) -> None:
    _caught(pledge("-q", "-p", "stdio", prog, "stack", unprivileged=unprivileged))


@pytest.mark.parametrize("unprivileged", [False, True])
def test_ready_without_a_filter_is_caught(prog: str, unprivileged: bool) -> None:
    _caught(pledge("-q", "-p", "stdio", prog, "silent", unprivileged=unprivileged))


def test_the_real_hand_over_still_narrows(prog: str) -> None:
    r = pledge("-q", "-p", "stdio", prog)
    assert r.returncode == 134 and 'socket' in r.stderr, r.stderr
    r = pledge("-q", "-p", "stdio inet", prog)
    assert r.returncode == 0 and r.stdout.startswith("socket "), (r.stdout, r.stderr)


@pytest.fixture(scope="module")
def forking(prog: str) -> str:
    out = Path(prog).parent / "forked_before_shim"
    subprocess.run([str(CC), "-O1", "-o", str(out), str(SOURCE.parent / "forked_before_shim.c")],
                   check=True)
    return str(out)


@pytest.mark.parametrize("how", ["once", "double"])
@pytest.mark.parametrize("unprivileged", [False, True])
def test_a_process_forked_before_the_shim_is_narrowed_with_it(forking: str, how: str,
                                                              unprivileged: bool) -> None:
    # the loader's promises end for every process under the filter at PROG's READY:
    # the child's socket() is a violation (the child dies), PROG goes on
    r = pledge("-q", "-p", "stdio proc", forking, how, unprivileged=unprivileged)
    assert "child socket" not in r.stdout, r.stdout
    assert 'socket(AF_INET, SOCK_STREAM) needs "inet"' in r.stderr, r.stderr
    assert r.returncode == 0 and r.stdout == "main done\n", (r.returncode, r.stdout, r.stderr)


def test_a_program_that_forks_after_main_still_runs(forking: str) -> None:
    r = pledge("-q", "-p", "stdio proc", forking)
    assert r.returncode == 0 and r.stdout == "main done\n", (r.stdout, r.stderr)


def test_no_window_after_a_forged_ready(prog: str) -> None:
    """Code that forged READY to probe for 3 s before the real shim runs finds no
    unheard window: its first try is a violation."""
    r = pledge("-q", "-p", "stdio", prog, "window", "3000")
    assert r.returncode == 134 and "window socket" not in r.stdout, (r.returncode, r.stdout)
    assert 'socket(AF_INET, SOCK_STREAM) needs "inet"' in r.stderr, r.stderr


@pytest.mark.parametrize("user", [[], ["-u", "nobody"]])
def test_a_swapped_filter_descriptor_is_caught(prog: str, user: list[str]) -> None:
    """(Before issue 12's loader phase the shim's filter came in a memfd named in the
    environment, which code before the shim could point at a file of its own.)"""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-r4-"))
    try:
        where.chmod(0o777)
        r = pledge("-q", *user, "-p", "stdio rpath wpath cpath", "-v", f"rwc:{where}", prog,
                   "swap", str(where / "filter"))
    finally:
        shutil.rmtree(where)
    _caught(r)
