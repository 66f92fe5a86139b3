"""The naming finder a pledge without rpath puts first on sys.meta_path changes nothing the
import system would find (r9 attack review): a program's finder that asks the meta path
itself, a legacy finder before the path finder."""

from __future__ import annotations

import sys

import pytest

from tests.pledged import under

_DELEGATING = """
class Delegating:
    def find_spec(self, name, path=None, target=None):
        for f in sys.meta_path:
            if f is self or not hasattr(f, "find_spec"):
                continue
            spec = f.find_spec(name, path, target)
            if spec is not None:
                return spec
        return None
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_finder_asking_the_meta_path_itself_still_finds(when: str) -> None:
    """It used to ask the naming finder, which asked it back: RecursionError for every
    import, built-in modules included."""
    insert = "sys.meta_path.insert(0, Delegating())\n"
    r = under("stdio", (insert if when == "after" else "")
              + "import _symtable, _tracemalloc\nprint(_symtable.__spec__.origin)\n",
              setup="import sys\n" + _DELEGATING + (insert if when == "before" else ""))
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["built-in"], r.explain()


def test_a_finder_put_before_it_is_asked_once() -> None:
    body = """
class Counting:
    calls = 0
    def find_spec(self, name, path=None, target=None):
        if name == "_symtable":
            Counting.calls += 1
        return None
sys.meta_path.insert(0, Counting())
import _symtable
print(Counting.calls)
"""
    r = under("stdio", body, setup="import sys")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["1"], r.explain()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 dropped find_module finders")
def test_a_legacy_finder_keeps_its_place() -> None:
    """A find_module finder before the path finder serves the module; the naming finder
    asked the path finder first (a violation without rpath)."""
    setup = """
import sys, types, warnings
warnings.simplefilter("ignore")
class Legacy:
    def find_module(self, name, path=None):
        return self if name == "colorsys" else None
    def load_module(self, name):
        m = types.ModuleType(name)
        m.WHO = "legacy"
        sys.modules[name] = m
        return m
sys.meta_path.insert(0, Legacy())
"""
    r = under("stdio", "import colorsys\nprint(colorsys.WHO)\n", setup=setup)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["legacy"], r.explain()
