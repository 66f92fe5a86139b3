"""Review round 17: real programs hardened the way a user would, broad at start-up and
narrowed in the main loop; what broke where OpenBSD would not.

Each enforcement check runs in a child process against the real kernel.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="seccomp and Landlock are Linux's")


def test_narrowing_that_drops_exec_is_not_partial_for_exec_gaps() -> None:
    """A program runs a tool once at start-up, then drops proc and exec for its main loop:
    no program can be exec'd any more (the filter refuses execve, the spawner is sealed),
    so the in-place exec gaps of the first pledge no longer apply. On main the narrowing
    still listed "exec'd programs keep 'exec'" and strict mode refused it (OpenBSD
    accepts any narrowing)."""
    ls = shutil.which("ls")
    assert ls is not None
    r = run(f"""
import subprocess, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio rpath inet proc exec", "stdio rpath prot_exec")
print(subprocess.run([{ls!r}, "/"], capture_output=True).returncode, flush=True)
pledgepy.pledge("stdio rpath inet", strict=True)
st = pledgepy.status()
print(st.level, [g for g in st.not_enforced if "exec" in g], flush=True)
""")
    assert r.returncode == 0, r.explain()
    assert r.stdout.splitlines() == ["0", "full []"], r.explain()


SYSLOG = """
import logging, logging.handlers, socket, sys, warnings, pledgepy
warnings.simplefilter("ignore")
server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
server.bind(sys.argv[1])
log = logging.getLogger("app")
log.propagate = False
if sys.argv[2] == "before":
    log.addHandler(logging.handlers.SysLogHandler(address=sys.argv[1]))
pledgepy.pledge("stdio")
if sys.argv[2] == "after":
    log.addHandler(logging.handlers.SysLogHandler(address=sys.argv[1]))
log.warning("disk almost full")
print(server.recv(200), flush=True)
"""


def test_syslog_opened_before_the_pledge_is_written_under_stdio(tmp_path: Path) -> None:
    """OpenBSD's syslog(3) works under any pledge (sendsyslog); on Linux a log opened
    before pledge("stdio") is written with send(), a stdio call."""
    r = run(SYSLOG, args=[str(tmp_path / "log"), "before"])
    assert r.returncode == 0, r.explain()
    assert "disk almost full" in r.stdout, r.explain()


def test_syslog_opened_after_the_pledge_says_why_and_how() -> None:
    """A SysLogHandler made after pledge("stdio") opens a datagram unix socket: the
    violation it is on Linux. On main the message said only 'socket(AF_UNIX,
    SOCK_DGRAM) needs "unix"', which sends the reader to grant unix sockets (any address)
    for what OpenBSD allows without a promise; now it says to open the log first."""
    with tempfile.TemporaryDirectory() as d:
        r = run(SYSLOG, args=[os.path.join(d, "log"), "after"])
    assert r.returncode == -signal.SIGABRT, r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert 'socket(AF_UNIX, SOCK_DGRAM) needs "unix"' in line, line
    assert "sendsyslog(2) needs no promise" in line and "before pledge()" in line, line
    assert "disk almost full" not in r.stdout


DIR_FD = """
import os, sys, pledgepy, warnings
warnings.simplefilter("ignore")
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)  # as a privsep child receives one
pledgepy.pledge("stdio")
{call}
"""


@pytest.mark.parametrize("call", ["os.listdir(fd)", "os.fstatvfs(fd)"])
def test_a_descriptor_call_under_stdio_gets_no_import_hint(tmp_path: Path, call: str) -> None:
    """A worker narrowed to "stdio" lists a directory descriptor it was handed: a
    violation, as on OpenBSD. Under ``python -c`` (sys.path holds "") the message added
    "(importing a module that was not imported before pledge() needs "rpath")", which
    sends the reader looking for an import that never happened: the import system lists
    directories it opens itself, and that open traps first."""
    r = run(DIR_FD.format(call=call), args=[str(tmp_path)])
    assert r.returncode == -signal.SIGABRT, r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert 'needs "rpath"' in line, line
    assert "importing a module" not in line, line


def test_a_late_import_under_c_keeps_the_getcwd_import_hint() -> None:
    """The case the no-path hint is for: under -c the import system asks getcwd() for
    sys.path's "" when a module is imported after pledge("stdio"), and says which."""
    r = run("""
import pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio")
import colorsys
""")
    assert r.returncode == -signal.SIGABRT, r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert line.endswith('getcwd needs "rpath" or "wpath" or "cpath" (colorsys: importing a '
                         'module that was not imported before pledge() needs "rpath")'), line


def test_the_programs_own_getcwd_gets_no_import_hint() -> None:
    """A program calling os.getcwd() (tempfile.gettempdir() does) under "stdio" with -c:
    no module is being found, so no import is named; on main the message added the
    import hint to any getcwd() while sys.path held a relative entry."""
    r = run("""
import os, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio")
os.getcwd()
""")
    assert r.returncode == -signal.SIGABRT, r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert line.endswith('getcwd needs "rpath" or "wpath" or "cpath"'), line


