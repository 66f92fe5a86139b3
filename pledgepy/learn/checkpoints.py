"""Checkpoint advice: for each pledge() a learning program made, what to drop or move.

After a pledge() call the program holds only what it asked (later calls can
only narrow). A promise it asks but no later call uses can be dropped; a call
after it that needs a promise it dropped would be a violation (listed with its
file:line); a missing import or file read is better moved before the call.
Calls are attributed to checkpoints in the order the recorder saw them, so the
advice is exact for a single-threaded, single-process program and approximate
for one that forks or threads after pledging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..backends.base import MADE, REMOVED
from ..promises import VOCABULARY, parse
from . import cover, dump

if TYPE_CHECKING:
    from ..backends.base import Checkpoint, Observation

#: Promises that change how violations end, not what is allowed: never "unused".
NOT_USED_BY_CALLS = frozenset({"error"})
IMPORTED = (".py", ".pyc", ".so", "/__pycache__", "/__init__.py")


def _ways(o: Observation) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(w) for w in o.needs)


def _best(o: Observation, held: frozenset[str]) -> frozenset[str]:
    """The way of *o* needing the fewest promises beyond *held* (on a tie, the weaker)."""
    return min(_ways(o), key=lambda w: (len(w - held), sorted(map(VOCABULARY.index, w - held))))


def _extra(o: Observation, held: frozenset[str]) -> list[str]:
    """The fewest promises *o* needs beyond *held* (vocabulary order)."""
    best = _best(o, held) - held
    return [p for p in VOCABULARY if p in best]


def _hint(o: Observation, where: str | None, extra: list[str]) -> str | None:
    """How to avoid the violation *o* after the pledge() at *where*, which lacks *extra*."""
    path = o.argument.split(" ")[0]
    if o.syscall in ("mmap", "mprotect") and "PROT_EXEC" in o.argument:
        return f"loading an extension module: import it before the pledge() at {where}"
    if o.syscall not in ("open", "openat", "stat", "newfstatat", "statx", "getdents64"):
        return None
    if any(part in path for part in IMPORTED):
        return f"a lazy import: import the module before the pledge() at {where}"
    if path.startswith("/") and extra == ["rpath"]:
        return f"a file read: read {path} before the pledge() at {where}, or keep rpath"
    if path.startswith("/"):  # written or created: "read it before" would not do
        return (f"a file opened for writing or created: open {path} before the pledge() "
                f"at {where}, or keep {' '.join(extra)}")
    return None


def advise(observations: list[Observation], checkpoints: list[Checkpoint]) -> list[dict[str, Any]]:
    """The report's "checkpoints": one entry per pledge() call with promises."""
    out: list[dict[str, Any]] = []
    pledges = [i for i, c in enumerate(checkpoints) if c.kind == "pledge" and c.promises is not None]
    for n, i in enumerate(pledges):
        cp = checkpoints[i]
        asked = parse(cp.promises, "promises") or frozenset()
        until = pledges[n + 1] if n + 1 < len(pledges) else len(checkpoints)
        # a made or removed path's twin row (MADE, REMOVED) repeats its call: once is enough
        after = [o for o in observations
                 if o.interval > i and o.access != MADE and o.access != REMOVED]
        used: set[str] = set()
        for o in after:
            # a call the pledge lacks a promise for still uses the ones it holds of the
            # way the advice adds to (O_WRONLY|O_CREAT: "wpath cpath", wpath held and
            # cpath missing): wpath is not unused, dropping it as well would not do
            held = cover.way(_ways(o), asked)
            used |= held if held or not o.needs else _best(o, asked) & asked
        if any(c.kind == "unveil" for c in checkpoints[i + 1:]):
            used.add("unveil")
        missing = []
        for o in sorted((o for o in after if o.interval <= until + 1 and o.needs
                         and not cover.way(_ways(o), asked)),
                        key=lambda o: (o.interval, o.syscall, o.argument)):
            if o.interval > until:
                continue  # governed by the next pledge()
            extra = _extra(o, asked)
            missing.append({"promise": " ".join(extra), "syscall": o.syscall,
                            "argument": o.argument, "count": o.count, "where": o.where,
                            "hint": _hint(o, cp.where, extra)})
        out.append({"where": cp.where, "asked": [p for p in VOCABULARY if p in asked],
                    "unused": [p for p in VOCABULARY
                               if p in asked - used - NOT_USED_BY_CALLS],
                    "missing": missing})
    return out


def _effect(checkpoints: list[Checkpoint]) -> tuple[int, str] | None:
    """(index, "lock" or "pledge") of the checkpoint at which the unveil rules would
    take effect on Linux: the lock, or a pledge() without "unveil" after a rule."""
    ruled = False
    for i, c in enumerate(checkpoints):
        if c.kind == "unveil" and c.path is not None:
            ruled = True
        elif c.kind == "unveil":
            return i, "lock"
        elif ruled and c.promises is not None and "unveil" not in (
                parse(c.promises, "promises") or frozenset()):
            return i, "pledge"
    return None


def _rules_at(checkpoints: list[Checkpoint], until: int) -> dict[str, tuple[str, str | None]]:
    """path -> (letters, file:line) of the unveil() calls before *until* (the last
    call for a path wins, as unveil(2) replaces a path's permissions)."""
    import os

    rules: dict[str, tuple[str, str | None]] = {}
    for c in checkpoints[:until]:
        if c.kind == "unveil" and c.path is not None:
            rules[os.path.normpath(c.path)] = (c.permissions or "", c.where)
    return rules


