"""pledgepy inside a program exec'd under execpromises: it knows what it inherited,
narrows, cannot widen, and a forged hint can only make it stricter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT
from tests.pledged import under

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux enforcement")

CHILD = str(ROOT / "tests" / "programs" / "inherited_child.py")
PARENT = "stdio rpath wpath cpath proc exec prot_exec"
EXEC = "stdio rpath prot_exec"


def run_child(*args: str, execpromises: str | None = EXEC, prefix: str = "",
              parent: str = PARENT, **kw: object) -> str:
    body = f"""
import subprocess
r = subprocess.run({prefix!r}.split() + [sys.executable, {CHILD!r}, *{list(args)!r}],
                   capture_output=True, text=True)
print(r.stdout, end="")
print("rc", r.returncode)
sys.stderr.write(r.stderr)
"""
    r = under(parent, body, execpromises=execpromises, **kw)  # type: ignore[arg-type]
    assert r.returncode == 0, r.explain()
    return r.stdout


def test_child_cannot_widen() -> None:
    out = run_child("stdio rpath wpath", "stdio").splitlines()
    assert out[2:4] == ["pledge refused", "pledge ok stdio"]
    # open() after narrowing: the spawner's children install pledgepy's handler (its
    # first layer allows it), so the penalty is OpenBSD's, explained
    assert out[-1] == "rc -6"


def test_child_reports_inherited_promises() -> None:
    out = run_child().splitlines()
    # made by the spawner: exactly its execpromises (its one exec is the spawner's)
    assert out[0] == "promises prot_exec rpath stdio"
    assert out[1] == "inherited True messages True"
    assert "unveil refused" in out  # inherited without "unveil": locked
    assert "open ok" in out and out[-1] == "rc 0"


def test_child_cannot_widen_and_narrowing_is_enforced() -> None:
    out = run_child("stdio rpath wpath error", "stdio error", execpromises=EXEC + " error",
                    parent=PARENT + " error").splitlines()
    assert out[2] == "pledge ok error rpath stdio"  # under error, gains are ignored (OpenBSD)
    assert out[3] == "pledge ok error stdio"
    assert "pledge ok error stdio" in out
    assert "open ENOSYS" in out  # error: the inherited penalty is ENOSYS, as in the parent


def test_error_in_execpromises_gives_enosys_to_python() -> None:
    out = run_child(execpromises=EXEC + " error", parent=PARENT + " error").splitlines()
    assert out[0] == "promises error prot_exec rpath stdio"
    # socket() needs inet: ENOSYS, not a SIGSYS death
    body = """
import subprocess
code = "import socket\\ntry:\\n    socket.socket()\\nexcept OSError as e:\\n    print(e.errno)"
r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
"""
    r = under(PARENT + " error", body, execpromises=EXEC + " error")
    assert r.stdout.split() == ["0", "38"], r.explain()


C_SOCKET = r"""
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
int main(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    printf("%d %d\n", fd, fd < 0 ? errno : 0);
    return 0;
}
"""


def test_error_in_execpromises_gives_enosys_to_c(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    (tmp_path / "s.c").write_text(C_SOCKET)
    subprocess.run(["gcc", "-o", str(tmp_path / "s"), str(tmp_path / "s.c")], check=True)
    body = f"""
import subprocess
r = subprocess.run([{str(tmp_path / "s")!r}], capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
"""
    r = under(PARENT + " error", body, execpromises=EXEC + " error")
    assert r.stdout.split() == ["0", "-1", "38"], r.explain()


def test_forged_narrower_hint_is_enforced() -> None:
    # sh (exec'd with the true hint) replaces it: the child must not merely report it
    prefix = "env PLEDGEPY_INHERITED=stdio;open"
    out = run_child(execpromises=None, prefix=prefix).splitlines()
    assert out[0] == "promises stdio", out
    assert out[-1] == "rc -31"  # its open() breaks what it reported: the kernel kills it


def test_hint_without_filters_is_ignored() -> None:
    r = subprocess.run([sys.executable, CHILD], capture_output=True, text=True,
                       env={"PLEDGEPY_INHERITED": "stdio;locked", "PYTHONPATH": str(ROOT)})
    assert r.stdout.splitlines()[:2] == ["promises -", "inherited False messages False"], r
    assert "open ok" in r.stdout


def test_child_holding_unveil_can_unveil_and_lock() -> None:
    out = run_child(execpromises=EXEC + " unveil", parent=PARENT + " unveil").splitlines()
    assert out[0] == "promises prot_exec rpath stdio unveil"
    assert "unveil ok" in out and "open ok" in out, out  # unveil() records; not locked yet


def test_hint_under_seccomp_that_refuses_filters_is_not_believed() -> None:
    # the pledge command answers seccomp() with ENOSYS: nothing can be enforced, so the
    # program reports nothing rather than what its environment claims
    r = subprocess.run([sys.executable, "-m", "pledgepy", "-q", "-p", "stdio rpath prot_exec",
                        sys.executable, CHILD],
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT),
                                PLEDGEPY_INHERITED="stdio;open"))
    assert r.stdout.splitlines()[:1] == ["promises -"], (r.stdout, r.stderr)
