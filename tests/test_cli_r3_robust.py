"""The pledge command's robustness (issue 12 items 3 and 4), through the installed console script:
/dev/tty under tty, exit 134 whatever the program does to its signals, descendants named by
their own program, the -P limit named, hints that fit the program."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.test_command_unveil import ENV, SCRIPT, pledge

PY = "/usr/bin/python3"
needs_py = pytest.mark.skipif(not os.access(PY, os.X_OK), reason=f"needs {PY}")
OPEN_TTY = ("import os\ntry:\n    fd = os.open('/dev/tty', os.O_RDWR)\n"
            "except OSError as e:\n    print('refused', e.strerror, flush=True)\nelse:\n"
            "    os.write(fd, b'via-tty\\n'); print('opened', flush=True)\n")


def on_a_terminal(*args: str) -> tuple[int, str]:
    """The console script run as the foreground of a new session on a pseudo-terminal."""
    master, slave = pty.openpty()
    head = [SCRIPT] if SCRIPT else ["python3", "-m", "pledgepy"]

    def session() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([*head, *args], stdin=slave, stdout=slave, stderr=slave, env=ENV,
                         preexec_fn=session, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
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
    os.close(master)
    return p.wait(timeout=30), out.decode(errors="replace")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_on_a_terminal_starts_with_tty_alone() -> None:
    # bash opens /dev/tty O_RDWR|O_NONBLOCK at start (check_dev_tty): wpath before
    rc, out = on_a_terminal("-p", "stdio rpath tty", "bash", "-c", "echo hi")
    assert rc == 0 and "hi" in out and "wpath" not in out, out


@needs_py
def test_dev_tty_opens_under_tty_only() -> None:
    rc, out = on_a_terminal("-q", "-p", "stdio rpath tty", PY, "-I", "-c", OPEN_TTY)
    assert rc == 0 and "via-tty" in out and "opened" in out, out
    rc, out = on_a_terminal("-q", "-p", "stdio rpath", PY, "-I", "-c", OPEN_TTY)
    assert rc == 134 and 'openat("/dev/tty", O_RDWR) needs "wpath"' in out, out


@needs_py
def test_only_dev_tty_itself_is_let_through() -> None:
    code = OPEN_TTY.replace("'/dev/tty'", "'/dev/../dev/tty'")
    rc, out = on_a_terminal("-q", "-p", "stdio rpath tty", PY, "-I", "-c", code)
    assert rc == 134 and 'needs "wpath"' in out, out
    code = OPEN_TTY.replace("os.O_RDWR", "os.O_RDWR | os.O_CREAT")
    rc, out = on_a_terminal("-q", "-p", "stdio rpath tty", PY, "-I", "-c", code)
    assert rc == 134 and "cpath" in out, out


@needs_py
def test_no_controlling_terminal_is_enxio_not_a_violation() -> None:
    r = pledge("-q", "-p", "stdio rpath tty", PY, "-I", "-c", OPEN_TTY, start_new_session=True)
    assert r.returncode == 0 and "refused No such device or address" in r.stdout, r.stderr


@needs_py
@pytest.mark.parametrize("dodge", ["signal.signal(signal.SIGABRT, signal.SIG_IGN)",
                                   "signal.signal(signal.SIGABRT, lambda *a: None)",
                                   "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGABRT])"])
def test_a_violation_exits_134_whatever_the_program_does_to_sigabrt(dodge: str) -> None:
    r = pledge("-p", "stdio rpath", PY, "-I", "-c",
               f"import signal, socket\n{dodge}\nsocket.socket()\nprint('survived')")
    assert r.returncode == 134 and "survived" not in r.stdout, (r.returncode, r.stderr)
    assert 'socket(AF_INET, SOCK_STREAM) needs "inet"' in r.stderr


@needs_py
def test_sigkill_is_said_when_it_had_to_be_used() -> None:
    r = pledge("-p", "stdio rpath", PY, "-I", "-c",
               "import signal, socket\nsignal.signal(signal.SIGABRT, signal.SIG_IGN)\n"
               "socket.socket()")
    assert r.returncode == 134 and "killed with SIGKILL for breaking a promise" in r.stderr


@needs_py
def test_descendants_are_named_by_their_own_program(tmp_path: Path) -> None:
    r = pledge("-q", "-p", "stdio rpath proc exec", "sh", "-c",
               f"{PY} -I -c 'import socket; socket.socket()'")
    assert r.returncode == 134, r.stderr
    assert "python3[" in r.stderr and "sh[" not in r.stderr, r.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="RLIMIT_NPROC needs a uid of its own: -u")
@needs_py
def test_a_fork_bomb_hits_minus_p_and_is_told_so() -> None:
    bomb = "import os\nwhile True:\n    os.fork()\n"
    r = pledge("-p", "stdio rpath proc", "-u", "nobody", "-P", "8", PY, "-I", "-c", bomb)
    assert r.returncode == 1 and "BlockingIOError" in r.stderr, (r.returncode, r.stderr)
    assert "-P 8 (processes of its user)" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the exemption is uid 0's")
def test_minus_p_as_root_with_proc_is_said_not_to_hold_and_strict_refuses() -> None:
    r = pledge("-p", "stdio rpath proc exec", "-P", "4", "sh", "-c", "true")
    assert r.returncode == 0 and "-P 4: RLIMIT_NPROC does not hold for uid 0" in r.stderr, \
        r.stderr
    r = pledge("--strict", "-p", "stdio rpath proc exec", "-P", "4", "sh", "-c", "true")
    assert r.returncode == 70 and "--strict: -P 4: RLIMIT_NPROC" in r.stderr, r.stderr
    for args in (["-u", "nobody", "-p", "stdio rpath proc exec"], ["-p", "stdio rpath"]):
        r = pledge(*args, "-P", "4", "sh", "-c", "true")  # another uid, or no fork possible
        assert r.returncode == 0 and "RLIMIT_NPROC" not in r.stderr, (args, r.stderr)


@pytest.fixture
def static_mapper(tmp_path: Path) -> Path:
    """A static C program that maps executable memory (no loader: no prot_exec added)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler")
    src = tmp_path / "mapx.c"
    src.write_text("#include <sys/mman.h>\nint main(void) { return mmap(0, 4096, PROT_READ | "
                   "PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED; }\n")
    out = tmp_path / "mapx"
    if subprocess.run([cc, "-static", "-O", "-o", str(out), str(src)], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("no static libc to link with")
    out.chmod(0o755)
    return out


def test_a_prot_exec_hint_fits_a_program_that_is_not_python(static_mapper: Path) -> None:
    r = pledge("-q", "-p", "stdio rpath", str(static_mapper))
    assert r.returncode == 134 and 'mmap(PROT_READ|PROT_EXEC) needs "prot_exec"' in r.stderr, r.stderr
    assert "unveil_imports" not in r.stderr and "loader" in r.stderr, r.stderr


def test_empty_promises_are_refused_with_the_reason() -> None:
    r = pledge("-p", "", "true")
    assert r.returncode == 64 and 'needs at least "stdio"' in r.stderr
    assert "pledge(\"\") only lets a program _exit" in r.stderr
