"""The pledge command unveils by default what the program needs, and nothing of the user's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
SYSTEM_PYTHON = "/usr/bin/python3"


def pledge(*args: str, env: dict[str, str] | None = None,
           **kw: object) -> subprocess.CompletedProcess[str]:
    """The installed console script (python -m pledgepy where it is not installed)."""
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    return subprocess.run([*head, *args], capture_output=True, text=True, env=env or ENV,
                          timeout=60, check=False, **kw)  # type: ignore[call-overload]


def test_cat_etc_shadow_is_refused() -> None:
    # the loader's rpath ends before main (the start-up shim): the open itself is refused
    r = pledge("-q", "-p", "stdio", "cat", "/etc/shadow")
    assert r.returncode == 134 and r.stdout == "", r.stdout
    assert 'openat("/etc/shadow", O_RDONLY) needs "rpath"' in r.stderr, r.stderr


def test_the_users_files_are_hidden_unless_named(tmp_path: Path) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("SECRET\n")
    r = pledge("-q", "cat", str(secret))
    assert r.returncode == 1 and "SECRET" not in r.stdout, r.stderr
    r = pledge("-q", "-v", str(secret), "cat", str(secret))
    assert r.returncode == 0 and r.stdout == "SECRET\n", r.stderr


def test_minus_big_v_unveils_nothing() -> None:
    r = pledge("-q", "-V", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    r = pledge("-q", "-V", "-v", "/etc", "true")
    assert r.returncode == 64 and "-V unveils nothing" in r.stderr


def test_strict_refuses_what_the_loader_would_hold() -> None:
    # (env keeps them: it executes another program; true alone narrows before main)
    r = pledge("--strict", "-p", "stdio rpath", "env", "true")
    assert r.returncode == 70, r.stderr
    assert "holds it for its whole run" in r.stderr and "keeps 'exec'" in r.stderr
    # (-V: Landlock's own gaps, such as chmod(), make --strict refuse any unveil here)
    r = pledge("--strict", "-V", "-p", "stdio rpath prot_exec exec", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_a_static_program_needs_no_loader_promises() -> None:
    static = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not os.path.exists(static):
        pytest.skip("no static ldconfig")
    # (static glibc reads /proc/self/exe at start: rpath)
    r = pledge("-p", "stdio rpath", static, "--version")
    assert r.returncode == 0 and "ldconfig" in r.stdout, r.stderr
    assert "dynamically linked" not in r.stderr


def test_a_missing_v_path_is_named() -> None:
    r = pledge("-v", "/nonexistent-pledgepy", "ls")
    assert r.returncode == 64 and "-v /nonexistent-pledgepy: No such file" in r.stderr


def test_repeated_p_appends(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write = ("-v", f"rwc:{tmp_path}", "sh", "-c", f"echo x > {out}")
    r = pledge("-q", "-p", "stdio rpath", *write)
    assert r.returncode == 134 and not out.exists(), r.stderr
    r = pledge("-q", "-p", "stdio rpath", "-p", "wpath cpath", *write)
    assert r.returncode == 0 and out.read_text() == "x\n", r.stderr


def test_empty_promises_are_refused_with_the_reason() -> None:
    r = pledge("-p", "", "true")
    assert r.returncode == 64 and 'needs at least "stdio"' in r.stderr


def test_shebang_scripts_run(tmp_path: Path) -> None:
    sh = tmp_path / "s.sh"
    sh.write_text("#!/usr/bin/env sh\necho script \"$@\"\n")
    sh.chmod(0o755)
    r = pledge("-q", str(sh), "ok")
    assert r.returncode == 0 and r.stdout == "script ok\n", r.stderr
    if os.path.exists(SYSTEM_PYTHON):
        py = tmp_path / "s.py"
        py.write_text(f"#!{SYSTEM_PYTHON}\nimport json\nprint(json.dumps('py'))\n")
        py.chmod(0o755)
        r = pledge("-q", str(py))
        assert r.returncode == 0 and r.stdout == '"py"\n', r.stderr


def test_a_bad_interpreter_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("#!/nonexistent/sh\n")
    bad.chmod(0o755)
    r = pledge(str(bad))
    assert r.returncode == 126 and "bad interpreter /nonexistent/sh" in r.stderr


def test_grep_and_ls() -> None:
    r = pledge("-q", "-v", "/etc/passwd", "grep", "^root:", "/etc/passwd")
    assert r.returncode == 0 and r.stdout.startswith("root:"), r.stderr
    r = pledge("-q", "-v", "/usr/share/zoneinfo/Europe", "ls", "/usr/share/zoneinfo/Europe")
    assert r.returncode == 0 and "Paris" in r.stdout.split(), r.stderr


def test_sh_with_exec_runs_system_programs() -> None:
    r = pledge("-q", "-p", "stdio rpath proc exec", "-v", "/etc/hostname", "sh", "-c",
               "cat /etc/hostname | wc -l")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def _interpreters() -> list[str]:
    found = [p for p in (SYSTEM_PYTHON, sys.executable) if os.path.exists(p)]
    pyenv = Path.home() / ".pyenv" / "versions"
    if pyenv.is_dir():
        found += [str(p / "bin" / "python3") for p in sorted(pyenv.iterdir())
                  if p.name.startswith("3.1") and (p / "bin" / "python3").exists()][:1]
    return found


@pytest.mark.parametrize("python", _interpreters())
def test_python_finds_its_own_library_tree(python: str, tmp_path: Path) -> None:
    # system, venv (the test interpreter's) and pyenv interpreters alike
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("SECRET")
    code = ("import json, ssl, os, sys\n"
            "try:\n    print(open(os.path.expanduser('~/.aws/credentials')).read())\n"
            "except PermissionError:\n    print('hidden')\n")
    r = pledge("-q", python, "-c", code, env={**ENV, "HOME": str(tmp_path)})
    assert r.returncode == 0 and r.stdout == "hidden\n", r.stderr


def test_curl_and_wget_to_a_local_server(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("served\n")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "-d", str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split("port ")[1].split()[0]
        url = f"http://127.0.0.1:{port}/index.html"
        for prog, args in (("curl", ("-s",)), ("wget", ("-q", "-O", "-"))):
            if shutil.which(prog) is None:
                continue
            # curl asks nscd over a unix socket first (glibc), even for an address, and
            # its terminal's width (TIOCGWINSZ: tty, as on OpenBSD)
            r = pledge("-q", "-p", "stdio rpath inet dns unix tty", prog, *args, url)
            assert r.returncode == 0 and r.stdout == "served\n", (prog, r.stderr)
    finally:
        server.kill()
        server.wait()
