"""Round 17, attack review (d) of the round's widened grants.

Learn mode: a hard link's source gives ``c`` to its directory (Landlock's REFER, 7d411e4).
A link whose new name already exists fails with EEXIST before Landlock looks at it, as
``new`` already says for the target (it gets no letters). The source was given
``r`` and ``c`` on its directory all the same, so a program whose link fails (a
lock taken with link(2), ``ln`` over an existing name) was suggested create and
remove rights in a directory it made nothing in: ``-v rc:DIR`` where it needed nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.learning import PLEDGE, learn, run

LN = shutil.which("ln")


def _granted(report: dict[str, Any], top: Path) -> list[tuple[str, str]]:
    return [(path, perms) for path, perms in report["unveil"]
            if path == str(top) or path.startswith(str(top) + "/")]


def _tree() -> Path:
    work = Path(tempfile.mkdtemp(dir="/var/tmp"))  # not /tmp: tmppath answers nothing here
    (work / "a").mkdir()
    (work / "b").mkdir()
    (work / "a" / "f").write_text("x\n")
    (work / "b" / "g").write_text("y\n")  # the link's new name exists: EEXIST
    return work


@pytest.mark.skipif(LN is None, reason="no ln")
def test_a_link_over_an_existing_name_gives_its_source_nothing() -> None:
    work = _tree()
    try:
        r, report = learn([str(LN), str(work / "a" / "f"), str(work / "b" / "g")], str(work))
        assert "File exists" in r.stderr, r.stderr
        assert _granted(report, work / "a") == [], report["unveil"]
    finally:
        shutil.rmtree(work)


def test_a_python_link_over_an_existing_name_gives_its_source_nothing() -> None:
    work = _tree()
    try:
        script = work / "p.py"
        script.write_text(f"import os\ntry:\n    os.link({str(work / 'a' / 'f')!r}, "
                          f"{str(work / 'b' / 'g')!r})\nexcept FileExistsError:\n"
                          "    print('exists')\n")
        out = work / "r.json"
        r = run([*PLEDGE, "learn", "--json", "-o", str(out), str(script)], str(work))
        assert r.returncode == 0 and r.stdout == "exists\n", r.stderr
        report = json.loads(out.read_text())
        assert _granted(report, work / "a") == [], report["unveil"]
    finally:
        shutil.rmtree(work)


@pytest.mark.skipif(LN is None, reason="no ln")
def test_a_link_to_a_new_name_still_gives_its_source_c() -> None:
    # the fix must keep what 7d411e4 made work: a new name needs REFER on both sides
    work = _tree()
    try:
        r, report = learn([str(LN), str(work / "a" / "f"), str(work / "b" / "h")], str(work))
        assert r.returncode == 0, r.stderr
        assert any("c" in perms for _, perms in _granted(report, work / "a")), report["unveil"]
    finally:
        shutil.rmtree(work)

