"""Memory this process could write and then run: writable and executable mappings.

Without ``prot_exec`` no new executable memory can be mapped, but mappings
that exist already stay: an anonymous ``rwx`` page (libffi's closures for
ctypes callbacks, JITs) or a shared writable mapping of a file that is also
mapped executable (a double-mapped trampoline) lets code be written and run.
"""

from __future__ import annotations


def writable_executable(maps: str = "/proc/self/maps") -> list[str]:
    """Each such mapping as ``"start-end perms name"`` (raises OSError if unreadable)."""
    with open(maps, encoding="utf-8", errors="replace") as f:
        rows = [line.split(maxsplit=5) for line in f]
    executable = {(r[3], r[4]) for r in rows if len(r) >= 5 and "x" in r[1] and r[4] != "0"}
    found = []
    for r in rows:
        if len(r) < 5 or "w" not in r[1]:
            continue
        aliased = "s" in r[1] and r[4] != "0" and (r[3], r[4]) in executable
        if "x" in r[1] or aliased:
            name = r[5].strip() if len(r) > 5 else "[anonymous]"
            found.append(f"{r[0]} {r[1]} {name}")
    return found


def executable_files(maps: str = "/proc/self/maps") -> list[str]:
    """Paths of the files mapped executable (program, libraries, extension modules)."""
    with open(maps, encoding="utf-8", errors="replace") as f:
        rows = [line.split(maxsplit=5) for line in f]
    seen: dict[str, None] = {}
    for r in rows:
        if len(r) == 6 and "x" in r[1] and r[5].startswith("/"):
            seen.setdefault(r[5].rstrip("\n").removesuffix(" (deleted)"), None)
    return list(seen)
