"""Opening unveiled paths after FreeBSD's ``cap_enter`` (portable everywhere).

In capability mode ``open("/etc/x")`` fails: only ``openat`` relative to a
directory fd works. The FreeBSD backend pre-opens the unveiled directories
and records the current directory before entering; :func:`open` and
:func:`opener` resolve a path against them (longest unveiled prefix) and call
``os.open(rel, flags, dir_fd=fd)``. The kernel still confines each call to
its directory fd, so a mistake here can only deny access, never grant it.
Where no directory fds are installed (Linux, OpenBSD, FreeBSD before
pledging) they behave exactly like the builtins.
"""

from __future__ import annotations

import _thread
import builtins
import errno
import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    from typing import IO, Any

_lock = _thread.allocate_lock()
_dirs: tuple[tuple[str, int], ...] = ()
_hidden: tuple[str, ...] = ()
_cwd: str | None = None


def _install(dirs: dict[str, int], hidden: tuple[str, ...], cwd: str) -> None:
    """Backend hook: use *dirs* (path → fd) from now on; *cwd* for relative paths."""
    global _dirs, _hidden, _cwd
    with _lock:
        _dirs = tuple(sorted(dirs.items(), key=lambda kv: len(kv[0]), reverse=True))
        _hidden = hidden
        _cwd = cwd


def _reset() -> None:
    """Backend/test hook: forget every directory fd (back to the builtins)."""
    _install({}, (), "")
    global _cwd
    _cwd = None


def active() -> bool:
    """Whether paths are resolved against pre-opened directory fds."""
    return _cwd is not None


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def resolve(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(dir_fd, relative_path)`` for *path*; ``FileNotFoundError`` if not unveiled.

    Relative paths are taken from the directory that was current at pledge
    time; the path is normalised lexically (``..`` is removed textually).
    """
    text: str | bytes = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    if _cwd is None:
        raise RuntimeError("pledgepy.bsdpaths.resolve: no directory fds are installed")
    full = os.path.normpath(os.path.join(_cwd, text))
    if full.startswith("//"):
        full = "/" + full.lstrip("/")
    best = None
    for prefix, fd in _dirs:
        if _under(full, prefix):
            best = (prefix, fd)
            break
    for hidden in _hidden:
        if _under(full, hidden) and (best is None or len(hidden) > len(best[0])):
            best = None
            break
    if best is None:
        raise FileNotFoundError(errno.ENOENT, "not unveiled", text)
    prefix, fd = best
    rel = os.path.relpath(full, prefix)
    return fd, rel


def opener(path: str, flags: int) -> int:
    """An ``opener=`` for :func:`builtins.open` that works in capability mode."""
    return os_open(path, flags, 0o666)


def os_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
    """Like :func:`os.open`, resolved against the unveiled directories when active."""
    if _cwd is None:
        return os.open(path, flags, mode)
    fd, rel = resolve(path)
    return os.open(rel, flags, mode, dir_fd=fd)


def open(file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None,
         closefd: bool = True) -> IO[Any]:
    """:func:`builtins.open` that also works for unveiled paths after ``cap_enter``."""
    if _cwd is None or isinstance(file, int):
        return builtins.open(file, mode, buffering, encoding, errors, newline, closefd)
    return builtins.open(file, mode, buffering, encoding, errors, newline, closefd,
                         opener=opener)
