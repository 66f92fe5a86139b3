"""Strict mode with unveil-then-pledge (issue 10, item 5).

Rules take effect at the lock (unveil() or the pledge that locks), so strictness is judged
then, with the promises that will be in force: a gap the pledge closes (chmod() outside the
rules needs fattr, a pathname unix socket needs unix) is no gap. What remains at the lock
still raises, before anything changes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import run

pytestmark = pytest.mark.usefixtures("landlock")

HEAD = """
import os, sys, pledgepy
from pledgepy import UnsupportedError
def show(key, value):
    print(f"{key}={value}", flush=True)
"""


@pytest.fixture
def landlock() -> None:
    from pledgepy.backends.linux.landlock import abi

    if not abi.current().available:
        pytest.skip("no Landlock")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory uid 65534 may use (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        yield Path(d)


def values(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_strict_unveil_then_a_pledge_that_closes_its_gaps(shared: Path) -> None:
    tmp_path = shared
    (tmp_path / "a.txt").write_text("hello\n")
    code = HEAD + f"""
pledgepy.unveil({str(tmp_path)!r}, "r", strict=True)     # not in force yet: no gap yet
show("added", "yes")
pledgepy.pledge("stdio rpath", strict=True)         # no fattr, no unix: closed
st = pledgepy.status()
show("level", st.level + "/" + st.unveil.level)
show("read", open({str(tmp_path / "a.txt")!r}).read().strip())
try:
    open("/etc/hostname")
except PermissionError:
    show("outside", "hidden")
"""
    r = run(code, unprivileged=True)
    assert values(r.stdout) == {"added": "yes", "level": "full/full", "read": "hello",
                                "outside": "hidden"}, r.explain()


def test_the_readme_example_under_pledgepy_strict(tmp_path: Path) -> None:
    code = HEAD + f"""
pledgepy.unveil({str(tmp_path)!r}, "r")      # the rest of the filesystem disappears
pledgepy.pledge("stdio rpath inet")   # and only these kinds of syscalls remain
show("ok", pledgepy.status().level)
"""
    r = run(code, env={"PLEDGEPY_STRICT": "1"})
    assert values(r.stdout) == {"ok": "full"}, r.explain()


def test_unveil_then_pledge_with_write_promises_under_strict(shared: Path) -> None:
    tmp_path = shared
    code = HEAD + f"""
pledgepy.unveil({str(tmp_path)!r}, "rwc", strict=True)
pledgepy.pledge("stdio rpath wpath cpath", strict=True)
with open({str(tmp_path / "out")!r}, "w") as f:
    f.write("x")
show("wrote", os.path.getsize({str(tmp_path / "out")!r}))
"""
    r = run(code, unprivileged=True)
    assert values(r.stdout) == {"wrote": "1"}, r.explain()


def test_a_gap_the_pledge_keeps_still_raises_at_the_pledge(tmp_path: Path) -> None:
    code = HEAD + f"""
pledgepy.unveil({str(tmp_path)!r}, "r", strict=True)
try:
    pledgepy.pledge("stdio rpath fattr")       # chmod() outside the rules stays possible
    show("pledged", "yes")
except UnsupportedError as e:
    show("refused", "chmod()" in str(e))
st = pledgepy.status()
show("changed", (st.promises, st.unveil.locked))
"""
    r = run(code)
    assert values(r.stdout) == {"refused": "True", "changed": "(None, False)"}, r.explain()


def test_lock_without_any_pledge_still_raises(tmp_path: Path) -> None:
    code = HEAD + f"""
pledgepy.unveil({str(tmp_path)!r}, "r", strict=True)
try:
    pledgepy.unveil()          # in force now, with every syscall still allowed
    show("locked", "yes")
except UnsupportedError as e:
    show("refused", "chmod()" in str(e))
show("state", pledgepy.status().unveil.locked)
"""
    r = run(code)
    assert values(r.stdout) == {"refused": "True", "state": "False"}, r.explain()


def test_strict_at_the_lock_alone_judges_the_promises_in_force(tmp_path: Path) -> None:
    # pledge first (keeping unveil), then unveil and lock: judged with "stdio rpath unveil"
    code = HEAD + f"""
pledgepy.pledge("stdio rpath unveil")
pledgepy.unveil({str(tmp_path)!r}, "r", strict=True)
pledgepy.unveil(strict=True)
show("locked", pledgepy.status().unveil.locked)
"""
    r = run(code)
    assert values(r.stdout) == {"locked": "True"}, r.explain()


def test_best_effort_unveil_is_unchanged(tmp_path: Path) -> None:
    code = HEAD + f"""
import warnings
pledgepy.unveil({str(tmp_path)!r}, "r")
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    pledgepy.unveil()
show("warned", any("chmod()" in str(x.message) for x in w))
"""
    r = run(code)
    assert values(r.stdout) == {"warned": "True"}, r.explain()
