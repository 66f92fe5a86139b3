"""Security review findings (issue 8: items 2, 3, 4, 8, 10), each in a fresh child.

2. ``prlimit64`` on another process needs ``proc`` (``id`` covers only this one).
3. ``fcntl(F_SETFL, O_ASYNC)`` needs ``proc``: the kernel would signal other groups.
4. A filter the program stacks itself cannot forge the ``error`` penalty or keep
   the handler from killing.
8. ``sendfd``/``recvfd`` pass directory descriptors: reported, not ``full``.
10. While ``error`` is held, a pledge keeps ``requested & held``, as on OpenBSD.
"""

from __future__ import annotations

import pytest

from tests.childproc import run
from tests.pledged import killed, under

AS = pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])

# A process to aim at: exits when the pledged parent (holding the pipe) dies.
TARGET = """
import ctypes
_r, _w = os.pipe()
PID = os.fork()
if PID == 0:
    os.close(_w)
    os.read(_r, 1)
    os._exit(0)
os.close(_r)
RLIMIT_CPU, RLIMIT_NOFILE = 0, 7
libc = ctypes.CDLL(None, use_errno=True)
Lim = ctypes.c_ulong * 2
def prlimit(pid, res, new=None):
    old = Lim()
    if libc.prlimit(pid, res, ctypes.byref(Lim(*new)) if new else None, ctypes.byref(old)):
        raise OSError(ctypes.get_errno(), 'prlimit')
    return tuple(old)
"""


# ---- 2: prlimit64 on other processes ----

@AS
def test_id_cannot_set_another_processes_limits(unprivileged: bool) -> None:
    body = """
print('before', prlimit(PID, RLIMIT_CPU), flush=True)
prlimit(PID, RLIMIT_CPU, (1, 1))
print('set the other process', flush=True)
"""
    r = under("stdio id", body, setup=TARGET, unprivileged=unprivileged)
    assert "set the other process" not in r.stdout, r.explain()
    assert killed(r) and 'prlimit64 needs "proc"' in r.stderr, r.explain()


@AS
def test_id_still_sets_its_own_limits(unprivileged: bool) -> None:
    body = """
soft, hard = prlimit(0, RLIMIT_NOFILE)
assert libc.setrlimit(RLIMIT_NOFILE, ctypes.byref(Lim(soft - 1, hard))) == 0
prlimit(0, RLIMIT_NOFILE, (soft - 2, hard))
prlimit(os.getpid(), RLIMIT_NOFILE, (soft - 3, hard))
print('own', prlimit(0, RLIMIT_NOFILE)[0] == soft - 3, flush=True)
"""
    r = under("stdio id", body, setup=TARGET, unprivileged=unprivileged)
    assert r.returncode == 0 and "own True" in r.stdout, r.explain()


def test_proc_sets_another_processes_limits() -> None:
    body = """
prlimit(PID, RLIMIT_CPU, (100, 100))
print('set', prlimit(PID, RLIMIT_CPU), flush=True)
"""
    r = under("stdio proc", body, setup=TARGET, unprivileged=True)
    assert r.returncode == 0 and "set (100, 100)" in r.stdout, r.explain()


# ---- 3: O_ASYNC ----

ASYNC = """
import fcntl
R, W = os.pipe()
MASTER, SLAVE = os.openpty()
"""


@AS
@pytest.mark.parametrize("fd", ["R", "SLAVE"])
def test_o_async_needs_proc(unprivileged: bool, fd: str) -> None:
    body = f"""
fl = fcntl.fcntl({fd}, fcntl.F_GETFL)
fcntl.fcntl({fd}, fcntl.F_SETFL, fl | os.O_ASYNC)
print('async on', flush=True)
"""
    r = under("stdio", body, setup=ASYNC, unprivileged=unprivileged)
    assert "async on" not in r.stdout, r.explain()
    assert killed(r) and 'fcntl(F_SETFL) needs "proc"' in r.stderr, r.explain()


