"""OpenBSD's path allowances on Linux (issue 10, item 1): exactly those paths, nothing more.

policy.PATHS: stdio's /dev/null, /etc/localtime, zoneinfo, CPU-count files and
glibc malloc's /proc/sys/vm/overcommit_memory;
dns's resolver files; getpw's passwd and group; tmppath's /tmp. Each test runs
in a fresh child against the real kernel; whatever lies outside an allowance
stays a violation (SIGABRT and the message), as on OpenBSD.
"""

from __future__ import annotations

import errno
import os
import platform
import tempfile

import pytest

from tests.pledged import killed, under

OK = "pledge: "


def clean(r: object) -> bool:
    return r.returncode == 0 and OK not in r.stderr  # type: ignore[attr-defined]


def test_stdio_reads_what_openbsd_lets_through() -> None:
    body = """
print("cpus", os.cpu_count() == CPUS)
from concurrent.futures import ThreadPoolExecutor
import hashlib
with ThreadPoolExecutor(16) as ex:
    print("hashed", len(list(ex.map(lambda i: hashlib.sha256(bytes(i)).hexdigest(), range(64)))))
print("zone", zoneinfo.ZoneInfo("Europe/Paris").utcoffset(datetime.datetime(2024, 1, 1)))
with open(os.devnull, "w") as f:
    f.write("x")
with open(os.devnull, "rb") as f:
    print("null", f.read())
print("local", time.localtime().tm_year > 2000)
"""
    setup = """
import zoneinfo, datetime, time, concurrent.futures, hashlib
CPUS = os.cpu_count()
from concurrent.futures import ThreadPoolExecutor
"""
    r = under("stdio", body, setup=setup)
    assert clean(r), r.explain()
    assert r.stdout.split() == ["cpus", "True", "hashed", "64", "zone", "1:00:00", "null", "b''",
                                "local", "True"], r.explain()


def test_threads_freeing_memory_under_stdio() -> None:
    """glibc's malloc reads /proc/sys/vm/overcommit_memory before it shrinks a thread's
    arena: any threaded program that frees memory (was a violation under stdio)."""
    body = """
def work():
    for _ in range(200):
        x = [bytearray(200000) for _ in range(50)]
        del x
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("freed", flush=True)
"""
    r = under("stdio", body, setup="import threading")
    assert clean(r) and r.stdout.split() == ["freed"], r.explain()
    # the file itself, read as glibc reads it, and nothing beside it
    r = under("stdio", "print(open('/proc/sys/vm/overcommit_memory').read().strip() in "
                       "('0', '1', '2'), flush=True)\nopen('/proc/sys/vm/swappiness')")
    assert killed(r) and r.stdout.split() == ["True"], r.explain()


def test_stdio_allowances_as_nobody() -> None:
    # only what the child loaded before dropping to uid 65534 (tests/childproc.py DROP)
    body = """
cpus = os.cpu_count()
threads = [threading.Thread(target=os.cpu_count) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
with open(os.devnull, "w") as f:
    f.write("x")
print("cpus", cpus > 0, os.geteuid())
open("/etc/passwd")
"""
    r = under("stdio", body, unprivileged=True)
    assert r.stdout.split() == ["cpus", "True", "65534"], r.explain()
    assert killed(r), r.explain()


@pytest.mark.parametrize("code", [
    "open('/etc/passwd')",
    "open('/etc/hostname')",
    "open('/sys/devices/system/cpu/cpu0/online')",
    "open('/tmp/x-pledgepy-allowance', 'w')",
    "os.stat('/etc/passwd')",
    "os.stat('/nonexistent-pledgepy')",
    "os.listdir('/usr/share/zoneinfo')",
    "open('/usr/share/zoneinfo/../../../etc/passwd')",
])
def test_stdio_refuses_everything_else(code: str) -> None:
    r = under("stdio", code)
    assert killed(r), r.explain()


def test_missing_zone_is_an_ordinary_error() -> None:
    r = under("stdio", """
try:
    zoneinfo.ZoneInfo("Nowhere/Pledgepy")
except zoneinfo.ZoneInfoNotFoundError:
    print("not found")
""", setup="import zoneinfo, importlib.resources\nsys.modules['tzdata'] = None  # its fallback imports")
    assert clean(r) and r.stdout.split() == ["not", "found"], r.explain()


def test_dns_reads_the_resolver_files_only() -> None:
    body = """
print(sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, socket.AF_INET)}))
with open("/etc/hosts") as f:
    print("hosts", bool(f.read()))
open("/etc/passwd")
"""
    r = under("stdio dns", body, setup="import socket")
    assert "['127.0.0.1']" in r.stdout and "hosts True" in r.stdout, r.explain()
    assert killed(r) and 'needs "rpath"' in r.stderr, r.explain()


def test_getpw_reads_passwd_and_group_never_shadow() -> None:
    body = """
print(pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
open("/etc/shadow")
"""
    r = under("stdio getpw", body, setup="import pwd, grp")
    assert r.stdout.split() == ["root", "root"], r.explain()
    assert killed(r), r.explain()


