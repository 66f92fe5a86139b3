"""start="fork": a forked worker serves, is confined the same way (violations heard by
the parent), has a cleared environment and descriptors, and — as documented — a copy of
the parent's memory."""

from __future__ import annotations

import os
import socket
import sys

import pytest

import pledgepy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MOD = "tests.programs.worker_fstat"
HOSTILE = "tests.programs.worker_hostile"
SECRET_IN_MEMORY = "parent-only-value"


def test_a_forked_worker_answers_and_is_confined() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", start="fork") as w:
        assert w.call("echo", [1, b"x"]) == [1, b"x"]
        assert w.pid != os.getpid() and w.status().start == "fork"
        assert w.status().violations_heard_by == "parent"
        with pytest.raises(pledgepy.WorkerViolation, match='"rpath"'):
            w.call("read", "/etc/hostname")
        assert w.call("echo", 2) == 2 and w.stats.restarts == 1


def test_a_forked_worker_has_no_environment_and_no_inherited_descriptors() -> None:
    os.environ["PLEDGEPY_TEST_SECRET"] = "s3cret"
    a, b = socket.socketpair()
    try:
        with pledgepy.Worker(MOD, promises="stdio", start="fork") as w:
            assert w.call("getenv", "PLEDGEPY_TEST_SECRET") is None
            assert w.call("c_getenv", "PLEDGEPY_TEST_SECRET") is None  # unsetenv'd too
            with pytest.raises(pledgepy.RemoteError, match="Bad file descriptor"):
                w.call("fstat", a.fileno())
        with pledgepy.Worker(MOD, promises="stdio", start="fork", env={"K": "v"}) as w:
            assert w.call("getenv", "K") == "v"
    finally:
        del os.environ["PLEDGEPY_TEST_SECRET"]
        a.close()
        b.close()


def test_a_forked_worker_copies_the_parents_memory_a_spawned_one_does_not() -> None:
    with pledgepy.Worker(MOD, promises="stdio", start="fork") as w:
        assert w.call("parent_value", __name__, "SECRET_IN_MEMORY") == SECRET_IN_MEMORY
    with pledgepy.Worker(MOD, promises="stdio", start="spawn") as w:
        assert w.call("parent_value", __name__, "SECRET_IN_MEMORY") is None


def test_a_crashing_forked_worker_is_reported() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", start="fork") as w:
        with pytest.raises(pledgepy.WorkerCrashed):
            w.call("abort")
        assert w.call("echo", 3) == 3
