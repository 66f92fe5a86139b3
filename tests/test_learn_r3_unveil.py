"""python -m pledgepy learn: the program's unveil() rules checked against the paths it used
once they would be in force (the lock, or a pledge() that drops "unveil")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.learning import PLEDGE, run

SCRIPT = Path(__file__).parent / "programs" / "learn_unveils.py"


def line(marker: str, after: str) -> str:
    """``learn_unveils.py:N`` of the line marked ``# <- marker`` in function *after*."""
    lines = SCRIPT.read_text().splitlines()
    start = next(i for i, t in enumerate(lines) if t.startswith(f"def {after}"))
    n = next(i for i, t in enumerate(lines) if i >= start and t.endswith(f"# <- {marker}"))
    return f"{SCRIPT}:{n + 1}"


def _work(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "unused").mkdir()
    (tmp_path / "in.txt").write_text("hello\n")
    (tmp_path / "other.txt").write_text("other\n")
    (tmp_path / "data" / "in.txt").write_text("data\n")
    return tmp_path


def learn_py(name: str, tmp_path: Path, *, as_json: bool = True) -> tuple[str, Any]:
    work = _work(tmp_path)
    out = work / "report.out"
    r = run([*PLEDGE, "learn", *(["--json"] if as_json else []), "-o", str(out),
             str(SCRIPT), name, str(work)], str(work))
    assert r.returncode == 0, r.stderr
    body = out.read_text()
    return r.stdout, json.loads(body) if as_json else body


def test_unveiling_too_little_names_the_denied_path_and_line(tmp_path: Path) -> None:
    out, report = learn_py("too_little", tmp_path)
    assert out == "hello\nother\n"  # not enforced: the run went on
    (cp,) = report["unveil_checkpoints"]
    assert cp["kind"] == "lock" and cp["where"] == line("lock", "too_little")
    assert cp["rules"] == [[str(tmp_path / "in.txt"), "r"]]
    denied = [(d["path"], d["needs"], d["where"]) for d in cp["denied"]]
    assert denied == [(str(tmp_path / "other.txt"), "r", line("denied", "too_little"))], denied
    assert "unveil(" in cp["denied"][0]["hint"]
    assert cp["unused"] == [] and cp["wider"] == []


def test_unveiling_too_much_names_unused_rules_and_wider_permissions(tmp_path: Path) -> None:
    out, report = learn_py("too_much", tmp_path)
    assert out == "data\n"
    (cp,) = report["unveil_checkpoints"]
    assert cp["denied"] == [], cp["denied"]
    assert [(u["path"], u["permissions"], u["where"]) for u in cp["unused"]] == [
        (str(tmp_path / "unused"), "r", line("unused", "too_much"))]
    assert [(w["path"], w["used"], w["drop"], w["where"]) for w in cp["wider"]] == [
        (str(tmp_path / "data"), "r", "wc", line("wide", "too_much"))]


def test_a_pledge_dropping_unveil_puts_the_rules_in_force(tmp_path: Path) -> None:
    _, report = learn_py("by_pledge", tmp_path)
    (cp,) = report["unveil_checkpoints"]
    assert cp["kind"] == "pledge" and cp["where"] == line("pledge", "by_pledge")
    (d,) = cp["denied"]
    # creating a file needs "c" (and "w") on its directory
    assert d["path"] == str(tmp_path) and set(d["needs"]) == set("wc")
    assert d["where"] == line("write", "by_pledge")
    assert [u["path"] for u in cp["unused"]] == [str(tmp_path / "data")]


def test_rules_never_locked_are_checked_from_the_last_one(tmp_path: Path) -> None:
    # nothing is hidden on Linux until the lock; the advice says what a lock would deny
    _, report = learn_py("no_lock", tmp_path)
    (cp,) = report["unveil_checkpoints"]
    assert cp["kind"] == "none" and cp["where"] == line("rule", "no_lock")
    assert [(d["path"], d["where"]) for d in cp["denied"]] == [
        (str(tmp_path / "in.txt"), line("denied", "no_lock"))]
    assert [u["path"] for u in cp["unused"]] == [str(tmp_path / "data")]


def test_the_text_report_gives_the_same_advice(tmp_path: Path) -> None:
    _, body = learn_py("too_much", tmp_path, as_json=False)
    assert f"checkpoint unveil() lock at {line('lock', 'too_much')}" in body
    assert f"never used afterwards (drop it): unveil({str(tmp_path / 'unused')!r}, 'r')" in body
    assert "used only 'r': drop 'wc'" in body
