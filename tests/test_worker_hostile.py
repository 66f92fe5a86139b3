"""pledgepy.Worker against a hostile module: every abuse ends in the right WorkerError,
the parent survives, nothing outside changes, and the next call works."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pledgepy
from pledgepy import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

HOSTILE = "tests.programs.worker_hostile"


@pytest.fixture(scope="module")
def stdio() -> Iterator[pledgepy.Worker]:
    w = pledgepy.Worker(HOSTILE, promises="stdio", limits=Limits(cpu=0.5, memory=1 << 30),
                        timeout=5.0, max_message=1 << 20)
    with w:
        yield w


def works(w: pledgepy.Worker) -> None:
    assert w.call("echo", [1, 2.5, "x", b"\0", None, True, {"k": [None]}]) == \
        [1, 2.5, "x", b"\0", None, True, {"k": [None]}]


def test_plain_values_cross(stdio: pledgepy.Worker) -> None:
    works(stdio)
    assert stdio.status().violations_heard_by == "parent"


@pytest.mark.parametrize(("call", "needs"), [
    (("read", "/etc/shadow"), '"rpath"'),
    (("exec_sh",), '"exec"'),
    (("fork_bomb",), '"proc"'),
    (("silence_then_violate",), "rt_sigaction(SIGSYS)"),  # replacing the handler is refused
])
def test_violations_are_reported_by_the_parent(stdio: pledgepy.Worker, call: tuple[str, ...],
                                               needs: str) -> None:
    with pytest.raises(pledgepy.WorkerViolation) as info:
        stdio.call(*call)
    assert needs in info.value.message and info.value.message.startswith("pledge: ")
    works(stdio)


def test_connect_is_a_violation_and_nothing_connects(stdio: pledgepy.Worker) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        with pytest.raises(pledgepy.WorkerViolation, match='"inet"'):
            stdio.call("connect", server.getsockname()[1])
        with pytest.raises(socket.timeout):
            server.accept()
    works(stdio)


def test_ten_gib_hits_the_memory_limit(stdio: pledgepy.Worker) -> None:
    with pytest.raises(pledgepy.WorkerLimitExceeded) as info:
        stdio.call("allocate", 10 << 30)
    assert info.value.limit == "memory"
    works(stdio)


def test_spinning_hits_the_per_call_cpu_limit(stdio: pledgepy.Worker) -> None:
    with pytest.raises(pledgepy.WorkerTimeout) as info:
        stdio.call("spin")
    assert info.value.limit == "cpu" and isinstance(info.value, TimeoutError)
    works(stdio)


def test_cpu_limit_is_per_call_not_per_life(stdio: pledgepy.Worker) -> None:
    pid = stdio.pid or stdio.start().pid
    for _ in range(5):  # 5 x 0.2 s of CPU: more than one call's 0.5 s, in one worker
        assert stdio.call("burn", 0.2) == 0.2
    assert stdio.pid == pid


def test_sleeping_hits_the_wall_clock_timeout() -> None:
    w = pledgepy.Worker(HOSTILE, promises="stdio", timeout=0.5)
    with w:
        with pytest.raises(pledgepy.WorkerTimeout) as info:
            w.call("sleep", 30)
        assert info.value.limit == "timeout"
        works(w)


@pytest.mark.parametrize(("call", "sig"), [(("abort",), signal.SIGABRT),
                                           (("segfault",), signal.SIGSEGV)])
def test_crashes(stdio: pledgepy.Worker, call: tuple[str, ...], sig: int) -> None:
    before = stdio.stats.restarts
    with pytest.raises(pledgepy.WorkerCrashed) as info:
        stdio.call(*call)
    assert info.value.signal == sig and info.value.returncode == -sig
    assert "Fatal Python error" in info.value.stderr
    works(stdio)
    assert stdio.stats.restarts == before + 1


@pytest.mark.parametrize("kind", ["garbage", "ext", "object", "huge"])
def test_malformed_replies(stdio: pledgepy.Worker, kind: str) -> None:
    with pytest.raises(pledgepy.WorkerProtocolError):
        stdio.call("raw_reply", kind)
    works(stdio)


def test_oversized_reply(stdio: pledgepy.Worker) -> None:
    with pytest.raises(pledgepy.WorkerProtocolError, match="over the limit"):
        stdio.call("big", 2 << 20)
    works(stdio)


def test_results_that_are_not_plain_data(stdio: pledgepy.Worker) -> None:
    with pytest.raises(pledgepy.RemoteError) as info:
        stdio.call("unplain")
    assert info.value.type_name == "CodecError"
    with pytest.raises(ValueError, match="does not cross"):
        stdio.call("echo", object())  # refused before anything is sent
    with pytest.raises(ValueError, match="public"):
        stdio.call("_channel")
    works(stdio)


def test_remote_errors_carry_text_only(stdio: pledgepy.Worker) -> None:
    with pytest.raises(pledgepy.RemoteError) as info:
        stdio.call("allocate", -1)
    assert info.value.type_name == "ValueError"
    assert "Traceback" in info.value.traceback and "allocate" in info.value.traceback
    works(stdio)


@pytest.fixture()
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An application directory on sys.path: its module, and a secret beside it."""
    (tmp_path / "appworker.py").write_text(f"from {HOSTILE} import *  # noqa: F403\n")
    (tmp_path / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_rpath_sees_only_what_was_loaded(app: Path) -> None:
    with pledgepy.Worker("appworker", promises="stdio rpath") as w:
        for secret in (str(app / ".env"), "/etc/shadow", ".env"):
            with pytest.raises(pledgepy.RemoteError) as info:
                w.call("read", secret)
            assert info.value.type_name in ("PermissionError", "FileNotFoundError")
        assert w.call("read", str(app / "appworker.py")).startswith(b"from ")
        unveiled = {p for p, _ in w.status().unveils}
        assert str(app) not in unveiled and str(app / ".env") not in unveiled


def test_filling_the_disk_hits_fsize(tmp_path: Path) -> None:
    target = tmp_path / "fill"
    with pledgepy.Worker(HOSTILE, promises="stdio rpath wpath cpath",
                         unveil=[(tmp_path, "rwc")], limits=Limits(fsize=1 << 20)) as w:
        with pytest.raises(pledgepy.WorkerLimitExceeded) as info:
            w.call("fill", str(target), 64 << 20)
        assert info.value.limit == "fsize"
        assert target.stat().st_size <= 1 << 20
        works(w)


def test_too_many_files(tmp_path: Path) -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio rpath", limits=Limits(files=16)) as w:
        with pytest.raises(pledgepy.WorkerLimitExceeded) as info:
            w.call("hoard", w.status().unveils[0][0], 64)
        assert info.value.limit == "files"


def test_inherited_descriptors_are_closed(stdio: pledgepy.Worker) -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        os.set_inheritable(theirs.fileno(), True)
        stdio.close()  # the next call starts a worker while theirs is inheritable
        with pytest.raises(pledgepy.RemoteError) as info:
            stdio.call("write_fd", theirs.fileno())
        assert info.value.type_name == "OSError" and "Bad file descriptor" in info.value.message
        mine.setblocking(False)
        with pytest.raises(BlockingIOError):
            mine.recv(100)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_as_nobody_nproc_holds() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio proc", user=65534,
                         limits=Limits(nproc=1)) as w:
        assert "uid 65534 gid 65534" in w.status().hardening
        with pytest.raises(pledgepy.WorkerLimitExceeded) as info:
            w.call("fork_bomb")
        assert info.value.limit == "nproc"
        works(w)
