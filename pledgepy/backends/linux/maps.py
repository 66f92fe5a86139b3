"""Memory this process could write and then run: writable and executable mappings.

Without ``prot_exec`` no new executable memory can be mapped, but mappings
that exist already stay: an anonymous ``rwx`` page (libffi's closures for
ctypes callbacks, JITs) or a shared writable mapping of a file that is also
mapped executable (a double-mapped trampoline) lets code be written and run.
"""

from __future__ import annotations

import os

SELF = "/proc/self/maps"
_kept = (-1, 0)  # (descriptor of SELF, pid that opened it)


def keep_open() -> None:
    """Open this process's maps now, before unveil rules hide /proc, to read them later.

    Reading the descriptor again from offset 0 gives the mappings of that moment. It
    names the process that opened it, so a forked child does not use its parent's.
    """
    global _kept
    if _kept[0] >= 0 and _kept[1] == os.getpid():
        return
    try:
        _kept = (os.open(SELF, os.O_RDONLY | os.O_CLOEXEC), os.getpid())
    except OSError:  # no procfs: the readers raise then, as without a kept descriptor
        _kept = (-1, 0)


def readable_without_rpath() -> bool:
    """Whether the maps can be read now even if no promise lets files be opened."""
    return _kept[0] >= 0 and _kept[1] == os.getpid()


def _rows(maps: str) -> list[list[bytes]]:
    """The fields of each line (the name, last, may hold spaces). Bytes: a text-mode
    open (a TextIOWrapper and a codec lookup) costs more than the parse itself."""
    if maps == SELF and readable_without_rpath():
        chunks, offset = [], 0
        while chunk := os.pread(_kept[0], 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
    else:
        with open(maps, "rb") as f:
            data = f.read()
    return [line.split(maxsplit=5) for line in data.splitlines()]


def _name(raw: bytes) -> str:
    return raw.strip().decode("utf-8", errors="replace")


def writable_executable(maps: str = SELF) -> list[str]:
    """Each such mapping as ``"start-end perms name"`` (raises OSError if unreadable)."""
    rows = _rows(maps)
    executable = {(r[3], r[4]) for r in rows if len(r) >= 5 and b"x" in r[1] and r[4] != b"0"}
    found = []
    for r in rows:
        if len(r) < 5 or b"w" not in r[1]:
            continue
        aliased = b"s" in r[1] and r[4] != b"0" and (r[3], r[4]) in executable
        if b"x" in r[1] or aliased:
            name = _name(r[5]) if len(r) > 5 else "[anonymous]"
            found.append(f"{r[0].decode()} {r[1].decode()} {name}")
    return found


def executable_files(maps: str = SELF) -> list[str]:
    """Paths of the files mapped executable (program, libraries, extension modules)."""
    seen: dict[str, None] = {}
    for r in _rows(maps):
        if len(r) == 6 and b"x" in r[1] and r[5].startswith(b"/"):
            seen.setdefault(_name(r[5]).removesuffix(" (deleted)"), None)
    return list(seen)
