"""Learned unveil lists fold only where the run looked (issue 13, round 9).

Several files read in one directory fold into a rule on the directory only when
the run listed it, or in a system or library tree; never into a home directory
or an ancestor of one, and a dot-entry never folds: three dotfiles read in a
home must not unveil ``~/.ssh``. Each real case runs the installed ``pledge``
console script (as root, and as uid 65534 with no capabilities), then applies
the learned command.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pledgepy.learn import paths
from tests.learning import ENV, violated

SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
SETPRIV = shutil.which("setpriv")
NOBODY = [SETPRIV, "--reuid", "65534", "--regid", "65534", "--clear-groups"] if SETPRIV else []
DOTFILES = (".bashrc", ".profile", ".gitconfig")
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n"


@functools.cache
def _runs_as_nobody(program: str) -> bool:
    r = subprocess.run([*NOBODY, program, "--version"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL, timeout=60)
    return r.returncode == 0


def _pledge(args: list[str], cwd: Path, home: Path,
            unprivileged: bool) -> subprocess.CompletedProcess[str]:
    """The installed console script, as root or (supervisor and all) as uid 65534."""
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    if unprivileged:
        if os.geteuid() != 0 or SETPRIV is None:
            pytest.skip("needs root and setpriv to run the command as uid 65534")
        if not _runs_as_nobody(head[0]):
            pytest.skip(f"{head[0]} cannot start as uid 65534 here")
        head = [*NOBODY, *head]
    return subprocess.run([*head, *args], capture_output=True, text=True, cwd=cwd,
                          env={**ENV, "HOME": str(home)}, stdin=subprocess.DEVNULL,
                          timeout=120, check=False)


def _learn(argv: list[str], cwd: Path, home: Path,
           unprivileged: bool) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = cwd / "learned.json"
    r = _pledge(["--learn", "--json", "-o", str(out), *argv], cwd, home, unprivileged)
    report: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return r, report


def _applied(report: dict[str, Any], argv: list[str]) -> list[str]:
    """The learned command's options, in front of *argv* instead of the learned run's."""
    words = shlex.split(report["command"])
    assert words[:2] == ["pledge", "-p"], words
    options = words[1:len(words) - len(argv)] if argv else words[1:]
    return ["-q", *options]


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory uid 65534 owns (it runs there and has its home there)."""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-r9-"))
    try:
        yield where
    finally:
        subprocess.run(["rm", "-rf", str(where)], check=True)


def _own(root: Path, unprivileged: bool) -> None:
    """Give *root*'s tree to uid 65534 (its home is its own), with a home's modes."""
    root.chmod(0o755)
    if not unprivileged:
        return
    for d, dirs, files in os.walk(root):
        for name in [d, *(os.path.join(d, n) for n in (*dirs, *files))]:
            os.chown(name, 65534, 65534)


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_dotfiles_read_in_a_home_do_not_unveil_ssh(place: Path, unprivileged: bool) -> None:
    home = place / "home"
    (home / ".ssh").mkdir(parents=True)
    for name in DOTFILES:
        (home / name).write_text(f"{name}\n")
    key = home / ".ssh" / "id_rsa"
    key.write_text(KEY)
    (home / ".ssh").chmod(0o700)
    key.chmod(0o600)
    _own(place, unprivileged)
    argv = ["cat", *(str(home / n) for n in DOTFILES)]
    r, report = _learn(argv, place, home, unprivileged)
    wanted = "".join(f"{n}\n" for n in DOTFILES)
    assert r.returncode == 0 and r.stdout == wanted, r.stderr
    # the learned command runs the same run clean ...
    options = _applied(report, argv)
    again = _pledge([*options, *argv], place, home, unprivileged)
    assert again.returncode == 0 and again.stdout == wanted and not violated(again), \
        (report["command"], again.stderr)
    # ... and keeps the key hidden, though the user itself (or root) may read it
    plain = _pledge(["-q", "-p", "stdio rpath", "-v", f"r:{home}", "cat", str(key)], place,
                    home, unprivileged)
    assert plain.returncode == 0 and plain.stdout == KEY, plain.stderr
    stolen = _pledge([*options, "cat", str(key)], place, home, unprivileged)
    assert stolen.returncode == 1 and KEY not in stolen.stdout, (report["command"],
                                                                 stolen.stdout)
    assert "Permission denied" in stolen.stderr, stolen.stderr
    rules = dict(report["unveil"])
    assert str(home) not in rules and str(place) not in rules, report["unveil"]
    assert all(rules.get(str(home / n)) == "r" for n in DOTFILES), report["unveil"]


