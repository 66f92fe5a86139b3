"""``api.lock_unveil_for(adding=...)`` looks each rule's path up once: the check opens
it (O_PATH), and the judgement and the ruleset use what the check found. What it
keeps never outlives the lock, never costs a rule, and is dropped on failure."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.childproc import Result, run

if sys.platform.startswith("linux"):
    from pledgepy.backends.linux.landlock import abi as A

    ABI = A.version()
else:  # pragma: no cover - other platforms
    ABI = 0

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(ABI == 0, reason="no Landlock in this kernel"),
]

PRE = """from tests.programs.attempts import *  # noqa: F403
from pledgepy import api
from pledgepy.backends.linux.landlock import unveil as uv
def inodes_of(top):
    return {os.stat(top).st_ino} | {e.inode() for e in os.scandir(top)}
def ours(inodes):  # descriptors open on them (fstat: /proc may be hidden by then)
    found = []
    for fd in range(3, 1024):
        try:
            if os.fstat(fd).st_ino in inodes:
                found.append(fd)
        except OSError:
            pass
    return found
"""


def child(body: str) -> dict[str, str]:
    res: Result = run(PRE + textwrap.dedent(body))
    assert res.returncode == 0, res.explain()
    return dict(line.partition("=")[::2] for line in res.stdout.splitlines() if "=" in line)


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    for i in range(60):
        (tmp_path / f"f{i}").write_text(str(i))
    (tmp_path / "hidden").write_text("no")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "g").write_text("g")
    (tmp_path / "link").symlink_to(tmp_path / "f1")
    (tmp_path / "dlink").symlink_to(tmp_path / "d")
    return tmp_path


def test_the_judgement_and_the_rules_are_those_of_separate_lookups(files: Path) -> None:
    """Symlinks (last component or not), a directory and a file beneath it with fewer
    letters, a missing file in an existing directory: as judged and granted without
    the kept lookups (unveil_many() then the lock)."""
    rules = [(str(files / p), m) for p, m in (
        ("link", "r"), ("dlink/g", "r"), ("d", "rw"), ("dlink", "r"), ("f2", "rwc"),
        ("new", "rwc"), ("f3", "x"))]
    checks = """
        show("notes", pledgepy.status().unveil.notes)
        show("weak", pledgepy.status().unveil.not_enforced)
        for p in ("f1", "link", "d/g", "dlink/g", "f2", "f4", "hidden"):
            show("read " + p, attempt(read, T + "/" + p))
        show("write d/g", attempt(write, T + "/d/g", "x", "a"))
    """
    seen = [child(f"""
        T = {str(files)!r}
        {how}
    """ + checks) for how in (
        f"api.lock_unveil_for(frozenset({{'stdio', 'rpath', 'wpath'}}), adding={rules!r})",
        f"pledgepy.unveil_many({rules!r}); api.lock_unveil_for("
        "frozenset({'stdio', 'rpath', 'wpath'}))")]
    assert seen[0] == seen[1]
    assert seen[0]["read link"] == seen[0]["read f1"] == "ok" == seen[0]["write d/g"]
    assert seen[0]["read f4"] == "EACCES"


def test_every_rule_is_granted_and_nothing_stays_open(files: Path) -> None:
    v = child(f"""
        T = {str(files)!r}
        INODES = inodes_of(T)
        api.lock_unveil_for(frozenset({{"stdio", "rpath"}}),
                            adding=[(f"{{T}}/f{{i}}", "r") for i in range(60)])
        show("kept", len(uv._kept))
        show("open", ours(INODES))
        show("read", sum(attempt(read, f"{{T}}/f{{i}}") == "ok" for i in range(60)))
        show("hidden", attempt(read, T + "/hidden"))
    """)
    assert v == {"kept": "0", "open": "[]", "read": "60", "hidden": "EACCES"}


def test_a_refused_lock_keeps_nothing_and_changes_nothing(files: Path) -> None:
    v = child(f"""
        T = {str(files)!r}
        INODES = inodes_of(T)
        good = [(f"{{T}}/f{{i}}", "r") for i in range(30)]
        for bad, strict in (((T + "/no/such", "r"), False), ((T + "/f0", ""), True)):
            try:  # a missing path; a hidden rule beneath a readable one, strictly
                api.lock_unveil_for(frozenset({{"stdio", "rpath"}}), strict=strict,
                                    adding=[(T, "r"), *good, bad])
            except Exception as exc:
                show("err" + str(strict), type(exc).__name__)
        show("kept", len(uv._kept))
        show("open", ours(INODES))
        show("locked", pledgepy.status().unveil.locked)
        show("hidden", attempt(read, T + "/hidden"))
    """)
    assert v == {"errFalse": "FileNotFoundError", "errTrue": "UnsupportedError", "kept": "0",
                 "open": "[]", "locked": "False", "hidden": "ok"}


def test_under_a_low_descriptor_limit_no_rule_is_lost(files: Path) -> None:
    v = child(f"""
        import resource
        T = {str(files)!r}
        INODES = inodes_of(T)
        low = len(os.listdir("/proc/self/fd")) + 8
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, low))
        api.lock_unveil_for(frozenset({{"stdio", "rpath"}}),
                            adding=[(f"{{T}}/f{{i}}", "r") for i in range(60)])
        show("kept", len(uv._kept))
        show("read", sum(attempt(read, f"{{T}}/f{{i}}") == "ok" for i in range(60)))
        show("hidden", attempt(read, T + "/hidden"))
    """)
    assert v == {"kept": "0", "read": "60", "hidden": "EACCES"}


def test_a_path_that_cannot_be_searched_is_refused_as_before(files: Path) -> None:
    v = child(f"""
        T = {str(files)!r}
        INODES = inodes_of(T)
        os.chmod(T, 0o600)
        os.setgroups([]); os.setgid(65534); os.setuid(65534)  # no capabilities either
        for locking in (False, True):
            try:
                uv.check_rules([uv.UnveilRule(T + "/f1", "r")], locking=locking)
            except OSError as exc:
                show(str(locking), type(exc).__name__)
        show("kept", len(uv._kept))
    """)
    assert v == {"False": "PermissionError", "True": "PermissionError", "kept": "0"}


def test_the_nested_rule_judgement_is_the_same_with_the_checks_lookups(tmp_path: Path) -> None:
    """Files, directories, symlinks to both (last component or not), hard links, missing
    files: what the lock says of nested rules, with the check's lookups kept and
    without (every path resolved)."""
    import random

    from pledgepy.backends.base import UnveilRule
    from pledgepy.backends.linux.landlock import unveil as uv

    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/f", "d/e/g", "h"):
        (tmp_path / name).write_text(name)
    (tmp_path / "ld").symlink_to(tmp_path / "d")
    (tmp_path / "lf").symlink_to(tmp_path / "d" / "f")
    (tmp_path / "hard").hardlink_to(tmp_path / "h")
    names = ["d", "d/e", "d/f", "d/e/g", "h", "ld", "ld/f", "ld/e/g", "lf", "hard", "new",
             "d/new"]
    rng = random.Random(6)
    differ = shortcuts = 0
    for _ in range(400):
        picked = rng.sample(names, rng.randint(1, 6))
        rules = tuple(UnveilRule(str(tmp_path / n), rng.choice(["r", "r", "rw", "", "rc"]))
                      for n in picked)
        uv._drop_kept()
        uv._forget()
        plain = uv._nested(rules)
        uv.check_rules(list(rules), locking=True)
        try:
            uv._forget()
            kept = uv._nested(rules)
            shortcut = uv._apart(rules)
        finally:
            uv._drop_kept()
        assert kept == plain, rules
        assert not (shortcut and plain)
        differ += bool(plain)
        shortcuts += shortcut
    assert differ > 20 and shortcuts > 20  # both kinds of case


def test_paths_taken_as_they_are_are_those_abspath_and_normpath_return() -> None:
    import os
    import random

    from pledgepy import api
    from pledgepy.backends.linux.landlock.unveil import _normpath

    rng = random.Random(3)
    parts = ["/", "a", ".", "b", "//", "..", ".v", "a.", "...", "é"]
    for _ in range(50000):
        p = "".join(rng.choice(parts) for _ in range(rng.randint(1, 9)))
        if p.startswith("/"):
            assert _normpath(p) == os.path.normpath(p), p
        if ".." not in p.split("/"):
            assert api._check_path(p) == os.path.abspath(p), p


@pytest.mark.parametrize("spare", range(56, 68))
def test_a_descriptor_limit_reached_by_the_lock_costs_no_allowance_rule(
        files: Path, spare: int) -> None:
    # the check keeps a descriptor a rule; the lock's ruleset then adds stdio's path
    # allowances (/dev/null) by path, which used to be dropped on EMFILE without a word
    v = child(f"""
        import errno, resource
        T = {str(files)!r}
        low = len(os.listdir("/proc/self/fd")) + {spare}
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        try:
            api.lock_unveil_for(frozenset({{"stdio", "rpath"}}),
                                adding=[(f"{{T}}/f{{i}}", "r") for i in range(60)])
        except OSError as exc:
            show("refused", errno.errorcode[exc.errno])
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            show("read", sum(attempt(read, f"{{T}}/f{{i}}") == "ok" for i in range(60)))
            show("devnull", attempt(read, "/dev/null"))
            show("hidden", attempt(read, T + "/hidden"))
    """)
    assert v in ({"refused": "EMFILE"}, {"read": "60", "devnull": "ok", "hidden": "EACCES"}), v
