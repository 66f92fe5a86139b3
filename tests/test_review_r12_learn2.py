"""Round 12, issue 13 item 4: learn mode credits what the pledge command answers, and
only what it answers.

1. tmppath. The command lets a creating open or an unlink of a plainly spelled path
   under /tmp/ run under ``tmppath`` (exec/tmpcreate.py), but the recorder counted
   such calls as wpath's and cpath's alone: on main ``pledge --learn mktemp`` suggested
   "stdio rpath wpath cpath" with ``-v rwc:/tmp``, where OpenBSD's promise for mkstemp(3)
   is tmppath. Now such a call has tmppath as a way of its own, the cover prefers it to
   wpath/cpath in a tie (fewer promises and the narrower one), and the report drops it
   again when the learned ``-v`` rules would make the command refuse those calls
   (tmpcreate.refusal: a ``c`` rule outside /tmp).
2. Plain spellings. The command's allowance answers (getpw's and dns's files, stdio's
   time zones, tmppath's creates) take only an absolute path spelled without ``.``,
   ``..`` or empty components; the recorder normalised first, so ``cat /etc//passwd``
   or ``cat passwd`` from /etc learned "stdio getpw", which the command then refused.
   C now tells the recorder whether the raw argument was spelled plainly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.learning import PLEDGE, command, learn, run, violated

PY = (sys.executable, "-I", "-S", "-c")


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"no {program}")


@pytest.fixture
def outside(outside_tmp: Path) -> Path:
    """A directory that is not under /tmp (the tests' tmp_path is)."""
    return outside_tmp


def _clean(report: dict[str, Any], cwd: str,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The learned command, run as suggested: it must end well, no promise broken."""
    applied = run(command(report), cwd, env)
    assert applied.returncode == 0 and not violated(applied), (report["command"],
                                                               applied.stderr)
    return applied


def _tmp_rule(report: dict[str, Any]) -> list[list[str]]:
    return [rule for rule in report["unveil"]
            if rule[0] == "/tmp" or rule[0].startswith("/tmp/")]


def _learn_in(argv: list[str], cwd: str, out: Path, env: dict[str, str] | None = None,
              ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """learn() with the program in *cwd* but the report written to *out*."""
    report_file = out / "learned.json"
    r = run([*PLEDGE, "--learn", "--json", "-o", str(report_file), *argv], cwd, env)
    report = json.loads(report_file.read_text())
    report_file.unlink()
    return r, report


def test_mktemp_learns_stdio_tmppath_and_runs(tmp_path: Path) -> None:
    """On main: "stdio rpath wpath cpath" and -v rwc:/tmp. Now "stdio tmppath" with no
    rule for /tmp (the default unveil's tmppath rule has it); the command runs it clean,
    and without tmppath it breaks its promise (minimal)."""
    _need("mktemp")
    r, report = learn(["mktemp"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    Path(r.stdout.strip()).unlink()
    assert report["promises"] == ["stdio", "tmppath"], report["command"]
    assert not _tmp_rule(report), report["command"]
    applied = _clean(report, str(tmp_path))
    made = Path(applied.stdout.strip())
    assert str(made).startswith("/tmp/") and made.is_file(), applied.stdout
    made.unlink()
    dropped = run(command(report, ["stdio"]), str(tmp_path))
    assert violated(dropped), (dropped.returncode, dropped.stderr)


def test_sort_spilling_to_tmp_learns_tmppath(outside: Path) -> None:
    """sort -T /tmp of a file too big for its buffer makes (and removes) temporary files
    in /tmp. On main it learned "stdio rpath wpath cpath" with -v rwc:/tmp; now
    "stdio rpath tmppath", its input (outside /tmp) unveiled "r" only (no rule that keeps
    the command from answering tmppath), and the same output under the command."""
    _need("sort")
    big = outside / "big.txt"
    big.write_text("".join(f"{(i * 7919) % 1000003}\n" for i in range(100_000)))
    argv = ["sort", "-S", "1K", "-T", "/tmp", str(big)]
    r, report = learn(argv, str(outside))
    assert r.returncode == 0, r.stderr
    promises = report["promises"]
    assert "tmppath" in promises and not {"wpath", "cpath"} & set(promises), promises
    assert any(e["promise"] == "tmppath" and e["argument"].startswith("/tmp/sort")
               for e in report["evidence"]), report["evidence"]
    assert not _tmp_rule(report), report["command"]
    applied = _clean(report, str(outside))
    assert applied.stdout == r.stdout


def test_python_mkstemp_learns_tmppath(tmp_path: Path) -> None:
    """tempfile.mkstemp() and os.unlink() of its file: on main wpath and cpath; now
    tmppath, and the learned command runs the script clean."""
    code = ("import os, tempfile\nfd, p = tempfile.mkstemp()\nos.write(fd, b'x')\n"
            "os.close(fd)\nos.unlink(p)\nprint(p)\n")
    env = {"TMPDIR": "/tmp"}
    r, report = learn([*PY, code], str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    promises = report["promises"]
    assert "tmppath" in promises and not {"wpath", "cpath"} & set(promises), promises
    assert not _tmp_rule(report), report["command"]
    applied = _clean(report, str(tmp_path), env)
    made = Path(applied.stdout.strip())
    assert str(made).startswith("/tmp/") and not made.exists(), applied.stdout


def test_a_program_writing_outside_tmp_still_learns_wpath_cpath(outside: Path) -> None:
    """sort's output file outside /tmp needs wpath and cpath, which then cover its
    temporary files too: no tmppath beside them. (A guard: main learned the same.)"""
    _need("sort")
    big = outside / "big.txt"
    big.write_text("".join(f"{(i * 7919) % 1000003}\n" for i in range(100_000)))
    out = outside / "sorted.txt"
    r, report = learn(["sort", "-S", "1K", "-T", "/tmp", "-o", str(out), str(big)],
                      str(outside))
    assert r.returncode == 0, r.stderr
    promises = report["promises"]
    assert {"wpath", "cpath"} <= set(promises) and "tmppath" not in promises, promises
    expected = out.read_text()
    out.unlink()
    _clean(report, str(outside))
    assert out.read_text() == expected


def test_a_create_rule_outside_tmp_keeps_the_creates_in_tmp_wpath_cpath(
        outside: Path) -> None:
    """mkdir outside /tmp (cpath, -v c:DIR) and mktemp: the cover alone would take
    tmppath for the create in /tmp (in wpath's place), but with -v c:DIR the command
    refuses to answer tmppath (tmpcreate.refusal: a racing thread could redirect it), so
    the learned command must be "wpath cpath" again, saying why. Fails on main (no such
    note; the promises were the same there)."""
    _need("mktemp")
    script = f"mkdir {outside}/made && mktemp"
    r, report = learn(["sh", "-c", script], str(outside))
    assert r.returncode == 0, r.stderr
    Path(r.stdout.strip()).unlink()
    promises = report["promises"]
    assert {"wpath", "cpath"} <= set(promises) and "tmppath" not in promises, promises
    assert any(n.startswith("not tmppath for the creates under /tmp") for n in report["notes"]), \
        report["notes"]
    (outside / "made").rmdir()
    applied = _clean(report, str(outside))
    Path(applied.stdout.strip()).unlink()


def test_the_cover_prefers_tmppath_to_cpath_in_a_tie() -> None:
    """unlink of /tmp/x: cpath or tmppath (one promise each): tmppath, the narrower; on
    main the manual's order chose cpath. cpath held anyway keeps it alone."""
    from pledgepy.learn import cover

    def ways(*sets: str) -> frozenset[frozenset[str]]:
        return frozenset(frozenset(s.split()) for s in sets)

    base = frozenset({"stdio"})
    unlink, create = ways("cpath", "tmppath"), ways("rpath wpath cpath", "tmppath")
    assert cover.minimal([unlink], base) == {"stdio", "tmppath"}
    assert cover.minimal([unlink, ways("rpath")], base) == {"stdio", "rpath", "tmppath"}
    assert cover.minimal([unlink, ways("cpath")], base) == {"stdio", "cpath"}
    assert cover.minimal([create, ways("rpath cpath")], base) == {"stdio", "rpath",
                                                                   "cpath", "tmppath"}


#: (argv, working directory, environment, promises the plain spelling would credit)
SPELLINGS = {
    "passwd-double-slash": (["cat", "/etc//passwd"], None, {}, "getpw"),
    "passwd-relative": (["cat", "passwd"], "/etc", {}, "getpw"),
    "zoneinfo-double-slash": (["date", "-d", "@0"], None, {"TZ": "/usr/share/zoneinfo//Europe/Berlin"},
                              None),
    "mktemp-dot": (["mktemp", "-p", "/tmp/."], None, {}, "tmppath"),
    "mktemp-relative": (["mktemp", "-p", "."], "{tmp}", {}, "tmppath"),
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_a_path_not_spelled_plainly_learns_what_the_command_allows(
        name: str, tmp_path: Path) -> None:
    """The command answers an allowance only for a plainly spelled absolute path; on main
    the recorder credited getpw for ``cat /etc//passwd`` and for ``cat passwd`` from
    /etc, stdio alone for a time zone file named "/usr/share/zoneinfo//...", and (had it
    credited tmppath at all) tmppath for ``mktemp -p /tmp/.`` or ``-p .`` in a directory
    under /tmp: the learned command then died of that open. The first three fail on main;
    the mktemp ones pass there (no tmppath at all) and fail with the tmppath credit but
    without the spelling check (tried)."""
    argv, cwd, env, credited = SPELLINGS[name]
    _need(argv[0])
    where = str(tmp_path) if cwd in (None, "{tmp}") else cwd
    if cwd == "{tmp}" and not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip("the test's directory is not under /tmp")
    r, report = _learn_in(argv, where, tmp_path, env)
    assert r.returncode == 0, r.stderr
    if argv[0] == "mktemp":
        Path(where, r.stdout.strip()).unlink()
    promises = report["promises"]
    if credited is not None:
        assert credited not in promises, report["command"]
    else:
        assert "rpath" in promises, report["command"]
    applied = _clean(report, where, env)
    if argv[0] == "mktemp":
        Path(where, applied.stdout.strip()).unlink()
    else:
        assert applied.stdout == r.stdout


def test_plain_spellings_still_learn_the_allowance(tmp_path: Path) -> None:
    """The other side: ``cat /etc/passwd`` is still "stdio getpw" and runs clean (a guard:
    main learned the same)."""
    r, report = learn(["cat", "/etc/passwd"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert report["promises"] == ["stdio", "getpw"], report["command"]
    _clean(report, str(tmp_path))


def test_python_mode_checkpoint_misses_rpath_for_a_path_not_spelled_plainly(
        tmp_path: Path) -> None:
    """A pledged Python's own handler answers getpw's files only spelled plainly too (it
    aborts ``open("/etc//passwd")`` under "stdio getpw"): on main ``python -m pledgepy
    learn`` said the script's pledge("stdio getpw") missed nothing; now the read after it
    is missing rpath. The plain spelling still misses nothing (the guard)."""
    for spelling, missing in (("/etc//passwd", ["rpath"]), ("/etc/passwd", [])):
        script = tmp_path / "script.py"
        script.write_text("import pledgepy\npledgepy.pledge('stdio getpw')\n"
                          f"print(len(open({spelling!r}).read()) > 0)\n")
        out = tmp_path / "report.json"
        r = run([*PLEDGE, "learn", "--json", "-o", str(out), str(script)], str(tmp_path))
        assert r.returncode == 0 and r.stdout == "True\n", r.stderr
        report = json.loads(out.read_text())
        (checkpoint,) = report["checkpoints"]
        assert checkpoint["asked"] == ["stdio", "getpw"], checkpoint
        assert [m["promise"] for m in checkpoint["missing"]] == missing, checkpoint


def test_a_read_only_create_in_tmp_is_not_credited_to_tmppath(tmp_path: Path) -> None:
    """The review's rule (tmpcreate.takes): the command lets an O_RDONLY|O_CREAT in /tmp
    run only with rpath (redirected, it would read without it). Learn asks the same rule
    with nothing held, so such a run does not learn "stdio tmppath", which the command
    would refuse: the learned command runs clean."""
    code = ("import os, tempfile\n"
            "name = os.path.join('/tmp', 'pledgepy-ro-' + str(os.getpid()))\n"
            "os.close(os.open(name, os.O_RDONLY | os.O_CREAT, 0o600))\n"
            "os.unlink(name)\n")
    r, report = learn([*PY, code], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert report["promises"] != ["stdio", "tmppath"], report["command"]
    _clean(report, str(tmp_path))
