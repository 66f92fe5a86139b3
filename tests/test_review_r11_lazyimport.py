"""Round 11 (NAME = lazyimport): no untrusted child makes a trusted parent import its
code, and a worker whose thread went away is no violation. Each test failed on main
before its fix (said in each)."""

from __future__ import annotations

import ctypes
import errno
import os
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux")


def _call(path: bytes, stat: bool) -> tuple[int, list[int], ctypes.Array[ctypes.c_char],
                                             ctypes.Array[ctypes.c_char]]:
    """The numbers and arguments of an openat (or newfstatat) of *path* in this process."""
    from pledgepy.backends.linux.seccomp import kernel
    from pledgepy.backends.linux.syscalls import BY_ARCH

    name = ctypes.create_string_buffer(path)
    out = ctypes.create_string_buffer(256)
    table = BY_ARCH[kernel.arch() or "x86_64"]
    at = -100 & 0xFFFFFFFF
    if stat:
        return (table["newfstatat"], [at, ctypes.addressof(name), ctypes.addressof(out), 0, 0, 0],
                name, out)
    return table["openat"], [at, ctypes.addressof(name), os.O_RDONLY, 0, 0, 0], name, out


def _answer(nr: int, args: list[int]) -> object:
    from pledgepy.backends.linux import native
    from pledgepy.backends.linux.exec import stdiofiles
    from pledgepy.backends.linux.seccomp import kernel

    if native.load() is None:
        pytest.skip("the native module is not built")
    return stdiofiles.answer_for(-1, 1, os.getpid(), nr, args, frozenset({"stdio"}),
                                 kernel.arch() or "x86_64")


@pytest.mark.skipif(not os.path.isfile("/etc/localtime"), reason="needs /etc/localtime")
@pytest.mark.parametrize("when", ["before its path was read", "after its stat",
                                  "at the descriptor's hand-over"])
def test_a_worker_thread_gone_before_its_stdio_file_was_answered_is_no_violation(
        monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """A thread of a "stdio" worker opens (or stats) /etc/localtime, one of stdio's
    files the parent serves, while another thread calls exit_group. On main
    stdiofiles.answer_for returned None ("none of stdio's files") once the notification
    had gone, so the parent called it a violation ('openat("/etc/localtime") needs
    "rpath"') and raised WorkerViolation for a worker that only exited. Now it is
    GONE: nothing to send, no violation (as the command's allowed.answer's -1). The
    kernel's side is simulated: the notification is pending until *when*."""
    from pledgepy.backends.linux.exec import stdiofiles

    pending = iter([True] if when != "before its path was read" else [])
    monkeypatch.setattr(stdiofiles, "_still_pending",
                        lambda listener, ident: next(pending, False))
    if when == "at the descriptor's hand-over":
        class _Gone:
            @staticmethod
            def ioctl(*_: object) -> int:
                raise OSError(errno.ENOENT, "no such notification")
        monkeypatch.setattr(stdiofiles, "fcntl", _Gone)
    stat = when == "after its stat"
    nr, args, name, out = _call(b"/etc/localtime", stat=stat)
    assert _answer(nr, args) == stdiofiles.GONE
    del name, out


def test_a_gone_thread_s_other_file_is_still_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard of the test above (passed on main too): a path read, and none of
    stdio's files, is the violation it was whether or not its caller is still there."""
    from pledgepy.backends.linux.exec import stdiofiles

    pending = iter([True])
    monkeypatch.setattr(stdiofiles, "_still_pending",
                        lambda listener, ident: next(pending, False))
    nr, args, name, out = _call(b"/etc/shadow", stat=False)
    assert _answer(nr, args) is None
    del name, out
