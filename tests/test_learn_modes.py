"""pledge --learn -p (audit mode) and profiles (--save, --profile)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.learning import PLEDGE, learn, run, violated


def test_audit_names_the_promise_each_refused_call_needed(outside_tmp: Path) -> None:
    # (not beneath /tmp: there the create is tmppath's, as the command answers it)
    tmp_path = outside_tmp
    out = tmp_path / "out.txt"
    r, report = learn(["sh", "-c", f"echo x > {out}; cat {out}"], str(tmp_path),
                      "-p", "stdio rpath")
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr  # ran to the end, unpunished
    assert report["audit"]["asked"] == ["stdio", "rpath"]  # nothing added for the loader
    # cat's loader runs after sh's main: under the command its prot_exec is needed
    assert report["audit"]["missing"] == ["wpath", "cpath", "proc", "exec", "prot_exec"]
    by = {(e["promise"], e["syscall"]) for e in report["evidence"]}
    assert {("wpath", "openat"), ("cpath", "openat"), ("proc", "vfork")} <= by \
        or {("wpath", "openat"), ("cpath", "openat"), ("proc", "clone")} <= by, by
    opens = [e for e in report["evidence"] if e["syscall"] == "openat"]
    assert all(e["argument"] == f"{out} O_WRONLY|O_CREAT|O_TRUNC" for e in opens), opens
    assert not [e for e in report["evidence"] if e["promise"] in ("stdio", "rpath")]
    assert [str(tmp_path), "rwc"] in report["unveil"], report["unveil"]


def test_audit_of_enough_promises_reports_nothing(tmp_path: Path) -> None:
    _, report = learn(["cat", "/etc/hostname"], str(tmp_path), "-p", "stdio rpath")
    assert report["audit"]["missing"] == [] and report["evidence"] == []


def test_audit_text_report(tmp_path: Path) -> None:
    r = run([*PLEDGE, "--learn", "-p", "stdio", "sh", "-c", "echo x > out"], str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "out").read_text() == "x\n", r.stderr
    assert 'audit of "stdio": would refuse calls needing wpath cpath\n' in r.stderr, r.stderr
    assert "  wpath      " in r.stderr and "  cpath      openat " in r.stderr


def _config(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_profile_save_and_run(tmp_path: Path) -> None:
    env, target = _config(tmp_path), tmp_path / "in.txt"
    target.write_text("profiled\n")
    r = run([*PLEDGE, "--learn", "--save", "cat-in", "cat", str(target)], str(tmp_path), env)
    assert r.returncode == 0 and "saved profile 'cat-in'" in r.stderr, r.stderr
    saved = tmp_path / "config" / "pledgepy" / "profiles" / "cat-in.pledge"
    text = saved.read_text()
    assert "promises stdio rpath\n" in text and f"unveil r {target}\n" in text
    assert os.stat(saved).st_mode & 0o777 == 0o600
    r = run([*PLEDGE, "-q", "--profile", "cat-in", "cat", str(target)], str(tmp_path), env)
    assert r.returncode == 0 and r.stdout == "profiled\n" and not violated(r), r.stderr
    # the profile's unveil list is in force: another file stays hidden
    r = run([*PLEDGE, "-q", "--profile", "cat-in", "cat", "/etc/hostname"], str(tmp_path), env)
    assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr


def _saved(tmp_path: Path, text: str) -> Path:
    where = tmp_path / "config" / "pledgepy" / "profiles"
    where.mkdir(parents=True, mode=0o700)
    (where / "p.pledge").write_text(text)
    os.chmod(where / "p.pledge", 0o600)
    return where / "p.pledge"


def test_profile_writable_by_others_is_refused(tmp_path: Path) -> None:
    saved = _saved(tmp_path, "promises stdio rpath\n")
    os.chmod(saved, 0o666)
    r = run([*PLEDGE, "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "writable by group or others (mode 666)" in r.stderr, r.stderr


def test_profile_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        import pytest

        pytest.skip("needs root to give the file away")
    saved = _saved(tmp_path, "promises stdio rpath\n")
    os.chown(saved, 65534, 65534)
    r = run([*PLEDGE, "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "owned by uid 65534" in r.stderr, r.stderr


def test_profile_syntax_errors_name_the_line(tmp_path: Path) -> None:
    _saved(tmp_path, "promises stdio\nunveil r relative/path\n")
    r = run([*PLEDGE, "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "p.pledge:2: expected" in r.stderr, r.stderr


def test_profile_and_promises_together_are_refused(tmp_path: Path) -> None:
    _saved(tmp_path, "promises stdio\n")
    r = run([*PLEDGE, "--profile", "p", "-p", "stdio", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "either --profile or -p" in r.stderr, r.stderr


def test_json_to_stdout_is_never_mixed_with_the_program(tmp_path: Path) -> None:
    r = run([*PLEDGE, "--learn", "--json", "echo", "hi"], str(tmp_path))
    assert r.stdout == "hi\n"
    assert json.loads(r.stderr)["promises"] == ["stdio"]


def test_every_call_records_what_the_loader_was_granted(tmp_path: Path) -> None:
    _, quick = learn(["cat", "/etc/hostname"], str(tmp_path))
    _, full = learn(["cat", "/etc/hostname"], str(tmp_path), "--every-call")
    assert quick["promises"] == full["promises"] == ["stdio", "rpath"]
    assert "(not recorded)" in [e["syscall"] for e in quick["evidence"]
                                if e["promise"] == "stdio"]
    full_stdio = {e["syscall"] for e in full["evidence"] if e["promise"] == "stdio"}
    assert {"read", "close", "mmap"} <= full_stdio, full_stdio
    assert quick["unveil"] == full["unveil"]  # paths are recorded either way


def test_options_that_only_go_with_learn(tmp_path: Path) -> None:
    r = run([*PLEDGE, "--json", "true"], str(tmp_path))
    assert r.returncode == 64 and "--json only go with --learn" in r.stderr, r.stderr
    r = run([*PLEDGE, "--learn", "-v", "/etc", "true"], str(tmp_path))
    assert r.returncode == 64 and "takes no -v" in r.stderr, r.stderr
