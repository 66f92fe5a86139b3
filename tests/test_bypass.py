"""Known bypass classes stay closed under every promise set that does not name them."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

from pledgepy import VOCABULARY
from tests.pledged import killed, under

ALL = " ".join(p for p in VOCABULARY if p != "error")
X86 = platform.machine() == "x86_64"
NR = {"ptrace": 101, "process_vm_writev": 311, "personality": 135, "userfaultfd": 323,
      "bpf": 321, "perf_event_open": 298, "unshare": 272, "setns": 308, "mount": 165,
      "open_by_handle_at": 304, "keyctl": 250, "add_key": 248, "io_uring_setup": 425,
      "clone3": 435, "openat2": 437, "memfd_create": 319, "pkey_mprotect": 329,
      "newfstatat": 262, "statx": 332, "clone": 56, "ioctl": 16, "shmat": 30}

SETUP = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nsc = libc.syscall\n"

pytestmark = pytest.mark.skipif(not X86, reason="syscall numbers below are x86_64's")


@pytest.mark.parametrize("name,args", [
    ("ptrace", "0, 0, 0, 0"), ("process_vm_writev", "1, 0, 0, 0, 0, 0"),
    ("personality", "0x0400000"), ("userfaultfd", "0"), ("bpf", "0, 0, 0"),
    ("perf_event_open", "0, 0, -1, -1, 0"), ("unshare", "0x10000000"), ("setns", "0, 0"),
    ("mount", "0, 0, 0, 0, 0"), ("open_by_handle_at", "-100, 0, 0"), ("keyctl", "0, 0"),
    ("add_key", "0, 0, 0, 0, 0"), ("shmat", "0, 0, 0o100000"),
])
def test_never_allowed_even_with_every_promise(name: str, args: str) -> None:
    r = under(ALL, f"sc({NR[name]}, {args})", setup=SETUP)
    assert killed(r), r.explain()
    assert f"{name}" in r.stderr and "is not allowed by any promise" in r.stderr


@pytest.mark.parametrize("name,args", [
    ("io_uring_setup", "1, 0"), ("clone3", "0, 0"), ("openat2", "-100, b'/etc/hostname', 0, 0"),
    ("memfd_create", "b'x', 0"),
])
def test_enosys_so_libc_falls_back(name: str, args: str) -> None:
    r = under(ALL, f"print(sc({NR[name]}, {args}), ctypes.get_errno(), flush=True)", setup=SETUP)
    assert r.returncode == 0 and r.stdout.split() == ["-1", "38"], r.explain()


def test_syscalls_newer_than_the_table_get_enosys() -> None:
    r = under("stdio", "print(sc(480), ctypes.get_errno(), sc(1000), ctypes.get_errno(), flush=True)",
              setup=SETUP)
    assert r.stdout.split() == ["-1", "38", "-1", "38"], r.explain()


def test_x32_numbers_kill_the_process() -> None:
    r = under(ALL, "sc(0x40000000 | 39)", setup=SETUP)  # x32 getpid
    assert r.returncode == -31, r.explain()  # SIGSYS: SECCOMP_RET_KILL_PROCESS


def test_i386_entry_kills_the_process(int80: Path) -> None:
    setup = f"import ctypes\nlib = ctypes.CDLL({str(int80)!r})\nprint(lib.i386_getpid() > 0, flush=True)\n"
    r = under(ALL, "lib.i386_getpid()\nprint('survived', flush=True)", setup=setup)
    assert r.stdout.split()[0] == "True", r.explain()  # works before pledge
    assert r.returncode == -31 and "survived" not in r.stdout, r.explain()


def test_personality_read_implies_exec_refused_and_plain_query_too() -> None:
    r = under("stdio prot_exec", "sc(135, 0x0400000)", setup=SETUP)
    assert killed(r), r.explain()


@pytest.mark.parametrize("call", [
    "sc(10, 0, 4096, 7)",                          # mprotect RWX
    "sc(329, 0, 4096, 7, -1)",                     # pkey_mprotect RWX
    "mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)",
])
def test_prot_exec_needs_the_promise(call: str) -> None:
    r = under(ALL.replace("prot_exec", ""), call, setup=SETUP + "import mmap\n")
    assert killed(r) and '"prot_exec"' in r.stderr, r.explain()


@pytest.mark.parametrize("flags,name", [(0x10000000, "CLONE_NEWUSER"), (0x20000, "CLONE_NEWNS"),
                                        (0x40000000, "CLONE_NEWNET"), (0x2000, "CLONE_PTRACE")])
def test_namespace_and_ptrace_clone_flags_never(flags: int, name: str) -> None:
    r = under(ALL, f"sc(56, {flags} | 17, 0, 0, 0, 0)", setup=SETUP)
    assert killed(r) and name in r.stderr, r.explain()


def test_thread_clone_without_proc_but_not_fork() -> None:
    r = under("stdio", "import threading\nt = threading.Thread(target=print, args=('t',)); "
                       "t.start(); t.join()\nos.fork()", setup="import threading")
    assert r.stdout.split() == ["t"] and killed(r), r.explain()
    assert '"proc"' in r.stderr


@pytest.mark.parametrize("request_,name", [(0x5412, "TIOCSTI"), (0x541C, "TIOCLINUX")])
def test_terminal_injection_ioctls_never(request_: int, name: str) -> None:
    r = under(ALL, f"fcntl.ioctl(PTY, {request_}, b'x')",
              setup="import pty, fcntl\nPTY, _ = pty.openpty()\n")
    assert killed(r) and name in r.stderr and "not allowed by any promise" in r.stderr, r.explain()


def test_kill_only_self_without_proc() -> None:
    setup = "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: print('got', flush=True))\n"
    r = under("stdio", "os.kill(os.getpid(), signal.SIGUSR1)\nos.kill(os.getppid(), 0)", setup=setup)
    assert "got" in r.stdout and killed(r) and '"proc"' in r.stderr, r.explain()


def test_stat_by_path_is_not_fstat() -> None:
    body = """
