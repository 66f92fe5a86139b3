"""Attacker's review (round 5): executable mappings of the kernel's shmem, reopened.

Landlock judges the file an open reaches, and never restricts the kernel's own shmem
files (memfds, shared anonymous memory). A process with CAP_SYS_ADMIN (root) reopens an
``r-x`` memfd mapping through /proc/self/map_files for writing and so writes code after a
strict pledge('stdio rpath wpath cpath') whose unveil rules keep every code file read-only.
pledge() reports it; uid 65534 cannot open map_files, so nothing is reported there.
"""

from __future__ import annotations

import platform
import sys

import pytest

from tests.childproc import run

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 code bytes"),
]

CODE = r"""
import ctypes, os, tempfile, warnings, pledgepy
warnings.simplefilter("ignore")
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
fd = os.memfd_create("code")
os.write(fd, b"\xb8\x01\x00\x00\x00\xc3".ljust(4096, b"\x90"))  # mov eax, 1; ret
addr = libc.mmap(None, 4096, 5, 1, fd, 0)  # r-x, shared
os.close(fd)  # no descriptor left: only map_files reaches it
code = ctypes.CFUNCTYPE(ctypes.c_int)(addr)
pledgepy.unveil(tempfile.mkdtemp(), "rwc")
try:
    pledgepy.pledge("stdio rpath wpath cpath", strict=True)
    print("ACCEPTED")
except pledgepy.UnsupportedError as exc:
    print("REFUSED", exc)
    pledgepy.pledge("stdio rpath wpath cpath")
try:
    w = os.open("/proc/self/map_files/%x-%x" % (addr, addr + 4096), os.O_RDWR)
    os.pwrite(w, b"\xb8\x07", 0)
    print("returns", code())
except OSError as exc:
    print("map_files", exc.errno)
"""


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root")
def test_root_reopening_an_executable_memfd_is_reported() -> None:
    r = run(CODE)
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "/memfd:code" in r.stdout and "map_files)" in r.stdout, \
        r.explain()
    assert "returns 7" in r.stdout, r.explain()  # the gap is real


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root to drop from")
def test_nobody_cannot_reopen_it_and_nothing_is_reported() -> None:
    r = run(CODE, unprivileged=True)
    assert r.returncode == 0, r.explain()
    assert "ACCEPTED" in r.stdout and "map_files 1" in r.stdout, r.explain()  # EPERM


READ_ONLY = CODE.replace(
    "os.close(fd)  # no descriptor left: only map_files reaches it",
    'ro = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)\nos.close(fd)  # a read-only one is left',
).replace('"/proc/self/map_files/%x-%x" % (addr, addr + 4096)', 'f"/proc/self/fd/{ro}"')


@pytest.mark.parametrize("lock", [False, True], ids=["unlocked", "locked-before"])
@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root to drop from")
def test_a_read_only_descriptor_of_an_executable_memfd_is_reported(lock: bool) -> None:
    """Any user reopens it for writing through /proc/self/fd/N, unveil rules or not."""
    code = READ_ONLY.replace('"rwc")\n', '"rwc")\npledgepy.unveil(None, None)\n') if lock \
        else READ_ONLY
    r = run("import ctypes\nctypes.CDLL(None).prctl(4, 1, 0, 0, 0)\n" + code, unprivileged=True)
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "descriptor" in r.stdout, r.explain()
    assert "returns 7" in r.stdout, r.explain()  # the gap is real
