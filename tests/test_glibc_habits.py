"""glibc's habits under the promises OpenBSD programs pledge (issue 10, item 2).

Each runs in a fresh child against the real kernel; the lookups go through
glibc (getaddrinfo, getpwuid), whose nscd probe must fail quietly.
"""

from __future__ import annotations

from tests.pledged import killed, under

# socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0): glibc's nscd probe, by hand
NSCD_SHAPE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw_socket(family, kind):
    fd = libc.socket(family, kind, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "socket")
    return fd
"""
PROBE = 1 | 0o2000000 | 0o4000


def test_getpwuid_under_getpw_without_unix() -> None:
    r = under("stdio rpath getpw", "import pwd; print(pwd.getpwuid(0).pw_name)",
              setup="import pwd")
    assert r.returncode == 0 and r.stdout.strip() == "root", r.explain()
    assert "pledge: " not in r.stderr


def test_getaddrinfo_under_dns_without_unix() -> None:
    r = under("stdio rpath dns",
              "print(sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80)}))",
              setup="import socket")
    assert r.returncode == 0 and "127.0.0.1" in r.stdout, r.explain()
    assert "pledge: " not in r.stderr


def test_getpwuid_under_rpath_alone() -> None:
    # OpenBSD: rpath reads pwd.db; glibc asks nscd first, which must fail quietly
    r = under("stdio rpath", "import pwd; print(pwd.getpwuid(0).pw_name)", setup="import pwd")
    assert r.returncode == 0 and r.stdout.strip() == "root", r.explain()
    assert "pledge: " not in r.stderr


def test_nscd_shape_fails_with_eacces_under_dns_getpw_and_rpath() -> None:
    for promises in ("stdio dns", "stdio getpw", "stdio rpath"):
        r = under(promises, f"attempt(raw_socket, 1, {PROBE})", setup=NSCD_SHAPE)
        assert r.returncode == 0 and r.stdout.split() == ["ERR", "EACCES"], (promises, r.explain())


def test_nscd_shape_is_a_violation_under_stdio() -> None:
    r = under("stdio", f"attempt(raw_socket, 1, {PROBE})", setup=NSCD_SHAPE)
    assert killed(r), r.explain()


def test_other_unix_sockets_stay_violations_under_dns() -> None:
    # Python's own AF_UNIX socket (SOCK_CLOEXEC only), and a blocking probe look-alike
    for kind in (1 | 0o2000000, 2 | 0o2000000 | 0o4000):
        r = under("stdio dns", f"attempt(raw_socket, 1, {kind})", setup=NSCD_SHAPE)
        assert killed(r), (kind, r.explain())


def test_unix_promise_still_allows_the_probe() -> None:
    r = under("stdio dns unix", f"fd = attempt(raw_socket, 1, {PROBE})", setup=NSCD_SHAPE)
    assert r.returncode == 0 and r.stdout.split() == ["OK"], r.explain()


def test_capget_and_pkeys_under_stdio() -> None:
    setup = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
"""
    body = """
print("capget", libc.capget(header, data))
key = libc.pkey_alloc(0, 0)
print("pkey", key >= 0 or ctypes.get_errno() in (errno.ENOSPC, errno.EINVAL, errno.ENOSYS))
if key >= 0:
    print("free", libc.pkey_free(key))
"""
    r = under("stdio", body, setup=setup)
    assert r.returncode == 0, r.explain()
    assert "capget 0" in r.stdout and "pkey True" in r.stdout, r.explain()


def test_capset_stays_a_violation() -> None:
    setup = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
"""
    r = under("stdio rpath wpath cpath fattr", "libc.capset(header, data)", setup=setup)
    assert killed(r), r.explain()


def test_read_only_xattrs_under_rpath() -> None:
    body = """
attempt(lambda: os.listxattr("/", follow_symlinks=False))
try:
    os.getxattr("/", "user.none", follow_symlinks=False)
except OSError as e:
    print("ERR", errno.errorcode[e.errno])
fd = os.open("/", os.O_RDONLY)
attempt(os.listxattr, fd)
"""
    r = under("stdio rpath", body)
    assert r.returncode == 0 and r.stdout.split()[:3] == ["OK", "ERR", "ENODATA"], r.explain()


def test_setxattr_needs_more_than_rpath() -> None:
    r = under("stdio rpath", 'os.setxattr("/tmp", "user.x", b"1")')
    assert killed(r), r.explain()
