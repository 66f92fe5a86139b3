"""The learn report: promises with evidence, the unveil list, the command to run."""

from __future__ import annotations

from ..backends.base import MADE, REMOVED
from ..promises import VOCABULARY
from . import cover, dump, paths

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..backends.base import Observation

    Answered = Callable[[str, frozenset[str]], bool]
    #: Why the command would not let tmppath's creates run with these promises and -v
    #: rules (the recorder's :meth:`tmppath`), None when it would.
    TmpRefusal = Callable[[frozenset[str], tuple[tuple[str, str], ...]], str | None]

    #: The command's own rules, or what gives them for a set of promises.
    Given = dict[str, str] | Callable[[frozenset[str]], dict[str, str]]

#: Evidence lines shown per promise in the text report (JSON has them all).
SHOWN = 3
GRANTED = ("every program needs it (the pledge command requires it): granted, its calls "
           "not recorded but for paths (--every-call records them)")
#: What the loader's calls before main are, in the text report.
LOADER_TEXT = ("before main, the loader's: the pledge command ends them there (not the "
               "program's needs)")


#: id(needs) -> (needs, ways): a few shapes for thousands of calls, each one object
#: (Recording.observations); the object is kept so its id cannot be reused.
_WAYS: dict[int, tuple[object, frozenset[frozenset[str]]]] = {}


def _ways(o: Observation) -> frozenset[frozenset[str]]:
    got = _WAYS.get(id(o.needs))
    if got is None or got[0] is not o.needs:
        got = _WAYS[id(o.needs)] = (o.needs, frozenset(frozenset(w) for w in o.needs))
    return got[1]


def _order(o: Observation) -> tuple[int, str, str]:
    """The evidence's order: the most made first, then by syscall and argument."""
    return (-o.count, o.syscall, o.argument)


