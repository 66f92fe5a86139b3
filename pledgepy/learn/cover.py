"""The fewest promises that allow every recorded call (an exact set cover).

Each call may be allowed by several promise sets (``stat`` by any of rpath,
wpath, cpath, dpath; ``open(O_RDWR)`` only by "rpath wpath" together). Calls
with one way are forced; the rest are covered by the smallest extra set,
trying promises in the manual's order so the weaker word wins a tie, but
for rpath against dns or getpw: where the same cover with one of them in
rpath's place also does (/etc/passwd read: getpw or rpath), that one wins. The
allowance names exactly its files, with no unveil rule to add, and is what
OpenBSD's own programs pledge (id: "stdio getpw"); rpath reads whatever else
is unveiled. (Only against rpath: a socket inet or dns allows stays inet's.)
Likewise tmppath against wpath and cpath: where a create or unlink under /tmp/
(the command lets those run under tmppath, exec/tmpcreate.py) is covered as
well by tmppath in the place of one or both, tmppath wins (``rm /tmp/x``:
"stdio tmppath", not "stdio cpath" with ``-v c:/tmp``): it reaches /tmp alone
and needs no rule beyond the default unveil's. OpenBSD's own mktemp pledges
"stdio rpath wpath cpath"; fewer promises and the narrower one is this
project's rule.
"""

from __future__ import annotations

from itertools import combinations

from ..promises import VOCABULARY

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable

    Ways = frozenset[frozenset[str]]


#: Promises preferred to rpath in a cover of the same size (see the module's docstring).
FIRST = ("dns", "getpw")


def _instead_of_rpath(held: frozenset[str], extra: tuple[str, ...],
                      left: list[Ways]) -> frozenset[str]:
    """*held* with rpath (one of the *extra* chosen) swapped for dns or getpw when that
    still allows every call *left*; else *held*."""
    if "rpath" not in extra:
        return held
    for promise in FIRST:
        if promise in held:
            continue
        other = held - {"rpath"} | {promise}
        if all(_allowed(ways, other) for ways in left):
            return other
    return held


def _tmppath_instead(held: frozenset[str], extra: tuple[str, ...],
                     left: list[Ways]) -> frozenset[str]:
    """*held* with wpath, cpath or both (those of the *extra* chosen) swapped for tmppath
    when that still allows every call *left*; else *held*."""
    if "tmppath" in held:
        return held
    chosen = frozenset(extra) & {"wpath", "cpath"}
    for drop in (chosen, *(frozenset({p}) for p in sorted(chosen))):
        other = held - drop | {"tmppath"}
        if drop and all(_allowed(ways, other) for ways in left):
            return other
    return held


def _allowed(ways: Ways, held: frozenset[str]) -> bool:
    return any(w <= held for w in ways)


def minimal(calls: Iterable[Ways], base: frozenset[str] = frozenset()) -> frozenset[str]:
    """The smallest promise set holding *base* under which each of *calls* has a way
    (calls no promise allows, empty ways, are left out: nothing covers them)."""
    needed = {ways for ways in calls if ways and not _allowed(ways, base)}
    forced = base | frozenset(p for ways in needed if len(ways) == 1 for w in ways for p in w)
    left = [ways for ways in needed if not _allowed(ways, forced)]
    if not left:
        return forced
    pool = sorted({p for ways in left for w in ways for p in w} - forced, key=VOCABULARY.index)
    for size in range(1, len(pool) + 1):
        for extra in combinations(pool, size):
            held = forced | frozenset(extra)
            if all(_allowed(ways, held) for ways in left):
                held = _instead_of_rpath(held, extra, left)
                return _tmppath_instead(held, tuple(p for p in extra if p in held), left)
    raise AssertionError("unreachable: the whole pool covers every call")


def way(ways: Ways, held: frozenset[str]) -> frozenset[str]:
    """The smallest of *ways* that *held* allows (empty when none does)."""
    fits = sorted((w for w in ways if w <= held),
                  key=lambda w: (len(w), sorted(map(VOCABULARY.index, w))))
    return fits[0] if fits else frozenset()
