"""The unveil list: the paths a run used, with their letters, collapsed sensibly.

A rule on a directory covers everything beneath it (Landlock, like unveil(2)),
so a path whose letters an ancestor's rule already grants is dropped. Read-only
files are folded into their directory when at least :data:`FOLD` siblings
share the same letters (a library tree, a walked source tree), level by level,
but never into ``/``. Paths that no longer exist are dropped: a rule needs an
existing file, and opening a missing path fails with ENOENT either way.
"""

from __future__ import annotations

import os

#: Siblings with the same read-only letters that become one directory rule.
FOLD = 3
ORDER = "rwxc"


def letters(text: str) -> str:
    return "".join(c for c in ORDER if c in text)


def _covered(path: str, perms: str, rules: dict[str, str]) -> bool:
    parent = os.path.dirname(path)
    while True:
        if parent in rules and set(perms) <= set(rules[parent]):
            return True
        if parent in ("/", ""):
            return False
        parent = os.path.dirname(parent)


def _prune(rules: dict[str, str]) -> dict[str, str]:
    return {p: v for p, v in rules.items() if not _covered(p, v, rules)}


def _fold(rules: dict[str, str]) -> dict[str, str]:
    """One pass of folding read-only siblings into their directory."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path, perms in rules.items():
        parent = os.path.dirname(path)
        if set(perms) <= set("rx") and parent != "/":
            groups.setdefault((parent, perms), []).append(path)
    out = dict(rules)
    for (parent, perms), members in groups.items():
        if len(members) >= FOLD:
            for m in members:
                del out[m]
            out[parent] = letters(out.get(parent, "") + perms)
    return out


def collapse(used: dict[str, str], given: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``[path, letters]`` rules for *used* (path -> letters, ``"/"`` marks a
    directory read), without what *given* (the rules the command adds itself) covers."""
    rules = {p: letters(v) for p, v in used.items()
             if letters(v) and p != "/" and os.path.lexists(p)}
    while True:
        folded = _prune(_fold(_prune(rules)))
        if folded == rules:
            break
        rules = folded
    given = given or {}
    out = [(p, v) for p, v in sorted(rules.items())
           if not (p in given and set(v) <= set(given[p])) and not _covered(p, v, given)]
    return out
