"""The exec wrappers at an unveil lock (round 9, issue 14): the lock no longer imports
subprocess, ctypes or socket for them; exec'd programs after the lock are still narrowed
and explained, and what is loaded late never comes from a planted module."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .childproc import run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux enforcement")

#: A lock whose rules hide the standard library and /proc: the wrappers are prepared then.
HIDING = """
import json, os, sys
import pledgepy
for path in {paths!r}:
    pledgepy.unveil(path, "rx")
pledgepy.unveil(None, None)
loaded = sorted(m for m in ("subprocess", "ctypes", "socket", "sysconfig") if m in sys.modules)
pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath exec prot_exec")
{spawn}
print(json.dumps({{"loaded": loaded, "status": status}}), flush=True)
"""

#: sh forks for the pipe: a violation of execpromises without proc, explained and aborted
PIPE = "true | true"

POSIX_SPAWN = f"""
pid = os.posix_spawn("/bin/sh", ["sh", "-c", {PIPE!r}], os.environ)
status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""

SUBPROCESS = f"""
import subprocess  # imported before the lock (first line): the program's own
status = subprocess.run(["/bin/sh", "-c", {PIPE!r}]).returncode
"""


def _hiding(tmp_path: Path, spawn: str, first: str = "") -> tuple[dict[str, object], str]:
    code = first + HIDING.format(paths=[str(tmp_path), "/bin", "/usr", "/lib", "/lib64"],
                                 spawn=spawn)
    r = run(code)
    assert r.returncode == 0, r.explain()
    got: dict[str, object] = json.loads(r.stdout.splitlines()[-1])
    return got, r.stderr


def test_posix_spawn_after_a_lock_is_narrowed_without_subprocess_loaded(
        tmp_path: Path) -> None:
    got, err = _hiding(tmp_path, POSIX_SPAWN)
    assert got["loaded"] == [], got  # main imported all four at the lock
    assert got["status"] == -6, got  # SIGABRT: narrowed to the execpromises
    assert 'needs "proc"' in err, err  # ... and explained by the explainer


def test_subprocess_imported_before_the_lock_is_wrapped_at_it(tmp_path: Path) -> None:
    got, err = _hiding(tmp_path, SUBPROCESS, first="import subprocess\n")
    assert got["loaded"] == ["subprocess"], got
    assert got["status"] == -6, got
    assert 'needs "proc"' in err, err


def test_subprocess_imported_after_the_lock_is_wrapped_when_imported(tmp_path: Path) -> None:
    """Rules that keep the standard library readable but hide /proc: the wrappers are
    prepared at the lock, without subprocess; the program imports it afterwards and
    its children are still narrowed and explained (the import hook wraps it)."""
    code = f"""
import os, sys
import pledgepy
for path in {[str(tmp_path), "/bin", "/usr", "/lib", "/lib64"]!r} + [os.path.dirname(os.__file__)]:
    pledgepy.unveil(path, "rx")
pledgepy.unveil(None, None)
print("subprocess" in sys.modules, flush=True)
import subprocess
pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath exec prot_exec")
print(subprocess.run(["/bin/sh", "-c", {PIPE!r}]).returncode, flush=True)
"""
    r = run(code)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["False", "-6"], r.explain()  # main: True (loaded at the lock)
    assert 'needs "proc"' in r.stderr, r.explain()


#: Standard names pledgepy loaded (or had subprocess load) for the wrappers at a pledge
#: that follows a lock: each planted copy leaves a mark if it ever runs.
PLANTED = ("subprocess", "signal", "selectors", "select", "fcntl", "mmap", "_socket",
           "socket", "ctypes", "_posixsubprocess", "sysconfig", "locale",
           "_sysconfigdata__linux_x86_64-linux-gnu", "_sysconfigdata__x86_64-linux-gnu")


