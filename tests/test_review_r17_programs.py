"""Review round 17: real programs hardened the way a user would, broad at start-up and
narrowed in the main loop; what broke where OpenBSD would not.

Each enforcement check runs in a child process against the real kernel.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="seccomp and Landlock are Linux's")


def test_narrowing_that_drops_exec_is_not_partial_for_exec_gaps() -> None:
    """A program runs a tool once at start-up, then drops proc and exec for its main loop:
    no program can be exec'd any more (the filter refuses execve, the spawner is sealed),
    so the in-place exec gaps of the first pledge no longer apply. On main the narrowing
    still listed "exec'd programs keep 'exec'" and strict mode refused it (OpenBSD
    accepts any narrowing)."""
    ls = shutil.which("ls")
    assert ls is not None
    r = run(f"""
import subprocess, pledgepy, warnings
warnings.simplefilter("ignore")
pledgepy.pledge("stdio rpath inet proc exec", "stdio rpath prot_exec")
print(subprocess.run([{ls!r}, "/"], capture_output=True).returncode, flush=True)
pledgepy.pledge("stdio rpath inet", strict=True)
st = pledgepy.status()
print(st.level, [g for g in st.not_enforced if "exec" in g], flush=True)
""")
    assert r.returncode == 0, r.explain()
    assert r.stdout.splitlines() == ["0", "full []"], r.explain()
