"""Narrowing deltas against the running kernel (child processes).

The deltas leave foreign architectures and x32 numbers to pledgepy's first
filter; after ten narrowings both must still kill, and the ``error`` promise's
ENOSYS answers, the path allowances' retries and the messages must be as a
single pledge of the final promises gives them.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from tests.pledged import killed, under

X86 = platform.machine() == "x86_64"
CHAIN = "stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc"
NARROW = """
promises = {chain!r}.split()
while len(promises) > {keep}:
    promises.pop()
    pledgepy.pledge(' '.join(promises))
print(open('/proc/self/status').read().split('Seccomp_filters:')[1].split()[0], flush=True)
"""
SETUP = "import ctypes, mmap, socket\nlibc = ctypes.CDLL(None, use_errno=True)\nsc = libc.syscall\n"


def narrowed(body: str, *, keep: int = 2, chain: str = CHAIN, setup: str = SETUP,
             **kw: object) -> tuple[int, object]:
    r = under(chain, NARROW.format(chain=chain, keep=keep) + body, setup=setup, **kw)
    counts = [int(w) for w in r.stdout.split() if w.isdigit()]
    return counts[0] if counts else 0, r


@pytest.mark.skipif(not X86, reason="x32 numbers exist on x86_64 only")
def test_x32_numbers_still_kill_after_ten_narrowings() -> None:
    filters, r = narrowed("sc(0x40000000 | 39)\nprint('survived', flush=True)")
    assert filters == 11, r.explain()  # type: ignore[attr-defined]
    assert r.returncode == -31 and "survived" not in r.stdout, r.explain()  # type: ignore[attr-defined]


@pytest.mark.skipif(not X86, reason="the i386 entry exists on x86_64 only")
def test_i386_entry_still_kills_after_ten_narrowings(int80: Path) -> None:
    setup = SETUP + f"lib = ctypes.CDLL({str(int80)!r})\nprint(lib.i386_getpid() > 0, flush=True)\n"
    _, r = narrowed("lib.i386_getpid()\nprint('survived', flush=True)", setup=setup)
    out = r.stdout.split()  # type: ignore[attr-defined]
    assert out[:2] == ["True", "11"], r.explain()  # type: ignore[attr-defined]
    assert r.returncode == -31 and "survived" not in out, r.explain()  # type: ignore[attr-defined]


def test_narrowed_stack_allows_and_refuses_as_the_final_promises() -> None:
    body = """
print(len(open('/etc/hostname').read()) > 0, flush=True)
import mmap
m = mmap.mmap(-1, 8192); m.close()
print('mapped', flush=True)
try:
    os.mkdir('/tmp/never-made-by-pledgepy')
except OSError:
    pass
"""
    _, r = narrowed(body)
    out = r.stdout.split()  # type: ignore[attr-defined]
    assert out[1:3] == ["True", "mapped"], r.explain()  # type: ignore[attr-defined]
    assert killed(r) and 'mkdir("/tmp/never-made-by-pledgepy", 0777) needs "cpath"' in r.stderr  # type: ignore[arg-type, attr-defined]


def test_error_answers_enosys_after_narrowings() -> None:
    chain = "stdio rpath error wpath cpath inet unix dns"
    body = """
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as e:
    print('socket', errno.errorcode[e.errno], flush=True)
try:
    open('/tmp/never-made-by-pledgepy', 'w')
except OSError as e:
    print('open', errno.errorcode[e.errno], flush=True)
print(len(open('/etc/hostname').read()) > 0, flush=True)
"""
    filters, r = narrowed(body, keep=3, chain=chain)
    out = r.stdout.split()  # type: ignore[attr-defined]
    assert r.returncode == 0 and filters >= 2, r.explain()  # type: ignore[attr-defined]
    assert out[1:] == ["socket", "ENOSYS", "open", "ENOSYS", "True"], r.explain()  # type: ignore[attr-defined]
