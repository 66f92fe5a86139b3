"""The Landlock layer probe's helper thread has left the process when the probe returns.

pthread_join() returns before the kernel drops the thread from the process's thread
list; a pledge that counted threads meanwhile (threads.count(): /proc/self/task)
saw two on ABI < 8 and silently went without the path allowances' layer (seen in CI:
`open("/dev/tty")` under "stdio tty" killed). Run in a child, many times, against
the real kernel, with the other CPUs kept busy so the thread's last steps are slow.
"""

from __future__ import annotations

import multiprocessing
import os

import pytest

from tests.childproc import run

CODE = """
import os
from pledgepy.backends.linux.landlock import abi, domain
if not abi.current().available:
    print("no landlock"); raise SystemExit
seen = 0
for _ in range(20000):
    domain._left = None
    left = domain.layers_left()
    n = os.stat("/proc/self/task").st_nlink - 2
    seen = max(seen, n)
print("left", left > 0, "threads", seen)
"""


def _spin() -> None:
    while True:
        pass


def test_the_probe_thread_is_gone_when_it_returns() -> None:
    if not os.path.exists("/proc/self/task"):
        pytest.skip("no /proc")
    ctx = multiprocessing.get_context("fork")
    spinners = [ctx.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)]
    for p in spinners:
        p.start()
    try:
        r = run(CODE, timeout=120)
    finally:
        for p in spinners:
            p.kill()
            p.join()
    if "no landlock" in r.stdout:
        pytest.skip("no Landlock")
    assert r.returncode == 0 and r.stdout.split() == ["left", "True", "threads", "1"], r.explain()
