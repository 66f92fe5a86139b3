"""OpenBSD's path allowances (policy.PATHS) on Linux: a Landlock layer covering only those paths.

BPF cannot see paths, so while a promise with allowances is held without the
promise that grants the same access everywhere (``rpath`` for reading,
``wpath`` for writing, ``cpath`` for creating and removing), the seccomp
filter lets the opens the allowances need through (policy.PATHS_RULES) and
this layer limits them: it handles exactly those rights, and grants them only
on the allowance paths of the promises held. Rights the promises held grant
everywhere are not handled, so the layer costs them nothing.

Layers only take away (each access must pass every layer), so the layer is
entered again, narrower, whenever a later pledge drops an allowance. The
paths are opened (``O_PATH``) at the first pledge, while files can be opened:
a later pledge may no longer be allowed to.
"""

from __future__ import annotations

import os
import stat

from .. import prepared
from . import abi as A
from . import domain, procwrite
from .ruleset import Ruleset

READ = A.ACCESS_FS_READ_FILE | A.ACCESS_FS_READ_DIR
WRITE = A.ACCESS_FS_WRITE_FILE | A.ACCESS_FS_TRUNCATE
#: What the allowances' creating calls touch (open(O_CREAT), unlink() of a file): only
#: cpath creates or removes regular files otherwise, so other promises' creations
#: (dpath's FIFOs, unix's sockets) stay unhandled and untouched.
CREATE = A.ACCESS_FS_MAKE_REG | A.ACCESS_FS_REMOVE_FILE
#: letter -> (the promise that grants it everywhere, the rights handled without it,
#: the rights an allowance path with the letter gets)
CLASSES: dict[str, tuple[str, int, int]] = {
    "r": ("rpath", READ, READ),
    "w": ("wpath", WRITE, WRITE),
    "c": ("cpath", CREATE, CREATE),
}

#: allowance path -> (O_PATH fd, is a directory, st_dev, st_ino): a number the program
#: closed or dup2()'d over since (another directory: "/") must grant nothing
_fds: dict[str, tuple[int, bool, int, int]] = {}


def _held(path: str) -> tuple[int, bool] | None:
    """(fd, is a directory) of *path* from :func:`prepare`, if the number still holds it."""
    found = _fds.get(path)
    if found is None:
        return None
    try:
        st = os.fstat(found[0])
    except OSError:
        return None
    return found[:2] if (st.st_dev, st.st_ino) == found[2:] else None


def descriptors() -> frozenset[int]:
    """The numbers that still hold what :func:`prepare` opened (``O_PATH``: they read
    and write nothing; a number dup2()'d over since holds another file, not listed)."""
    return frozenset(got[0] for path in _fds if (got := _held(path)) is not None)


def forget_replaced() -> None:
    """Drop the descriptors whose number holds another file now (not ours to close).
    Called before the filter that :func:`enter` and :func:`root_fd` run under: fstat()
    is answered by the handler there, which a filter without the layer's promises traps."""
    for path in [p for p in _fds if _held(p) is None]:
        del _fds[path]


def letters(promises: frozenset[str]) -> str:
    """The letters whose access the allowances of *promises* must add ("" for none)."""
    paths, duped = prepared.paths(), prepared.data()["duped"]
    wanted = {c for p in promises & paths.keys() for path, m in paths[p]
              if path not in duped for c in m}
    if "w" in wanted:
        wanted.add("c")  # open(O_WRONLY|O_CREAT) must create nothing outside the allowances
    return "".join(c for c in CLASSES if c in wanted and CLASSES[c][0] not in promises)


def handled(promises: frozenset[str], abi: int | None = None) -> int:
    """The rights the layer for *promises* handles (0: no layer)."""
    fs = A.features(A.version() if abi is None else abi).fs
    out = 0
    for letter in letters(promises):
        out |= CLASSES[letter][1]
    return out & fs


def rules(promises: frozenset[str], abi: int | None = None) -> list[tuple[str, int]]:
    """(path, rights) the layer for *promises* grants: each held promise's allowances."""
    mask = handled(promises, abi)
    out: dict[str, int] = {}
    paths, duped = prepared.paths(), prepared.data()["duped"]
    for promise in sorted(promises & paths.keys()):
        for path, marks in paths[promise]:
            if path in duped:
                continue
            access = 0
            for letter in marks:
                access |= CLASSES[letter][2]
            if access & mask:
                out[path] = out.get(path, 0) | (access & mask)
    return list(out.items())


def entries(promises: frozenset[str]) -> tuple[tuple[str, bool], ...]:
    """(path, covers what lies beneath) of *promises*' allowances: directories, and
    missing paths (beneath them all is missing too: zoneinfo searching its TZPATH)."""
    paths = prepared.paths()
    held = {path for p in promises & paths.keys() for path, _ in paths[p]}
    return tuple((path, _fds[path][1] if path in _fds else True) for path in sorted(held))


def available() -> bool:
    """Whether the layer can be built (Landlock present); without it the opens stay trapped."""
    return A.current().available


def root_fd() -> int:
    """``/`` opened by :func:`prepare` (``O_PATH``; -1 if it could not be): glibc's NSS
    stats it before each lookup, and the handler answers that from this descriptor."""
    return _fds["/"][0] if "/" in _fds else -1


def prepare() -> None:
    """Open every allowance path that exists (``O_PATH``), while files can be opened."""
    for entries in (*prepared.paths().values(), (("/", ""),)):
        for path, _ in entries:
            if _held(path) is not None:
                continue
            _fds.pop(path, None)  # replaced since: not ours to close
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # missing: the allowance grants nothing
            st = os.fstat(fd)
            _fds[path] = (fd, stat.S_ISDIR(st.st_mode), st.st_dev, st.st_ino)


def enter(promises: frozenset[str], *, all_threads: bool = False,
          writable: list[int] | None = None) -> None:
    """Enter the layer for *promises* (nested below the domains in force); with
    *writable*, it also keeps procfs from being written, as domain.enter() does."""
    row = A.current()
    mask = handled(promises, row.version)
    if not mask:
        return
    flags = A.RESTRICT_SELF_TSYNC if all_threads and row.tsync else 0
    # it stands in for domain.enter()'s domain, so it carries the same scope (and the
    # procfs write block: wpath is held then, so WRITE is not among the allowances')
    extra = procwrite.ACCESS if writable is not None and not mask & procwrite.ACCESS else 0
    # REFER beneath "/", as domain.py's layers: a layer handling file access denies it
    # unless granted, and renames are the unveil layer's decision
    refer = domain.refer_root()
    with Ruleset(mask | extra | (A.ACCESS_FS_REFER if refer is not None else 0),
                 row.scopes & A.SCOPE_ABSTRACT_UNIX_SOCKET) as ruleset:
        if extra:
            procwrite.add(ruleset, writable or [])
        domain.grant_refer(ruleset, refer)
        for path, access in rules(promises, row.version):
            found = _fds.get(path)
            if found is None:
                continue  # missing, or replaced (forget_replaced()): nothing granted
            fd, is_dir = found[:2]
            access = access if is_dir else access & A.ACCESS_FILE
            if access:
                ruleset.add_fd(fd, access)
        ruleset.restrict_self(flags)