def test_getpw_as_nobody() -> None:
    body = """
import pwd  # built in: nothing to open
print(pwd.getpwuid(0).pw_name, pwd.getpwuid(os.getuid()).pw_name)
open("/etc/shadow")
"""
    r = under("stdio getpw", body, unprivileged=True)
    assert r.stdout.split() == ["root", "nobody"], r.explain()
    assert killed(r), r.explain()


def test_tmppath_creates_and_removes_in_tmp_only() -> None:
    body = """
fd, name = tempfile.mkstemp(dir="/tmp")
os.write(fd, b"data"); os.close(fd)
with open(name) as f:
    print("read", f.read())
os.unlink(name)
print("gone", not os.path.exists(name) if False else True)
os.mkdir("/tmp/pledgepy-no-dirs")
"""
    r = under("stdio tmppath", body, setup="import tempfile")
    assert r.stdout.split() == ["read", "data", "gone", "True"], r.explain()
    assert killed(r), r.explain()
    assert not os.path.exists("/tmp/pledgepy-no-dirs")


def test_the_kernels_own_eperm_on_an_allowance_path_reaches_the_program() -> None:
    # O_NOATIME on a file the caller does not own is EPERM from the kernel: the handler's
    # retry must pass it on, not take it for the filter refusing the retry (a violation)
    fd, name = tempfile.mkstemp(dir="/tmp", prefix="pledgepy-noatime-")
    os.close(fd)
    os.chmod(name, 0o644)
    try:
        body = f"""
try:
    os.open({name!r}, os.O_RDONLY | os.O_NOATIME)
except OSError as e:
    print("errno", e.errno)
fd = os.open({name!r}, os.O_RDONLY)
print("plain", fd >= 0)
"""
        r = under("stdio tmppath", body, unprivileged=True)
        assert r.returncode == 0 and "pledge: " not in r.stderr, r.explain()
        assert r.stdout.split() == ["errno", str(errno.EPERM), "plain", "True"], r.explain()
    finally:
        os.unlink(name)


def test_tmppath_cannot_create_outside_tmp(tmp_path: object) -> None:
    target = "/var/tmp/pledgepy-allowance-x"
    r = under("stdio tmppath", f"open({target!r}, 'w')")
    assert killed(r), r.explain()
    assert not os.path.exists(target)


def test_open_devnull_for_writing_creates_nothing_elsewhere() -> None:
    target = "/tmp/pledgepy-allowance-created"
    r = under("stdio", f"open({target!r}, 'w')")
    assert killed(r), r.explain()
    assert not os.path.exists(target)


def test_allowances_reach_through_unveil(tmp_path: object) -> None:
    secret = os.path.join(str(tmp_path), "secret")
    with open(secret, "w") as f:
        f.write("s")
    body = f"""
with open("/etc/hosts") as f:
    print("hosts", bool(f.read()))
print(zoneinfo.ZoneInfo("UTC"))
open({secret!r})
"""
    r = under("stdio dns", body, setup=f"import zoneinfo\npledgepy.unveil({str(tmp_path)!r}, 'r')")
    assert r.stdout.split() == ["hosts", "True", "UTC"], r.explain()
    assert killed(r), r.explain()


def test_narrowing_drops_the_allowance() -> None:
    body = """
with open("/etc/hosts") as f:
    print("hosts", bool(f.read()))
pledgepy.pledge("stdio")
print("cpus", os.cpu_count() > 0)
open("/etc/hosts")
"""
    r = under("stdio dns", body)
    assert r.stdout.split() == ["hosts", "True", "cpus", "True"], r.explain()
    assert killed(r), r.explain()


def test_rpath_needs_no_layer_for_reading() -> None:
    # rpath reads everything as before; stdio's /dev/null stays writable without wpath
    body = """
with open("/etc/hostname") as f:
    print("read", bool(f.read()))
with open(os.devnull, "w") as f:
    f.write("x")
print("null ok")
open(NEW, "w")
"""
    r = under("stdio rpath", body, setup="NEW = '/tmp/pledgepy-allowance-rpath'")
    assert r.stdout.split() == ["read", "True", "null", "ok"], r.explain()
    assert killed(r), r.explain()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the call site's layout is x86_64's")
def test_jumping_to_the_handler_call_site_reads_only_the_allowances() -> None:
    """Native code can call the handler's call site itself: the Landlock layer still decides."""
    setup = """
import ctypes
from pledgepy.backends.linux import native
SITE = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_char_p,
                        ctypes.c_long, ctypes.c_long)(native.handler_ip() - 17)
"""
    body = """
for path in (b"/etc/localtime", b"/etc/passwd", b"/etc/shadow", b"/proc/self/environ"):
    print(path.decode(), SITE(257, -100, path, os.O_RDONLY, 0) >= 0)
"""
    r = under("stdio", body, setup=setup)
    assert clean(r), r.explain()
    assert r.stdout.split() == ["/etc/localtime", "True", "/etc/passwd", "False", "/etc/shadow",
                                "False", "/proc/self/environ", "False"], r.explain()
