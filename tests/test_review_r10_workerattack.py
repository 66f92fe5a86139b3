"""Round 10, an attacker's review of pledgepy.Worker: a compromised library in the
worker against its parent. Each test failed on main before its fix (said in each)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import pledgepy
from pledgepy import Limits
from pledgepy.worker import codec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

ATTACK = "tests.programs.worker_r10_attack"
ROOT = Path(__file__).resolve().parent.parent
root = pytest.mark.skipif(os.geteuid() != 0, reason="root's RLIMIT_NPROC and user switch")


GROWTH = """
import resource, sys
import pledgepy
w = pledgepy.Worker(sys.argv[1], promises="stdio", timeout=30.0).start()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    w.call("amplify", 4 << 20, sys.argv[2])
    outcome = "returned"
except pledgepy.WorkerError as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown << 10, outcome)
"""


@pytest.mark.parametrize("kind", ["list", "dict", "int"])
def test_a_reply_of_tiny_items_is_refused_before_the_parent_builds_it(kind: str) -> None:
    """4 MiB of one-byte items, well under max_message: on main the parent built all
    4 Mi objects (a 16 MiB reply of empty lists grew it by 1.3 GiB, the 64 MiB default
    allowed ~5 GiB) and the call returned them. Now they are refused by count first.
    (A parent of its own: its peak memory is the measure.)"""
    out = subprocess.run([sys.executable, "-c", GROWTH, ATTACK, kind], capture_output=True,
                         text=True, timeout=120, check=True, cwd=ROOT).stdout
    grown, outcome = out.split(" ", 1)
    assert outcome.startswith("WorkerProtocolError") and "max_items" in outcome, outcome
    assert int(grown) < 48 << 20, grown  # the frame and the count's copy of it, no objects
    with pledgepy.Worker(ATTACK, promises="stdio") as w:
        assert w.call("echo", [[], {}, -32]) == [[], {}, -32]


def test_max_items_counts_every_value_at_any_depth() -> None:
    """On main Worker had no max_items (TypeError). The count is every value: the
    reply list, "ok", the result and everything in it, a dict's keys and values."""
    with pledgepy.Worker(ATTACK, promises="stdio", max_items=1000) as w:
        assert w.call("echo", ["ab"] * 997) == ["ab"] * 997  # 3 + 997 items
        with pytest.raises(pledgepy.WorkerProtocolError, match="more than 1000 items"):
            w.call("echo", ["ab"] * 998)
        assert w.call("echo", [{"a": "bb"}] * 332) == [{"a": "bb"}] * 332  # 3 + 3 x 332
        with pytest.raises(pledgepy.WorkerProtocolError, match="more than 1000 items"):
            w.call("echo", [{"a": "bb"}] * 333)
        assert (w.stats.failures, w.stats.restarts) == (2, 1)
    with pytest.raises(ValueError, match="max_items"):
        pledgepy.Worker(ATTACK, promises="stdio", max_items=0)


@pytest.mark.parametrize("body", [b"\xdd\x00\x00\x00\x05\x01\x02", b"\x92\xa2o", b"\xde\xff"])
def test_a_truncated_reply_is_a_codec_error_while_counted(body: bytes) -> None:
    """On main decode() had no items (TypeError); the count must fail as the decode
    does, never with an IndexError the parent would not turn into a WorkerError."""
    with pytest.raises(codec.CodecError):
        codec.decode(body, items=1)


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_clone_parent_is_refused_to_a_worker(start: str) -> None:
    """On main a "proc" worker's clone(CLONE_PARENT) made children of the parent, each
    left a zombie there that nothing reaped (5 calls, 5 zombies of the app)."""
    with pledgepy.Worker(ATTACK, promises="stdio proc", start=start) as w:
        with pytest.raises(pledgepy.WorkerViolation, match=r"clone\(CLONE_PARENT\)"):
            w.call("clone_parent")
        assert w.call("echo", 1) == 1
    assert not [p for p in _children() if _state(p) == "Z"]


def _children() -> list[int]:
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2:].split()[1]) == me:
                found.append(int(name))
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return "gone"
    return stat[stat.rfind(b")") + 2:].split()[0].decode()


