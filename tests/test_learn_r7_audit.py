"""Audit and learn mode judge the program's own run, not its loader's (issue 13, round 7).

The pledge command ends the loader's promises (rpath prot_exec) at the start-up shim's
READY, before main; so ``pledge --learn -p PROMISES`` audits exactly PROMISES from main
on, and a plain learn does not count the loader's calls as the program's needs. Each case
runs a real program, then the suggested command, which must run clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cprogs import compiled
from tests.learning import PLEDGE, command, learn, run, violated


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every user can read (uid 65534 runs in it too)."""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-r7-"))
    where.chmod(0o755)
    (where / "f.txt").write_text("audited\n")
    (where / "f.txt").chmod(0o644)
    try:
        yield where
    finally:
        subprocess.run(["rm", "-rf", str(where)], check=True)


def _clean(report: dict[str, Any], cwd: Path, out: str, **kw: Any) -> None:
    """The suggested command runs the program with the same output, breaking nothing."""
    applied = run(command(report), str(cwd), **kw)
    assert not violated(applied), (report["command"], applied.stderr)
    assert applied.returncode == 0 and applied.stdout == out, (report["command"], applied.stderr)


def test_audit_of_stdio_cat_names_rpath_not_the_loaders(shared: Path) -> None:
    target = str(shared / "f.txt")
    r, report = learn(["cat", target], str(shared), "-p", "stdio")
    assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
    assert report["audit"] == {"asked": ["stdio"], "missing": ["rpath"]}, report["audit"]
    assert report["promises"] == ["stdio", "rpath"]
    opens = [e for e in report["evidence"] if e["syscall"] == "openat"]
    assert [(e["promise"], e["argument"]) for e in opens] == [("rpath", f"{target} O_RDONLY")]
    assert not [e for e in report["evidence"] if e["promise"] == "prot_exec"]
    # the loader's calls are reported apart, and its phase ended at main
    assert report["loader"]["ended"] == "main"
    assert {e["promise"] for e in report["loader"]["calls"]} >= {"rpath", "prot_exec"}
    assert report["command"].startswith(f"pledge -p 'stdio rpath' -v r:{target} ")
    _clean(report, shared, "audited\n")


def test_audit_text_names_what_was_asked(shared: Path) -> None:
    target = str(shared / "f.txt")
    r = run([*PLEDGE, "--learn", "-p", "stdio", "cat", target], str(shared))
    assert r.returncode == 0, r.stderr
    assert 'audit of "stdio": would refuse calls needing rpath\n' in r.stderr, r.stderr
    assert "promises: stdio rpath\n" in r.stderr
    assert f"  rpath      openat {target} O_RDONLY  x1 (cat[" in r.stderr, r.stderr
    assert "  (loader)   " in r.stderr and "prot_exec x" in r.stderr, r.stderr


def test_plain_learn_leaves_the_loaders_promises_out(shared: Path) -> None:
    target = str(shared / "f.txt")
    _, report = learn(["cat", target], str(shared))
    assert report["promises"] == ["stdio", "rpath"], report["promises"]
    _clean(report, shared, "audited\n")
    # and rpath is the program's own need: without it the same run is a violation
    dropped = run(command(report, ["stdio"]), str(shared))
    assert violated(dropped) and 'needs "rpath"' in dropped.stderr, dropped.stderr


def test_a_program_that_needs_nothing_more_than_stdio(shared: Path) -> None:
    _, report = learn(["echo", "hi"], str(shared))
    assert report["promises"] == ["stdio"], report
    _clean(report, shared, "hi\n")


#: Runs the pledge command (argv) as uid 65534: the interpreter may live where nobody
#: cannot read it, so what the command needs is loaded as root first; then the ids drop
#: (every capability with them) and the process is made dumpable again, as one started
#: as nobody is (else its children's /proc entries stay root's).
AS_NOBODY = """
import ctypes, os, sys, array, time, gc, _thread, errno, select, struct, fcntl
import pledgepy.cli as cli, pledgepy.api as api
from pledgepy.learn import run, report, cover, paths, dump
from pledgepy.backends.linux.exec import record, shim, supervise
from pledgepy.backends.linux import native
from pledgepy.command import loader
api.backend(); native.lib(); shim.library(); loader.nss_modules()
os.setgroups([]); os.setgid(65534); os.setuid(65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
sys.exit(cli.main(sys.argv[1:]))
"""


