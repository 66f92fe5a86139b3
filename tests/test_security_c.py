"""The pledge command's supervisor and its penalty under attack from the program it runs.

Each test runs a Python program through the real ``pledge`` command; the
program attacks its supervisor or dodges the penalty, then breaks a promise
(``socket()`` under ``stdio``). It must die all the same, and the supervisor
must still explain it wherever its stderr can take the message.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

from tests.test_cli import ENV, pledge

PROMISES = "stdio rpath prot_exec"  # what the interpreter needs to start
DEAD = (128 + signal.SIGABRT, 128 + signal.SIGKILL)
VIOLATE = ("import socket\ntry:\n    socket.socket()\nexcept OSError:\n    pass\n"
           "print('survived', flush=True)\n")


#: The pledge command as uid 65534: it drops once its modules are loaded (this
#: interpreter's are out of that uid's reach); the program is a Python it may run.
AS_NOBODY = """
import ctypes, os, sys, locale, struct, pledgepy.api, pledgepy.cli, pledgepy.promises
import json, re, shutil, subprocess  # what the command imports only when it needs them
pledgepy.cli._parser().parse_args(sys.argv[1:])
pledgepy.api.backend().exec_supervisor()
os.setgroups([]); os.setgid(65534); os.setuid(65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable again, as if exec'd by uid 65534
sys.exit(pledgepy.cli.main(sys.argv[1:]))
"""
SYSTEM_PYTHON = "/usr/bin/python3"


def command(code: str, promises: str = PROMISES, nobody: bool = False) -> list[str]:
    if nobody:
        return [sys.executable, "-c", AS_NOBODY, "-q", "-p", promises, SYSTEM_PYTHON, "-S",
                "-c", code]
    return [sys.executable, "-m", "pledgepy", "-q", "-p", promises, sys.executable, "-S",
            "-c", code]


@pytest.fixture(params=["root", "nobody"])
def nobody(request: pytest.FixtureRequest) -> bool:
    if request.param == "nobody" and (os.getuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK)):
        pytest.skip(f"needs root to become uid 65534, and {SYSTEM_PYTHON}")
    return bool(request.param == "nobody")


def test_blocking_sigabrt_in_every_thread_does_not_dodge_the_penalty() -> None:
    code = ("import signal, threading; "
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGABRT}); "
            "t = threading.Thread(target=lambda: __import__('socket').socket()); "
            "t.start(); t.join()\n" + VIOLATE)
    r = pledge("-q", "-p", PROMISES, sys.executable, "-S", "-c", code)
    assert r.returncode in DEAD and "survived" not in r.stdout, (r.returncode, r.stderr)
    assert "socket(AF_INET, SOCK_STREAM) needs" in r.stderr


STACK_ERRNO = """
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
def ins(code, k):
    return struct.pack('HBBI', code, 0, 0, k)
ERRNO_EPERM, ALLOW, TRAP = 0x00050001, 0x7fff0000, 0x00030000
prog = (ins(0x20, 0) + struct.pack('HBBI', 0x15, 0, 1, 41)  # socket?
        + ins(0x06, {verdict}) + ins(0x06, ALLOW))
buf = ctypes.create_string_buffer(prog, len(prog))
class Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc.syscall.restype = ctypes.c_long
rc = libc.syscall(317, 1, 0, ctypes.byref(fp))
print('stacked' if rc == 0 else 'refused', ctypes.get_errno(), flush=True)
"""  # (catching SIGSYS is a violation of its own: tests/test_bypass.py)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
@pytest.mark.parametrize("verdict", ["ERRNO_EPERM", "TRAP"])
def test_a_stacked_filter_does_not_outrank_the_supervisor(verdict: str) -> None:
    # socket is 41 and seccomp 317 on x86_64: the program's own filter would answer
    # socket() with EPERM (or a SIGSYS it catches) before the supervisor hears of it
    code = STACK_ERRNO.format(verdict=verdict) + VIOLATE
    r = pledge("-q", "-p", PROMISES, sys.executable, "-S", "-c", code)
    assert r.returncode in DEAD and "survived" not in r.stdout, (r.returncode, r.stdout,
                                                                  r.stderr)
    assert "socket(AF_INET, SOCK_STREAM) needs" in r.stderr
    assert r.stdout.startswith("refused"), r.stdout


def test_a_non_blocking_full_stderr_does_not_crash_the_supervisor(nobody: bool) -> None:
    # O_NONBLOCK belongs to the open file description the supervisor shared; a full
    # pipe then made its message write fail (EAGAIN) before it applied the penalty
    code = ("import fcntl, os; fcntl.fcntl(2, fcntl.F_SETFL, os.O_NONBLOCK)\n"
            "try:\n    while True: os.write(2, b'x' * 4096)\n"
            "except BlockingIOError:\n    pass\n"
            "print('full', flush=True)\n" + VIOLATE)
    p = subprocess.Popen(command(code, nobody=nobody), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline() == b"full\n"
    time.sleep(0.5)  # the supervisor meets a full pipe; only then drain it
    err = p.stderr.read()
    out = p.stdout.read()
    rc = p.wait(timeout=30)
    assert rc in DEAD and b"survived" not in out, (rc, err[-500:])
    assert b"socket(AF_INET, SOCK_STREAM) needs" in err


def _on_a_terminal(code: str, nobody: bool) -> tuple[int, bytes]:
    """Run the command as the foreground group of a new session on a pseudo-terminal;
    type a line once the program says ``ready``; return its status and the output."""
    master, slave = pty.openpty()

    def session() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(command(code, nobody=nobody), stdin=slave, stdout=slave, stderr=slave,
                         env=ENV, preexec_fn=session, close_fds=True)
    os.close(slave)
    out, typed = b"", False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 0.1)[0]:
            if p.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every holder of the terminal has gone
            break
        out += chunk
        if not typed and b"ready" in out:
            os.write(master, b"go\n")
            typed = True
    os.close(master)
    return p.wait(timeout=30), out


def test_sigio_through_the_terminal_does_not_kill_the_supervisor(nobody: bool) -> None:
    # a terminal sends SIGIO to its foreground group, the supervisor's too; the
    # program ignores it itself (and may be refused O_ASYNC: it must die either way)
    code = ("import fcntl, os, signal, sys; signal.signal(signal.SIGIO, signal.SIG_IGN)\n"
            "fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_ASYNC)\n"
            "print('ready', flush=True); sys.stdin.readline()\n"
            "import time; time.sleep(0.3)\n" + VIOLATE)
    rc, out = _on_a_terminal(code, nobody)
    assert rc in DEAD and b"survived" not in out, (rc, out)
    assert b"needs" in out, out


def test_the_program_dies_with_its_supervisor() -> None:
    # with "proc" the program can kill its supervisor; it must not outlive it
    code = ("import os, signal, time; os.kill(os.getppid(), signal.SIGKILL); "
            "time.sleep(1); print('survived', flush=True)")
    r = pledge("-q", "-p", PROMISES + " proc", sys.executable, "-S", "-c", code)
    assert r.returncode == -signal.SIGKILL and "survived" not in r.stdout, r.stdout


def test_the_program_cannot_clear_its_parent_death_signal() -> None:
    code = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
            "print(libc.prctl(1, 0, 0, 0, 0), flush=True)")
    r = pledge("-q", "-p", PROMISES, sys.executable, "-S", "-c", code)
    assert r.returncode in DEAD and "0" not in r.stdout.split(), (r.returncode, r.stdout)
    assert "prctl(PR_SET_PDEATHSIG)" in r.stderr, r.stderr


def test_under_error_the_refusal_is_explained_and_fails() -> None:
    code = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
            "print(libc.prctl(1, 0, 0, 0, 0), ctypes.get_errno(), flush=True)")
    r = pledge("-q", "-p", PROMISES + " error", sys.executable, "-S", "-c", code)
    assert r.returncode == 0 and r.stdout.split() == ["-1", "38"], (r.stdout, r.stderr)
    assert ("prctl(PR_SET_PDEATHSIG) is refused under the pledge command: the program must "
            'die with its supervisor; returning ENOSYS ("error" promise)') in r.stderr


def test_the_command_says_how_a_program_could_outlive_it() -> None:
    r = pledge("-p", "stdio proc", "true")
    assert r.returncode == 0 and 'with "proc" the program can kill the supervisor' in r.stderr
    assert 'with "id"' not in r.stderr
