"""Start-up: what ``import pledgepy`` and a first pledge() load and do (never timings).

The standard library modules named here cost milliseconds each at start-up
(enum and re alone several); pledgepy's own path must not pull them in. Only
modules the child did not already hold are counted: an editable install's
finder loads pathlib at interpreter start-up, which is not pledgepy's doing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pledgepy.backends.linux.native import digest

from .childproc import run

#: Never loaded by import + pledge() of promises without exec (or by a narrowing).
HEAVY = ("typing", "dataclasses", "enum", "re", "pathlib", "urllib", "urllib.parse",
         "ipaddress", "fnmatch", "importlib.util", "contextlib", "threading", "subprocess",
         "functools", "hashlib", "struct", "importlib", "inspect", "ast", "traceback",
         "tempfile", "shutil", "ctypes", "selectors", "signal", "weakref")

LOADED = """
import json, sys
first = set(sys.modules)
import pledgepy
imported = set(sys.modules) - first
pledgepy.pledge({promises!r})
pledged = set(sys.modules) - first - imported
pledgepy.pledge({narrower!r})
narrowed = set(sys.modules) - first - imported - pledged
print(json.dumps({{"import": sorted(imported), "pledge": sorted(pledged),
                  "narrow": sorted(narrowed), "level": pledgepy.status().level}}))
"""


def _loaded(promises: str, narrower: str) -> dict[str, list[str]]:
    r = run(LOADED.format(promises=promises, narrower=narrower))
    assert r.returncode == 0, r.explain()
    got: dict[str, list[str]] = json.loads(r.stdout)
    return got


@pytest.mark.parametrize(("promises", "narrower"), [
    ("stdio rpath", "stdio"),
    ("stdio rpath wpath", "stdio rpath"),
    ("stdio rpath wpath cpath inet dns unix", "stdio rpath"),
    ("stdio rpath wpath prot_exec", "stdio rpath wpath"),
])
def test_import_and_first_pledge_load_no_heavy_stdlib_module(promises: str, narrower: str) -> None:
    got = _loaded(promises, narrower)
    for phase in ("import", "pledge"):
        heavy = sorted(set(got[phase]) & set(HEAVY))
        assert not heavy, f"{phase} loads {heavy}"
    # a narrowing that drops rpath loads threading for the program (see runtime.prepare)
    allowed = {"threading"} if "rpath" not in narrower else set()
    assert not set(got["narrow"]) & (set(HEAVY) - allowed), got["narrow"]


def test_import_alone_loads_no_backend() -> None:
    got = _loaded("stdio rpath", "stdio rpath")
    assert not [m for m in got["import"] if m.startswith("pledgepy.backends.linux")], got["import"]
    assert "_cffi_backend" not in got["import"]


def _tree(root: Path) -> None:
    for name in digest.SOURCES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode() * 10)
    old = time.time_ns() - 10 * digest.RACY_NS  # as if written well before the build
    for name in digest.SOURCES:
        os.utime(root / name, ns=(old, old))


def test_an_unchanged_stamp_skips_hashing(tmp_path: Path) -> None:
    _tree(tmp_path)
    stamp = digest.stamp(str(tmp_path), time.time_ns())
    assert stamp != digest.UNTRUSTED
    # a digest no file could give: returned only when the stamp was trusted
    assert digest.current("built", stamp, str(tmp_path)) == "built"


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_an_edit_of_the_same_size_is_hashed_and_caught(tmp_path: Path, keep_mtime: bool) -> None:
    _tree(tmp_path)
    built = digest.compute(str(tmp_path))
    stamp = digest.stamp(str(tmp_path), time.time_ns())
    policy = tmp_path / "backends/linux/policy.py"
    st = policy.stat()
    data = bytearray(policy.read_bytes())
    data[0] ^= 1
    if keep_mtime:  # a new file in its place (editors save so): another inode
        replacement = policy.with_suffix(".new")
        replacement.write_bytes(bytes(data))
        os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
        replacement.replace(policy)
    else:
        policy.write_bytes(bytes(data))
    assert policy.stat().st_size == st.st_size
    now = digest.current(built, stamp, str(tmp_path))
    assert now == digest.compute(str(tmp_path)) != built


def test_files_modified_just_before_the_build_are_never_trusted(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "promises.py").write_bytes(b"fresh")  # mtime: now
    stamp = digest.stamp(str(tmp_path), time.time_ns())
    assert stamp == digest.UNTRUSTED
    assert digest.current("built", stamp, str(tmp_path)) == digest.compute(str(tmp_path))


def test_a_copy_with_new_metadata_but_the_same_bytes_is_accepted(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _tree(a)
    _tree(b)  # same bytes, other inodes: as a wheel's files after installation
    stamp = digest.stamp(str(a), time.time_ns())
    assert digest.current(digest.compute(str(a)), stamp, str(b)) == digest.compute(str(a))


def test_unveils_nested_report_worked_out_per_rule_equals_the_whole(tmp_path: Path) -> None:
    import random

    from pledgepy.backends.base import UnveilRule
    from pledgepy.backends.linux.landlock import unveil

    names = ["a", "a/b", "a/b/c", "a/d", "e", "e/f", "g"]
    for name in names:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    names += ["link", "link/b", "a/b/c/../../d", "."]
    rng = random.Random(14)
    for _ in range(200):
        unveil._forget()
        rules: tuple[UnveilRule, ...] = ()
        for _ in range(rng.randint(1, 12)):
            path = str(tmp_path / rng.choice(names)) if rng.random() < 0.95 else "/"
            rules += (UnveilRule(path, "".join(c for c in "rwxc" if rng.random() < 0.5)),)
            step = unveil._nested(rules)
            unveil._memo = None
            assert step == unveil._nested(rules), rules
            if rng.random() < 0.15:
                rules = rules[:-1]  # refused (strict): the next call does not extend the last


def test_each_unveil_works_out_the_nesting_of_its_own_rule_only(tmp_path: Path) -> None:
    from pledgepy.backends.base import UnveilRule
    from pledgepy.backends.linux.landlock import unveil

    calls = []
    real_of = unveil._nested_of

    def counted(*args: object) -> list[str]:
        calls.append(args[0])
        return real_of(*args)  # type: ignore[arg-type]

    unveil._forget()
    rules: tuple[UnveilRule, ...] = ()
    try:
        unveil._nested_of = counted  # type: ignore[assignment]
        for i in range(50):
            (tmp_path / f"d{i}").mkdir()
            rules += (UnveilRule(str(tmp_path / f"d{i}"), "r"),)
            unveil._nested(rules)
    finally:
        unveil._nested_of = real_of  # type: ignore[assignment]
    assert len(calls) == 50  # not 50 * 51 / 2