st = os.fstat(0)                      # glibc: newfstatat(0, "", AT_EMPTY_PATH), emulated
print('fstat', st.st_mode > 0, flush=True)
buf = ctypes.create_string_buffer(256)
print('statx', sc(332, 0, b'', 0x1000, 0x7ff, buf), flush=True)
sc(262, -100, b'/etc/hostname', buf, 0x1000)   # a path with AT_EMPTY_PATH: a real lookup
"""
    r = under("stdio", body, setup=SETUP)
    assert r.stdout.split() == ["fstat", "True", "statx", "0"], r.explain()
    assert killed(r) and "newfstatat" in r.stderr and '"rpath"' in r.stderr


def test_sendmsg_needs_sendfd_and_recvmsg_recvfd() -> None:
    setup = "import socket\na, b = socket.socketpair()\n"
    r = under("stdio", "a.sendmsg([b'x'])", setup=setup)
    assert killed(r) and 'sendmsg needs "sendfd"' in r.stderr, r.explain()
    r = under("stdio", "a.send(b'x'); b.recvmsg(1)", setup=setup)
    assert killed(r) and 'recvmsg needs "recvfd"' in r.stderr, r.explain()


def test_setuid_bits_refused_in_chmod_and_create() -> None:
    setup = "import tempfile\nd = tempfile.mkdtemp()\nP = os.path.join(d, 'f'); open(P, 'w').close()\n"
    r = under(ALL, "os.chmod(P, 0o4755)", setup=setup)
    assert killed(r) and "chmod(\"" in r.stderr and ", 04755) is not allowed" in r.stderr, r.explain()
    r = under(ALL, "os.open(os.path.join(d, 'g'), os.O_WRONLY | os.O_CREAT, 0o2755)", setup=setup)
    assert killed(r) and "O_CREAT" in r.stderr, r.explain()


# ---- found by the security review ----

def test_dpath_makes_fifos_and_devices_not_setuid_files(tmp_path) -> None:
    setup = f"import stat\nD = {str(tmp_path)!r}\n"
    r = under("stdio dpath", "os.mkfifo(D + '/fifo')\nprint('fifo', flush=True)\n"
                             "os.mknod(D + '/suid', stat.S_IFREG | 0o6755)", setup=setup)
    assert "fifo" in r.stdout and killed(r) and "mknod" in r.stderr, r.explain()
    assert not (tmp_path / "suid").exists()


def test_replacing_the_sigsys_handler_is_a_violation() -> None:
    # SIGSYS carries the penalty; a program that could catch it would survive every
    # violation (OpenBSD's SIGABRT is uncatchable). Reading the handler stays allowed.
    body = """
