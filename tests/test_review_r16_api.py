"""Review round 16 (API): unveil() under a pledge without rpath; children started without
exec.

unveil(2) needs only the "unveil" promise on OpenBSD, and here it grants O_PATH opens. On
main, unveil() after pledge("stdio inet unveil") died: its module was imported lazily
(a newfstatat of pledgepy's own directory, "needs rpath"), and once imported its checks
stat()ed the rule's path, with the import hint for a stat of a plain directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.childproc import run

if sys.platform.startswith("linux"):
    from pledgepy.backends.linux.landlock import abi as A

    ABI = A.version()
else:  # pragma: no cover - other platforms
    ABI = 0

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
]
landlock = pytest.mark.skipif(ABI == 0, reason="no Landlock in this kernel")

IMPORT_HINT = "importing a module that was not imported before pledge()"


@landlock
@pytest.mark.parametrize("imported", [False, True], ids=["lazy", "imported-before"])
def test_unveil_needs_no_rpath(imported: bool) -> None:
    r = run(f"""
        import sys, pledgepy
        if {imported!r}:
            import pledgepy.backends.linux.landlock.unveil
        pledgepy.pledge("stdio inet unveil")
        pledgepy.unveil("/tmp", "r")
        pledgepy.unveil()
        s = pledgepy.status().unveil
        print("locked", s.locked, s.in_force, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "locked True True" in r.stdout
    assert "pledge:" not in r.stderr


@landlock
@pytest.mark.parametrize("how", ["lock", "narrowed", "pledge"])
def test_unveil_rules_take_effect_without_rpath(tmp_path: Path, how: str) -> None:
    """wpath lets the child open files for writing (so Landlock's refusal shows) but
    neither read pledgepy's modules nor readlink(); unveil_many, a narrowing that keeps
    unveil, and a pledge that commits the rules all work without rpath."""
    (tmp_path / "a").touch()
    (tmp_path / "b").touch()
    (tmp_path / "link").symlink_to(tmp_path)
    r = run(f"""
        import os, pledgepy
        d, how = {str(tmp_path)!r}, {how!r}
        if how == "narrowed":
            pledgepy.pledge("stdio rpath wpath unveil")
            pledgepy.pledge("stdio wpath unveil")
        else:
            pledgepy.pledge("stdio wpath unveil")
        pledgepy.unveil(d + "/a", "w")
        pledgepy.unveil_many([(d + "/new", "w"), (d + "/link/a", "w")])
        for bad in ("/nonexistent-r16/x", d + "/a/x"):
            try:
                pledgepy.unveil(bad, "r")
            except (FileNotFoundError, NotADirectoryError) as e:
                print("refused", type(e).__name__, flush=True)
        if how == "pledge":
            pledgepy.pledge("stdio wpath")
        else:
            pledgepy.unveil()
        os.close(os.open(d + "/a", os.O_WRONLY))
        try:
            os.open(d + "/b", os.O_WRONLY)
        except PermissionError:
            print("hidden", flush=True)
        print("in force", pledgepy.status().unveil.in_force, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "refused FileNotFoundError" in r.stdout and "refused NotADirectoryError" in r.stdout
    assert "hidden" in r.stdout and "in force True" in r.stdout, r.explain()
    assert "pledge:" not in r.stderr


@landlock
def test_unveil_without_stat_says_what_symlinks_hide(tmp_path: Path) -> None:
    """Under "stdio unveil" paths are looked up through O_PATH descriptors; a symlink's
    target cannot be read (readlink needs rpath or wpath), so nesting through it is
    said to be unjudged, never guessed."""
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    r = run(f"""
        import pledgepy
        d = {str(tmp_path)!r}
        pledgepy.pledge("stdio unveil")
        pledgepy.unveil_many([(d + "/link/new", "w"), (d + "/d", "rwc")])
        pledgepy.unveil()
        print("gaps", pledgepy.status().unveil.not_enforced, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "cannot be read without rpath or wpath" in r.stdout, r.explain()


def test_stat_of_a_directory_is_no_import(tmp_path: Path) -> None:
    """A stat of a directory under a sys.path entry gets the import hint only while a
    module is being found."""
    r = run(f"""
        import os, sys, pledgepy
        sys.path.insert(0, {str(tmp_path)!r})
        pledgepy.pledge("stdio")
        os.stat({str(tmp_path)!r})
    """)
    assert r.returncode == -6, r.explain()
    assert 'newfstatat("' + str(tmp_path) + '") needs "rpath"' in r.stderr, r.explain()
    assert IMPORT_HINT not in r.stderr, r.explain()
    (tmp_path / "pkg_r16").mkdir()
    r = run(f"""
        import sys, pledgepy
        sys.path.insert(0, {str(tmp_path)!r})
        pledgepy.pledge("stdio")
        import pkg_r16
    """)
    assert r.returncode == -6, r.explain()
    assert IMPORT_HINT in r.stderr and "pkg_r16" in r.stderr, r.explain()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-q"]))
