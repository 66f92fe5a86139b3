"""Issue 12 (security): the loader's promises end in the supervisor. A dynamically linked
PROG's filter allows only the asked promises; the loader's calls reach the supervisor,
which lets them run until the start-up shim reports and punishes them after, so a filter
a hostile PROG installs in the shim's place before it runs (DT_PREINIT_ARRAY) gains
nothing, whether the command runs as root or (unable to read filters back) as nobody."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledgepy.backends.linux import policy
from pledgepy.backends.linux.exec import shim
from pledgepy.backends.linux.exec.refuse import refuse
from pledgepy.backends.linux.rules import PATHS_HELD, Identity
from pledgepy.backends.linux.seccomp.plan import build
from pledgepy.backends.linux.syscalls import BY_ARCH
from pledgepy.promises import VOCABULARY
from tests.childproc import ROOT
from tests.cprogs import compiled

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
ENV.pop("LANG", None)
SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
SETPRIV = shutil.which("setpriv")
NOBODY = [SETPRIV, "--reuid", "65534", "--regid", "65534", "--clear-groups"] if SETPRIV else []
SECRET = "the secret line\n"

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="runs the command as root and nobody")


@functools.cache
def _runs_as_nobody(program: str) -> bool:
    r = subprocess.run([*NOBODY, program, "--version"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL, timeout=60)
    return r.returncode == 0


def pledge(*args: str, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed console script, as root or, supervisor and all, as uid 65534 with
    no capabilities (no PTRACE_SECCOMP_GET_FILTER: it cannot read a filter back)."""
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
def built() -> Iterator[dict[str, Path]]:
    with compiled(("substitute_filter", ()), ("after_main", ()),
                  ("exec_after_start", ("-static",))) as progs:
        secret = progs["substitute_filter"].parent / "secret.txt"
        secret.write_text(SECRET)
        secret.chmod(0o644)  # nobody may read it: only the promise stands in the way
        yield {**progs, "secret": secret}


@AS_ROOT
@pytest.mark.parametrize("how", ["substitute", "prctl", "stack"])
@pytest.mark.parametrize("unprivileged", [False, True])
def test_a_filter_in_the_shims_place_gains_nothing(built: dict[str, Path], how: str,
                                                   unprivileged: bool) -> None:
    secret = str(built["secret"])
    r = pledge("-q", "-p", "stdio", "-v", secret, str(built["substitute_filter"]), how, secret,
               unprivileged=unprivileged)
    assert SECRET not in r.stdout, (r.stdout, r.stderr)
    assert r.returncode == 134, (r.returncode, r.stdout, r.stderr)
    assert "installed" not in r.stderr, r.stderr  # no filter of its own went on
    # seccomp() answers ENOSYS, so main reads; prctl's route is a violation at once
    want = ("prctl(0x16) is not allowed by any promise" if how == "prctl" else
            f'openat("{secret}", O_RDONLY) needs "rpath"')
    assert want in r.stderr, r.stderr


