"""Attacker's review (round 5): the O_PATH descriptors of the allowance paths.

allowances.prepare() opens them at the first pledge; a later pledge's layer grants each
allowance beneath its descriptor. A number the program replaced in between (dup2 of a
descriptor of "/") granted the allowance's rights beneath "/": native code making the
open from the handler's call site (which the filter lets through for the layer to
decide) then read and created any file after a narrowing to 'stdio tty tmppath'.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tempfile

import pytest

from tests.childproc import run

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 syscall numbers"),
]

CODE = """
import ctypes, os, warnings, pledgepy
warnings.simplefilter("ignore")
from pledgepy.backends.linux import native
from pledgepy.backends.linux.landlock import allowances
outside = {outside!r}
pledgepy.pledge("stdio rpath wpath cpath tty tmppath prot_exec")
{replace}
pledgepy.pledge("stdio tty tmppath")
# pp_blessed_call: its syscall instruction (17 bytes in) returns to handler_ip()
call = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_char_p,
                        ctypes.c_long, ctypes.c_long)(native.handler_ip() - 17)
print("read", call(257, -100, b"/etc/passwd", os.O_RDONLY, 0))
print("create", call(257, -100, (outside + "/new").encode(), os.O_WRONLY | os.O_CREAT, 0o600))
"""


def _run(replace: str) -> None:
    outside = tempfile.mkdtemp(dir="/var/tmp")  # not beneath /tmp (tmppath's)
    try:
        r = run(CODE.format(replace=replace, outside=outside))
    finally:
        shutil.rmtree(outside)
    assert r.returncode == 0, r.explain()
    assert "read -13" in r.stdout and "create -13" in r.stdout, r.explain()


@pytest.mark.parametrize("path", ["/tmp", "/dev/tty"])
def test_a_replaced_allowance_descriptor_grants_nothing_beneath_another(path: str) -> None:
    _run(f"os.dup2(os.open('/', os.O_PATH), allowances._fds[{path!r}][0])")


def test_untouched_the_layer_refuses_the_same_calls() -> None:
    _run("pass")