#: Programs that list the directory whose files they read, and the directory.
LISTED = {
    "ls then cat": lambda d: ["sh", "-c", f"ls {d} >/dev/null && cat {d}/a {d}/b {d}/c"],
    "grep -r": lambda d: ["grep", "-r", "needle", str(d)],
}


@pytest.mark.parametrize("name", sorted(LISTED))
def test_a_directory_the_run_listed_still_folds(place: Path, name: str) -> None:
    tree = place / "tree"
    for sub in ("", "s1", "s2", "s3"):
        (tree / sub).mkdir(exist_ok=True)
        for f in ("a", "b", "c"):
            (tree / sub / f).write_text(f"needle {sub}{f}\n")
    argv = LISTED[name](tree)
    plain = subprocess.run(argv, capture_output=True, text=True, cwd=place, timeout=60,
                           check=False)
    r, report = _learn(argv, place, place / "nohome", False)
    assert r.returncode == 0 and r.stdout == plain.stdout, r.stderr
    rules = dict(report["unveil"])
    assert rules.get(str(tree)) == "r", report["unveil"]
    assert not [p for p in rules if p.startswith(f"{tree}/")], report["unveil"]
    again = _pledge([*_applied(report, argv), *argv], place, place / "nohome", False)
    assert again.returncode == 0 and again.stdout == plain.stdout and not violated(again), \
        (report["command"], again.stderr)


def test_files_of_a_directory_not_listed_stay_one_by_one(place: Path) -> None:
    for f in ("a", "b", "c"):
        (place / f).write_text(f"{f}\n")
    argv = ["cat", *(str(place / f) for f in ("a", "b", "c"))]
    r, report = _learn(argv, place, place / "nohome", False)
    assert r.returncode == 0 and r.stdout == "a\nb\nc\n", r.stderr
    rules = dict(report["unveil"])
    assert str(place) not in rules, report["unveil"]
    assert all(rules.get(str(place / f)) == "r" for f in ("a", "b", "c")), report["unveil"]


def _files(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_text("x")
    return {str(root / n): "r" for n in names}


def test_never_into_a_home_or_its_ancestors_even_in_a_tree(tmp_path: Path) -> None:
    # a home in a library tree: folding stops below it, and below its ancestors
    tree, home = (str(tmp_path),), tmp_path / "lib" / "me"
    used = _files(home, ("a", "b", "c"))
    assert paths.collapse(used, home=str(home), library=tree) == sorted(used.items())
    used = _files(tmp_path / "lib", ("x", "y", "z"))
    assert paths.collapse(used, home=str(home), library=tree) == sorted(used.items())
    # a directory beside them folds
    used = _files(tmp_path / "lib" / "other", ("a", "b", "c"))
    assert paths.collapse(used, home=str(home), library=tree) == \
        [(str(tmp_path / "lib" / "other"), "r")]
    # and every user's home (the password database's) is barred as well
    assert paths.homes() >= {os.path.normpath(p.pw_dir) for p in pwd.getpwall()
                             if os.path.isabs(p.pw_dir)}


def test_dot_entries_never_fold(tmp_path: Path) -> None:
    tree = (str(tmp_path),)
    used = _files(tmp_path / "t", (".a", ".b", ".c", "d"))
    assert paths.collapse(used, library=tree) == sorted(used.items())
    # dot-directories neither: their files fold into them, they stay their own rules
    used = _files(tmp_path / "u", (".x/1", ".x/2", ".x/3", ".y/1", ".y/2", ".y/3", ".z/1",
                                   ".z/2", ".z/3"))
    assert paths.collapse(used, library=tree) == \
        [(str(tmp_path / "u" / d), "r") for d in (".x", ".y", ".z")]


def test_unlisted_directories_outside_the_trees_do_not_fold(tmp_path: Path) -> None:
    used = _files(tmp_path / "t", ("a", "b", "c"))
    assert paths.collapse(used, library=()) == sorted(used.items())
    assert paths.collapse(used, library=(str(tmp_path),)) == [(str(tmp_path / "t"), "r")]


def test_library_trees_fold_unlisted() -> None:
    # the interpreter's stdlib: a library tree, the same for every user
    stdlib = Path(json.__file__).parent
    used = {str(stdlib / n): "r" for n in ("__init__.py", "decoder.py", "encoder.py")}
    assert paths.collapse(used) == [(str(stdlib), "r")]


def test_a_home_created_in_keeps_its_files_reads_apart(tmp_path: Path) -> None:
    # creating in $HOME needs "c" there; the dotfiles read stay their own rules, not "r"
    # on the whole home
    home = tmp_path / "me"
    used = {**_files(home, (".bashrc", ".profile")), str(home): "wc"}
    assert paths.collapse(used, home=str(home)) == [(str(home), "wc"),
                                                    *sorted((p, "r") for p in used
                                                            if p != str(home))]
