"""Memory this process could write and then run: writable and executable mappings.

Without ``prot_exec`` no new executable memory can be mapped, but mappings
that exist already stay: an anonymous ``rwx`` page (libffi's closures for
ctypes callbacks, JITs) or a shared writable mapping of a file that is also
mapped executable (a double-mapped trampoline) lets code be written and run.
"""

from __future__ import annotations

import os
import stat

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


def _descriptors() -> list[int] | None:
    """This process's open descriptors (None: /proc/self/fd cannot be listed)."""
    try:
        return sorted(int(n) for n in os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _opened_for_writing(fd: int) -> bool:
    """From /proc/self/fdinfo (fcntl would import an extension module); True when it
    cannot be read (fail closed)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return True


def writable_code_descriptors(maps: str = SELF, limit: int = 1 << 16,
                              paths: bool = True) -> list[str]:
    """Descriptors, opened before (a pledge does not close them), that write code: open
    for writing on a file mapped executable here (a memfd or file behind an ``r-x``
    mapping: the mapping sees the write) or on procfs (``/proc/<pid>/mem``). Where
    /proc/self/fd cannot be listed, the numbers below the descriptor limit (at most
    *limit*) are looked at and their access mode is not known (counted as writing);
    so it is without *paths* (files may not be opened now: only descriptors are used).
    Raises OSError if the maps are unreadable."""
    from .landlock import allowances, procfs

    listed = _descriptors() if paths else None
    numbers = listed if listed is not None else range(min(os.sysconf("SC_OPEN_MAX"), limit))
    files = []  # mem and code are regular files (a directory is never open for writing)
    ours = allowances.descriptors()  # O_PATH, the file checked: /proc/sys/vm/... writes nothing
    for fd in numbers:
        if (fd == _kept[0] and readable_without_rpath()) or fd in ours:
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            files.append((fd, st))
    code = set()
    if files:  # the mappings and mounts only when there is something to compare
        for r in _rows(maps):
            if len(r) >= 5 and b"x" in r[1] and r[4] != b"0":
                major, _, minor = r[3].partition(b":")
                code.add((os.makedev(int(major, 16), int(minor, 16)), int(r[4])))
    proc: set[int] = set()
    if files and readable_without_rpath():
        proc.add(_kept[2])
    try:
        if files and paths:
            proc |= {dev for dev, _ in procfs.mounts()}
            proc.add(os.stat("/proc/self/maps").st_dev)
    except OSError:
        pass
    found = []
    for fd, st in files:
        if st.st_dev not in proc and (st.st_dev, st.st_ino) not in code:
            continue
        if listed is None or _opened_for_writing(fd):
            found.append(f"descriptor {fd} ({'procfs' if st.st_dev in proc else 'mapped code'})")
    if listed is None and os.sysconf("SC_OPEN_MAX") > limit:
        found.append(f"(unknown: descriptors from {limit} on not looked at)")
    return found


def kernel_shmem_executable(maps: str = SELF) -> list[str]:
    """Executable mappings of the kernel's own shmem files (a memfd, a shared anonymous
    mapping, a System V segment), as ``"start-end name"``: Landlock never restricts
    opening those, so one reopened for writing through /proc/self/map_files (which needs
    CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) writes code, whatever the unveil rules."""
    out = []
    for r in _rows(maps):
        if len(r) < 6 or b"x" not in r[1] or r[4] == b"0":
            continue
        name = _name(r[5])
        if _is_shmem(name):
            out.append(f"{r[0].decode()} {name}")
    return out


def _is_shmem(name: str) -> bool:
    return name.startswith("/memfd:") or (name.endswith(" (deleted)")
                                          and name.startswith(("/dev/zero", "/SYSV")))


#: CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE: either opens /proc/self/map_files entries
_MAP_FILES_CAPS = (1 << 21) | (1 << 40)


def can_reopen_mappings(paths: bool = True) -> bool:
    """Whether this process may open /proc/self/map_files entries (its effective
    capabilities; uid 0 when /proc/self/status cannot be read, or without *paths*)."""
    try:
        if not paths:
            raise OSError("files may not be opened now")
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) & _MAP_FILES_CAPS)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def kernel_shmem_descriptors(maps: str = SELF, paths: bool = True) -> list[str]:
    """Descriptors, in any mode, of the files behind :func:`kernel_shmem_executable`
    mappings: with wpath, ``/proc/self/fd/N`` reopens one for writing (Landlock never
    restricts those files; no capability needed, nor a rule: unveil rules that hide /proc
    do not stop it). Where /proc/self/fd cannot be listed the numbers below the limit are
    looked at, as in :func:`writable_code_descriptors`."""
    shmem = set()
    for r in _rows(maps):
        if len(r) >= 6 and b"x" in r[1] and r[4] != b"0" and _is_shmem(_name(r[5])):
            major, _, minor = r[3].partition(b":")
            shmem.add((os.makedev(int(major, 16), int(minor, 16)), int(r[4])))
    found = []
    listed = (_descriptors() if paths else None) if shmem else []
    numbers = listed if listed is not None else range(min(os.sysconf("SC_OPEN_MAX"), 1 << 16))
    for fd in numbers:
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in shmem:
            found.append(f"descriptor {fd} (reopened for writing through /proc/self/fd)")
    return found
