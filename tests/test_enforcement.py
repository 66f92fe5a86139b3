"""Per promise: a call it allows succeeds, one it does not is refused (real kernel)."""

from __future__ import annotations

import pytest

from tests.pledged import killed, under

# (promise under test, promises that make the code succeed, code). Without the
# promise under test the same code must be refused: killed with a message naming it.
CASES = [
    ("rpath", "stdio rpath", "open('/etc/hostname').read()"),
    ("rpath", "stdio rpath", "os.listdir('/')"),
    ("rpath", "stdio rpath", "os.stat('/etc/hostname')"),
    ("wpath", "stdio wpath", "os.close(os.open(PATH, os.O_WRONLY))"),
    ("wpath", "stdio rpath wpath", "os.close(os.open(PATH, os.O_RDONLY | os.O_TRUNC))"),
    ("wpath", "stdio rpath wpath", "os.close(os.open(PATH, os.O_RDWR))"),
    ("cpath", "stdio wpath cpath", "os.close(os.open(NEW, os.O_WRONLY | os.O_CREAT, 0o644))"),
    ("cpath", "stdio rpath wpath cpath", "open(NEW, 'w+').close()"),
    ("cpath", "stdio cpath", "os.mkdir(NEW)"),
    ("cpath", "stdio cpath", "os.unlink(PATH)"),
    ("cpath", "stdio cpath", "os.rename(PATH, NEW)"),
    ("cpath", "stdio cpath", "os.symlink(PATH, NEW)"),
    ("dpath", "stdio dpath", "os.mkfifo(NEW)"),
    ("fattr", "stdio fattr", "os.chmod(PATH, 0o600)"),
    ("fattr", "stdio fattr", "os.utime(PATH, None)"),
    ("fattr", "stdio fattr", "os.chown(PATH, os.getuid(), os.getgid())"),
    ("chown", "stdio chown", "os.chown(PATH, 1, 1)"),
    ("flock", "stdio flock", "fcntl.flock(FD, fcntl.LOCK_EX)"),
    ("flock", "stdio flock", "fcntl.lockf(FD, fcntl.LOCK_EX)"),
    ("inet", "stdio inet", "socket.socket(socket.AF_INET, socket.SOCK_STREAM)"),
    ("inet", "stdio inet", "socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)"),
    ("inet", "stdio inet", "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()"),
    ("unix", "stdio unix", "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)"),
    ("dns", "stdio dns", "socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"),
    ("tty", "stdio tty", "termios.tcsetattr(PTY, termios.TCSANOW, termios.tcgetattr(PTY))"),
    ("tty", "stdio tty", "fcntl.ioctl(PTY, termios.TIOCGWINSZ, bytes(8))"),
    ("proc", "stdio proc", "pid = os.fork()\nif pid == 0: os._exit(0)\nos.waitpid(pid, 0)"),
    ("proc", "stdio proc", "os.setpgid(0, 0)"),
    ("proc", "stdio proc", "os.kill(os.getppid(), 0)"),
    ("id", "stdio id", "os.setgid(os.getgid())"),
    ("id", "stdio id", "os.setuid(os.getuid())"),
    ("prot_exec", "stdio prot_exec",
     "mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)"),
    ("sendfd", "stdio sendfd", "socket.send_fds(SP[0], [b'x'], [0])"),
    ("recvfd", "stdio recvfd", "SP[1].send(b'x'); socket.recv_fds(SP[0], 1, 1)"),
    ("settime", "stdio settime", "time.clock_settime(time.CLOCK_REALTIME, time.time())"),
    # a dynamic program needs the loader's rpath and prot_exec too (it inherits the filter)
    ("exec", "stdio rpath prot_exec exec", "os.execv('/bin/echo', ['echo', 'DONE'])"),
    ("stdio", "stdio", "print('hello', file=sys.stderr)"),
    ("stdio", "stdio", "os.pipe()"),
    ("stdio", "stdio", "time.sleep(0.001)"),
    ("stdio", "stdio", "os.urandom(8)"),
]

SETUP = """
import socket, tempfile, mmap, fcntl, termios, time
d = tempfile.mkdtemp()
PATH = os.path.join(d, 'f'); NEW = os.path.join(d, 'new')
open(PATH, 'w').close()
FD = os.open(PATH, os.O_RDWR)
import pty; PTY, _tty = pty.openpty()
SP = socket.socketpair()
"""


def _ids() -> list[str]:
    return [f"{p}-{i}" for i, (p, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("promise,held,code", CASES, ids=_ids())
def test_allowed_with_the_promise(promise: str, held: str, code: str) -> None:
    r = under(held, code + "\nprint('DONE', flush=True)", setup=SETUP)
    assert r.returncode == 0 and "DONE" in r.stdout, r.explain()


@pytest.mark.parametrize("promise,held,code", CASES, ids=_ids())
def test_refused_without_the_promise(promise: str, held: str, code: str) -> None:
    without = " ".join(p for p in held.split() if p != promise)
    r = under(without, code + "\nprint('DONE', flush=True)", setup=SETUP)
    assert killed(r), r.explain()
    assert "DONE" not in r.stdout
    line = next(l for l in r.stderr.splitlines() if l.startswith("pledge: "))
    assert f'"{promise}"' in line or f' {promise}"' in line or f'"{promise} ' in line, line