def test_id_reads_a_priority_to_change_it() -> None:
    """os.nice() reads the priority (getpriority) before it sets it: OpenBSD's id allows
    both (kern_pledge.c: PLEDGE_PROC | PLEDGE_ID); on main "stdio id" killed it at
    getpriority, 'needs "proc"'."""
    r = run("""
import os, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio id")
before = os.getpriority(os.PRIO_PROCESS, 0)
print(os.nice(1) == before + 1, flush=True)
""")
    assert r.returncode == 0 and r.stdout == "True\n", r.explain()


SQLITE = """
import os, sqlite3, sys, warnings, pledgepy
warnings.simplefilter("ignore")
d = sys.argv[1]
pledgepy.unveil(d, "rwc")
# fattr: as root SQLite fchown()s its journal to the database's owner
pledgepy.pledge("stdio rpath wpath cpath flock tmppath fattr")
db = sqlite3.connect(os.path.join(d, "app.db"))
db.execute("pragma journal_mode=wal")
db.execute("create table t(x, y)")
with db:
    db.executemany("insert into t values (?, ?)", [(i, "x" * 200) for i in range(20000)])
try:
    db.execute("create index i on t(y, x)")  # a sort big enough for a temporary file
    db.execute("vacuum")
    print("indexed", db.execute("select count(*) from t").fetchone()[0], flush=True)
except sqlite3.OperationalError as e:
    print("OperationalError", e, flush=True)
"""


@pytest.mark.parametrize("tmpdir", [None, "/tmp"])
def test_sqlite_temporary_files_under_unveil_and_tmppath(tmp_path: Path,
                                                         tmpdir: str | None) -> None:
    """SQLite in an unveiled directory with tmppath: its temporary files go to the first
    temp directory stat() finds writable, and Linux's stat() sees the hidden /var/tmp
    (README: unveil on Linux). With SQLITE_TMPDIR=/tmp, the documented way, they go to
    tmppath's /tmp; without, the failure is SQLite's error, never a violation."""
    env = {"TMPDIR": ""}  # conftest's TMPDIR would come first: the default list, here
    if tmpdir:
        env["SQLITE_TMPDIR"] = tmpdir
    r = run(SQLITE, args=[str(tmp_path)], env=env)
    assert r.returncode == 0 and "pledge:" not in r.stderr, r.explain()
    if tmpdir or not os.path.isdir("/var/tmp"):
        assert r.stdout == "indexed 20000\n", r.explain()
    else:
        assert r.stdout == "OperationalError unable to open database file\n", r.explain()


#: socket options OpenBSD's pledge_sockopt lets "inet" set (any SOL_SOCKET option but
#: SO_RTABLE; IP_MINTTL; IP_RECVDSTADDR, Linux's IP_PKTINFO; the IPv6 receive options),
#: as a UDP server that answers from the address it was asked on, or a BGP speaker with
#: GTSM (OpenBGPD: IP_MINTTL, TCP_MD5SIG), sets them after its pledge
INET_OPTIONS = [
    ("AF_INET", "SOCK_STREAM", "SOL_SOCKET", "SO_DONTROUTE", "1"),
    ("AF_INET", "SOCK_STREAM", "SOL_SOCKET", "SO_DEBUG", "0"),
    ("AF_INET", "SOCK_STREAM", "IPPROTO_IP", "21", "255"),  # IP_MINTTL
    ("AF_INET", "SOCK_DGRAM", "IPPROTO_IP", "8", "1"),  # IP_PKTINFO
    ("AF_INET6", "SOCK_DGRAM", "IPPROTO_IPV6", "IPV6_RECVPKTINFO", "1"),
    ("AF_INET6", "SOCK_DGRAM", "IPPROTO_IPV6", "IPV6_RECVHOPLIMIT", "1"),
    ("AF_INET6", "SOCK_DGRAM", "IPPROTO_IPV6", "IPV6_RECVTCLASS", "1"),
    ("AF_INET6", "SOCK_DGRAM", "IPPROTO_IPV6", "IPV6_DONTFRAG", "1"),
    ("AF_INET6", "SOCK_STREAM", "IPPROTO_IPV6", "73", "255"),  # IPV6_MINHOPCOUNT
]


def _option(value: str) -> str:
    return value if value.isdigit() else f"socket.{value}"


@pytest.mark.parametrize(("family", "kind", "level", "name", "value"), INET_OPTIONS,
                         ids=["SO_DONTROUTE", "SO_DEBUG", "IP_MINTTL", "IP_PKTINFO",
                              "IPV6_RECVPKTINFO", "IPV6_RECVHOPLIMIT", "IPV6_RECVTCLASS",
                              "IPV6_DONTFRAG", "IPV6_MINHOPCOUNT"])
