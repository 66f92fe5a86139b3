"""Worker.map: pipelined calls keep each call's guarantees (order, per-call CPU and
timeout, max_calls, failures) and a worker answering ahead is a protocol error."""

from __future__ import annotations

import sys

import pytest

import pledgepy
from pledgepy import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
HOSTILE = "tests.programs.worker_hostile"
R3 = "tests.programs.worker_r3"


def test_map_answers_in_order_across_partial_windows() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio") as w:
        assert w.map("echo", range(100), window=7) == list(range(100))
        big = [b"x" * 300_000, b"y" * 5, b"z" * 200_000]  # frames larger than the socket buffer
        assert w.map("echo", big, window=3) == big
        assert w.map("echo", []) == []
        assert w.stats.calls == 103 and w.stats.restarts == 0


def test_a_violation_in_the_middle_of_a_map() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio") as w:
        with pytest.raises(pledgepy.WorkerViolation, match='"rpath"'):
            w.map("read", ["/etc/hostname"] * 3)
        assert w.map("echo", [1, 2]) == [1, 2]
        assert w.stats.failures == 1 and w.stats.restarts == 1


def test_a_remote_error_ends_the_map_and_the_next_call_works() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio") as w:
        with pytest.raises(pledgepy.RemoteError, match="ZeroDivision|TypeError"):
            w.map("echo", [1], [2])  # echo takes one argument: TypeError in the worker
        assert w.call("echo", 3) == 3


def test_cpu_is_per_call_in_a_map() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", limits=Limits(cpu=0.5)) as w:
        assert w.map("burn", [0.2] * 4) == [0.2] * 4  # 0.8 s in all, each under 0.5
        with pytest.raises(pledgepy.WorkerTimeout) as caught:
            w.map("burn", [0.1, 3.0, 0.1])
        assert caught.value.limit == "cpu"
        assert w.call("echo", 1) == 1


def test_timeout_is_per_call_in_a_map() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", timeout=0.6) as w:
        assert w.map("sleep", [0.3] * 3) == [None] * 3
        with pytest.raises(pledgepy.WorkerTimeout):
            w.map("sleep", [0.1, 5.0])


def test_max_calls_holds_in_a_map() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", max_calls=3) as w:
        assert w.map("echo", range(7)) == list(range(7))
        assert w.stats.restarts == 2


@pytest.mark.parametrize("how", ["call", "map"])
def test_answering_ahead_is_a_protocol_error(how: str) -> None:
    """A forged reply must not become the answer to the next call."""
    with pledgepy.Worker(R3, promises="stdio") as w:
        with pytest.raises(pledgepy.WorkerProtocolError, match="not yet received"):
            if how == "call":
                w.call("answer_ahead", 2)
                w.call("echo", "real")
            else:
                w.map("answer_ahead", [2, 0, 0, 0], window=1)
        assert w.call("echo", "real") == "real"
