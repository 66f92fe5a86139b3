"""allowed.served() keeps one prepared (paths, prefixes) pair per promise set (learn's
report asks it for every path a run used): the same answers as the allowance table's
plain reading, for every promise set and for paths in, under, beside and above each
allowance."""

from __future__ import annotations

import itertools

import pytest

from pledgepy.backends.linux.exec import allowed
from pledgepy.promises import VOCABULARY


def _plainly(path: str, promises: frozenset[str]) -> bool:
    if "rpath" in promises and path in allowed.SYSCONF:
        return False
    inside = any(path == a or path.startswith(a.rstrip("/") + "/")
                 for a in allowed.allowances(promises))
    return inside or "stdio" in promises and allowed._catalog(path)


def _paths() -> list[str]:
    roots = {a for p in VOCABULARY for a in allowed.allowances(frozenset({"stdio", p}))}
    out = ["/", "/etc", "/tmp/x", "/usr/share/locale/C/LC_MESSAGES/tar.mo",
           "/usr/share/locale/C/LC_MESSAGES/sub/tar.mo", *allowed.SYSCONF]
    for a in sorted(roots):
        base = a.rstrip("/") or "/"
        out += [base, base + "/", base + "/child", base + "x", base.rsplit("/", 1)[0] or "/"]
    return out


SETS = [frozenset(), frozenset({"stdio"}), frozenset({"stdio", "rpath"}),
        *(frozenset({"stdio", p}) for p in VOCABULARY),
        *(frozenset(c) for c in itertools.combinations(("stdio", "rpath", "dns", "getpw",
                                                         "tty"), 3))]


@pytest.mark.parametrize("promises", SETS, ids=lambda s: " ".join(sorted(s)) or "none")
def test_served_answers_as_the_table_reads(promises: frozenset[str]) -> None:
    paths = _paths()
    assert any(_plainly(p, promises) for p in paths) or "stdio" not in promises
    for path in paths:
        assert allowed.served(path, promises) is _plainly(path, promises), path
        assert allowed.served(path, promises) is _plainly(path, promises), path  # cached
