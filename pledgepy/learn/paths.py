"""The unveil list: the paths a run used, with their letters, collapsed sensibly.

A rule on a directory covers everything beneath it (Landlock, like unveil(2)),
so a path whose letters an ancestor's rule already grants is dropped. Read-only
(``r``) files are folded into their directory when at least :data:`FOLD` siblings
share the same letters (a library tree, a walked source tree), level by level,
but never into ``/`` or a directory directly under it (``/etc``, ``/tmp``, ``/proc``,
``/dev``, ``/home``: three files read there must not unveil ``/etc/shadow``, other
users' temporary files or every process's ``/proc`` entries). A path in a
directory the run creates or removes in is
folded into that directory (it may be gone when the policy is applied). A rule
needs an existing file: a missing path that was only read is dropped (opening
it fails with ENOENT either way), one that was written or created in gives its
letters to its nearest existing directory.
"""

from __future__ import annotations

import os

#: Siblings with the same read-only letters that become one directory rule.
FOLD = 3
ORDER = "rwxc"


_LETTERS: dict[str, str] = {}


def letters(text: str) -> str:
    got = _LETTERS.get(text)
    if got is None:
        got = _LETTERS[text] = "".join(c for c in ORDER if c in text)
    return got


def _lexists(path: str) -> bool:
    """os.path.lexists without its wrapper's cost (one call per path the run used)."""
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _up(path: str) -> str:
    """os.path.dirname of a normalised absolute path, without its general cost."""
    return path[:path.rfind("/")] or "/"


def _covered(path: str, perms: str, rules: dict[str, str]) -> bool:
    parent = _up(path)
    while True:
        have = rules.get(parent)
        if have is not None and all(c in have for c in perms):
            return True
        if parent in ("/", ""):
            return False
        parent = _up(parent)


def _prune(rules: dict[str, str]) -> dict[str, str]:
    return {p: v for p, v in rules.items() if not _covered(p, v, rules)}


def _into_created(rules: dict[str, str]) -> dict[str, str]:
    """Fold each path into its directory when the run creates or removes there:
    the path may not exist when the policy is applied, and a rule needs it to."""
    out = dict(rules)
    for path in sorted(rules, key=len, reverse=True):
        parent = _up(path)
        if path in out and "c" in out.get(parent, ""):
            out[parent] = letters(out[parent] + out.pop(path))
    return out


def _fold(rules: dict[str, str]) -> dict[str, str]:
    """One pass of folding read-only siblings into their directory."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path, perms in rules.items():
        parent = _up(path)
        # programs run (x) stay one by one; /etc, /tmp, /proc ... hold what no run asked for
        if perms == "r" and parent.count("/") > 1:
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
    rules: dict[str, str] = {}
    for path, perms in used.items():
        if not _lexists(path):
            if not set(perms) & set("wc"):
                continue  # a missing file that was only looked for
            while not _lexists(path) and path != "/":
                path = os.path.dirname(path)  # written where the run later removed
        if path != "/":
            have = rules.get(path)
            got = letters(perms if have is None else have + perms)
            if got:
                rules[path] = got
    while True:
        folded = _prune(_fold(_prune(_into_created(rules))))
        if folded == rules:
            break
        rules = folded
    given = given or {}
    out = [(p, v) for p, v in sorted(rules.items())
           if not (p in given and set(v) <= set(given[p])) and not _covered(p, v, given)]
    return out
