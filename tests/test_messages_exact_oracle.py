"""What program code gains by calling the handler's allowance call site itself (ctypes).

The filter lets the allowances' opens through from that one call site and a Landlock
layer limits them to the allowance files, so a direct call opens nothing else; it does
tell an existing path from a missing one (EACCES versus ENOENT), which status() says in
its notes while the promises held allow no stat (not closed: see the README).
"""

from __future__ import annotations

import os

import pytest

from tests.childproc import run

pytest.importorskip("pledgepy.backends.linux.native._sigsys")
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 call site")

PROBE = """
import ctypes, errno, os, warnings, pledgepy
warnings.simplefilter("ignore")
from pledgepy.backends.linux import native
# pp_blessed_call's five moves (15 bytes) and syscall (2) end at the call site
call = ctypes.CFUNCTYPE(ctypes.c_long, *[ctypes.c_long] * 5)(native.handler_ip() - 17)
def probe(path):
    buf = ctypes.create_string_buffer(path.encode())
    rc = call(257, -100, ctypes.addressof(buf), os.O_RDONLY | os.O_CLOEXEC, 0)
    if rc >= 0:
        os.close(rc)
        return "opened"
    return errno.errorcode[-rc]
pledgepy.pledge(PROMISES)
print(probe("/etc/passwd"), probe("/nonexistent/x"), probe("/usr/share/zoneinfo/UTC"),
      any("call site" in n for n in pledgepy.status().notes), flush=True)
"""


def test_direct_calls_open_only_allowances_and_status_names_the_probe() -> None:
    if not os.path.exists("/usr/share/zoneinfo/UTC"):
        pytest.skip("no zoneinfo")
    r = run(PROBE.replace("PROMISES", "'stdio'"))
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["EACCES", "ENOENT", "opened", "True"], r.explain()


def test_no_note_where_the_promises_already_stat() -> None:
    r = run("import warnings, pledgepy\nwarnings.simplefilter('ignore')\n"
            "pledgepy.pledge('stdio rpath')\n"
            "print(any('call site' in n for n in pledgepy.status().notes))")
    assert r.stdout.strip() == "False", r.explain()
