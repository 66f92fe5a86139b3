"""The README stays true: its promise table is the policy table, its commands are CI's."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import readme_table  # noqa: E402


def test_promise_table_matches_the_policy() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme_table.render(readme) == readme, "run: python tools/readme_table.py"


def test_quick_start_has_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2, commands
    assert "examples/demo.py" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_internal_links_reach_a_heading() -> None:
    import re

    for doc in ("README.md", "HACKING.md"):
        text = (ROOT / doc).read_text()
        anchors = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                   for line in text.splitlines() if re.match(r"#+ ", line)}
        broken = [m for m in re.findall(r"\]\(#([^)]+)\)", text) if m not in anchors]
        assert not broken, (doc, broken)
