"""A spawned program's violation message gives a hint for that program, not for Python.

The handler's hints speak to a pledged Python program ("import it before pledge()");
for sh started under execpromises without prot_exec that pointed the wrong way. The
spawner (CLONE_PARENT children) and the in-place path (a preexec_fn: the explainer)
both describe other programs with the loader hint (a Python child, which cannot start
without rpath and prot_exec anyway, keeps Python's).
"""

from __future__ import annotations

import pytest

from tests.pledged import under

LOADER = ('mmap(PROT_READ|PROT_EXEC) needs "prot_exec" (a dynamically linked program\'s '
          "loader needs it, as do dlopen() and JITs: add it to the execpromises)")


@pytest.mark.parametrize("preexec", [False, True], ids=["spawner", "in-place"])
def test_a_shell_gets_the_loader_hint(preexec: bool) -> None:
    extra = ", preexec_fn=lambda: None" if preexec else ""
    body = f"""
r = subprocess.run(["/bin/sh", "-c", "true"]{extra})
print("rc", r.returncode, flush=True)
"""
    r = under("stdio rpath prot_exec proc exec", body, execpromises="stdio rpath",
              setup="import subprocess")
    assert r.stdout.split() == ["rc", "-6"], r.explain()
    assert LOADER in r.stderr and "import it before pledge()" not in r.stderr, r.explain()
