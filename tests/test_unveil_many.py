"""unveil_many(): the same rules as a loop of unveil(), checked all first, judged once.

Also ``api.lock_unveil_for(adding=...)``, the worker's add-and-lock in one step.
Every enforcing test runs in a child process.
"""

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

PRE = "from tests.programs.attempts import *  # noqa: F403\n"


def child(body: str) -> dict[str, str]:
    res: Result = run(PRE + textwrap.dedent(body))
    assert res.returncode == 0, res.explain()
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """tmp/a/{f, sub/g}, tmp/b/h, tmp/out."""
    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "f").write_text("a-f")
    (tmp_path / "a" / "sub" / "g").write_text("g")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "h").write_text("b-h")
    (tmp_path / "out").write_text("out")
    return tmp_path


RULES = [("a", "r"), ("b/h", "r"), ("out", ""), ("b/h", "rw"), ("a/sub/g", "r")]

CHECKS = """
        show("a_f", attempt(read, T + "/a/f"))
        show("sub_g", attempt(read, T + "/a/sub/g"))
        show("h_write", attempt(write, T + "/b/h", "y", "a"))
        show("b_list", attempt(os.listdir, T + "/b"))
        show("out", attempt(read, T + "/out"))
        show("tmp_list", attempt(os.listdir, T))
        st = pledgepy.status().unveil
        show("rules", [(p.removeprefix(T), m) for p, m in st.rules])
        show("state", (st.locked, st.in_force, st.level))
"""


@pytest.mark.parametrize("how", ["loop", "many"])
def test_same_rules_as_a_loop(tree: Path, how: str) -> None:
    rules = [(str(tree / p), m) for p, m in RULES]
    add = (f"for p, m in {rules!r}:\n            pledgepy.unveil(p, m)" if how == "loop"
           else f"pledgepy.unveil_many({rules!r})")
    v = child(f"""
        T = {str(tree)!r}
        {add}
        pledgepy.unveil(None, None)
    """ + CHECKS)
    # the later rule for b/h replaced the earlier one, in its place; "" hides out
    assert v == {"a_f": "ok", "sub_g": "ok", "h_write": "ok", "b_list": "EACCES",
                 "out": "EACCES", "tmp_list": "EACCES",
                 "rules": "[('/a', 'r'), ('/b/h', 'rw'), ('/out', ''), ('/a/sub/g', 'r')]",
                 "state": "(True, True, 'partial')"}  # unpledged: chmod, unix connect


def test_bad_input_changes_nothing(tree: Path) -> None:
    v = child(f"""
        T = {str(tree)!r}
        pledgepy.unveil(T + "/a", "r")
        def kind(*a, **kw):
            try:
                pledgepy.unveil_many(*a, **kw)
            except Exception as e:
                return type(e).__name__
            return "ok"
        good = (T + "/b", "r")
        show("letters", kind([good, (T + "/out", "rz")]))
        show("missing", kind([good, (T + "/no/such", "r")]))
        show("none", kind([good, (None, None)]))
        show("triple", kind([good, (T + "/out", "r", "x")]))
        show("string", kind(T + "/out"))
        show("bytes", kind([good, (T.encode() + b"/out", "r")]))
        show("nul", kind([good, (T + "/out\\0", "r")]))
        show("strict_union", kind([good, (T + "/a/sub", "")], strict=True))
        show("empty", kind([]))
        show("rules", [(p.removeprefix(T), m) for p, m in pledgepy.status().unveil.rules])
        pledgepy.unveil(None, None)
        show("b", attempt(read, T + "/b/h"))  # no failed call added it
        show("a", attempt(read, T + "/a/f"))
        show("locked", kind([(T + "/b", "r")]))
        show("locked_empty", kind([]))
    """)
    assert v == {"letters": "ValueError", "missing": "FileNotFoundError", "none": "ValueError",
                 "triple": "TypeError", "string": "TypeError", "bytes": "TypeError",
                 "nul": "ValueError", "strict_union": "UnsupportedError", "empty": "ok",
                 "rules": "[('/a', 'r')]", "b": "EACCES", "a": "ok", "locked": "PermissionError",
                 "locked_empty": "ok"}