def test_inet_sets_the_socket_options_openbsd_allows(family: str, kind: str, level: str,
                                                     name: str, value: str) -> None:
    """On main each of these killed a program under "stdio inet" ('setsockopt(...) is
    not allowed by any promise') that OpenBSD lets through."""
    r = run(f"""
import socket, warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.pledge("stdio inet")
s = socket.socket(socket.{family}, socket.{kind})
s.setsockopt(socket.{level}, {_option(name)}, {value})
print(s.getsockopt(socket.{level}, {_option(name)}) == {value}, flush=True)
""")
    assert r.returncode == 0 and r.stdout == "True\n", r.explain()


def test_inet_sets_a_tcp_md5_signature_key() -> None:
    """OpenBGPD's TCP_MD5SIG (RFC 2385) under "stdio inet": OpenBSD allows it."""
    r = run("""
import socket, struct, warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.pledge("stdio inet")
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
peer = struct.pack("=H2s4s", socket.AF_INET, b"", socket.inet_aton("127.0.0.1")).ljust(128, b"\\0")
key = struct.pack("=128sBBHi80s", peer, 0, 0, 6, 0, b"secret")
s.setsockopt(socket.IPPROTO_TCP, 14, key)  # TCP_MD5SIG
print("keyed", flush=True)
""")
    assert r.returncode == 0 and r.stdout == "keyed\n", r.explain()


def test_dns_alone_gets_only_its_own_extra_option() -> None:
    """OpenBSD's dns adds IPV6_RECVPKTINFO (its resolver's), not the SOL_SOCKET and IP
    options inet has: SO_DONTROUTE under "stdio dns" stays a violation."""
    r = run("""
import socket, warnings, pledgepy
warnings.simplefilter("ignore")
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
pledgepy.pledge("stdio dns")
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
print("pktinfo", flush=True)
s4.setsockopt(socket.SOL_SOCKET, socket.SO_DONTROUTE, 1)
print("NOT KILLED", flush=True)
""")
    assert r.returncode == -signal.SIGABRT and r.stdout == "pktinfo\n", r.explain()
    assert "setsockopt(SOL_SOCKET, SO_DONTROUTE)" in r.stderr, r.explain()


def test_a_multiprocessing_child_whose_exec_fails_ends_with_255() -> None:
    """A spawn-method Process whose interpreter cannot be exec'd (a wrong executable, or
    one unveil hides): multiprocessing reads no error pipe, so it learns of the failure
    from waitpid(), 255 as _posixsubprocess's child exits. Under the spawner that child
    has exit signal 0 and was reaped by pledgepy: on main exitcode stayed None and
    is_alive() True forever (Pool workers never reported back)."""
    r = run("""
import multiprocessing, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio rpath wpath cpath proc exec prot_exec", "stdio rpath wpath prot_exec")
ctx = multiprocessing.get_context("spawn")
ctx.set_executable("/nonexistent/python")
p = ctx.Process(target=abs, args=(1,))
p.start()
p.join(10)
print(p.exitcode, p.is_alive(), flush=True)
""")
    assert r.returncode == 0, r.explain()
    assert r.stdout == "255 False\n", r.explain()


def test_subprocess_exec_failures_leave_no_child() -> None:
    """subprocess waits for the stand-in the failed spawn returns: no zombie, the same
    FileNotFoundError."""
    r = run("""
import os, subprocess, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath prot_exec")
for _ in range(5):
    try:
        subprocess.run(["/nonexistent/program"])
    except FileNotFoundError as e:
        print(e.filename, flush=True)
try:
    os.waitpid(-1, os.WNOHANG)
    print("a child is left", flush=True)
except ChildProcessError:
    print("none left", flush=True)
""")
    assert r.returncode == 0, r.explain()
    assert r.stdout == "/nonexistent/program\n" * 5 + "none left\n", r.explain()


def test_a_lookup_nss_systemd_serves_says_why_getpw_is_not_enough() -> None:
    """A privilege-separated program under "stdio getpw" looks up a uid that /etc/passwd
    lacks (a file's owner, say): OpenBSD answers "no such user"; with nsswitch.conf's
    "passwd: files systemd" glibc reads systemd's user records, which needs rpath here
    (README: NSS). On main the message said only 'needs "rpath"'."""
    r = run("""
import os, pwd, pledgepy, warnings
warnings.simplefilter("ignore")
uid = next(u for u in range(47000, 48000) if u not in {p.pw_uid for p in pwd.getpwall()})
pledgepy.pledge("stdio getpw")
try:
    pwd.getpwuid(uid)
except KeyError:
    print("not found", flush=True)
""")
    if r.returncode == 0 and r.stdout == "not found\n":
        pytest.skip("no nss-systemd in this system's passwd lookups")
    assert r.returncode == -signal.SIGABRT, r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert '"/run/systemd/userdb' in line and 'needs "rpath"' in line, line
    assert "nss-systemd reads systemd's user records" in line, line