def dumps(report: dict[str, Any]) -> str:
    """*report* as JSON, one list item a line (:mod:`.dump`: no json module to import)."""
    parts = []
    encode = dump.value
    for key, value in report.items():
        if isinstance(value, list) and value:
            body = ",\n".join(["    " + encode(item) for item in value])
            parts.append(f"  {encode(key)}: [\n{body}\n  ]")
        else:
            parts.append(f"  {encode(key)}: {encode(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def merge(observations: list[Observation]) -> list[Observation]:
    """The same call seen between different checkpoints, as one (first seen kept)."""
    out: dict[tuple[object, ...], Observation] = {}
    for o in observations:
        key = (o.syscall, o.argument, _ways(o), o.path, o.access)
        seen = out.get(key)
        out[key] = o if seen is None else seen._replace(count=seen.count + o.count,
                                                        where=seen.where or o.where)
    return list(out.values())


def build(observations: list[Observation], argv: list[str], given: Given,
          audited: frozenset[str] | None = None,
          granted: frozenset[str] = frozenset(), phase: Any = None,
          home: str | None = None, answered: Answered | None = None,
          tmp_refusal: TmpRefusal | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the README's "Finding the right promises").

    *given*: the unveil rules the pledge command adds itself (path -> letters, the
    program first), or what gives them for the learned promises;
    *audited*: the promises the run was held to (audit mode), None when learning;
    *granted*: promises the run had without its calls being recorded;
    *phase*: the recorder's loader phase (its ``calls`` the loader's before main);
    *home*: the run's ``$HOME`` (never unveiled whole, :mod:`.paths`);
    *answered*: whether the command serves a read of a path under some promises with
    no unveil rule (the recorder's :meth:`served`): such paths are not unveiled;
    *tmp_refusal*: why the command would not let tmppath's creates under /tmp run with
    the learned promises and -v rules (the recorder's :meth:`tmppath`); when it would
    not, the report is made again without tmppath's way for them. Without it, tmppath
    is never the way of such a call.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()  # one row per path: no cycles, and collections cost a tenth of the time
    try:
        result = _build(observations, argv, given, audited, granted, phase, home, answered)
        if "tmppath" not in result["promises"]:
            return result
        why = tmp_refusal(frozenset(result["promises"]), tuple(
            (p, v) for p, v in result["unveil"])) if tmp_refusal is not None else "unknown"
        if why is None:
            return result
        # the command would refuse what tmppath was learned for: learned without it
        result = _build(_without_tmppath(observations), argv, given, audited, granted, phase,
                        home, answered)
        if tmp_refusal is not None:
            result["notes"].append(f"not tmppath for the creates under /tmp: {why}")
        return result
    finally:
        if enabled:
            gc.enable()


def _without_tmppath(observations: list[Observation]) -> list[Observation]:
    """*observations* with tmppath's own way (the recorder's, for a create under /tmp/)
    taken out of each call's needs."""
    stripped: dict[int, tuple[list[str], ...]] = {}
    out = []
    for o in observations:
        needs = stripped.get(id(o.needs))
        if needs is None:
            needs = stripped[id(o.needs)] = tuple(w for w in o.needs if list(w) != ["tmppath"])
        out.append(o._replace(needs=needs))
    return out


def _loader(phase: Any, argv: list[str]) -> dict[str, Any]:
    """The loader's phase for the report: how it ended and its calls, by promise."""
    if phase is None or not phase.shim:
        return {"ended": "exec", "calls": []}
    calls: list[dict[str, Any]] = []
    for o in sorted(phase.calls, key=lambda o: (-o.count, o.syscall, o.argument)):
        ways = sorted((w for w in o.needs if set(w) <= {"stdio", "rpath", "prot_exec"}),
                      key=lambda w: (len(w), sorted(map(VOCABULARY.index, w))))
        promise = next((p for p in reversed(VOCABULARY) if ways and p in ways[0]), "stdio")
        calls.append({"promise": promise, "syscall": o.syscall, "argument": o.argument,
                      "count": o.count, "program": o.program, "pid": o.pid})
    ended = "main" if phase.ready_after is not None else None
    return {"ended": ended, "calls": calls}


def _build(observations: list[Observation], argv: list[str], given: Given,
           audited: frozenset[str] | None, granted: frozenset[str],
           phase: Any = None, home: str | None = None,
           answered: Answered | None = None) -> dict[str, Any]:
    observations = merge(observations)
    # a few shapes (Recording.observations: one needs object per shape) for thousands of
    # calls: each looked at once; the list keeps the objects, so their ids stay theirs
    shapes = {id(o.needs): o for o in observations}
    # every set holds stdio: the pledge command requires it (a program it runs needs it)
    base = (audited or frozenset()) | granted | {"stdio"}
    held = cover.minimal((_ways(o) for o in shapes.values()), base)
    evidence: list[dict[str, Any]] = [
        {"promise": p, "syscall": "(not recorded)", "argument": GRANTED, "count": None,
         "program": argv[0] if argv else "", "pid": None, "where": None}
        for p in VOCABULARY if p in granted]
    refused: list[dict[str, Any]] = []
    used: dict[str, str] = {}
    ways_of: dict[frozenset[frozenset[str]], tuple[str, ...]] = {}
    by_shape: dict[int, tuple[str, ...]] = {}

    def way(o: Observation) -> tuple[str, ...]:
        """The promises *o* is evidence for, in the manual's order (once per shape)."""
        got = by_shape.get(id(o.needs))
        if got is None:
            ways = _ways(o)
            got = ways_of.get(ways)
            if got is None:
                got = ways_of[ways] = tuple(sorted(cover.way(ways, held), key=VOCABULARY.index))
            by_shape[id(o.needs)] = got
        return got

    def served(path: str) -> bool:
        """Whether the command lets this read through under *held* with no unveil rule
        (a file of an allowance it answers itself: /etc/passwd under getpw)."""
        return answered is not None and answered(path, held)

    for o in sorted(observations, key=_order):
        syscall, argument, needs, path, access, count, pid, program, where, _ = o
        if (access == MADE or access == REMOVED) and path is not None:
            used[path] = used.get(path, "") + access  # its call's row is the evidence
            continue
        if not needs:
            refused.append({"syscall": syscall, "argument": argument, "count": count,
                            "program": program, "pid": pid, "where": where})
        if audited is None or not cover._allowed(_ways(o), audited):
            for promise in way(o):  # an audit's evidence: what the asked ones refuse
                if audited is None or promise not in audited:
                    evidence.append({"promise": promise, "syscall": syscall,
                                     "argument": argument, "count": count,
                                     "program": program, "pid": pid, "where": where})
        if path is not None and access and not (access == "r" and served(path)):
            used[path] = used.get(path, "") + access
    promises = [p for p in VOCABULARY if p in held]
    first: dict[str, str] = {}
    for o in observations:  # in the order first seen
        if o.where:
            for promise in way(o):
                if promise not in first:
                    first[promise] = o.where
    for o in phase.calls if phase is not None else ():
        # what the loader read is unveiled as well, but for its library directories: the
        # command unveils the libraries the loader maps, and what else this run's shim
        # loaded there (NSS modules) its own shim loads, and unveils, when it needs them
        if o.path is not None and o.access and not paths.beneath(o.path, paths.LOADER_DIRS):
            used[o.path] = used.get(o.path, "") + o.access
    rules = given if isinstance(given, dict) else given(frozenset(promises))
    made: list[str] = []  # what the unveil list grants beyond the run's need, and why
    unveil = paths.collapse(used, rules, home, notes=made)  # none: the command's own (not -V)
    words = ["pledge", "-p", " ".join(promises)]
    for path, perms in unveil:
        words += ["-v", f"{perms}:{path}"]
    report: dict[str, Any] = {
        "promises": promises,
        "unveil": [[p, v] for p, v in unveil],
        "evidence": evidence,
        "refused": refused,
        "command": dump.join([*words, *argv]),
        "command_words": [*words, *argv],  # the same, unquoted
    }
    report["loader"] = _loader(phase, argv)
    report["notes"] = list(dict.fromkeys(made))
    if first:
        report["first_needed"] = {p: first[p] for p in promises if p in first}
    if audited is not None:
        report["audit"] = {"asked": [p for p in VOCABULARY if p in audited],
                           "missing": [p for p in promises if p not in audited]}
    return report


def text(report: dict[str, Any], heading: str) -> str:
    """The report for a person."""
    lines = [heading]
    audit = report.get("audit")
    if audit is not None:
        missing = " ".join(audit["missing"]) or "(none)"
        lines.append(f"audit of \"{' '.join(audit['asked'])}\": would refuse calls needing "
                     f"{missing}")
    lines.append(f"promises: {' '.join(report['promises']) or '(none)'}")
    for promise in report["promises"]:
        rows = [e for e in report["evidence"] if e["promise"] == promise]
        if audit is not None and promise not in audit["missing"]:
            continue
        for e in rows[:SHOWN]:
            at = f" at {e['where']}" if e["where"] else ""
            if e["count"] is None:
                lines.append(f"  {promise:<10} {e['argument']}")
                continue
            lines.append(f"  {promise:<10} {e['syscall']} {e['argument']}".rstrip()
                         + f"  x{e['count']} ({e['program']}[{e['pid']}]){at}")
        if report.get("first_needed", {}).get(promise):
            lines.append(f"  {promise:<10} first needed in your code at "
                         f"{report['first_needed'][promise]}")
        if len(rows) > SHOWN:
            lines.append(f"  {promise:<10} ... and {len(rows) - SHOWN} more")
    for e in report["refused"]:
        lines.append(f"  no promise allows {e['syscall']} {e['argument']}".rstrip()
                     + f"  x{e['count']} ({e['program']}[{e['pid']}])")
    early = report.get("loader", {}).get("calls", [])
    if early:
        counts: dict[str, int] = {}
        for e in early:
            counts[e["promise"]] = counts.get(e["promise"], 0) + e["count"]
        shown = ", ".join(f"{p} x{counts[p]}" for p in VOCABULARY if p in counts)
        lines.append(f"  {'(loader)':<10} {shown}: {LOADER_TEXT}")
    lines.extend(f"note: {n}" for n in report.get("notes", ()))
    lines.append("unveil:")
    lines.extend(f"  {perms:<4} {path}" for path, perms in report["unveil"])
    lines.append("command:")
    words = report.get("command_words")
    lines.append(f"  {dump.shell_join(words) if words else report['command']}")
    return "\n".join(map(dump.printable, lines)) + "\n"

