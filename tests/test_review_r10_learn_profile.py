"""Round 10: a profile is refused when anyone but its user (or root) could have put it
where it is: any directory above it, not only its own, counts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.learning import ENV, PLEDGE, run


def _config(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def _saved(tmp_path: Path, text: str = "promises stdio\n") -> Path:
    where = tmp_path / "config" / "pledgepy" / "profiles"
    where.mkdir(parents=True, mode=0o700)
    for d in (tmp_path / "config", tmp_path / "config" / "pledgepy", where):
        os.chmod(d, 0o700)
    (where / "p.pledge").write_text(text)
    os.chmod(where / "p.pledge", 0o600)
    return where / "p.pledge"


def test_a_safe_profile_still_runs(tmp_path: Path) -> None:
    """The control for the refusals below: the same layout, nothing writable by others."""
    _saved(tmp_path)
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 0, r.stderr


def test_a_group_writable_directory_above_the_profiles_is_refused(tmp_path: Path) -> None:
    """~/.config writable by a group: a member renames ~/.config/pledgepy away and puts
    a directory of theirs, with a profile of theirs, in its place. Only the profiles
    directory itself and the file were checked on main: the profile ran (exit 0)."""
    _saved(tmp_path)
    os.chmod(tmp_path / "config", 0o775)
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64, r.stderr
    assert f"the directory {tmp_path / 'config'} is writable by group or others (mode 775)" \
        in r.stderr, r.stderr


def test_a_profiles_directory_linked_into_a_shared_one_is_refused(tmp_path: Path) -> None:
    """The profiles directory is a link to one of the user's own (0700) in a directory
    anyone may write (0777, not sticky): anyone can swap it for theirs. main followed
    the link and checked only the target: the profile ran."""
    saved = _saved(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    profiles = saved.parent
    profiles.rename(shared / "profiles")
    profiles.symlink_to(shared / "profiles")
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and f"the directory {shared} is writable" in r.stderr, r.stderr
    os.chmod(shared, 0o1777)  # sticky: nobody else may rename what the user owns there
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 0, r.stderr


def test_a_directory_above_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """~/.config/pledgepy owned by another user (root excepted): they can replace the
    profiles directory beneath it. Accepted on main (exit 0)."""
    if os.getuid() != 0:
        pytest.skip("needs root to give the directory away")
    _saved(tmp_path)
    os.chown(tmp_path / "config" / "pledgepy", 65534, 65534)
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "pledgepy is owned by uid 65534" in r.stderr, r.stderr


def test_saving_where_loading_would_be_refused_writes_nothing(tmp_path: Path) -> None:
    """--save into a tree another user could write: refused with the reason, no file
    left. main wrote the profile there (exit 0); round 16: refused before the run (64:
    PROG never ran, as for a bad name), not after it (70)."""
    (tmp_path / "config" / "pledgepy").mkdir(parents=True)
    os.chmod(tmp_path / "config", 0o777)
    mark = tmp_path / "ran"
    r = run([*PLEDGE, "--learn", "--save", "s", "touch", str(mark)], str(tmp_path),
            _config(tmp_path))
    assert r.returncode == 64 and "is writable by group or others" in r.stderr, r.stderr
    assert not list((tmp_path / "config").rglob("*.pledge")) and not mark.exists()


def test_saving_under_a_group_umask_makes_private_directories(tmp_path: Path) -> None:
    """Under umask 002 os.makedirs made ~/.config/pledgepy 0775 (only the last directory
    got 0700): a group member could then swap the profiles directory. Now each one
    made is 0700, and the profile saved loads."""
    env = {**ENV, **_config(tmp_path)}
    r = subprocess.run([*PLEDGE, "--learn", "--save", "u", "true"], cwd=str(tmp_path),
                       env=env, capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: os.umask(0o002))
    assert r.returncode == 0, r.stderr
    for d in ("config", "config/pledgepy", "config/pledgepy/profiles"):
        assert os.stat(tmp_path / d).st_mode & 0o777 == 0o700, d
    r = run([*PLEDGE, "-q", "--profile", "u", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 0, r.stderr


def test_a_fifo_in_place_of_a_profile_is_refused_without_hanging(tmp_path: Path) -> None:
    """A FIFO named like the profile: main's open blocked until the 120 s timeout."""
    saved = _saved(tmp_path)
    saved.unlink()
    os.mkfifo(saved, 0o600)
    r = run([*PLEDGE, "-q", "--profile", "p", "true"], str(tmp_path), _config(tmp_path))
    assert r.returncode == 64 and "is not a regular file" in r.stderr, r.stderr
