"""The policy table as the build prepared it: what loading the backend reads instead of policy.py.

``native/build.py`` flattens ``policy.py`` (:func:`flatten`) into plain data (marshal,
format 4: ints, strings, tuples, frozensets, dicts; read alike by every Python 3)
and embeds it in the SIGSYS handler module beside the handler's own tables. It is
then covered by the module's digest: a module built from other sources than the
installed ones is refused (``NativeBuildError``) before anything reads it, and it
comes from the installed package only (no cache another process could write).
Without the native module the same data is flattened from ``policy.py`` at load:
slower, the same result.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

#: Raised into NativeBuildError by the loader when the embedded data has another shape.
VERSION = 1

_data: dict[str, Any] | None = None


def flatten() -> dict[str, Any]:
    """policy.py's tables as plain data (at build time, or at load without the native module).

    ``rules``: every rule of ``policy.all_rules()`` as (syscall, needs, args, hint, errno,
    why) with each Arg a plain tuple; ``placeholder``: whether a rule's tests name
    this process (filled in when a filter is built); per architecture, ``index``: each
    syscall (number, name, its rules' positions) in syscalls.py's order, and
    ``touches``: promise -> the positions in ``index`` of the syscalls whose rules name it.
    """
    from . import policy
    from .syscalls import BY_ARCH

    rules = policy.all_rules()
    by_name: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        by_name.setdefault(rule.syscall, []).append(i)
    arches: dict[str, Any] = {}
    for arch, numbers in BY_ARCH.items():
        index = tuple((nr, name, tuple(by_name.get(name, ()))) for name, nr in numbers.items())
        touches: dict[str, list[int]] = {}
        for k, (_, _, positions) in enumerate(index):
            for promise in sorted({p for i in positions for p in rules[i].needs}):
                touches.setdefault(promise, []).append(k)
        arches[arch] = {"index": index, "touches": {p: tuple(v) for p, v in touches.items()}}
    return {
        "version": VERSION,
        "rules": tuple((r.syscall, r.needs, tuple(tuple(a) for a in r.args), r.hint, r.errno,
                        r.why) for r in rules),
        "placeholder": tuple(any(v < 0 for a in r.args for v in a.values) for r in rules),
        "arches": arches,
        "enosys": frozenset(policy.ENOSYS),
        "paths": policy.PATHS,
        "duped": policy.DUPED,
        "no_meaning": policy.NO_MEANING,
    }


def serialized() -> bytes:
    """:func:`flatten` as the bytes the build embeds."""
    import marshal

    return marshal.dumps(flatten(), 4)


def data() -> dict[str, Any]:
    """The prepared tables: the native module's (checked against the installed sources
    by its loader), else flattened from policy.py now. Raises NativeBuildError (via
    native.load) when the module is stale."""
    global _data
    if _data is None:
        from . import native

        mod = native.load()
        got = None
        if mod is not None and hasattr(mod.lib, "pp_plan_data"):
            import marshal

            n = mod.ffi.new("size_t *")
            got = marshal.loads(mod.ffi.buffer(mod.lib.pp_plan_data(n), n[0]))
            if not isinstance(got, dict) or got.get("version") != VERSION:
                from ...errors import NativeBuildError

                raise NativeBuildError("the native SIGSYS handler's prepared policy has "
                                       f"another format; {native.REBUILD}")
        _data = got if got is not None else flatten()
    return _data


def paths() -> dict[str, tuple[tuple[str, str], ...]]:
    """policy.PATHS."""
    got: dict[str, tuple[tuple[str, str], ...]] = data()["paths"]
    return got
