"""Attacker's review (round 5): SIGSYS blocked where pledge() cannot unblock it.

pledge() unblocks SIGSYS in the calling thread and signal.pthread_sigmask() never blocks
it again; a thread that blocked it before the pledge keeps it blocked (a thread's mask is
its own), so its violation is the kernel's silent SIGSYS. status() says so.
"""

from __future__ import annotations

import signal
import sys

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

CODE = """
import os, signal, threading, warnings, pledgepy
warnings.simplefilter("ignore")
ready, go = threading.Event(), threading.Event()
def body():
    {block}
    ready.set()
    go.wait()
    if {violate}:
        os.listdir("/")
th = threading.Thread(target=body)
th.start()
ready.wait()
pledgepy.pledge("stdio")
print("notes:", [n for n in pledgepy.status().notes if "SIGSYS blocked" in n], flush=True)
go.set()
th.join()
"""
BLOCK = "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS})"


def test_a_thread_that_blocked_sigsys_before_is_named() -> None:
    r = run(CODE.format(block=BLOCK, violate=False))
    assert r.returncode == 0, r.explain()
    assert "other thread(s) have SIGSYS blocked" in r.stdout, r.explain()


def test_and_its_violation_is_the_kernels_silent_kill() -> None:
    """What the note is about (the residue itself, documented)."""
    r = run(CODE.format(block=BLOCK, violate=True))
    assert r.returncode == -signal.SIGSYS and "pledge:" not in r.stderr, r.explain()


def test_no_note_without_such_a_thread() -> None:
    r = run(CODE.format(block="pass", violate=False))
    assert r.returncode == 0 and "notes: []" in r.stdout, r.explain()
