"""Whether unveil rules leave procfs (and so ``/proc/<pid>/mem``) reachable.

Judged on the real filesystem, as Landlock binds rules: each rule's path with
symlinks followed. A rule reaches procfs when that file is on a procfs mount
(any mount point or bind mount: same device) or is a directory above a procfs
mount point (Landlock grants beneath, across mounts).
"""

from __future__ import annotations

import os
import stat

from ...base import UnveilRule

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable

#: The letters that matter for a process's memory: open it to read, or to write.
MEMORY_LETTERS = "rw"

_OCTAL = frozenset("01234567")


def _unescape(field: str) -> str:
    """Undo the kernel's octal escapes (``\\040``); re would import enum (start-up)."""
    if "\\" not in field:
        return field
    parts = field.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        if len(part) >= 3 and set(part[:3]) <= _OCTAL:
            out.append(chr(int(part[:3], 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[int, str]]:
    """``(st_dev, mount point)`` of every procfs mount this process can see."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split()
            if tail.split()[:1] == ["proc"] and len(fields) >= 5:
                major, minor = fields[2].split(":")
                found.append((os.makedev(int(major), int(minor)), _unescape(fields[4])))
    return found


def _above(directory: str, path: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory + "/")


def _above_any(real: str, procs: list[tuple[int, str]]) -> bool:
    return any(_above(real, point) for _, point in procs)


def reach(rules: tuple[UnveilRule, ...],
          stat_of: Callable[[str], os.stat_result] = os.stat) -> str:
    """The letters of :data:`MEMORY_LETTERS` with which *rules* reach procfs.

    *stat_of* is ``os.stat`` or one sharing the lookups the lock's judgement just
    made. Raises OSError when the mounts cannot be read (the caller assumes the worst).
    """
    procs = mounts()
    devices = {dev for dev, _ in procs}
    letters = ""
    wanted_of: dict[str, str] = {}  # permissions -> what they would add (to *letters*)
    for rule in rules:
        wanted = wanted_of.get(rule.permissions)
        if wanted is None:
            wanted = wanted_of[rule.permissions] = "".join(
                c for c in MEMORY_LETTERS if c in rule.permissions and c not in letters)
        if not wanted:
            continue
        try:
            st = stat_of(rule.path)
        except OSError:
            continue  # a missing file grants nothing when the rules take effect
        if st.st_dev in devices or (  # only a directory lies above a mount point
                stat.S_ISDIR(st.st_mode) and _above_any(os.path.realpath(rule.path), procs)):
            letters += wanted
            wanted_of.clear()
    return "".join(c for c in MEMORY_LETTERS if c in letters)