def test_audit_as_an_unprivileged_user(shared: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to become uid 65534")
    target, out = str(shared / "f.txt"), shared / "report.json"
    shared.chmod(0o777)
    nobody = [sys.executable, "-c", AS_NOBODY]
    r = run([*nobody, "--learn", "--json", "-o", str(out), "-p", "stdio", "cat", target],
            str(shared))
    assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
    import json

    report = json.loads(out.read_text())
    assert os.stat(out).st_uid == 65534  # it did run as nobody
    assert report["audit"]["missing"] == ["rpath"] and report["loader"]["ended"] == "main"
    applied = run([*nobody, "-q", *command(report)[4:]], str(shared))
    assert applied.returncode == 0 and applied.stdout == "audited\n", applied.stderr


def test_static_program_has_no_loader_phase(shared: Path) -> None:
    with compiled(("r7_read_static", ("-static",))) as built:
        prog, target = str(built["r7_read_static"]), str(shared / "f.txt")
        r, report = learn([prog, target], str(shared), "-p", "stdio")
        assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
        assert report["audit"]["missing"] == ["rpath"], report["audit"]
        assert report["loader"] == {"ended": "exec", "calls": []}
        _clean(report, shared, "audited\n")


def test_descendants_loaders_run_after_main(shared: Path) -> None:
    # sh's own loader ends at its main; cat's, exec'd after it under the same filter,
    # needs prot_exec (the command keeps the loader's promises for a PROG given exec)
    r, report = learn(["sh", "-c", "cat f.txt"], str(shared), "-p", "stdio proc exec")
    assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
    assert report["audit"]["missing"] == ["rpath", "prot_exec"], report["audit"]
    execs = {e["program"] for e in report["evidence"] if e["promise"] == "prot_exec"}
    assert execs == {"cat"}, report["evidence"]
    _clean(report, shared, "audited\n")


def test_shebang_script(shared: Path) -> None:
    script = shared / "show"
    script.write_text("#!/bin/sh\nread line < f.txt\necho \"$line\"\n")
    script.chmod(0o755)
    r, report = learn([str(script)], str(shared), "-p", "stdio")
    assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
    assert report["audit"]["missing"] == ["rpath"], report["audit"]
    assert report["loader"]["ended"] == "main"
    _clean(report, shared, "audited\n")


def test_python_audit_counts_its_reads_not_its_loader(shared: Path) -> None:
    code = "print(open('f.txt').read(), end='')"
    r, report = learn([sys.executable, "-c", code], str(shared), "-p", "stdio")
    assert r.returncode == 0 and r.stdout == "audited\n", r.stderr
    assert "rpath" in report["audit"]["missing"], report["audit"]
    assert report["loader"]["ended"] == "main" and report["loader"]["calls"]
    # python keeps what it does not ask for: said, and the command still runs clean
    assert all("--strict" in n for n in report["notes"]), report["notes"]
    _clean(report, shared, "audited\n")


def _startup_extensions() -> int:
    """How many extension modules this interpreter's start-up loads (site, .pth files)."""
    code = ("import sys; print(sum(1 for m in list(sys.modules.values()) "
            "if (getattr(m, '__file__', None) or '').endswith('.so')))")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, cwd="/").stdout)


def test_python_learn_leaves_the_interpreters_loader_out(shared: Path) -> None:
    script = shared / "s.py"
    script.write_text("print('hi')\n")
    out = shared / "r.json"
    r = run([*PLEDGE[:-1], "pledgepy", "learn", "--json", "-o", str(out), str(script)],
            str(shared))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    import json

    report = json.loads(out.read_text())
    mapped = [e for e in report["evidence"] if e["promise"] == "prot_exec"]
    # After main only what Python itself loads may map code: extension modules its
    # start-up imports (site and .pth files: 3.12's editable-install finder pulls math
    # through pathlib), one executable segment each; the loader's maps never count.
    extensions = _startup_extensions()
    assert all(e["syscall"] in ("mmap", "mprotect") for e in mapped), mapped
    assert sum(e["count"] for e in mapped) <= 2 * extensions, (extensions, mapped)
    if not extensions:
        assert "prot_exec" not in report["promises"], report["evidence"]
    assert report["loader"]["ended"] == "main"
    assert "prot_exec" in {e["promise"] for e in report["loader"]["calls"]}


def test_executable_memory_after_main_is_the_programs_need(shared: Path) -> None:
    with compiled(("after_main", ())) as built:
        prog = str(built["after_main"])
        r, report = learn([prog, "map-exec"], str(shared), "-p", "stdio")
        assert r.returncode == 0 and r.stdout == "mapped yes\n", r.stderr
        assert report["audit"]["missing"] == ["prot_exec"], report["audit"]
        maps = [e for e in report["evidence"] if e["promise"] == "prot_exec"]
        assert [(e["syscall"], e["count"]) for e in maps] == [("mmap", 1)], maps
        _clean(report, shared, "mapped yes\n")


def test_a_shim_that_cannot_report_is_said_loudly(shared: Path) -> None:
    # its preinit function hides the shim's mark: the command would kill it before main
    with compiled(("after_main", ())) as built:
        out = shared / "r.json"
        r = run([*PLEDGE, "--learn", "--json", "-o", str(out), str(built["after_main"]),
                 "map-exec"], str(shared), {"AFTER_MAIN_HIDE_FILTER": "1"})
        assert r.returncode == 0, r.stderr
        import json

        report = json.loads(out.read_text())
        assert report["loader"]["ended"] is None, report["loader"]
        assert any("found no mark" in n and "kills" in n for n in report["notes"]), report
        # no phase ended, so nothing was the loader's: every call is the program's
        assert "prot_exec" in report["promises"] and "rpath" in report["promises"]
