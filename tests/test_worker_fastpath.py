"""The worker's per-call path: frames at and across the scratch buffer's size, frames
delivered a byte at a time, the CPU clock and the RLIMIT_CPU backstop."""

from __future__ import annotations

import resource
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

import pledgepy
from pledgepy.worker import codec, frames

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
HOSTILE = "tests.programs.worker_hostile"
SIZES = [0, 1, frames.SCRATCH - 16, frames.SCRATCH - 4, frames.SCRATCH, frames.SCRATCH + 1,
         3 * frames.SCRATCH + 7, 2 << 20]


@pytest.fixture(scope="module")
def worker() -> Iterator[pledgepy.Worker]:
    with pledgepy.Worker(HOSTILE, promises="stdio", limits=pledgepy.Limits(cpu=3.0)) as w:
        yield w


@pytest.mark.parametrize("size", SIZES)
def test_values_around_the_scratch_size_cross_both_ways(worker: pledgepy.Worker,
                                                         size: int) -> None:
    blob = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    assert worker.call("echo", blob) == blob
    assert worker.call("echo", [1]) == [1]  # nothing of the big frame is left over


def test_frames_a_byte_at_a_time_and_back_to_back() -> None:
    a, b = socket.socketpair()
    messages = [[i, b"x" * i * 997] for i in range(0, 200, 37)] + [{"k": None}]
    data = b"".join(codec.encode(m) for m in messages)

    def dribble() -> None:
        for i in range(0, len(data), 1 if len(data) < 4096 else 509):
            a.sendall(data[i:i + (1 if len(data) < 4096 else 509)])
        a.close()

    t = threading.Thread(target=dribble)
    t.start()
    reader, got = frames.FrameReader(b, codec.MAX_MESSAGE), []
    try:
        while True:
            msg = reader.next()
            while msg is frames.MORE:
                msg = reader.read()
            got.append(msg)
    except EOFError:
        pass
    t.join()
    b.close()
    assert got == messages


def test_a_frame_over_the_limit_is_refused_before_it_is_read() -> None:
    a, b = socket.socketpair()
    a.sendall((1 << 30).to_bytes(4, "big"))
    with pytest.raises(codec.CodecError, match="over the limit"):
        frames.FrameReader(b, 1 << 20).read()
    a.close()
    b.close()


def test_the_cpu_clock_and_the_backstop(worker: pledgepy.Worker) -> None:
    worker.call("burn", 0.3)
    conn = worker._conn
    assert conn is not None and worker.pid is not None
    used = conn.cpu_used()
    assert 0.3 <= used < 3.0
    worker.call("echo", 1)
    soft, _ = resource.prlimit(worker.pid, resource.RLIMIT_CPU)
    assert soft == pledgepy.worker.limits.cpu_backstop(conn.cpu_used(), 3.0)


def test_many_frames_in_one_receive_then_a_large_one() -> None:
    """Frames are consumed from an offset (the buffer is compacted once a receive):
    dozens in one receive, one cut at the buffer's end, then one larger than it."""
    a, b = socket.socketpair()
    messages: list[object] = [["ok", b"y" * (i * 301 % 4000)] for i in range(60)]
    messages += [["ok", b"L" * (frames.SCRATCH * 2 + 3)], ["ok", "after"]]
    data = b"".join(codec.encode(m) for m in messages)
    t = threading.Thread(target=lambda: (a.sendall(data), a.close()))
    t.start()
    reader, got = frames.FrameReader(b, codec.MAX_MESSAGE), []
    try:
        while True:
            msg = reader.next()
            while msg is frames.MORE:
                msg = reader.read()
            got.append(msg)
    except EOFError:
        pass
    t.join()
    b.close()
    assert got == messages


def test_replies_are_checked_calls_from_the_parent_need_not_be() -> None:
    import msgpack

    body = msgpack.packb(["ok", msgpack.Timestamp(1, 0)])
    frame = len(body).to_bytes(4, "big") + body
    for trusted in (False, True):
        a, b = socket.socketpair()
        a.sendall(frame)
        reader = frames.FrameReader(b, codec.MAX_MESSAGE, trusted=trusted)
        if trusted:  # the worker reading what the parent's encode() checked
            assert reader.read()[0] == "ok"
        else:  # the parent reading a reply: never trusted
            with pytest.raises(codec.CodecError, match="Timestamp"):
                reader.read()
        a.close()
        b.close()


def test_the_parent_does_not_trust_replies(worker: pledgepy.Worker) -> None:
    worker.call("echo", 1)
    assert worker._conn is not None and worker._conn.reader.trusted is False


def test_flat_and_nested_values_are_checked() -> None:
    class Sub(str):
        pass

    for bad in (["ok", Sub("x")], ["ok", [1, {"k": {1.5}}]], {(1, 2): 1}, ["ok", bytearray(b"")]):
        with pytest.raises(codec.CodecError):
            codec.check(bad)
    for good in (["ok", "x"], ["ok", None, True, 1, 1.5, b""], ["call", "f", [[1], {"a": ()}], {}]):
        codec.check(good)
