"""Review r16: violation messages that sent the reader the wrong way.

Each runs a real pledged Python child against the running kernel and reads the
SIGSYS handler's message (or the call's outcome) from it.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.childproc import Result
from tests.pledged import killed, under

pytest.importorskip("pledgepy.backends.linux.native._sigsys")


def message(r: Result) -> str:
    """The handler's one line, without its "pledge: prog[pid]: " lead."""
    lines = [line for line in r.stderr.splitlines() if line.startswith("pledge: ")]
    assert len(lines) == 1, r.explain()
    return re.sub(r"^pledge: [^\[]*\[\d+\]: ", "", lines[0])


NSCD = ('socket(AF_UNIX, SOCK_STREAM) needs "unix" (glibc\'s nscd probe before a lookup: '
        'a host or service lookup needs "dns", a user or group lookup "getpw")')


@pytest.mark.parametrize("promises,setup,body", [
    # a forgotten dns: glibc connects to /var/run/nscd/socket before reading its files
    ("stdio inet", "import socket", "socket.getaddrinfo('localhost', 80)"),
    # a forgotten getpw
    ("stdio", "import pwd", "pwd.getpwuid(0)"),
])
def test_nscd_probe_names_dns_and_getpw(promises: str, setup: str, body: str) -> None:
    # "needs unix" alone led to a second violation (nsswitch.conf needs dns or getpw)
    r = under(promises, body, setup=setup)
    assert killed(r) and message(r) == NSCD, r.explain()


def test_other_unix_sockets_get_no_nscd_hint() -> None:
    # Python's own AF_UNIX socket (SOCK_STREAM|SOCK_CLOEXEC) is no lookup
    r = under("stdio", "socket.socket(socket.AF_UNIX)", setup="import socket")
    assert killed(r) and message(r) == 'socket(AF_UNIX, SOCK_STREAM) needs "unix"', r.explain()


DEVNULL_STAT = """
before = os.stat(os.devnull)
want = (before.st_dev, before.st_ino, before.st_mode, before.st_rdev)
"""


@pytest.mark.parametrize("call", ["os.stat", "os.lstat"])
def test_stat_of_dev_null_under_stdio(call: str) -> None:
    # stdio may open /dev/null (OpenBSD's allowance); its stat was EACCES, lstat a 134
    body = (f"got = {call}(os.devnull)\n"
            "print((got.st_dev, got.st_ino, got.st_mode, got.st_rdev) == want,"
            " os.path.exists(os.devnull))")
    r = under("stdio", body, setup=DEVNULL_STAT)
    assert r.returncode == 0 and r.stdout.split() == ["True", "True"], r.explain()
    assert "pledge: " not in r.stderr, r.explain()


def test_statx_of_dev_null_under_stdio() -> None:
    if tuple(int(p) for p in re.findall(r"\d+", os.uname().release)[:2]) < (6, 11):
        pytest.skip("statx(fd, NULL, AT_EMPTY_PATH) needs Linux 6.11")
    setup = DEVNULL_STAT + """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
"""
    # struct statx: stx_ino at offset 32, stx_mode (u16) at 28; STATX_BASIC_STATS 0x7ff
    body = ("rc = libc.statx(-100, b'/dev/null', 0x100, 0x7ff, buf)\n"
            "print(rc, int.from_bytes(buf.raw[32:40], 'little') == before.st_ino,"
            " int.from_bytes(buf.raw[28:30], 'little') == before.st_mode)")
    r = under("stdio", body, setup=setup)
    assert r.returncode == 0 and r.stdout.split() == ["0", "True", "True"], r.explain()


def test_other_paths_beside_dev_null_stay_refused() -> None:
    r = under("stdio", "os.lstat('/dev/zero')")
    assert killed(r) and message(r).startswith('newfstatat("/dev/zero")'), r.explain()


@pytest.mark.parametrize("promises,number,expected", [
    # replacing pledge's own handler: refused under every promise
    ("stdio", "signal.SIGSYS", "rt_sigaction(SIGSYS) is not allowed by any promise"),
    ("rpath", "signal.SIGINT", 'rt_sigaction(SIGINT) needs "stdio"'),
    # a real-time signal has no one name (glibc's and musl's SIGRTMIN differ): its number
    ("rpath", "signal.SIGRTMIN + 6", 'rt_sigaction(40) needs "stdio"'),
])
def test_rt_sigaction_names_the_signal(promises: str, number: str, expected: str) -> None:
    r = under(promises, f"signal.signal({number}, signal.SIG_IGN)", setup="import signal")
    assert killed(r) and message(r) == expected, r.explain()


def test_signal_names_are_this_platforms() -> None:
    import signal

    from pledgepy.backends.linux.native.tables import SIGNAL_NAMES
    for number, name in SIGNAL_NAMES:
        if hasattr(signal, name):
            assert getattr(signal, name) == number, name
    assert {n for n, _ in SIGNAL_NAMES} == set(range(1, 32))
