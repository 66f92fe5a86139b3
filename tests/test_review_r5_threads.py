"""Attacker's review (round 5): the /proc/self/task descriptor threads.count() keeps.

The count comes from the directory's link count; a directory the program put at the kept
number since (dup2) must not be counted from: with 3 links it said "one thread" while
another ran, and strict accepted a narrowing on ABI < 8 that leaves that thread outside
the Landlock domain.
"""

from __future__ import annotations

import sys

import pytest

from pledgepy.backends.linux.landlock import abi
from tests.childproc import run

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(not abi.current().available or abi.current().tsync,
                       reason="needs Landlock without TSYNC (ABI < 8)"),
]

CODE = """
import os, threading, tempfile, pledgepy, warnings
warnings.simplefilter("ignore")
from pledgepy.backends.linux import threads
d = tempfile.mkdtemp()
os.mkdir(d + "/sub")  # st_nlink 3: "one thread"
pledgepy.pledge("stdio rpath wpath cpath proc prot_exec")
assert threads._task is not None
ev = threading.Event()
th = threading.Thread(target=ev.wait)
th.start()
{replace}
try:
    pledgepy.pledge("stdio rpath", strict=True)
    print("ACCEPTED")
except pledgepy.UnsupportedError as exc:
    print("REFUSED", exc)
ev.set()
th.join()
"""


@pytest.mark.parametrize("replace", ["pass", "os.dup2(os.open(d, os.O_RDONLY), threads._task[0])"],
                         ids=["untouched", "dup2"])
def test_a_replaced_task_descriptor_does_not_hide_threads(replace: str) -> None:
    r = run(CODE.format(replace=replace))
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "threads already running" in r.stdout, r.explain()
