"""Review r17: pledgepy as an unprivileged user runs it.

A worker is not dumpable, so a parent without CAP_SYS_PTRACE over it (any non-root
parent: the common case) cannot read its memory. Its violations then said
``openat(<unreadable>, O_RDONLY) needs "rpath"`` for ``os.cpu_count()`` in a ``stdio``
worker, a call OpenBSD allows and a root parent serves: ``<unreadable>`` is what the
README says of a bad pointer, and nothing said why, nor what to do. The message now
says the worker's memory is closed to its parent and why.

The parent here is uid 0 with every capability dropped (the kernel's check is
CAP_SYS_PTRACE over a non-dumpable process, whatever the uid), so it runs where the
interpreter is out of uid 65534's reach (CI: under /root); the same as uid 65534 where
it can run the interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.childproc import ROOT, run
from tests.test_unveil import nobody_can_run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

#: capset(2) to nothing: no CAP_SYS_PTRACE over the (non-dumpable) worker.
NO_CAPS = """
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
_data = (ctypes.c_uint32 * 6)()
assert _libc.syscall({capset}, _hdr, _data) == 0, ctypes.get_errno()
with open('/proc/self/status') as _f:
    assert [l for l in _f if l.startswith('CapEff:')][0].split()[1] == '0000000000000000'
"""
CAPSET = {"x86_64": 126, "aarch64": 91}

#: A stdio worker's os.cpu_count() (glibc opens /sys/devices/system/cpu/online, which
#: the parent answers ENOENT when it can read the path) and os.getpid() (no path).
CALLS = """
import pledgepy
with pledgepy.Worker("os", promises="stdio") as w:
    try:
        print("cpu_count:", w.call("cpu_count"))
    except pledgepy.WorkerViolation as exc:
        print("violation:", exc.message)
    print("getpid:", w.call("getpid") > 0)
"""


def _capset() -> int:
    nr = CAPSET.get(os.uname().machine)
    if nr is None:
        pytest.skip(f"no capset number for {os.uname().machine}")
    return nr


def _check_unreadable(out: str) -> None:
    line = next(x for x in out.splitlines() if x.startswith("violation:"))
    assert "<unreadable>" in line, out
    # why, and what to do, not a bad pointer's "<unreadable>" alone
    assert "memory is closed" in line and "not dumpable" in line, line
    assert "CAP_SYS_PTRACE" in line and "rpath" in line, line
    assert "getpid: True" in out, out


def test_without_ptrace_a_worker_violation_says_its_memory_is_closed() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs uid 0 to drop every capability and stay uid 0")
    r = run(NO_CAPS.format(capset=_capset()) + CALLS)
    assert r.returncode == 0, r.explain()
    _check_unreadable(r.stdout)


def test_with_ptrace_the_same_call_is_served() -> None:
    """The control: a parent that can read the worker serves os.cpu_count()."""
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_SYS_PTRACE over the worker)")
    r = run(CALLS)
    assert r.returncode == 0, r.explain()
    assert "violation:" not in r.stdout and "getpid: True" in r.stdout, r.explain()


def test_as_nobody_a_worker_violation_says_its_memory_is_closed() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    if not nobody_can_run(sys.executable):
        pytest.skip("uid 65534 cannot reach this checkout or this interpreter "
                    "(a worker execs the interpreter: it cannot start after the drop)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/nonexistent"}
    env.pop("PLEDGEPY_STRICT", None)
    r = subprocess.run([sys.executable, "-c", CALLS], capture_output=True, text=True,
                       cwd="/", user=65534, group=65534, extra_groups=[], env=env,
                       check=False, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    _check_unreadable(r.stdout)