print(signal.getsignal(signal.SIGSYS), flush=True)
print(sc(13, signal.SIGSYS, 0, ctypes.byref(OLD), 8), flush=True)  # rt_sigaction read: allowed
signal.signal(signal.SIGSYS, lambda *a: None)
print('replaced', flush=True)
"""
    r = under("stdio", body, setup=SETUP + "import signal\nOLD = ctypes.create_string_buffer(64)\n")
    assert "replaced" not in r.stdout and killed(r), r.explain()
    assert r.stdout.split("\n")[1] == "0" and "rt_sigaction(SIGSYS)" in r.stderr, r.explain()


def test_replacing_the_sigsys_handler_under_error_fails_and_ours_stays() -> None:
    body = """
try:
    signal.signal(signal.SIGSYS, lambda *a: None)
except OSError as e:
    print('refused', errno.errorcode[e.errno], flush=True)
print(sc(41, 2, 1, 0) < 0, pledgepy.status().level, flush=True)   # socket(AF_INET)
"""
    r = under("stdio error", body, setup=SETUP + "import signal\n")
    assert r.returncode == 0 and r.stdout.split() == ["refused", "ENOSYS", "True", "full"], \
        r.explain()


def test_sigsys_ignored_is_refused_and_the_violation_still_kills() -> None:
    r = under("stdio", "signal.signal(signal.SIGSYS, signal.SIG_IGN)\nsc(41, 2, 1, 0)\n"
                       "print('survived', flush=True)", setup=SETUP + "import signal\n")
    assert killed(r) and "survived" not in r.stdout, r.explain()


def test_dropping_error_restores_the_kill_for_argument_checks() -> None:
    body = """
print(fcntl.ioctl(PTY, 0x5412, b'x') if False else 'start', flush=True)
pledgepy.pledge('stdio')
fcntl.fcntl(PTY, fcntl.F_SETOWN, os.getpid())
"""
    r = under("stdio error", body, setup="import pty, fcntl\nPTY, _ = pty.openpty()\n")
    assert killed(r) and "ENOSYS" not in r.stderr and '"proc"' in r.stderr, r.explain()


def test_socketpair_only_unix() -> None:
    r = under("stdio", "sv = (ctypes.c_int * 2)()\nprint(sc(53, 1, 1, 0, sv), flush=True)\n"
                       "sc(53, 2, 1, 0, sv)", setup=SETUP)
    assert r.stdout.split()[0] == "0" and killed(r) and \
        "socketpair(AF_INET, SOCK_STREAM)" in r.stderr, \
        r.explain()


def test_video_is_v4l2_not_the_vt_console() -> None:
    r = under("stdio video", "fcntl.ioctl(PTY, 0x5606, 1)",  # VT_ACTIVATE, _IO('V', 6)
              setup="import pty, fcntl\nPTY, _ = pty.openpty()\n")
    assert killed(r) and "is not allowed by any promise" in r.stderr, r.explain()


def test_other_processes_memory_is_out_of_reach_through_proc() -> None:
    # found by the security review: rpath/wpath could open /proc/<ppid>/mem
    r = under("stdio rpath wpath", "attempt(os.open, f'/proc/{os.getppid()}/mem', os.O_RDWR)\n"
                                   "attempt(os.open, '/proc/self/mem', os.O_RDONLY)")
    assert r.returncode == 0 and r.stdout.split() == ["ERR", "EACCES", "OK"], r.explain()


def test_pledge_command_keeps_the_supervisor_out_of_reach() -> None:
    import sys

    from tests.childproc import ROOT

    code = "import os; os.open(f'/proc/{os.getppid()}/mem', os.O_RDONLY); print('opened')"
    r = subprocess.run([sys.executable, "-m", "pledgepy", "-q", "-p", "stdio rpath prot_exec",
                        sys.executable, "-S", "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert "opened" not in r.stdout and "Permission denied" in r.stderr, r.stderr


def test_abstract_unix_sockets_outside_are_out_of_reach_under_unix() -> None:
    # the scope-only Landlock domain every pledge enters (ABI >= 6), as under unveil
    from pledgepy.backends.linux.landlock import abi

    if not abi.current().abstract_unix_scope:
        pytest.skip("Landlock scopes need ABI 6")
    setup = ("import socket\nname = b'\\0pledgepy-test-' + str(os.getpid()).encode()\n"
             "srv = socket.socket(socket.AF_UNIX); srv.bind(name); srv.listen()\n")
    r = under("stdio unix", "attempt(socket.socket(socket.AF_UNIX).connect, name)\n"
                            "print(any('abstract' in n for n in pledgepy.status().notes))",
              setup=setup)
    assert r.returncode == 0 and r.stdout.split() == ["ERR", "EPERM", "True"], r.explain()