def test_a_module_planted_on_sys_path_after_the_lock_is_never_loaded(
        tmp_path: Path) -> None:
    """The lock keeps the wrappers loadable, so they are prepared at the pledge that
    holds exec; by then the working directory (first on sys.path for -c) is writable
    under the rules and holds a module of each standard name the wrappers need. Main
    imported subprocess (and through it signal, selectors, ...) through sys.path there."""
    work = tmp_path / "work"
    work.mkdir()
    mark = tmp_path / "marks"
    code = f"""
import os, sys
import pledgepy
pledgepy.unveil("/", "rx")
pledgepy.unveil({str(tmp_path)!r}, "rwc")
pledgepy.unveil(None, None)
for name in {PLANTED!r}:  # planted after the lock, as a sandboxed program could
    with open(name + ".py", "w") as f:
        f.write(f"open({str(mark)!r}, 'a').write({{name!r}} + ' ')\\n")
pledgepy.pledge("stdio rpath wpath cpath proc exec prot_exec", "stdio rpath exec prot_exec")
pid = os.posix_spawn("/bin/sh", ["sh", "-c", {PIPE!r}], os.environ)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
    r = run(code, cwd=work)
    marks = mark.read_text() if mark.exists() else ""
    assert marks == "", f"planted modules ran inside pledge(): {marks}\n{r.explain()}"
    assert r.returncode == 0, r.explain()
    assert r.stdout.split()[-1] == "-6", r.explain()  # narrowed, explained
    assert 'needs "proc"' in r.stderr, r.explain()


INCREMENTAL = """
import json, os
import pledgepy
from pledgepy import api
from pledgepy.backends.linux.landlock import unveil as U
calls = {{"stat": 0}}
real = U._stat
def counted(path):
    calls["stat"] += 1
    return real(path)
U._stat = counted
paths = {paths!r}
for i, path in enumerate(paths):
    pledgepy.unveil(path, ("r", "rx", "x", "rwc", "")[i % 5])
pledgepy.unveil(paths[3], "r")  # replaces a rule: not an append
pledgepy.unveil_many([(paths[7], "c"), (paths[1] + "/missing", "r")])
got = pledgepy.status().unveil
U._forget()  # judged afresh, as the lock does
fresh = U.gaps(api._rules(), False)
print(json.dumps({{"stats": calls["stat"], "same": [list(got.not_enforced), list(got.notes)]
                  == [list(fresh.not_enforced), list(fresh.notes)], "rules": len(api._rules()),
                  "notes": len(got.notes)}}))
"""


def test_each_unveil_judges_only_the_rules_it_adds(tmp_path: Path) -> None:
    """100 unveil() calls used to look at 5,000 rules (each call judged the whole set):
    now each judges its own, and what status() reports is what a fresh judgement says."""
    paths = []
    for i in range(100):
        p = tmp_path / f"d{i}"
        if i % 7 == 0:
            p.write_text("")  # a file: 'c' on it is noted
        else:
            p.mkdir()
        paths.append(str(p))
    r = run(INCREMENTAL.format(paths=paths))
    assert r.returncode == 0, r.explain()
    got = json.loads(r.stdout.splitlines()[-1])
    assert got["same"], got
    assert got["rules"] == 101 and got["notes"] > 20, got
    assert got["stats"] < 400, got  # main: ~5,300


def test_the_spawners_requests_are_packed_as_struct_packs_them() -> None:
    """spawner.py packs its requests without struct (a dlopen at every unveil lock)."""
    import random
    import struct

    from pledgepy.backends.linux.exec import spawner

    rng = random.Random(9)
    ranges = {"I": (0, 2**32 - 1), "i": (-2**31, 2**31 - 1), "Q": (0, 2**64 - 1)}
    for layout in ("<II", "<IIQII", "<IIi", "<IIiiiiiiQQIIII", "<I", "<ii", "<IIQQ"):
        for _ in range(50):
            values = [rng.choice([lo, hi, rng.randint(lo, hi)])
                      for lo, hi in (ranges[c] for c in layout[1:])]
            assert spawner._pack(layout, *values) == struct.pack(layout, *values)
    with pytest.raises(OverflowError):
        spawner._pack("<I", -1)
