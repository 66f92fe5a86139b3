"""OpenBSD's /dev/tty allowance in-process: under "tty" a pledged program opens its
controlling terminal read-write without rpath/wpath (getpass does), and nothing else."""

from __future__ import annotations

import os
import pty
import select
import sys

from tests.childproc import ROOT

CODE = """
import os, sys, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge(sys.argv[1])
for path in sys.argv[2:]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        print("refused", path, e.errno, flush=True)
    else:
        os.write(fd, b"wrote through " + path.encode() + b"\\n")
"""


def on_a_terminal(*argv: str) -> tuple[int, str]:
    """Run CODE with *argv* as a session leader whose controlling terminal is a pty."""
    pid, master = pty.fork()
    if pid == 0:
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-c", CODE, *argv])
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_tty_opens_the_controlling_terminal() -> None:
    rc, out = on_a_terminal("stdio tty", "/dev/tty")
    assert rc == 0 and "wrote through /dev/tty" in out, out


def test_without_tty_it_is_a_violation_naming_tty() -> None:
    rc, out = on_a_terminal("stdio rpath", "/dev/tty")
    assert rc == -6 and 'openat("/dev/tty", O_RDWR) needs "wpath" or "tty"' in out, out


def test_only_dev_tty_itself() -> None:
    for path in ("/dev/../dev/tty", "/dev/ptmx", "/dev/zero"):
        rc, out = on_a_terminal("stdio tty", path)
        assert rc == -6 and "wrote through" not in out, (path, out)


def test_no_controlling_terminal_is_enxio() -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-c", CODE, "stdio tty", "/dev/tty"], text=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       start_new_session=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0 and r.stdout == "refused /dev/tty 6\n", (r.stdout, r.stderr)
