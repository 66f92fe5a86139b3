"""The pledge command answers OpenBSD's /dev/null allowance (any pledge) as the in-process
handler does: a shell's `>/dev/null` works under "stdio rpath"; nothing else is let through."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT

SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}


def pledge(*args: str) -> subprocess.CompletedProcess[str]:
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    return subprocess.run([*head, "-q", *args], capture_output=True, text=True, env=ENV,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


def test_shell_redirects_to_dev_null_under_stdio_rpath() -> None:
    r = pledge("-p", "stdio rpath", "sh", "-c",
               "echo hidden >/dev/null; echo err 2>/dev/null >&2; exec 3<>/dev/null; "
               "read x </dev/null || echo eof")
    assert r.returncode == 0 and r.stdout == "eof\n" and r.stderr == "", (r.stdout, r.stderr)


def test_only_dev_null_itself() -> None:
    for target in ("/dev/zero", "/dev/../dev/null", "/dev/null/"):
        r = pledge("-p", "stdio rpath", "sh", "-c", f"echo x >{target}")
        assert r.returncode != 0, (target, r.stdout, r.stderr)
    r = pledge("-p", "stdio rpath", "sh", "-c", "echo x >/dev/zero")
    assert r.returncode == 134 and '"/dev/zero"' in r.stderr and "wpath" in r.stderr, r.stderr


@pytest.mark.parametrize("flags,expect", [
    ("os.O_RDONLY", "fd"), ("os.O_WRONLY | os.O_CREAT | os.O_TRUNC", "fd"),
    ("os.O_RDWR | os.O_APPEND | os.O_CLOEXEC", "fd"),
    ("os.O_WRONLY | os.O_CREAT | os.O_EXCL", "FileExistsError")])
def test_what_the_program_gets_is_dev_null(flags: str, expect: str) -> None:
    code = f"""
import os
try:
    fd = os.open("/dev/null", {flags}, 0o600)
except OSError as e:
    print(type(e).__name__)
else:
    st = os.fstat(fd)
    print("fd", os.major(st.st_rdev), os.minor(st.st_rdev), os.read(fd, 1) if ({flags}) & 3 != 1 else b"")
"""
    r = pledge("-p", "stdio rpath", sys.executable, "-I", "-c", code)
    assert r.returncode == 0, r.stderr
    if expect == "fd":
        assert r.stdout == "fd 1 3 b''\n", r.stdout  # character device 1:3 is /dev/null
    else:
        assert r.stdout == f"{expect}\n", r.stdout


def test_learn_counts_dev_null_as_stdio(tmp_path: Path) -> None:
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    out = tmp_path / "learned.json"
    r = subprocess.run([*head, "--learn", "--json", "-o", str(out), "sh", "-c",
                        "echo x >/dev/null"],
                       capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    learned = json.loads(out.read_text())
    assert "wpath" not in learned["promises"] and "cpath" not in learned["promises"], learned
    assert not any(path == "/dev/null" for path, _ in learned["unveil"]), learned
    again = pledge("-p", " ".join(learned["promises"]), "sh", "-c", "echo x >/dev/null")
    assert again.returncode == 0, again.stderr
