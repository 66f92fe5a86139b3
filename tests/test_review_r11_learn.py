"""Round 11, learn-mode speed (issue 13): what the recorder and the report do per call
and per path, counted, and the results they must keep."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pledgepy.learn import paths
from tests.learning import ENV, PLEDGE, learn

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="no strace")
FILES = 300


def _tree(root: Path, files: int = FILES) -> None:
    for i in range(files):
        d = root / "tree" / f"d{i // 100}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(b"x" * 64)


def _calls(table: str) -> dict[str, int]:
    """strace -c's table: syscall -> calls."""
    out = {}
    for line in table.splitlines():
        p = line.split()
        if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
            out[p[-1]] = int(p[3])
    return out


@needs_strace
def test_tar_s_stats_read_no_path_and_resolve_dirfds_by_one_name(tmp_path: Path) -> None:
    """tar stats each file by a name relative to a directory descriptor. The C loop keys
    those by kind, but on main it read each one's path (a pread of /proc/<pid>/mem) and
    resolved its dirfd (a readlink of /proc/<pid>/fd/N) all the same: ~2 preads and ~2
    readlinks per file, while tar waited (fails on main). Now: one pread and one
    readlinkat (the openat's) per file, and the report still counts every stat."""
    _tree(tmp_path)
    out = tmp_path / "learned.json"
    table = tmp_path / "strace.txt"
    r = subprocess.run(
        ["strace", "-f", "-c", "-o", str(table), "-e", "trace=pread64,readlink,readlinkat",
         *PLEDGE, "--learn", "--json", "-o", str(out), "tar", "cf", "out.tar", "tree"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    calls = _calls(table.read_text())
    assert calls.get("pread64", 0) < 1.3 * FILES, calls
    assert calls.get("readlink", 0) < 0.3 * FILES, calls
    import json

    report = json.loads(out.read_text())
    stats = [e for e in report["evidence"] if e["syscall"] == "newfstatat"
             and e["argument"].startswith(f"e.g. {tmp_path}/tree")]
    assert stats and stats[0]["count"] >= FILES, stats
    assert "rpath" in report["promises"]
    tree = str(tmp_path / "tree")
    assert any("r" in v and (tree == p or tree.startswith(p + "/"))
               for p, v in report["unveil"]), report["unveil"]


REPOINT = """
import os, sys
def at(d, name):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.dup2(fd, 9)
    os.close(fd)
    os.close(os.open(name, os.O_RDONLY, dir_fd=9))
if sys.argv[1] == "first":
    at("d0", "f0")
    at("d1", "f1")  # descriptor 9 again, another directory
    os.execv(sys.executable, [sys.executable, sys.argv[0], "second"])
at("d0", "f1")  # the same pid, another program: its own descriptor 9
"""


def test_a_reused_descriptor_number_resolves_to_its_directory_now(tmp_path: Path) -> None:
    """The C loop keeps each pid's /proc/<pid>/fd open to resolve dirfds: the link must
    still be read each time. Descriptor 9 names d0, then d1, then (after an exec in the
    same pid) d0 again: each openat is recorded where it really opened (a cached link
    would record d0/f1 as d1/f1, or d1/f1 as d0/f1: passes on main, fails if it did)."""
    for d in ("d0", "d1"):
        (tmp_path / d).mkdir()
        for f in ("f0", "f1"):
            (tmp_path / d / f).write_text(d + f)
    (tmp_path / "repoint.py").write_text(REPOINT)
    r, report = learn([sys.executable, "repoint.py", "first"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    opened = {e["argument"].split()[0] for e in report["evidence"]
              if e["syscall"] == "openat" and e["argument"].startswith(str(tmp_path) + "/d")}
    want = {str(tmp_path / p) for p in ("d0/f0", "d1/f1", "d0/f1")}
    assert want <= opened and str(tmp_path / "d1" / "f0") not in opened, opened


def test_collapse_lists_a_directory_of_many_paths_instead_of_an_lstat_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report kept a path only if it still existed: an lstat per path, 5,000 for tar
    of 5,000 files (fails on main: 120 here). Now a directory with many of them is
    listed once; a missing one that was only read is still dropped, and the rules are
    the ones per-path lookups give."""
    d = tmp_path / "data"
    d.mkdir()
    for i in range(100):
        (d / f"f{i}").write_text("x")
    used = {f"{d}/f{i}": "r" for i in range(120)}  # f100..f119 are missing
    used[f"{d}/f105"] = "w"  # written where it is missing: its letters go to data
    seen: list[str] = []
    real = paths._lexists

    def counting(path: str) -> bool:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(paths, "_lexists", counting)
    rules = dict(paths.collapse(used, {}, library=()))
    assert len(seen) < 20, len(seen)
    want = {os.path.realpath(f"{d}/f{i}"): "r" for i in range(100)}
    want[os.path.realpath(str(d))] = "w"
    assert rules == want


def test_collapse_keeps_a_directory_that_was_read_itself(tmp_path: Path) -> None:
    """A directory the run listed, among many paths in it: the listing of its parent
    is not what answers for it (a guard on the listing: it folds, never dropped)."""
    d = tmp_path / "walk"
    d.mkdir()
    for i in range(10):
        (d / f"f{i}").write_text("x")
    used = {str(d): "r/", **{f"{d}/f{i}": "r" for i in range(10)}}
    assert paths.collapse(used, {}, library=()) == [(os.path.realpath(str(d)), "r")]
