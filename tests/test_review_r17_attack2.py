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

from tests.learning import PLEDGE, command, learn, run

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



# ``ln -L`` (linkat with AT_SYMLINK_FOLLOW) links the file a symlink source names: the
# directory Landlock's REFER is checked on is that file's, not the symlink's. Learn gave
# rc to the symlink's directory (which the run made nothing in) and nothing to the
# file's, so the suggested command's ln failed "Invalid cross-device link".


@pytest.mark.skipif(LN is None, reason="no ln")
def test_ln_L_learns_the_directory_of_the_file_it_links() -> None:
    work = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        for d in ("a", "b", "c"):
            (work / d).mkdir()
        (work / "c" / "f").write_text("x\n")
        (work / "a" / "sym").symlink_to(work / "c" / "f")
        argv = [str(LN), "-L", str(work / "a" / "sym"), str(work / "b" / "g")]
        r, report = learn(argv, str(work))
        assert r.returncode == 0 and (work / "b" / "g").exists(), r.stderr
        assert not any("c" in perms for _, perms in _granted(report, work / "a")), report
        (work / "b" / "g").unlink()
        again = run(command(report), str(work))
        assert again.returncode == 0 and (work / "b" / "g").exists(), (again.stderr, report)
    finally:
        shutil.rmtree(work)
