"""Review r16: violation messages that sent the reader the wrong way.

Each runs a real pledged Python child against the running kernel and reads the
SIGSYS handler's message (or the call's outcome) from it.
"""

from __future__ import annotations

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