@AS_ROOT
@pytest.mark.parametrize("unprivileged", [False, True])
def test_the_same_program_reads_with_rpath(built: dict[str, Path], unprivileged: bool) -> None:
    secret = str(built["secret"])
    r = pledge("-q", "-p", "stdio rpath", "-v", secret, str(built["substitute_filter"]),
               "stack", secret, unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout == SECRET, (r.returncode, r.stdout, r.stderr)


@AS_ROOT
@pytest.mark.parametrize("unprivileged", [False, True])
def test_executable_memory_after_main_is_a_violation(built: dict[str, Path],
                                                     unprivileged: bool) -> None:
    r = pledge("-q", "-p", "stdio rpath", str(built["after_main"]), "map-exec",
               unprivileged=unprivileged)
    assert r.returncode == 134 and r.stdout == "", (r.stdout, r.stderr)
    assert 'needs "prot_exec"' in r.stderr, r.stderr


@AS_ROOT
def test_error_promise_refuses_the_loaders_calls_after_main(built: dict[str, Path]) -> None:
    secret = str(built["secret"])
    r = pledge("-q", "-p", "stdio error", "-v", secret, str(built["after_main"]), "read", secret)
    assert r.returncode == 1 and SECRET not in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert 'needs "rpath"' in r.stderr and "ENOSYS" in r.stderr, r.stderr


@AS_ROOT
@pytest.mark.parametrize("unprivileged", [False, True])
def test_a_static_program_holds_no_exec_after_its_start(built: dict[str, Path],
                                                       unprivileged: bool) -> None:
    prog = str(built["exec_after_start"])
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    r = pledge("-p", "stdio rpath", prog, unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout == "ran\n", (r.returncode, r.stdout, r.stderr)
    assert "keeps 'exec'" not in r.stderr, r.stderr
    r = pledge("-q", "-p", "stdio rpath", "-v", f"rx:{true}", prog, true,
               unprivileged=unprivileged)
    assert r.returncode == 134 and f'execve("{true}") needs "exec"' in r.stderr, r.stderr
    # (true's own loader needs its ld.so unveiled and prot_exec: -V for brevity)
    r = pledge("-q", "-V", "-p", "stdio rpath exec prot_exec", prog, true,
               unprivileged=unprivileged)
    assert r.returncode == 0, (r.returncode, r.stderr)


@AS_ROOT
def test_an_interpreter_keeps_the_loaders_promises_but_not_exec() -> None:
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no system python3")
    r = pledge("-p", "stdio rpath", python, "-c", "import os; os.execv('/bin/true', ['true'])")
    assert r.returncode == 134 and 'execve("/bin/true") needs "exec"' in r.stderr, r.stderr
    assert "maps code after main" in r.stderr and "keeps 'exec'" not in r.stderr, r.stderr


@AS_ROOT
def test_a_program_whose_work_is_to_execute_keeps_exec() -> None:
    r = pledge("-p", "stdio rpath", "env", "true")
    assert r.returncode == 0 and "keeps 'exec' (it executes another program)" in r.stderr, \
        r.stderr


LOADER = frozenset({"rpath", "prot_exec", "exec"})
NR = BY_ARCH["x86_64"]
WHO = Identity(1234, 65534, (65534,), 0)


def test_no_refusal_of_the_asked_promises_hides_a_loader_call() -> None:
    """The opening filter is the asked promises' own: a call it refuses quietly (ERRNO)
    never reaches the supervisor, so no such refusal may cover a call that a loader's
    promise allows (the loader would get the errno instead of its call)."""
    rules = policy.all_rules()
    loader_allowed = {r.syscall for r in rules if not r.errno and r.needs & LOADER}
    hidden = [r for r in rules if r.errno and r.syscall in loader_allowed
              and not r.needs & LOADER and PATHS_HELD not in r.needs]
    assert hidden == [], hidden


def test_the_shims_report_reaches_the_supervisor_under_every_promise() -> None:
    """The filter is the asked promises' own (the shim's report needs no rule of its
    own): no promise allows lookup_dcookie, and seccomp() answers ENOSYS."""
    every = refuse(build(frozenset(VOCABULARY) - {"error"}, "x86_64", WHO))
    assert every.action(NR["lookup_dcookie"]).kind == "trap"
    assert every.action(NR["seccomp"]).kind == "enosys"


def test_the_loader_verdict() -> None:
    loader = refuse(build(frozenset({"stdio", "rpath", "prot_exec"}), "x86_64", WHO))
    asked = refuse(build(frozenset({"stdio"}), "x86_64", WHO))
    o_wronly, prot_rx = 1, 5
    assert shim.verdict(loader, NR["openat"], (0, 0, 0, 0, 0, 0)) == 0  # O_RDONLY
    assert shim.verdict(loader, NR["openat"], (0, 0, o_wronly, 0, 0, 0)) is None
    assert shim.verdict(asked, NR["openat"], (0, 0, 0, 0, 0, 0)) is None
    assert shim.verdict(loader, NR["mmap"], (0, 4096, prot_rx, 2, 3, 0)) == 0
    assert shim.verdict(asked, NR["mmap"], (0, 4096, prot_rx, 2, 3, 0)) is None
    assert shim.verdict(loader, NR["execve"], (0,) * 6) is None  # exec: the command's own only
    assert shim.verdict(loader, NR["seccomp"], (1, 0, 0, 0, 0, 0)) == 38  # ENOSYS


@AS_ROOT
def test_the_default_unveil_holds_paths_of_exec_only_when_prog_keeps_it() -> None:
    """(exec was always held, so every PROG could read the PATH directories and the
    system library directories, the user's own bin directories among them)"""
    ls = os.path.realpath(shutil.which("ls") or "/bin/ls")
    r = pledge("-q", "-p", "stdio rpath", "cat", ls)
    assert r.returncode == 1 and "Permission denied" in r.stderr and r.stdout == "", \
        (r.returncode, r.stderr)
    r = pledge("-q", "-p", "stdio rpath proc exec", "sh", "-c", f"cat {ls} | wc -c")
    assert r.returncode == 0 and int(r.stdout) > 0, (r.returncode, r.stderr)
