"""Attacker's review (round 5): descriptors opened before a pledge without prot_exec.

A pledge closes no descriptor, and Landlock judges only opens. One open for writing on
``/proc/self/mem``, or on a memfd (or file) behind an ``r-x`` mapping, writes code that runs
without prot_exec, even under plain ``stdio``: pledge() reports it (strict refuses); a
read-only one is not reported.
"""

from __future__ import annotations

import sys

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

CODE = """
import ctypes, os, warnings, pledgepy
warnings.simplefilter("ignore")
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: uid 65534 may open its own mem after setuid
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
{setup}
try:
    pledgepy.pledge("stdio", strict=True)
except pledgepy.UnsupportedError as exc:
    print("REFUSED", exc)
    pledgepy.pledge("stdio")
else:
    print("ACCEPTED")
{after}
"""

MEM = 'fd = os.open("/proc/self/mem", os.O_{mode})'
MEMFD = """
fd = os.memfd_create("code")
os.write(fd, b"\\xb8\\x01\\x00\\x00\\x00\\xc3".ljust(4096, b"\\x90"))  # mov eax, 1; ret
code = ctypes.CFUNCTYPE(ctypes.c_int)(libc.mmap(None, 4096, 5, 1, fd, 0))  # r-x, shared
"""
# what the refused pledge is about: after pledge("stdio") the code changes
MEMFD_AFTER = """
os.pwrite(fd, b"\\xb8\\x02", 0)
print("returns", code())
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_writable_mem_descriptor_is_reported(unprivileged: bool) -> None:
    r = run(CODE.format(setup=MEM.format(mode="RDWR"), after=""), unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "(procfs)" in r.stdout, r.explain()


def test_read_only_mem_descriptor_is_not_reported() -> None:
    r = run(CODE.format(setup=MEM.format(mode="RDONLY"), after=""), unprivileged=True)
    assert r.returncode == 0, r.explain()
    assert "ACCEPTED" in r.stdout, r.explain()


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="x86_64 code bytes")
def test_writable_descriptor_of_executable_memfd_is_reported() -> None:
    r = run(CODE.format(setup=MEMFD, after=MEMFD_AFTER), unprivileged=True)
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "(mapped code)" in r.stdout, r.explain()
    assert "returns 2" in r.stdout, r.explain()  # the gap is real: new code ran


def test_reported_when_proc_is_hidden_by_the_lock() -> None:
    """/proc/self/fd cannot be listed under these rules: every number is looked at."""
    setup = MEM.format(mode="RDWR") + """
import tempfile
pledgepy.unveil(tempfile.mkdtemp(), "r")
pledgepy.unveil(None, None)
"""
    r = run(CODE.format(setup=setup, after=""))
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "(procfs)" in r.stdout, r.explain()


@pytest.mark.parametrize("promises", ["stdio", "stdio wpath"])
def test_a_narrowing_without_rpath_looks_at_descriptors_only(promises: str) -> None:
    """After the lock kept the maps readable, a narrowing whose old promises lack rpath
    must not open /proc/self/fd (a violation): the numbers are looked at instead."""
    r = run(f"""
import os, tempfile, warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.unveil(tempfile.mkdtemp(), "rw")
pledgepy.unveil(None, None)
pledgepy.pledge({promises + " prot_exec"!r})
pledgepy.pledge({promises!r})
print("clean", [g for g in pledgepy.status().not_enforced if "descriptor" in g])
""")
    assert r.returncode == 0 and "clean []" in r.stdout, r.explain()


#: Locked, pledged with prot_exec, a /proc/self/mem descriptor open for writing as *mem*.
_HELD_MEM = """
import os, tempfile, warnings, pledgepy
from pledgepy.backends.linux.landlock import allowances
warnings.simplefilter("ignore")
mem = os.open("/proc/self/mem", os.O_RDWR)
pledgepy.unveil(tempfile.mkdtemp(), "rw")
pledgepy.unveil(None, None)
pledgepy.pledge("stdio prot_exec")
"""


def test_the_allowance_layers_own_descriptors_are_not_writers() -> None:
    """stdio's /proc/sys/vm/overcommit_memory (glibc's malloc) is held O_PATH by the
    allowance layer: not a writer of code, unless its number now holds another file (a
    /proc/self/mem open for writing dup2()'d over it is one)."""
    r = run(_HELD_MEM + """
print("held", len(allowances.descriptors()) > 0)
os.close(mem)
pledgepy.pledge("stdio")
print("clean", [g for g in pledgepy.status().not_enforced if "descriptor" in g])
""")
    assert r.returncode == 0 and "held True" in r.stdout and "clean []" in r.stdout, \
        r.explain()
    r = run(_HELD_MEM + """
for fd in allowances.descriptors():
    os.dup2(mem, fd)
os.close(mem)
pledgepy.pledge("stdio")
print("flagged", [g for g in pledgepy.status().not_enforced if "(procfs)" in g] != [])
""")
    assert r.returncode == 0 and "flagged True" in r.stdout, r.explain()