@AS
def test_f_setfl_nonblocking_still_works_under_stdio(unprivileged: bool) -> None:
    body = """
os.set_blocking(R, False)
print('nonblocking', not os.get_blocking(R), flush=True)
fcntl.fcntl(SLAVE, fcntl.F_SETFL, fcntl.fcntl(SLAVE, fcntl.F_GETFL) | os.O_APPEND)
os.set_blocking(R, True)
print('blocking', os.get_blocking(R), flush=True)
"""
    r = under("stdio", body, setup=ASYNC, unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert "nonblocking True" in r.stdout and "blocking True" in r.stdout, r.explain()


def test_o_async_with_proc_is_allowed() -> None:
    body = """
fcntl.fcntl(R, fcntl.F_SETFL, fcntl.fcntl(R, fcntl.F_GETFL) | os.O_ASYNC)
print('async', bool(fcntl.fcntl(R, fcntl.F_GETFL) & os.O_ASYNC), flush=True)
"""
    r = under("stdio proc", body, setup=ASYNC, unprivileged=True)
    assert r.returncode == 0 and "async True" in r.stdout, r.explain()


# ---- 4: a filter stacked by the program itself ----

FOREIGN = """
import ctypes, struct
from pledgepy.backends.linux.syscalls import BY_ARCH
from pledgepy.backends.linux.seccomp.kernel import arch
NR = BY_ARCH[arch()]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
def ins(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k)
def stack(verdicts):
    prog = ins(0x20, 0, 0, 0)   # A = nr
    for name, ret in verdicts.items():
        prog += ins(0x15, 0, 1, NR[name]) + ins(0x06, 0, 0, ret)
    prog += ins(0x06, 0, 0, 0x7fff0000)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
    rc = libc.syscall(NR['seccomp'], 1, 0, ctypes.byref(fp))
    print('stacked', rc, flush=True)
TRAP, ERRNO = 0x00030000, 0x00050000
"""


@AS
def test_forged_error_data_does_not_spare_the_process(unprivileged: bool) -> None:
    body = """
stack({'getcwd': TRAP | 1})   # what pledgepy's filter answers under "error"
attempt(os.getcwd)
print('survived', pledgepy.status().level, flush=True)
"""
    r = under("stdio", body, setup=FOREIGN, unprivileged=unprivileged)
    assert "stacked 0" in r.stdout, r.explain()
    assert "survived" not in r.stdout and killed(r), r.explain()
    assert "ENOSYS" not in r.stderr and '"error"' not in r.stderr, r.explain()
    assert "getcwd" in r.stderr, r.explain()


def test_foreign_kill_data_under_error_is_reported_and_answers_enosys() -> None:
    body = """
stack({'getcwd': TRAP})   # data 0: pledgepy's filters never return it while "error" is held
attempt(os.getcwd)
print('survived', flush=True)
"""
    r = under("stdio error", body, setup=FOREIGN)
    assert r.returncode == 0 and "ERR ENOSYS" in r.stdout and "survived" in r.stdout, r.explain()
    assert "a seccomp filter pledgepy did not install" in r.stderr, r.explain()


@AS
def test_refusing_the_exit_syscalls_does_not_dodge_the_penalty(unprivileged: bool) -> None:
    body = """
stack({n: ERRNO | 1 for n in ('tgkill', 'tkill', 'kill', 'exit_group', 'exit', 'rt_sigaction')})
attempt(os.getcwd)
print('survived', flush=True)
"""
    r = under("stdio", body, setup=FOREIGN, unprivileged=unprivileged, timeout=20)
    assert "stacked 0" in r.stdout, r.explain()
    assert "survived" not in r.stdout and r.returncode < 0, r.explain()
    assert 'getcwd needs "rpath' in r.stderr, r.explain()


# ---- 8: directory descriptors over SCM_RIGHTS ----

@pytest.mark.parametrize("promise", ["sendfd", "recvfd"])
def test_fd_passing_is_reported(promise: str) -> None:
    body = """
st = pledgepy.status()
print(st.level, flush=True)
print([g for g in st.not_enforced if 'directory' in g], flush=True)
"""
    r = under(f"stdio {promise}", body)
    assert r.returncode == 0 and r.stdout.startswith("partial"), r.explain()
    assert "directory descriptors" in r.stdout, r.explain()


def test_fd_passing_strict_refuses() -> None:
    body = """
try:
    pledgepy.pledge('stdio sendfd', strict=True)
except pledgepy.UnsupportedError as e:
    print('refused', 'directory' in str(e), flush=True)
print(pledgepy.status().promises is None, flush=True)
"""
    r = run("import pledgepy\n" + body)
    assert r.returncode == 0 and "refused True" in r.stdout and "True" in r.stdout, r.explain()


def test_a_directory_descriptor_does_pass() -> None:
    """What the report is about: the kernel hands the directory over."""
    setup = """
import socket, stat
A, B = socket.socketpair()
D = os.open('/etc', os.O_RDONLY | os.O_DIRECTORY)
"""
    body = """
socket.send_fds(A, [b'x'], [D])
_, fds, _, _ = socket.recv_fds(B, 1, 1)
print('dir', stat.S_ISDIR(os.fstat(fds[0]).st_mode), flush=True)
"""
    r = under("stdio sendfd recvfd", body, setup=setup)
    assert r.returncode == 0 and "dir True" in r.stdout, r.explain()


# ---- 10: narrowing while "error" is held ----

def test_error_narrowing_keeps_the_intersection() -> None:
    body = """
pledgepy.pledge('stdio dns error')
print(sorted(pledgepy.status().promises), flush=True)
attempt(os.open, '/etc/hostname', os.O_RDONLY)
attempt(os.getcwd)
"""
    r = under("stdio rpath wpath inet error", body)
    assert r.returncode == 0, r.explain()
    assert "['error', 'stdio']" in r.stdout, r.explain()
    assert r.stdout.count("ERR ENOSYS") == 2, r.explain()


def test_error_narrowing_can_drop_error_itself() -> None:
    body = """
pledgepy.pledge('stdio dns')
print(sorted(pledgepy.status().promises), flush=True)
open('/etc/hostname')
"""
    r = under("stdio rpath wpath inet error", body)
    assert "['stdio']" in r.stdout and killed(r), r.explain()
    assert 'openat("/etc/hostname", O_RDONLY) needs "rpath"' in r.stderr, r.explain()


def test_error_narrowing_applies_to_execpromises() -> None:
    body = """
pledgepy.pledge(None, 'stdio rpath inet')
st = pledgepy.status()
print(sorted(st.promises), sorted(st.execpromises), flush=True)
"""
    r = under("stdio rpath wpath exec error", body, execpromises="stdio rpath wpath")
    assert r.returncode == 0, r.explain()
    assert "['error', 'exec', 'rpath', 'stdio', 'wpath'] ['rpath', 'stdio']" in r.stdout, \
        r.explain()


def test_error_narrowing_of_both_at_once() -> None:
    body = """
pledgepy.pledge('stdio rpath proc error', 'stdio tty')
st = pledgepy.status()
print(sorted(st.promises), sorted(st.execpromises), flush=True)
"""
    r = under("stdio rpath exec error", body, execpromises="stdio rpath")
    assert r.returncode == 0, r.explain()
    assert "['error', 'rpath', 'stdio'] ['stdio']" in r.stdout, r.explain()


def test_without_error_a_gain_is_still_eperm() -> None:
    body = """
try:
    pledgepy.pledge('stdio dns')
except PermissionError as e:
    print('EPERM', e.errno == errno.EPERM, flush=True)
print(sorted(pledgepy.status().promises), flush=True)
"""
    r = under("stdio rpath", body)
    assert r.returncode == 0 and "EPERM True" in r.stdout, r.explain()
    assert "['rpath', 'stdio']" in r.stdout, r.explain()