@root
def test_nproc_as_root_is_a_gap_under_stdio_too() -> None:
    """Threads are processes to RLIMIT_NPROC, which root ignores, and "stdio" allows
    them: on main a root worker under Limits(nproc=64) and "stdio" started 500 threads,
    with no warning and nothing in status().not_enforced."""
    with pytest.warns(pledgepy.PledgeWarning, match="nproc: .* threads"):
        w = pledgepy.Worker(ATTACK, promises="stdio", limits=Limits(nproc=64))
    assert any("nproc" in gap for gap in w.status().not_enforced)
    with pytest.raises(pledgepy.UnsupportedError, match="nproc"):
        pledgepy.Worker(ATTACK, promises="stdio", limits=Limits(nproc=64), strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as another user it holds: nothing to warn of
        pledgepy.Worker(ATTACK, promises="stdio", limits=Limits(nproc=64), user=65534)


@root
def test_threads_over_nproc_name_the_limit() -> None:
    """On main a thread refused by RLIMIT_NPROC came back as RemoteError(RuntimeError:
    can't start new thread), not the WorkerLimitExceeded naming nproc."""
    with pledgepy.Worker(ATTACK, promises="stdio", user=65534, limits=Limits(nproc=1)) as w:
        with pytest.raises(pledgepy.WorkerLimitExceeded) as info:
            w.call("threads", 4)
        assert info.value.limit == "nproc"
        assert w.call("echo", 1) == 1


HOSTILE = "tests.programs.worker_hostile"


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_close_ends_a_call_in_flight_on_another_thread(start: str) -> None:
    """On main close() waited for the call: a worker sleeping 30 s under no timeout held
    it 30 s (one that never answers, forever). Now the call raises, close() returns at
    once, and the worker starts again on the next call even under restart=False."""
    w = pledgepy.Worker(HOSTILE, promises="stdio", start=start, restart=False).start()
    pid = w.pid
    assert pid is not None
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(w.call("sleep", 30))
        except pledgepy.WorkerError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while _state(pid) != "S" or w.stats.calls == 0:  # the call is there, the worker waits
        time.sleep(0.01)
    began = time.monotonic()
    w.close()
    caller.join(timeout=20)
    assert time.monotonic() - began < 10 and not caller.is_alive()
    assert len(outcome) == 1 and type(outcome[0]) is pledgepy.WorkerError
    assert "Worker.close()" in str(outcome[0])
    assert w.pid is None and _state(pid) == "gone"
    assert w.call("echo", 2) == 2 and w.pid != pid  # closed, not failed: restarted
    w.close()


def test_close_after_a_cancelled_acall() -> None:
    """On main a cancelled acall left its executor thread in the call, and close()
    waited for it (30 s here). Now close() ends it, and the next acall works."""
    import asyncio

    w = pledgepy.Worker(HOSTILE, promises="stdio").start()

    async def scenario() -> object:
        task = asyncio.ensure_future(w.acall("sleep", 30))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        began = time.monotonic()
        w.close()
        assert time.monotonic() - began < 10
        return await w.acall("echo", "again")

    assert asyncio.run(scenario()) == "again"
    w.close()


@pytest.mark.parametrize("how", ["ignore", "block"])
def test_a_thread_left_spinning_between_calls_meets_the_cpu_backstop(how: str) -> None:
    """On main the backstop was RLIMIT_CPU's soft limit only: a worker that ignored or
    blocked SIGXCPU and left a thread spinning after its call burnt CPU for as long as
    the parent made no call (12 s of it in 30 s, still running). Now the parent ends
    it a second past the backstop, and the next call says so."""
    w = pledgepy.Worker(ATTACK, promises="stdio", limits=Limits(cpu=0.5)).start()
    pid = w.pid
    assert pid is not None
    assert w.call("leave_spinning", how) == "spinning"
    deadline = time.monotonic() + 90  # a busy machine gives it its ~3 s of CPU slowly
    while _state(pid) not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(pid) in ("Z", "gone")
    with pytest.raises(pledgepy.WorkerTimeout, match="RLIMIT_CPU backstop") as info:
        w.call("echo", 1)
    assert info.value.limit == "cpu"
    assert w.call("echo", 2) == 2
    w.close()


def test_the_cpu_watch_ends_once_no_worker_is_left() -> None:
    """The watch thread ran for the rest of the process once a worker had a cpu limit:
    a program that forks later was multi-threaded for good (3.12 warns at each fork)."""
    code = """
import threading, time
import pledgepy
from pledgepy import Limits
def watching():
    return [t.name for t in threading.enumerate() if t.name == "pledgepy-worker-cpu-watch"]
with pledgepy.Worker("math", promises="stdio", limits=Limits(cpu=1.0)) as w:
    print(w.call("sqrt", 4.0), bool(watching()), flush=True)
deadline = time.monotonic() + 30
while watching() and time.monotonic() < deadline:
    time.sleep(0.05)
print("left:", watching(), flush=True)
with pledgepy.Worker("math", promises="stdio", limits=Limits(cpu=1.0)) as w:
    print(w.call("sqrt", 9.0), bool(watching()), flush=True)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=False, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["2.0 True", "left: []", "3.0 True"], (r.stdout, r.stderr)
