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

from ..promises import VOCABULARY, parse
from . import cover

if TYPE_CHECKING:
    from ..backends.base import Checkpoint, Observation

#: Promises that change how violations end, not what is allowed: never "unused".
NOT_USED_BY_CALLS = frozenset({"error"})
IMPORTED = (".py", ".pyc", ".so", "/__pycache__", "/__init__.py")


def _ways(o: Observation) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(w) for w in o.needs)


def _extra(o: Observation, held: frozenset[str]) -> list[str]:
    """The fewest promises *o* needs beyond *held* (vocabulary order)."""
    best = min((w - held for w in _ways(o)),
               key=lambda w: (len(w), sorted(map(VOCABULARY.index, w))))
    return [p for p in VOCABULARY if p in best]


def _hint(o: Observation, where: str | None) -> str | None:
    path = o.argument.split(" ")[0]
    if o.syscall in ("mmap", "mprotect") and "PROT_EXEC" in o.argument:
        return f"loading an extension module: import it before the pledge() at {where}"
    if o.syscall not in ("open", "openat", "stat", "newfstatat", "statx", "getdents64"):
        return None
    if any(part in path for part in IMPORTED):
        return f"a lazy import: import the module before the pledge() at {where}"
    if path.startswith("/"):
        return f"a file read: read {path} before the pledge() at {where}, or keep rpath"
    return None


def advise(observations: list[Observation], checkpoints: list[Checkpoint]) -> list[dict[str, Any]]:
    """The report's "checkpoints": one entry per pledge() call with promises."""
    out: list[dict[str, Any]] = []
    pledges = [i for i, c in enumerate(checkpoints) if c.kind == "pledge" and c.promises is not None]
    for n, i in enumerate(pledges):
        cp = checkpoints[i]
        asked = parse(cp.promises, "promises") or frozenset()
        until = pledges[n + 1] if n + 1 < len(pledges) else len(checkpoints)
        after = [o for o in observations if o.interval > i]
        used: set[str] = set()
        for o in after:
            used |= cover.way(_ways(o), asked)
        if any(c.kind == "unveil" for c in checkpoints[i + 1:]):
            used.add("unveil")
        missing = []
        for o in sorted((o for o in after if o.interval <= until + 1 and o.needs
                         and not cover.way(_ways(o), asked)),
                        key=lambda o: (o.interval, o.syscall, o.argument)):
            if o.interval > until:
                continue  # governed by the next pledge()
            missing.append({"promise": " ".join(_extra(o, asked)), "syscall": o.syscall,
                            "argument": o.argument, "count": o.count, "where": o.where,
                            "hint": _hint(o, cp.where)})
        out.append({"where": cp.where, "asked": [p for p in VOCABULARY if p in asked],
                    "unused": [p for p in VOCABULARY
                               if p in asked - used - NOT_USED_BY_CALLS],
                    "missing": missing})
    return out


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
    return "\n".join(lines) + ("\n" if lines else "")
