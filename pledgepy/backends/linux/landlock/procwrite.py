"""Keeping procfs from being written: ``/proc/self/mem`` would rewrite code without prot_exec.

With ``wpath`` and without ``prot_exec``, opening ``/proc/self/mem`` (or
``/proc/<pid>/task/<tid>/mem``, or any procfs mount's) for writing changes the
process's own code. BPF cannot see the path, so pledge's own Landlock domain
(domain.py, or the allowance layer that stands in for it) also handles
WRITE_FILE and grants it on everything but procfs: each entry of ``/`` that is
neither a procfs mount nor above one, and, below a directory that is above a
procfs mount, each of its entries likewise (:func:`grants`). Landlock judges a
file by where it really is (``/proc/self/fd/N`` and ``/proc/self/root/...``
re-opens included) and lets pipes, sockets and memfds through, so only procfs
and what is missing now (files made later directly under ``/`` or under a
directory above a procfs mount, mounts made later at such names) are refused.

Only WRITE_FILE is handled: read-only opens and every other call pay nothing
(TRUNCATE is not handled; truncating a procfs file writes nothing).
"""

from __future__ import annotations

import os
import stat

from . import abi as A
from .procfs import mounts
from .ruleset import Ruleset

#: The right handled and granted beside procfs.
ACCESS = A.ACCESS_FS_WRITE_FILE


def _beneath(directory: str, path: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def grants(points: list[str] | None = None) -> tuple[str, ...]:
    """The paths that keep write access: the complement of the procfs mounts *points*
    (default: every procfs mount this process sees). Symlinks are left out (Landlock
    follows them to their target, which another grant covers or procfs holds); a
    directory above a procfs mount that cannot be listed grants nothing beneath.

    Raises OSError when ``/`` or the mount table cannot be read.
    """
    if points is None:
        points = [point for _, point in mounts()]
    wanted = {os.path.normpath(p) for p in points}
    if "/" in wanted:
        return ()
    out: list[str] = []

    def walk(directory: str, below: set[str], top: bool) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            if top:
                raise
            return  # unreadable: nothing beneath it keeps write access
        for name in names:
            full = (directory.rstrip("/") + "/" + name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode) or full in wanted:
                continue
            deeper = {p for p in below if _beneath(full, p)}
            if deeper:
                walk(full, deeper, False)
            else:
                out.append(full)

    walk("/", {p for p in wanted if p.startswith("/")}, True)
    return tuple(out)


def open_grants(paths: tuple[str, ...]) -> list[int]:
    """``O_PATH`` descriptors of *paths* (those that can still be opened and are not
    procfs); the caller closes them."""
    devices = _proc_devices()
    fds: list[int] = []
    for path in paths:
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # gone since: it grants nothing (stricter)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            continue
        if stat.S_ISLNK(st.st_mode) or st.st_dev in devices:
            os.close(fd)  # replaced by a symlink or a procfs mount since listed
            continue
        fds.append(fd)
    return fds


def _proc_devices() -> set[int]:
    try:
        return {dev for dev, _ in mounts()}
    except OSError:
        return set()


def add(ruleset: Ruleset, fds: list[int]) -> None:
    """Grant :data:`ACCESS` beneath each of *fds* in *ruleset*."""
    for fd in fds:
        ruleset.add_fd(fd, ACCESS)


def close(fds: list[int]) -> None:
    """Close what :func:`open_grants` opened."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
