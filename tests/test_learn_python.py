"""python -m pledgepy learn: where in the user's code, and checkpoint advice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.learning import PLEDGE, command, run, violated

SCRIPT = Path(__file__).parent / "programs" / "learn_checkpoints.py"
SCRIPTS = Path(__file__).parent / "programs" / "learn_scripts.py"


def line(marker: str, after: str = "") -> str:
    """``learn_checkpoints.py:N`` of the line marked ``# <- marker`` (after *after*'s)."""
    lines = SCRIPT.read_text().splitlines()
    start = next(i for i, t in enumerate(lines) if t.startswith(f"def {after}")) if after else 0
    n = next(i for i, t in enumerate(lines) if i >= start and t.endswith(f"# <- {marker}"))
    return f"{SCRIPT}:{n + 1}"


def learn_py(*args: str, cwd: Path) -> tuple[str, dict[str, object]]:
    out = cwd / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(out), *args], str(cwd))
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(out.read_text())


def _work(tmp_path: Path) -> Path:
    (tmp_path / "in.txt").write_text("hello\n")
    return tmp_path


def test_a_pledge_asking_too_much(tmp_path: Path) -> None:
    out, report = learn_py(str(SCRIPT), "too_much", str(_work(tmp_path)), cwd=tmp_path)
    assert out == "hello\n"
    (cp,) = report["checkpoints"]  # type: ignore[misc]
    assert cp["where"] == line("pledge", "too_much")
    assert cp["asked"] == ["stdio", "rpath", "wpath", "cpath", "inet"]
    assert cp["unused"] == ["wpath", "cpath", "inet"] and cp["missing"] == []


def test_a_pledge_asking_too_little_is_not_enforced_but_reported(tmp_path: Path) -> None:
    out, report = learn_py(str(SCRIPT), "too_little", str(_work(tmp_path)), cwd=tmp_path)
    assert out == "hello\n" and (tmp_path / "out.txt").read_text() == "x"  # ran on
    (cp,) = report["checkpoints"]  # type: ignore[misc]
    assert cp["where"] == line("pledge", "too_little") and cp["unused"] == []
    missing = {(m["promise"], m["syscall"], m["where"]) for m in cp["missing"]}
    assert ("rpath", "openat", line("read", "too_little")) in missing, cp["missing"]
    assert ("wpath cpath", "openat", line("write", "too_little")) in missing, cp["missing"]


def test_where_each_promise_was_first_needed(tmp_path: Path) -> None:
    _, report = learn_py(str(SCRIPT), "narrowing", str(tmp_path), cwd=tmp_path)
    assert report["first_needed"]["inet"] == line("socket")  # type: ignore[index]
    first, second = report["checkpoints"]  # type: ignore[misc]
    assert first["where"] == line("first") and first["unused"] == ["rpath"]
    assert first["missing"] == [] and second["where"] == line("second")
    assert second["missing"] == [] and second["unused"] == []
    sockets = [e for e in report["evidence"]  # type: ignore[attr-defined]
               if e["syscall"] == "socket"]
    assert sockets and sockets[0]["where"] == line("socket") and sockets[0]["promise"] == "inet"


def test_a_learned_python_policy_runs(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text('{"a": 1}')
    out, report = learn_py(str(SCRIPTS), "read_json", "data.json", cwd=tmp_path)
    plain = run([sys.executable, str(SCRIPTS), "read_json", "data.json"], str(tmp_path))
    assert out == plain.stdout
    assert report["command"].endswith(f"{SCRIPTS} read_json data.json")  # type: ignore[union-attr]
    applied = run(command(report), str(tmp_path))  # type: ignore[arg-type]
    assert not violated(applied) and applied.stdout == plain.stdout, applied.stderr


def test_module_mode_and_text_report(tmp_path: Path) -> None:
    r = run([*PLEDGE, "learn", "-m", "json.tool", str(SCRIPTS)], str(tmp_path))
    assert r.returncode == 1  # not JSON: json.tool's own exit status
    assert "pledge: learned from one run of json.tool" in r.stderr, r.stderr


def test_the_learn_variable_alone_never_turns_pledge_off(tmp_path: Path) -> None:
    # without a recorder to answer the checkpoint, pledge() enforces as usual
    code = "import pledgepy; pledgepy.pledge('stdio'); open('/etc/hostname')"
    r = run([sys.executable, "-c", code], str(tmp_path), {"PLEDGEPY_LEARN": "1"})
    assert r.returncode == -6 and 'needs "rpath"' in r.stderr, r.stderr
