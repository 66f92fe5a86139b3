"""Round 12 (lead): the one reader of a process's ids in /proc/PID/status, which the
command's supervisor uses twice (the loader's rules: real ids; served opens: the ids the
kernel checks an open with)."""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

from pledgepy.backends.linux.exec.answer import FS_IDS, REAL_IDS, status_ids


@pytest.mark.skipif(os.geteuid() != 0, reason="setfsuid to another user needs root")
def test_real_and_filesystem_ids_are_told_apart() -> None:
    """A child whose filesystem ids differ from its real ones (setfsuid/setfsgid): each
    column is read from its own place. Reading one column for both (as a merge that took
    either copy's index would) fails one of the two asserts."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setfsgid(4321)
        libc.setfsuid(1234)
        os.write(write, b"x")
        signal.pause()
        os._exit(0)
    try:
        os.close(write)
        assert os.read(read, 1) == b"x"
        real_uid, real_gids = status_ids(pid, REAL_IDS)
        fs_uid, fs_gids = status_ids(pid, FS_IDS)
        assert (real_uid, fs_uid) == (os.getuid(), 1234)
        assert os.getgid() in real_gids and 4321 not in real_gids
        assert 4321 in fs_gids and os.getgid() not in fs_gids - set(os.getgroups())
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_a_process_gone_is_an_oserror() -> None:
    """The callers refuse the call when the process has gone: they need the OSError."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(OSError):
        status_ids(pid, REAL_IDS)
