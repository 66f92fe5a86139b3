"""Exact violation messages (issue 10, item 4): one table, checked in-process and supervised.

The handler (in-process) and the pledge command's supervisor write the line with the same C
function; what differs is where a path argument is read from: this process's memory without
trusting the pointer, or the stopped target's (process_vm_readv, else /proc/pid/mem). Each row
is described with this process's pid, and with a forked child's pid after this process has
overwritten its own copies of the strings: the child's answer proves the target's memory was
read. Real violations then check the same lines end to end.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pledgepy.backends.linux.native import set_import_dirs
from pledgepy.backends.linux.syscalls import X86_64
from pledgepy.promises import bits
from tests.childproc import ROOT
from tests.pledged import killed, under

_sigsys = pytest.importorskip("pledgepy.backends.linux.native._sigsys")
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers")
ffi, lib = _sigsys.ffi, _sigsys.lib
F = -100  # AT_FDCWD
SITE = os.path.dirname(os.__file__)  # a sys.path directory
CPU = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
IMPORT = ' (importing a module that was not imported before pledge() needs "rpath")'

# (syscall, arguments: bytes are strings put in memory, held, expected)
TABLE: list[tuple[str, list[Any], str, str]] = [
    ("openat", [F, b"/etc/passwd", os.O_RDONLY | os.O_CLOEXEC], "stdio",
     'openat("/etc/passwd", O_RDONLY) needs "rpath" or "getpw"'),  # OpenBSD's allowance
    ("openat", [F, b"/etc/shadow", os.O_RDONLY | os.O_CLOEXEC], "stdio",
     'openat("/etc/shadow", O_RDONLY) needs "rpath"'),
    ("openat", [F, b"/dev/tty", os.O_RDWR], "stdio rpath",
     'openat("/dev/tty", O_RDWR) needs "wpath" or "tty"'),
    ("openat", [F, b"/tmp/x", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644], "stdio",
     'openat("/tmp/x", O_WRONLY|O_CREAT|O_TRUNC) needs "wpath cpath" or "tmppath"'),
    ("openat", [F, b"/etc/passwdx", os.O_RDONLY], "stdio",
     'openat("/etc/passwdx", O_RDONLY) needs "rpath"'),  # neither the file nor beneath it
    ("openat", [F, b"/etc/hosts", os.O_RDWR], "stdio rpath",
     'openat("/etc/hosts", O_RDWR) needs "wpath"'),  # dns reads it only
    ("openat", [F, b"out/x.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC], "stdio rpath",
     'openat("out/x.txt", O_WRONLY|O_CREAT|O_TRUNC) needs "wpath cpath"'),
    ("openat", [7, b"x.txt", os.O_RDONLY], "stdio",
     'openat(dirfd 7, "x.txt", O_RDONLY) needs "rpath"'),
    ("openat", [7, b"/abs", os.O_RDONLY], "stdio", 'openat("/abs", O_RDONLY) needs "rpath"'),
    ("openat", [F, b"bad\n\x1b[2J\"\\\xff", os.O_RDONLY], "stdio",
     'openat("bad\\x0a\\x1b[2J\\"\\\\\\xff", O_RDONLY) needs "rpath"'),
    ("openat", [F, b"/" + b"a" * 300, os.O_RDONLY], "stdio",
     'openat("/' + "a" * 199 + '"..., O_RDONLY) needs "rpath"'),
    # alternatives without repeats: O_RDONLY|O_CREAT is allowed by "cpath" alone
    ("openat", [F, b"/t/new", os.O_RDONLY | os.O_CREAT], "stdio rpath",
     'openat("/t/new", O_RDONLY|O_CREAT) needs "cpath"'),
    ("newfstatat", [F, b"/etc", 0, 0], "stdio",
     'newfstatat("/etc") needs "rpath" or "wpath" or "cpath" or "dpath"'),
    # the import hint only where the import system would look
    ("openat", [F, b"/srv/app/helpers.py", os.O_RDONLY], "stdio",
     'openat("/srv/app/helpers.py", O_RDONLY) needs "rpath"' + IMPORT),
    ("openat", [F, b"/srv/app/__pycache__/helpers.cpython-311.pyc", os.O_RDONLY], "stdio",
     'openat("/srv/app/__pycache__/helpers.cpython-311.pyc", O_RDONLY) needs "rpath"'
     + IMPORT),
    ("openat", [F, (SITE + "/_fake.cpython-311-x86_64-linux-gnu.so").encode(),
                os.O_RDONLY], "stdio",
     f'openat("{SITE}/_fake.cpython-311-x86_64-linux-gnu.so", O_RDONLY) needs "rpath"' + IMPORT),
    ("newfstatat", [F, (SITE + "/somepkg").encode(), 0, 0], "stdio",
     f'newfstatat("{SITE}/somepkg") needs "rpath" or "wpath" or "cpath" or "dpath"' + IMPORT),
    ("openat", [F, b"/usr/lib/x86_64-linux-gnu/libfoo.so", os.O_RDONLY], "stdio",
     'openat("/usr/lib/x86_64-linux-gnu/libfoo.so", O_RDONLY) needs "rpath"'),
    ("openat", [F, b"/usr/share/zoneinfo/Europe/Paris", os.O_RDONLY], "",
     'openat("/usr/share/zoneinfo/Europe/Paris", O_RDONLY) needs "rpath" or "stdio"'),
    ("openat", [F, b"/data", os.O_RDONLY | os.O_DIRECTORY], "stdio",
     'openat("/data", O_RDONLY) needs "rpath"'),
    ("getcwd", [0, 0], "stdio", 'getcwd needs "rpath" or "wpath" or "cpath"'),
    ("openat", [F, CPU.encode(), os.O_RDONLY], "stdio",
     f'openat("{CPU}", O_RDONLY) needs "rpath" (the CPU count: under "stdio" only '
     '/sys/devices/system/cpu/online, possible and present are readable; call '
     'os.cpu_count() before pledge() or unveil the file)'),
    # modes, file types, clone, sockets, sockopts, ioctl
    ("chmod", [b"/x", 0o644], "stdio", 'chmod("/x", 0644) needs "fattr"'),
    ("fchmodat", [F, b"/x", 0o4755, 0], "stdio fattr",
     'fchmodat("/x", 04755) is not allowed by any promise (its setuid/setgid mode is refused)'),
    ("openat", [F, b"/tmp/x", os.O_WRONLY | os.O_CREAT, 0o4755], "stdio wpath cpath",
     'openat("/tmp/x", O_WRONLY|O_CREAT) is not allowed by any promise '
     "(its setuid/setgid mode is refused)"),
    ("mknodat", [F, b"/x", 0o100644, 0], "stdio dpath",
     'mknodat("/x", S_IFREG|0644) is not allowed by any promise (its file type or mode is refused)'),
    ("fchmod", [3, 0o600], "stdio", 'fchmod(0600) needs "fattr"'),
    ("mkdirat", [F, b"d", 0o755], "stdio", 'mkdirat("d", 0755) needs "cpath"'),
    ("mknodat", [F, b"/x", 0o10644, 0], "stdio", 'mknodat("/x", S_IFIFO|0644) needs "dpath"'),
    ("mknodat", [F, b"/x", 0o20600, 0], "stdio cpath",
     'mknodat("/x", S_IFCHR|0600) needs "dpath"'),
    ("clone", [0x1200011], "stdio", 'clone(fork) needs "proc"'),
    ("clone", [0x4111], "stdio", 'clone(vfork) needs "proc"'),
    ("clone", [0x10000000 | 17], "stdio proc", "clone(fork|CLONE_NEWUSER) is not allowed by any promise"),
    ("socket", [10, 3, 0], "stdio inet",
     "socket(AF_INET6, SOCK_RAW) is not allowed by any promise (its type is refused)"),
    ("socket", [17, 3, 0], "stdio inet",
     "socket(AF_PACKET, SOCK_RAW) is not allowed by any promise (its family is refused)"),
    ("socket", [10, 1 | 0o2000000, 0], "stdio", 'socket(AF_INET6, SOCK_STREAM) needs "inet" or "dns"'),
    ("setsockopt", [3, 1, 25, 0, 0], "stdio inet",
     "setsockopt(SOL_SOCKET, SO_BINDTODEVICE) is not allowed by any promise "
     "(its option is refused)"),
    ("setsockopt", [3, 6, 3, 0, 0], "stdio", 'setsockopt(IPPROTO_TCP, TCP_CORK) needs "inet"'),
    ("getsockopt", [3, 41, 26, 0, 0], "stdio",
     'getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) needs "inet" or "dns"'),
    ("ioctl", [0, 0x5412], "stdio tty",
     "ioctl(TIOCSTI) is not allowed by any promise (its request is refused)"),
    ("ioctl", [0, 0x5413], "stdio", 'ioctl(TIOCGWINSZ) needs "tty"'),
    ("renameat2", [F, b"a", F, b"/b", 0], "stdio", 'renameat2("a", "/b") needs "cpath"'),
    ("symlinkat", [b"target", F, b"/l"], "stdio", 'symlinkat("target", "/l") needs "cpath"'),
    ("execve", [b"/bin/sh", 0, 0], "stdio rpath", 'execve("/bin/sh") needs "exec"'),
    ("unlinkat", [F, b"/tmp/x", 0], "stdio", 'unlinkat("/tmp/x") needs "cpath"'),
]


class Memory:
    """Strings at fixed addresses; a forked child keeps them after this process scribbles."""

    def __init__(self) -> None:
        self.keep: list[Any] = []

    def put(self, value: bytes) -> int:
        buf = ffi.new("char[]", value)
        self.keep.append(buf)
        return int(ffi.cast("uintptr_t", buf))

    def scribble(self) -> None:
        for buf in self.keep:
            ffi.memmove(buf, b"Z" * (len(buf) - 1), len(buf) - 1)


def describe(nr: int, args: list[int], held: str, pid: int) -> str:
    a = ffi.new("uint64_t[6]", [v & 0xFFFFFFFFFFFFFFFF for v in args] + [0] * (6 - len(args)))
    out = ffi.new("char[1024]")
    n = lib.pp_describe(nr, a, bits(frozenset(held.split())), 0, pid, b"app.py", out, 1024)
    text = ffi.string(out, n).decode()
    prefix = f"pledge: app.py[{pid}]: "
    assert text.startswith(prefix) and text.endswith("\n") and text.count("\n") == 1, text
    return text[len(prefix):-1]


@pytest.fixture(scope="module")
def prepared() -> Iterator[tuple[Memory, list[list[int]], int]]:
    set_import_dirs([SITE])
    mem = Memory()
    rows = [[mem.put(v) if isinstance(v, bytes) else v for v in args] for _, args, _, _ in TABLE]
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    try:
        yield mem, rows, pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[e for _, _, _, e in TABLE])
def test_in_process_and_supervised(prepared: tuple[Memory, list[list[int]], int],
                                   index: int) -> None:
    mem, rows, child = prepared
    name, _, held, expected = TABLE[index]
    assert describe(X86_64[name], rows[index], held, os.getpid()) == expected
    assert describe(X86_64[name], rows[index], held, child) == expected


def test_the_supervisor_reads_the_target_not_itself() -> None:
    mem = Memory()
    addr = mem.put(b"/in/the/child")
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    try:
        mem.scribble()
        args = [F, addr, 0]
        assert describe(X86_64["openat"], args, "stdio", pid) == \
            'openat("/in/the/child", O_RDONLY) needs "rpath"'
        assert describe(X86_64["openat"], args, "stdio", os.getpid()).startswith('openat("ZZZ')
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_unmapped_and_unterminated_strings_are_read_safely() -> None:
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    area.write(b"x" * (2 * mmap.PAGESIZE))
    base = int(ffi.cast("uintptr_t", ffi.from_buffer(area)))
    # the second page becomes unreadable: a string running into it has no end we may read
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(base + mmap.PAGESIZE, mmap.PAGESIZE, 0) == 0  # PROT_NONE
    tail = base + mmap.PAGESIZE - 5
    assert describe(X86_64["openat"], [F, tail, 0], "stdio", os.getpid()) == \
        'openat("xxxxx"..., O_RDONLY) needs "rpath"'
    assert describe(X86_64["openat"], [F, base + mmap.PAGESIZE, 0], "stdio", os.getpid()) == \
        'openat(<unreadable>, O_RDONLY) needs "rpath"'
    assert describe(X86_64["openat"], [F, 16, 0], "stdio", os.getpid()) == \
        'openat(<unreadable>, O_RDONLY) needs "rpath"'


def _first_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("pledge: "))


def test_real_violation_in_process_shows_the_path() -> None:
    r = under("stdio", "open('/etc/hostname')")
    assert killed(r), r.explain()
    assert re.fullmatch(r'pledge: \S+\[\d+\]: openat\("/etc/hostname", O_RDONLY\) needs "rpath"',
                        _first_line(r.stderr)), r.stderr
    # one line, then the traceback
    lines = r.stderr.splitlines()
    at = lines.index(_first_line(r.stderr))
    assert lines[at + 1].startswith("Fatal Python error"), r.stderr


def test_real_violation_with_a_bad_pointer_does_not_fault_the_handler() -> None:
    setup = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    body = "libc.syscall(257, -100, ctypes.c_void_p(0x10), 0)\n"  # openat(<unmapped>)
    r = under("stdio", body, setup=setup)
    assert killed(r), r.explain()
    assert 'openat(<unreadable>, O_RDONLY) needs "rpath"' in r.stderr, r.stderr


def test_real_violations_in_process_and_supervised_say_the_same() -> None:
    code = "import os; os.chmod('/tmp', 0o1777)"
    r = under("stdio", code)
    inproc = re.sub(r"^pledge: \S+\[\d+\]: ", "", _first_line(r.stderr))
    s = subprocess.run([sys.executable, "-m", "pledgepy", "-q", "-p", "stdio rpath prot_exec",
                        sys.executable, "-S", "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    supervised = re.sub(r"^pledge: \S+\[\d+\]: ", "", _first_line(s.stderr))
    assert inproc == supervised == 'chmod("/tmp", 01777) needs "fattr"', (r.stderr, s.stderr)


def test_getcwd_gets_the_import_hint_only_when_sys_path_has_a_relative_entry() -> None:
    try:
        set_import_dirs([SITE, ""])
        assert describe(X86_64["getcwd"], [0, 0], "stdio", os.getpid()) == \
            'getcwd needs "rpath" or "wpath" or "cpath"' + IMPORT
        set_import_dirs([SITE])
        assert describe(X86_64["getcwd"], [0, 0], "stdio", os.getpid()) == \
            'getcwd needs "rpath" or "wpath" or "cpath"'
    finally:
        set_import_dirs([SITE])


def test_no_hint_for_ordinary_paths_in_a_real_run() -> None:
    r = under("stdio", "import os; os.listdir('/etc')")
    line = _first_line(r.stderr)
    assert line.endswith('openat("/etc", O_RDONLY) needs "rpath"'), r.stderr


@pytest.mark.parametrize("request_,name", [(0x5401, "TCGETS"), (0x540B, "TCFLSH"),
                                           (0x5424, "TIOCGETD"),
                                           (0x541D, "TIOCCONS"), (0x5412, "TIOCSTI")])
def test_ioctl_requests_by_name(request_: int, name: str) -> None:
    text = describe(X86_64["ioctl"], [0, request_], "", os.getpid())
    assert text.startswith(f"ioctl({name})"), text
