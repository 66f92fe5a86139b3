"""posix_spawn's child sets SIGSYS to its default before exec (glibc's popen() and
system() use it): answered as done, never run, wherever a supervisor answers
violations; a handler, SIG_IGN or a call asking the old action stays a violation, but
under the pledge command (round 11: its supervisor punishes and no filter traps, so
SIGSYS's action is the program's to set: ps sets one for every signal).

On main the command printed ``rt_sigaction(31) is not allowed by any promise`` and
popen() read nothing: the tests of SIG_DFL answered (under the command, in-process, the
answer's reads) failed there; the others guard what must stay refused, and that a program
exec'd under execpromises (whose layers never refused it) keeps working."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pledged import killed, under
from tests.test_command_unveil import SYSTEM_PYTHON, pledge

LUA = shutil.which("lua5.4")
SPAWNING = "stdio rpath proc exec"

#: rt_sigaction(SIGSYS, act, NULL, 8) with act's handler set to HANDLER, from Python
#: (x86_64's numbers): SETUP before any pledge, CALL after.
SETUP = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
"""
CALL = """
act = (ctypes.c_uint64 * 4)({handler}, 0x04000000, 0, 0)  # handler, SA_RESTORER, -, mask
r = libc.syscall(ctypes.c_long(13), ctypes.c_long(31), ctypes.byref(act), None, ctypes.c_long(8))
print("returned", r, ctypes.get_errno(), flush=True)
"""
RAW = SETUP + CALL
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers")


@pytest.mark.skipif(LUA is None, reason="needs lua5.4 (Debian's lua5.4)")
def test_lua_io_popen_runs_under_the_command() -> None:
    r = pledge("-q", "-p", SPAWNING, str(LUA), "-e",
               'local f = io.popen("echo from-popen"); io.write(f:read("a")); print(f:close())')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("from-popen\ntrue"), (r.stdout, r.stderr)
    assert "rt_sigaction" not in r.stderr, r.stderr


def test_system_from_native_code_runs_under_the_command() -> None:
    code = 'import ctypes; print("status", ctypes.CDLL(None).system(b"/bin/echo from-system"))'
    r = pledge("-q", "-p", SPAWNING, SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-system\nstatus 0\n", (r.stdout, r.stderr)
    assert "rt_sigaction" not in r.stderr, r.stderr


def test_a_program_of_its_own_gets_sig_dfl_answered_under_the_command() -> None:
    r = pledge("-q", "-p", "stdio", SYSTEM_PYTHON, "-c", RAW.format(handler=0))
    assert r.returncode == 0 and "returned 0 0" in r.stdout, (r.stdout, r.stderr)


@pytest.mark.parametrize("handler", [1, 0x1000], ids=["SIG_IGN", "a handler"])
def test_any_action_is_the_programs_under_the_command(handler: int) -> None:
    # round 11: was a violation (134); the command's penalty does not go through SIGSYS
    r = pledge("-p", "stdio", SYSTEM_PYTHON, "-c", RAW.format(handler=handler))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "returned 0 0" in r.stdout and "rt_sigaction" not in r.stderr, r.stderr


def test_asking_the_old_action_too_runs_under_the_command() -> None:
    # signal.signal() asks for the old action (round 11: was a violation)
    code = "import signal; signal.signal(signal.SIGSYS, signal.SIG_DFL); print('changed')"
    r = pledge("-p", "stdio", SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 0 and "changed" in r.stdout, (r.stdout, r.stderr)


def test_a_handler_does_not_dodge_the_commands_penalty() -> None:
    # a SIGSYS handler (and SIGABRT ignored) changes nothing: the violation is still 134
    code = ("import signal; signal.signal(signal.SIGSYS, lambda *a: print('caught'));"
            " signal.signal(signal.SIGABRT, signal.SIG_IGN); import socket; socket.socket()")
    r = pledge("-p", "stdio", SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 134 and "caught" not in r.stdout, (r.stdout, r.stderr)


@pytest.mark.skipif(LUA is None, reason="needs lua5.4 (Debian's lua5.4)")
def test_lua_io_popen_under_a_pledged_programs_execpromises() -> None:
    # the exec'd program's violations go to the explainer, which answers as the command
    body = f"""
import subprocess
r = subprocess.run([{LUA!r}, "-e", 'io.write(io.popen("echo via-explainer"):read("a"))'],
                   capture_output=True, text=True)
print(repr(r.stdout), r.returncode, repr(r.stderr))
"""
    res = under("stdio rpath proc exec", body, execpromises="stdio rpath proc exec prot_exec")
    assert res.returncode == 0, res.explain()
    assert "'via-explainer\\n' 0 ''" in res.stdout, res.explain()


def test_in_process_sig_dfl_is_answered_and_the_handler_stays() -> None:
    # In-process the handler answers it (posix_spawn's own child cannot reach it: every
    # signal is blocked there, so the kernel kills it with SIGSYS; see README)
    body = CALL.format(handler=0) + "\nopen('/etc/hostname')\n"
    res = under("stdio", body, setup=SETUP)
    assert "returned 0 0" in res.stdout, res.explain()
    assert killed(res) and 'needs "rpath"' in res.stderr, res.explain()


def test_in_process_a_handler_stays_a_violation() -> None:
    res = under("stdio", CALL.format(handler=0x1000), setup=SETUP)
    assert killed(res) and "rt_sigaction(SIGSYS)" in res.stderr, res.explain()
    assert "returned" not in res.stdout


def test_the_answer_reads_only_the_handler() -> None:
    # unreadable action: no answer (a violation), never a fault in the supervisor
    from pledgepy.backends.linux.exec.answer import sigsys_default_for
    from pledgepy.backends.linux.syscalls import BY_ARCH
    arch = os.uname().machine
    nr = BY_ARCH[arch]["rt_sigaction"]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert sigsys_default_for(child.pid, nr, [31, 8, 0, 8, 0, 0], frozenset({"stdio"}),
                                  arch) is None
        assert sigsys_default_for(child.pid, nr, [31, 0, 0, 8, 0, 0], frozenset({"stdio"}),
                                  arch) is None
        assert sigsys_default_for(child.pid, nr, [15, 8, 0, 8, 0, 0], frozenset({"stdio"}),
                                  arch) is None
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(LUA is None, reason="needs lua5.4 (Debian's lua5.4)")
def test_learn_counts_it_as_stdio_and_its_command_runs(tmp_path: Path) -> None:
    # on main the report listed it under calls no promise allows
    out = tmp_path / "learned.json"
    script = 'io.write(io.popen("echo learned"):read("a"))'
    r = pledge("--learn", "--json", "-o", str(out), str(LUA), "-e", script)
    assert r.returncode == 0 and r.stdout == "learned\n", (r.stdout, r.stderr)
    report = json.loads(out.read_text())
    assert report["refused"] == [], report["refused"]
    assert any(e["syscall"] == "rt_sigaction" and e["promise"] == "stdio"
               for e in report["evidence"]), report["evidence"]
    words = shlex.split(report["command"])
    again = pledge(*words[1:])
    assert again.returncode == 0 and again.stdout == "learned\n", (again.stdout, again.stderr)


def test_a_handler_under_learn_counts_as_stdio(tmp_path: Path) -> None:
    # as the command runs it (round 11: was refused, as in a pledged process)
    out = tmp_path / "learned.json"
    r = pledge("--learn", "--json", "-o", str(out), SYSTEM_PYTHON, "-c", RAW.format(handler=0x1000))
    assert r.returncode == 0, r.stderr
    refused = json.loads(out.read_text())["refused"]
    assert refused == [], refused
