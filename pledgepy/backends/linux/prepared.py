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
VERSION = 4

_data: dict[str, Any] | None = None


def flatten() -> dict[str, Any]:
    """policy.py's tables as plain data (at build time, or at load without the native module).

    Per architecture, marshalled apart (a process reads only its own): ``index``, each
    syscall as (number, name, its rules), in syscalls.py's order, a rule as
    ((syscall, needs, args, hint, errno, why), whether its tests name this process),
    each Arg a plain tuple; and ``touches``: promise -> the entries of ``index`` whose
    rules name it (the same objects: marshal keeps shared references).
    """
    import marshal

    from . import policy
    from .native import tables
    from .syscalls import BY_ARCH

    rules = policy.all_rules()
    by_name: dict[str, list[tuple[Any, bool]]] = {}
    for r in rules:
        raw = (r.syscall, r.needs, tuple(tuple(a) for a in r.args), r.hint, r.errno, r.why)
        placeholder = any(v < 0 for a in r.args for v in a.values)
        by_name.setdefault(r.syscall, []).append((raw, placeholder))
    arches: dict[str, bytes] = {}
    for arch, numbers in BY_ARCH.items():
        index = tuple((nr, name, tuple(by_name.get(name, ()))) for name, nr in numbers.items())
        touches: dict[str, list[Any]] = {}
        for entry in index:
            for promise in sorted({p for raw, _ in entry[2] for p in raw[1]}):
                touches.setdefault(promise, []).append(entry)
        arches[arch] = marshal.dumps((index, {p: tuple(v) for p, v in touches.items()},
                                      _shortcuts(index, frozenset(policy.ENOSYS))), 4)
    return {
        "version": VERSION,
        "arches": arches,
        "enosys": frozenset(policy.ENOSYS),
        "paths": policy.PATHS,
        "duped": policy.DUPED,
        "no_meaning": policy.NO_MEANING,
        # how the learn recorder names a call's key argument: native/tables.py's KEYS,
        # whose socket-option and ioctl names cost socket, enum and termios to work out
        "keys": tables.KEYS,
        "key_kinds": {"flags": tables.KEY_FLAGS, "enum": tables.KEY_ENUM, "int": tables.KEY_INT,
                      "signal": tables.KEY_SIGNAL},
        "hints": {"import": policy.IMPORT_HINT, "extension": policy.EXTENSION_HINT},
    }


def _shortcuts(index: tuple[Any, ...], enosys: frozenset[str]) -> tuple[Any, ...]:
    """What plan.build() needs besides *index*: every number in order; the syscalls
    whose rules are all unconditional allowances, grouped by the promises one of them
    needs (allowed when any group's are held, else a violation); the positions of the
    others (argument tests or refusals: decided rule by rule); and the numbers that
    fail with ENOSYS whatever is held."""
    simple: dict[frozenset[str], list[int]] = {}
    checked: list[int] = []
    for k, (nr, name, rules) in enumerate(index):
        if name in enosys or not rules:
            continue
        if all(not raw[2] and not raw[4] for raw, _ in rules):
            for needs in dict.fromkeys(raw[1] for raw, _ in rules):
                simple.setdefault(needs, []).append(nr)
        else:
            checked.append(k)
    return (tuple(nr for nr, _, _ in index), tuple((n, tuple(v)) for n, v in simple.items()),
            tuple(checked), tuple(nr for nr, name, _ in index if name in enosys))


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


def arch(name: str) -> tuple[Any, dict[str, Any], tuple[Any, ...]]:
    """(index, touches, shortcuts) of :func:`flatten` for architecture *name*."""
    import marshal

    got: tuple[Any, dict[str, Any], tuple[Any, ...]] = marshal.loads(data()["arches"][name])
    return got


def keys() -> dict[str, tuple[int, int, tuple[tuple[int, int, str], ...]]]:
    """native/tables.py's KEYS: syscall -> (argument shown, how, value names)."""
    got: dict[str, tuple[int, int, tuple[tuple[int, int, str], ...]]] = data()["keys"]
    return got


def paths() -> dict[str, tuple[tuple[str, str], ...]]:
    """policy.PATHS."""
    got: dict[str, tuple[tuple[str, str], ...]] = data()["paths"]
    return got
