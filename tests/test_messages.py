"""The handler's explanation of a violation, checked through pp_describe (no violation needed).

The same C function writes the message on a real violation; here its output
is compared for calls whose right answer the policy table gives.
"""

from __future__ import annotations

import os

import pytest

from pledgepy.backends.linux.native import tables as report
from pledgepy.backends.linux.syscalls import X86_64
from pledgepy.promises import bits

_sigsys = pytest.importorskip("pledgepy.backends.linux.native._sigsys")
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers")
AT_FDCWD = 0xFFFFFF9C


def describe(name: str, args: list[int], held: str, error: bool = False) -> str:
    ffi, lib = _sigsys.ffi, _sigsys.lib
    a = ffi.new("uint64_t[6]", [v & 0xFFFFFFFFFFFFFFFF for v in args] + [0] * (6 - len(args)))
    out = ffi.new("char[1024]")
    n = lib.pp_describe(X86_64[name], a, bits(frozenset(held.split())),
                        int(error), 4242, b"app.py", out, 1024)
    text = ffi.string(out, n).decode()
    assert text.startswith("pledge: app.py[4242]: ") and text.endswith("\n")
    return text.split("]: ", 1)[1].rstrip("\n")


@pytest.mark.parametrize("name,args,held,expected", [
    ("openat", [AT_FDCWD, 0, os.O_WRONLY | os.O_CREAT], "stdio rpath",
     'openat(NULL, O_WRONLY|O_CREAT) needs "wpath cpath"'),
    ("openat", [AT_FDCWD, 0, os.O_RDWR], "stdio rpath", 'openat(NULL, O_RDWR) needs "wpath"'),
    ("openat", [AT_FDCWD, 0, os.O_RDONLY | os.O_TRUNC], "stdio",
     'openat(NULL, O_RDONLY|O_TRUNC) needs "rpath wpath"'),
    ("socket", [2, 1, 0], "stdio", 'socket(AF_INET, SOCK_STREAM) needs "inet" or "dns"'),
    ("socket", [1, 1, 0], "stdio inet", 'socket(AF_UNIX, SOCK_STREAM) needs "unix"'),
    ("socket", [17, 3, 0], "stdio inet",
     "socket(AF_PACKET, SOCK_RAW) is not allowed by any promise (its family is refused)"),
    ("kill", [1, 9], "stdio", 'kill(1) needs "proc"'),
    ("ioctl", [0, 0x5412], "stdio tty",
     "ioctl(TIOCSTI) is not allowed by any promise (its request is refused)"),
    ("ioctl", [0, 0x5413], "stdio", 'ioctl(TIOCGWINSZ) needs "tty"'),
    ("mmap", [0, 4096, 5, 0x22], "stdio",
     'mmap(PROT_READ|PROT_EXEC) needs "prot_exec" (loading an extension module needs it: '
     'import it before pledge(), or call pledgepy.unveil_imports() first)'),
    ("clone", [0x10000000 | 17], "stdio proc", "clone(fork|CLONE_NEWUSER) is not allowed by any promise"),
    ("chmod", [0, 0o4755], "stdio fattr",
     "chmod(NULL, 04755) is not allowed by any promise (its setuid/setgid mode is refused)"),
    ("getppid", [], "", 'getppid needs "stdio"'),
    ("ptrace", [0], "stdio", "ptrace is not allowed by any promise"),
    ("sendmsg", [3, 0, 0], "stdio", 'sendmsg needs "sendfd"'),
    ("execve", [0, 0, 0], "stdio rpath", 'execve(NULL) needs "exec"'),
])
def test_message(name: str, args: list[int], held: str, expected: str) -> None:
    assert describe(name, args, held) == expected


def test_import_hint_needs_a_path() -> None:
    # without a path nothing says it is an import (tests/test_messages_exact.py has the rest);
    # sys.path is pinned to absolute entries: a relative one (an editable install's finder,
    # pytest's rootdir) makes a pathless call plausibly the import system's getcwd()
    from pledgepy.backends.linux.native import set_import_dirs
    set_import_dirs(["/usr/lib/python3/dist-packages"])
    try:
        assert describe("openat", [AT_FDCWD, 0, 0], "stdio") == 'openat(NULL, O_RDONLY) needs "rpath"'
    finally:
        set_import_dirs()


def test_error_mode_says_enosys() -> None:
    assert describe("getcwd", [0, 0], "stdio error", error=True).endswith(
        '; returning ENOSYS ("error" promise)')


def test_kill_to_self_is_not_a_proc_violation() -> None:
    # a stdio process may signal itself: under "" the message names stdio, not proc
    assert describe("kill", [os.getpid(), 10], "") == f'kill({os.getpid()}) needs "stdio" or "proc"'


def test_every_named_syscall_row_matches_the_table() -> None:
    rows = report.build("x86_64")
    names = {nr: n for n, nr in X86_64.items()}
    for nr, row in enumerate(rows.sys):
        if nr in names:
            start = row[0]
            assert rows.strings[start:rows.strings.index(0, start)].decode() == names[nr]