def test_needs_the_unveil_promise(tree: Path) -> None:
    v = child(f"""
        T = {str(tree)!r}
        pledgepy.pledge("stdio rpath unveil")
        pledgepy.unveil_many([(T + "/a", "r")])
        pledgepy.pledge("stdio rpath")  # drops unveil: locks
        try:
            pledgepy.unveil_many([(T + "/b", "r")])
        except PermissionError as e:
            show("err", errno.errorcode[e.errno])
        show("a", attempt(read, T + "/a/f"))
        show("b", attempt(read, T + "/b/h"))
    """)
    assert v == {"err": "EPERM", "a": "ok", "b": "EACCES"}


def test_lock_unveil_for_adding(tree: Path) -> None:
    v = child(f"""
        from pledgepy import api
        T = {str(tree)!r}
        promises = frozenset({{"stdio", "rpath"}})
        try:
            api.lock_unveil_for(promises, adding=[(T + "/b", "r"), (T + "/no/such", "r")])
        except FileNotFoundError:
            show("bad", "FileNotFoundError")
        show("locked_after_bad", pledgepy.status().unveil.locked)
        api.lock_unveil_for(promises, adding=[(T + "/a", "r"), (T + "/a/f", "r")])
        st = pledgepy.status().unveil
        show("state", (st.locked, st.in_force, len(st.rules)))
        show("a", attempt(read, T + "/a/f"))
        show("b", attempt(read, T + "/b/h"))
        try:
            api.lock_unveil_for(promises, adding=[(T + "/b", "r")])
        except PermissionError as e:
            show("again", errno.errorcode[e.errno])
    """)
    assert v == {"bad": "FileNotFoundError", "locked_after_bad": "False",
                 "state": "(True, True, 2)", "a": "ok", "b": "EACCES", "again": "EPERM"}


def test_nested_rules_found_as_by_walking_up() -> None:
    """The batch's judgement looks only at rule paths above other rules; it must say
    exactly what walking up from each rule says, in the same order."""
    import random

    from pledgepy.backends.base import UnveilRule
    from pledgepy.backends.linux.landlock import unveil as uv

    rng = random.Random(5)
    parts = ["a", "b", "ab", "a-b", "a.b"]  # '-' and '.' sort between "a" and "a/"
    for _ in range(500):
        rules = [UnveilRule("/" + "/".join(rng.choice(parts) for _ in range(rng.randint(0, 4))),
                            "".join(c for c in "rwxc" if rng.random() < 0.4))
                 for _ in range(rng.randint(1, 20))]
        real: dict[str, list[UnveilRule]] = {}
        for rule in rules:
            real.setdefault(rule.path, []).append(rule)
        holders = uv._holders(real)
        for rule in rules:
            assert uv._nested_of(rule, rule.path, real, holders) == \
                uv._nested_of(rule, rule.path, real)


def test_refused_unveil_names_its_cause(tree: Path) -> None:
    """A pledge without "unveil" locks unveil (OpenBSD): the refusal says so, not only
    "locked"; a lock by unveil() with no arguments says that instead."""
    v = child(f"""
        T = {str(tree)!r}
        pledgepy.pledge("stdio rpath")
        try:
            pledgepy.unveil(T + "/a", "r")
        except PermissionError as e:
            show("pledged", str(e))
    """)
    assert 'needs the "unveil" promise' in v["pledged"], v
    assert "a pledge() without it locks unveil" in v["pledged"], v
    v = child(f"""
        T = {str(tree)!r}
        pledgepy.unveil(T + "/a", "r")
        pledgepy.unveil()
        try:
            pledgepy.unveil(T + "/b", "r")
        except PermissionError as e:
            show("locked", str(e))
    """)
    assert "by unveil() with no arguments" in v["locked"], v
