"""The pledge command: run a program under promises and unveiled paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.childproc import ROOT, run

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def pledge(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pledgepy", *args], input=stdin,
                          capture_output=True, text=True, env=ENV, timeout=60)


def test_runs_a_program_within_its_promises() -> None:
    r = pledge("-q", "-p", "stdio rpath", "cat", stdin="hello\n")
    assert r.returncode == 0 and r.stdout == "hello\n", r.stderr


def test_notes_what_the_loader_needs() -> None:
    # (env executes another program, whose loader needs them: it keeps them; plain
    # programs drop them before main, tests/test_shim.py)
    r = pledge("-p", "stdio", "env", "true")
    assert r.returncode == 0, r.stderr
    assert "dynamically linked: adding prot_exec rpath for its loader" in r.stderr


def test_unveil_hides_the_rest() -> None:
    r = pledge("-q", "-p", "stdio rpath", "-v", "r:/usr/share", "cat", "/etc/hostname")
    assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr
    r = pledge("-q", "-p", "stdio rpath", "-v", "/etc", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_broken_promise_is_explained_like_in_process(tmp_path: Path) -> None:
    # the exec'd program has no handler; the command's supervisor explains it
    target = tmp_path / "never"
    r = pledge("-q", "-p", "stdio rpath", "sh", "-c", f"echo x > {target}")
    assert r.returncode == 128 + 6, r.stderr
    line = r.stderr.splitlines()[0]
    assert re.fullmatch(r'pledge: sh\[\d+\]: openat\("' + re.escape(str(target))
                        + r'", O_WRONLY\|O_CREAT\|O_TRUNC\) needs "wpath cpath" or "tmppath"', line), r.stderr
    assert not target.exists()


def test_error_promise_for_an_exec_d_program(tmp_path: Path) -> None:
    target = tmp_path / "never"
    r = pledge("-q", "-p", "stdio rpath error", "sh", "-c", f"echo x > {target}; echo after")
    assert r.returncode == 0 and r.stdout == "after\n", r.stderr
    assert 'returning ENOSYS ("error" promise)' in r.stderr and not target.exists()


def test_violation_in_a_grandchild_is_explained(tmp_path: Path) -> None:
    target = tmp_path / "never"
    r = pledge("-q", "-p", "stdio rpath proc exec", "sh", "-c", f"sh -c 'echo x > {target}'")
    assert 'needs "wpath cpath"' in r.stderr and not target.exists(), r.stderr


def test_usage_errors() -> None:
    r = pledge("-p", "stdio rpth", "true")
    assert r.returncode == 64 and "did you mean 'rpath'" in r.stderr
    r = pledge("-p", "stdio", "no-such-program-pledgepy")
    assert r.returncode == 127 and "command not found" in r.stderr


def test_pledge_after_unveil_does_not_need_its_own_files() -> None:
    # pledgepy's own modules are outside the unveiled paths: everything it
    # needs later must be loaded before the rules take effect.
    code = """
import os, pledgepy
pledgepy.unveil('/etc', 'r')
pledgepy.pledge('stdio rpath proc exec')
pledgepy.pledge(None, 'stdio rpath prot_exec')
print(open('/etc/hostname').read() != '', flush=True)
try:
    open(os.path.join(os.path.dirname(pledgepy.__file__), 'api.py'))
except PermissionError:
    print('hidden', flush=True)
"""
    r = run(code)
    assert r.returncode == 0 and r.stdout.split() == ["True", "hidden"], r.explain()


def test_a_program_that_ignores_sigabrt_is_killed(tmp_path: Path) -> None:
    code = ("import signal, socket; signal.signal(signal.SIGABRT, signal.SIG_IGN); "
            "socket.socket(); print('survived')")
    r = pledge("-q", "-p", "stdio rpath prot_exec", sys.executable, "-S", "-c", code)
    # killed with SIGKILL, but a violation's status is 134 whatever the program did (issue 12)
    assert r.returncode == 134 and "survived" not in r.stdout, r.stderr
    assert "socket(AF_INET, SOCK_STREAM) needs" in r.stderr
