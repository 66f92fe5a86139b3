"""The learned unveil list leaves out what the pledge command unveils itself, and only
that (issue 13, round 9).

What the command adds is its default unveil for the program under the learned
promises (``command.discover.plan``): the locale files, the interpreter's library
tree and ``PYTHONPATH``'s entries for a Python program, ``PATH``'s directories for
one that keeps ``exec``. A suggestion repeating them is noise; one leaving out
what the command does not add (a file read in ``/usr/lib`` after ``main``) fails.
Each case learns a real run, checks the list, and applies the suggested command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT
from tests.learning import ENV, PLEDGE, command, learn, run, violated


def _beneath(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _clean(report: dict[str, object], cwd: Path, out: str) -> None:
    applied = run(command(report), str(cwd))  # type: ignore[arg-type]
    assert not violated(applied), (report["command"], applied.stderr)
    assert applied.returncode == 0 and applied.stdout == out, (report["command"],
                                                               applied.stderr)


def _library_file() -> str:
    """A plain file beneath /usr/lib (the loader's directories) that is no library."""
    if os.path.isfile("/usr/lib/os-release"):
        return "/usr/lib/os-release"
    for d in ("/usr/lib", "/usr/lib64", "/lib"):
        for entry in sorted(os.scandir(d) if os.path.isdir(d) else (), key=lambda e: e.name):
            if entry.is_file(follow_symlinks=False) and ".so" not in entry.name \
                    and os.access(entry.path, os.R_OK):
                return entry.path
    pytest.skip("no plain file beneath /usr/lib here")


def test_a_file_read_in_the_loaders_directories_is_unveiled(tmp_path: Path) -> None:
    # the loader's directories are not the command's to unveil (only the libraries it
    # maps are): read after main, the file needs a rule of its own
    target = _library_file()
    with open(target, errors="replace") as f:
        text = f.read()
    r, report = learn(["cat", target], str(tmp_path))
    assert r.returncode == 0 and r.stdout == text, r.stderr
    assert [target, "r"] in report["unveil"], report["unveil"]
    _clean(report, tmp_path, text)


def test_cat_gets_no_locale_rule(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x\n")
    target = str(tmp_path / "f.txt")
    _, report = learn(["cat", target], str(tmp_path))
    assert report["unveil"] == [[target, "r"]], report["unveil"]
    _clean(report, tmp_path, "x\n")


def test_a_pipelines_programs_on_path_are_not_repeated(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("b\na\n")
    target = str(tmp_path / "f.txt")
    _, report = learn(["sh", "-c", f"cat {target} | sort"], str(tmp_path))
    assert "exec" in report["promises"], report["promises"]
    on_path = [d for d in ENV["PATH"].split(":") if os.path.isabs(d)]
    repeated = [p for p, _ in report["unveil"] if any(_beneath(p, d) for d in on_path)]
    assert not repeated, report["unveil"]
    _clean(report, tmp_path, "a\nb\n")


def test_a_python_program_gets_none_of_its_interpreters_rules(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('{"a": 1}')
    script = tmp_path / "s.py"
    script.write_text("import json, csv\nprint(json.load(open('d.json'))['a'])\n")
    out = tmp_path / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(out), str(script)], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    report = json.loads(out.read_text())
    out.unlink()
    # the interpreter's tree (a venv's and its base's), this checkout on PYTHONPATH, the
    # locale: all the command's own
    theirs = {sys.prefix, sys.base_prefix, str(ROOT), "/usr/share/locale"}
    repeated = [p for p, _ in report["unveil"] if any(_beneath(p, t) for t in theirs)]
    assert not repeated, report["unveil"]
    assert all(_beneath(p, str(tmp_path)) for p, _ in report["unveil"]), report["unveil"]
    _clean(report, tmp_path, "1\n")
