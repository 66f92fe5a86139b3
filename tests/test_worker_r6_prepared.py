"""A fork-mode worker's filters are compiled by its parent before the fork, with a
placeholder for the worker's pid that the worker writes in: the bytes it installs
are the bytes it would have compiled itself, and "this process" is the worker."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

import pledgepy
from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

PROMISES = ("stdio", "stdio rpath", "stdio error", "stdio sendfd", "stdio proc",
            "stdio id", "stdio fattr", "stdio inet dns")


@pytest.mark.parametrize("promises", PROMISES)
def test_the_parents_filters_patched_with_a_pid_equal_the_ones_compiled_for_it(
        promises: str) -> None:
    from pledgepy.backends.linux.exec import worker as sup
    from pledgepy.backends.linux.rules import Identity
    from pledgepy.backends.linux.seccomp.plan import identity

    held = frozenset(promises.split())
    sup.WorkerSupervisor().prepare(held)
    got = sup._compiled[held]
    assert got is not None
    _, first, seal, first_at, seal_at, values = got
    if "proc" not in held:  # which lets kill() name any process
        assert first_at  # stdio names the process itself: there is something to patch
    me = identity()
    for pid in (os.getpid(), 1000, 65536, 123457, 1 << 22):
        assert pid not in values
        own = sup.filters(held, Identity(pid, me.uid, me.gids, me.ip))
        assert sup._patched(first, first_at, pid) == own[0]
        assert sup._patched(seal, seal_at, pid) == own[1]
        other = sup.filters(held, Identity(pid + 1, me.uid, me.gids, me.ip))[0]
        assert (own[0] != other) == bool(first_at)


def test_a_fork_installs_the_parents_filters_with_its_own_pid() -> None:
    r = run("""
import os
from pledgepy.backends.linux.exec import worker as sup
from pledgepy.backends.linux.seccomp.plan import identity
held = frozenset({"stdio"})
sup.WorkerSupervisor().prepare(held)
compiled = []
real = sup.filters
sup.filters = lambda *a: compiled.append(a) or real(*a)
pid = os.fork()
if pid == 0:
    mine = sup._own_filters(held)
    os._exit(0 if not compiled and mine == real(held, identity()) else 1)
_, status = os.waitpid(pid, 0)
print("same" if os.waitstatus_to_exitcode(status) == 0 else "differ")
""")
    assert r.returncode == 0 and r.stdout.split() == ["same"], r.explain()


def test_a_worker_compiles_its_own_filters_when_its_identity_differs() -> None:
    r = run("""
import os
from pledgepy.backends.linux.exec import worker as sup
from pledgepy.backends.linux.seccomp.plan import identity
held = frozenset({"stdio"})
sup.WorkerSupervisor().prepare(held)
pid = os.fork()
if pid == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)  # as Worker(user=...) does
    os._exit(0 if sup._own_filters(held) == sup.filters(held, identity()) else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
""")
    assert r.returncode == 0 and r.stdout.split() == ["0"], r.explain()


def test_a_forked_worker_may_signal_itself_and_not_its_parent() -> None:
    with pledgepy.Worker("os", promises="stdio", start="fork") as w:
        pid = w.call("getpid")
        assert w.call("kill", pid, 0) is None  # stdio: kill() of the process itself
        with pytest.raises(pledgepy.WorkerViolation, match="kill"):
            w.call("kill", os.getpid(), 0)
        pid = w.call("getpid")  # a new worker: a new pid written in
        assert w.call("kill", pid, 0) is None


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_worker_started_on_the_main_thread_dies_with_its_parent(start: str) -> None:
    r = run(f"""
import os, signal, sys
import pledgepy
w = pledgepy.Worker("os", promises="stdio", start={start!r})
print(w.call("getpid"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
""")
    assert r.signal == 9, r.explain()
    pid = int(r.stdout.split()[0])
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break  # dead, not yet reaped by init
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"worker {pid} outlived its parent")


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_worker_started_on_a_short_lived_thread_outlives_it(start: str) -> None:
    made: list[pledgepy.Worker] = []

    def begin() -> None:
        w = pledgepy.Worker("os", promises="stdio", start=start)
        w.call("getpid")
        made.append(w)

    t = threading.Thread(target=begin)
    t.start()
    t.join()
    with made[0] as w:
        pid = w.pid
        time.sleep(0.05)
        assert w.call("getpid") == pid and w.stats.restarts == 0
