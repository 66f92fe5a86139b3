"""Memory this process could write and then run: writable and executable mappings.

Without ``prot_exec`` no new executable memory can be mapped, but mappings
that exist already stay: an anonymous ``rwx`` page (libffi's closures for
ctypes callbacks, JITs) or a shared writable mapping of a file that is also
mapped executable (a double-mapped trampoline) lets code be written and run.
"""

from __future__ import annotations

import os

SELF = "/proc/self/maps"
_kept = (-1, 0, 0, 0)  # (descriptor of SELF, pid that opened it, its st_dev, st_ino)


def keep_open() -> None:
    """Open this process's maps now, before unveil rules hide /proc, to read them later.

    Reading the descriptor again from offset 0 gives the mappings of that moment. It
    names the process that opened it, so a forked child does not use its parent's, and
    the file it was opened on, so a number the program closed or dup2()'d over since is
    not read as the maps (a false "no writable+executable memory").
    """
    global _kept
    if readable_without_rpath():
        return
    try:
        fd = os.open(SELF, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no procfs: the readers raise then, as without a kept descriptor
        _kept = (-1, 0, 0, 0)
        return
    st = os.fstat(fd)
    _kept = (fd, os.getpid(), st.st_dev, st.st_ino)


def readable_without_rpath() -> bool:
    """Whether the maps can be read now even if no promise lets files be opened: the
    kept descriptor is this process's and still the file it was opened on."""
    fd, pid, dev, ino = _kept
    if fd < 0 or pid != os.getpid():
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def _rows(maps: str) -> list[list[str]]:
    if maps == SELF and readable_without_rpath():
        chunks, offset = [], 0
        while chunk := os.pread(_kept[0], 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        text = b"".join(chunks).decode("utf-8", "replace")
        return [line.split(maxsplit=5) for line in text.splitlines(keepends=True)]
    with open(maps, encoding="utf-8", errors="replace") as f:
        return [line.split(maxsplit=5) for line in f]


def writable_executable(maps: str = SELF) -> list[str]:
    """Each such mapping as ``"start-end perms name"`` (raises OSError if unreadable)."""
    rows = _rows(maps)
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


def executable_files(maps: str = SELF) -> list[str]:
    """Paths of the files mapped executable (program, libraries, extension modules)."""
    rows = _rows(maps)
    seen: dict[str, None] = {}
    for r in rows:
        if len(r) == 6 and "x" in r[1] and r[5].startswith("/"):
            seen.setdefault(r[5].rstrip("\n").removesuffix(" (deleted)"), None)
    return list(seen)
