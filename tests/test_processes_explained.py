"""A child that breaks its execpromises is explained with its own name and pid, then
aborted (134), or answered ENOSYS under error."""

from __future__ import annotations

import re
import sys

import pytest

from tests.pledged import under

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux enforcement")

PARENT = "stdio rpath wpath cpath proc exec prot_exec"
EXEC = "stdio rpath prot_exec"


def message(stderr: str, prog: str, pid: str) -> str | None:
    m = re.search(rf"^pledge: {re.escape(prog)}\[{pid}\]: (.*)$", stderr, re.M)
    return m.group(1) if m else None


def test_subprocess_child_is_explained_and_aborted() -> None:
    body = """
import subprocess, tempfile
d = tempfile.mkdtemp()
p = subprocess.Popen(["/bin/touch", d + "/x"])
print(p.pid, p.wait(), flush=True)
ok = subprocess.run(["/bin/cat", "/etc/hostname"], capture_output=True)
print("cat", ok.returncode, flush=True)
"""
    r = under(PARENT, body, execpromises=EXEC, setup="import tempfile\n")
    pid, rc = r.stdout.split()[:2]
    assert rc == "-6", r.explain()
    why = message(r.stderr, "touch", pid)
    assert why is not None and 'needs "wpath cpath"' in why, r.explain()
    assert "cat 0" in r.stdout


def test_children_of_a_process_that_changed_ids_still_run() -> None:
    # not dumpable after setuid: the explainer may not take their listener, so they
    # run under the kernel's penalty (SIGSYS, no message) rather than not at all
    body = """
import subprocess
print("cat", subprocess.run(["/bin/cat", "/etc/hostname"], capture_output=True).returncode)
print("touch", subprocess.run(["/bin/touch", "/tmp/pledgepy-never"]).returncode)
"""
    r = under(PARENT, body, execpromises=EXEC, unprivileged=True)
    assert r.stdout.split() == ["cat", "0", "touch", "-31"], r.explain()


def test_posix_spawn_and_system_children_are_explained() -> None:
    body = """
pid = os.posix_spawn("/bin/touch", ["touch", "/tmp/pledgepy-never"], dict(os.environ))
print(pid, os.waitpid(pid, 0)[1], flush=True)
print("system", os.system("/bin/sh -c 'exec /bin/touch /tmp/pledgepy-never'"), flush=True)
"""
    r = under(PARENT, body, execpromises=EXEC + " proc exec")
    pid, status = r.stdout.split()[:2]
    assert status == "6", r.explain()  # SIGABRT
    assert message(r.stderr, "touch", pid) is not None, r.explain()
    assert r.stderr.count("pledge: touch[") == 2, r.explain()


def test_error_child_gets_enosys_and_one_message() -> None:
    body = """
import subprocess
code = "import os\\ntry:\\n    os.mkdir('/tmp/pledgepy-never')\\nexcept OSError as e:\\n    print(e.errno)"
r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
print(r.returncode, r.stdout.strip(), flush=True)
"""
    r = under(PARENT + " error", body, execpromises=EXEC + " error")
    assert r.stdout.split()[:2] == ["0", "38"], r.explain()


def test_status_says_who_is_explained() -> None:
    body = """
print([n for n in pledgepy.status().notes if "explainer" in n])
"""
    r = under(PARENT, body, execpromises=EXEC, setup="import warnings\n"
              "warnings.simplefilter('ignore')\n")
    assert "os.exec*" in r.stdout and "without a message" in r.stdout, r.explain()


def test_the_explainer_holds_none_of_the_callers_descriptors() -> None:
    # a pipe made before pledge(): its reader sees EOF once the caller closes the write end
    setup = "r, w = os.pipe()\n"
    body = """
os.close(w)
print("eof", os.read(r, 1) == b"", flush=True)
"""
    r = under(PARENT, body, setup=setup, execpromises=EXEC, timeout=20)
    assert "eof True" in r.stdout, r.explain()


def test_a_childs_refused_relative_path_is_shown_resolved() -> None:
    # the explainer (or spawner) runs outside every filter and reads the child's working
    # directory while the call waits; the in-process handler shows the path as given
    body = """
import subprocess
p = subprocess.Popen(["/bin/touch", "x"], cwd=d)
print(p.pid, p.wait(), d, flush=True)
os.chdir(d)
open("y", "w")
"""
    r = under(PARENT.replace(" wpath cpath", ""), body, execpromises=EXEC,
              setup="import tempfile\nd = tempfile.mkdtemp()\n")
    pid, rc, d = r.stdout.split()[:3]
    assert rc == "-6", r.explain()
    why = message(r.stderr, "touch", pid)
    assert why is not None and why.endswith(f'needs "wpath cpath" ("x" is "{d}/x")'), r.explain()
    own = [line for line in r.stderr.splitlines() if '"y"' in line]
    assert len(own) == 1 and '" is "' not in own[0] and "wpath" in own[0], r.explain()