def _ancestors(path: str) -> list[str]:
    out = [path]
    while path not in ("/", ""):
        path = path[:path.rfind("/")] or "/"
        out.append(path)
    return out


def _letters(access: str) -> str:
    return "".join(c for c in "rwxc" if c in access)


def _unveil_hint(o: Observation, lacking: str, kind: str, where: str | None) -> str:
    point = {"lock": "the lock", "pledge": "the pledge()"}.get(kind, "the lock")
    if any(part in (o.path or "") for part in IMPORTED):
        return f"a lazy import: import the module before {point} at {where}"
    return f"add unveil({o.path!r}, {lacking!r}) before {point} at {where}, or do this before it"


def advise_unveil(observations: list[Observation],
                  checkpoints: list[Checkpoint]) -> list[dict[str, Any]]:
    """The report's "unveil_checkpoints": the program's unveil() rules checked against
    the paths it used once they would be in force (see the README)."""
    found = _effect(checkpoints)
    ruled = [i for i, c in enumerate(checkpoints) if c.kind == "unveil" and c.path is not None]
    if not ruled:
        return []
    at, kind = found if found is not None else (ruled[-1], "none")
    rules = _rules_at(checkpoints, at + 1)
    used: dict[str, set[str]] = {p: set() for p in rules}
    denied: list[dict[str, Any]] = []
    for o in sorted((o for o in observations if o.interval > at and o.path and o.access),
                    key=lambda o: (o.interval, o.syscall, o.argument)):
        need = _letters(o.access)
        covering = [p for p in _ancestors(o.path or "/") if p in rules]
        granted = {c for p in covering for c in rules[p][0]}  # Landlock: the union
        for p in covering:
            used[p] |= set(need) & set(rules[p][0])
        lacking = "".join(c for c in need if c not in granted)
        if lacking:
            denied.append({"path": o.path, "needs": lacking, "syscall": o.syscall,
                           "argument": o.argument, "count": o.count, "where": o.where,
                           "hint": _unveil_hint(o, lacking, kind, checkpoints[at].where)})
    unused = [{"path": p, "permissions": v, "where": w}
              for p, (v, w) in rules.items() if not used[p]]
    wider = [{"path": p, "permissions": v, "used": _letters("".join(used[p])),
              "drop": "".join(c for c in v if c not in used[p]), "where": w}
             for p, (v, w) in rules.items() if used[p] and set(v) - used[p]]
    late = [{"path": c.path, "permissions": c.permissions, "where": c.where}
            for c in checkpoints[at + 1:] if c.kind == "unveil" and c.path is not None
            and kind == "lock"]
    return [{"where": checkpoints[at].where, "kind": kind,
             "rules": [[p, v] for p, (v, _) in rules.items()],
             "denied": denied, "unused": unused, "wider": wider, "after_lock": late}]


def unveil_text(entries: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for e in entries:
        what = {"lock": "unveil() lock", "pledge": "pledge() without unveil",
                "none": "last unveil() (never locked: nothing was hidden on Linux)"}[e["kind"]]
        lines.append(f"checkpoint {what} at {e['where']}: rules "
                     + ", ".join(f"{v or '-'} {p}" for p, v in e["rules"]))
        for d in e["denied"]:
            lines.append(f"  would be denied: {d['syscall']} {d['argument']} needs "
                         f"\"{d['needs']}\" on {d['path']} at {d['where']}")
            if d["hint"]:
                lines.append(f"    ({d['hint']})")
        for u in e["unused"]:
            lines.append(f"  never used afterwards (drop it): unveil({u['path']!r}, "
                         f"{u['permissions']!r}) at {u['where']}")
        for w in e["wider"]:
            lines.append(f"  wider than used: unveil({w['path']!r}, {w['permissions']!r}) at "
                         f"{w['where']} used only {w['used']!r}: drop {w['drop']!r}")
        for late in e["after_lock"]:
            lines.append(f"  after the lock (raises PermissionError): unveil({late['path']!r}, "
                         f"{late['permissions']!r}) at {late['where']}")
        if not (e["denied"] or e["unused"] or e["wider"] or e["after_lock"]):
            lines.append("  exactly what the rest of the run needs")
    return "\n".join(map(dump.printable, lines)) + ("\n" if lines else "")


def unveil_calls(checkpoints: list[Checkpoint]) -> list[dict[str, Any]]:
    """The program's unveil() calls, recorded (not analysed against paths)."""
    return [{"where": c.where, "path": c.path, "permissions": c.permissions}
            for c in checkpoints if c.kind == "unveil"]


def text(entries: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for e in entries:
        lines.append(f"checkpoint pledge(\"{' '.join(e['asked'])}\") at {e['where']}:")
        if e["unused"]:
            lines.append(f"  never used afterwards (drop them): {' '.join(e['unused'])}")
        for m in e["missing"]:
            lines.append(f"  would be a violation: {m['syscall']} {m['argument']} needs "
                         f"\"{m['promise']}\" at {m['where']}")
            if m["hint"]:
                lines.append(f"    ({m['hint']})")
        if not e["unused"] and not e["missing"]:
            lines.append("  exactly what the rest of the run needs")
    return "\n".join(map(dump.printable, lines)) + ("\n" if lines else "")
