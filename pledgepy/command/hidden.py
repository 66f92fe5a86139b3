"""Which of PROG's arguments name paths its unveil hides: said when PROG fails.

Landlock answers a hidden path EACCES, which PROG prints as its own "Permission
denied" (OpenBSD's unveil says ENOENT), with nothing to tell the user that the
command hid it. Only after PROG has failed, and only for arguments that name an
existing path (relative ones from the working directory PROG started in) beneath no
``-v`` path and no file the promises' default unveil gives.
"""

from __future__ import annotations

import os

from . import discover

#: At most this many are named (a glob's hundred would drown the note).
SHOWN = 3


def _beneath(path: str, tops: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in tops)


def hidden(argv: list[str], promises: frozenset[str],
           unveils: tuple[tuple[str, str], ...]) -> list[str]:
    """The arguments of *argv* (PROG's own, not argv[0]) that name a path no rule
    unveils, as given."""
    given = [*unveils, *(rule for promise in ("", *sorted(promises))
                         for rule in discover.PROMISE_PATHS.get(promise, ()))]
    tops = [real for where, _ in given if (real := _real(where)) is not None]
    out: list[str] = []
    for arg in argv[1:]:
        if not arg or arg.startswith("-") or "\0" in arg:
            continue
        try:
            if not os.path.lexists(arg):
                continue
        except (OSError, ValueError):
            continue
        real = _real(arg)
        if real is not None and not _beneath(real, tops):
            out.append(arg)
    return out


def _real(path: str) -> str | None:
    """*path* resolved, or None: PROG, which ran, may have made it a chain of links
    longer than posixpath.realpath's recursion takes (RecursionError: the supervisor's
    failure, not PROG's status, would end the command)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError, RecursionError):
        return None


def note(prog: str, code: int, names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOWN]) + (" ..." if len(names) > SHOWN else "")
    return (f"{prog} exited with status {code}; arguments it was not given by unveil (it "
            f"gets EACCES, \"Permission denied\", there): {shown}; give them with -v PATH "
            "(-v rwc:PATH to write and create)")
