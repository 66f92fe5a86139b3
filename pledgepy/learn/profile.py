"""Profiles: a learned policy saved under a name, run with ``pledge --profile NAME``.

A profile is ``NAME.pledge`` in the user's config directory (platformdirs:
``~/.config/pledgepy/profiles`` on Linux), one directive a line::

    # comments and blank lines are ignored
    promises stdio rpath prot_exec
    unveil r /etc/hostname
    unveil rwc /home/me/work dir

``unveil LETTERS PATH`` (the path is the rest of the line). A profile is a
request: the kernel enforces it. But whoever can write it chooses what the
program may do, so a profile file, its directory or any directory above it that
another user (other than root) owns, or that group or others may write (above it:
unless sticky, as /tmp), is refused.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import TYPE_CHECKING, Any

from ..promises import format_promises, parse

if TYPE_CHECKING:
    import argparse

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LETTERS = re.compile(r"[rwxc]*")
SUFFIX = ".pledge"


class UnsafeProfileError(PermissionError):
    """A profile another user could have written."""


def directory() -> str:
    """Where profiles live for this user."""
    import platformdirs

    return os.path.join(platformdirs.user_config_dir("pledgepy"), "profiles")


def path_of(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"a profile name is letters, digits, '.', '_' and '-' "
                         f"(not starting with '.' or '-'), not {name!r}")
    return os.path.join(directory(), name + SUFFIX)


def _check(st: os.stat_result, what: str, *, ancestor: bool = False) -> None:
    """Refuse what someone other than this user or root could have written. An
    *ancestor* directory may be writable by others when it is sticky (``/tmp``): they
    cannot then rename or remove what this user owns beneath it."""
    if st.st_uid not in (os.getuid(), 0):
        raise UnsafeProfileError(f"{what} is owned by uid {st.st_uid}, not by you or root: "
                                 "another user could have written it")
    sticky = ancestor and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
        raise UnsafeProfileError(f"{what} is writable by group or others "
                                 f"(mode {stat.S_IMODE(st.st_mode):o}): chmod go-w it")


def _open_checked(where: str, *, final: bool = True) -> int:
    """An O_PATH descriptor of directory *where* once every directory from ``/`` down
    to it passed :func:`_check`: whoever can write an ancestor can rename the
    directory beneath it and put one of theirs in its place (``~/.config`` writable by
    a group, a config directory linked into a shared one). Links are followed first
    (a ``~/.config`` linked to a dotfiles tree is common), then the real path is walked
    one component at a time without following any, each checked as it was opened:
    a component swapped for a link meanwhile fails the walk (ELOOP, ENOTDIR) rather
    than leads elsewhere. The caller closes the descriptor."""
    real = os.path.realpath(where)
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open("/", flags)
    try:
        parts = [p for p in real.split("/") if p]
        _check(os.fstat(fd), "the directory /", ancestor=bool(parts) or not final)
        here = ""
        for i, part in enumerate(parts):
            here += "/" + part
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:  # named in full: the component alone says little
                raise type(exc)(exc.errno, exc.strerror, here) from None
            os.close(fd)
            fd = nfd
            _check(os.fstat(fd), f"the directory {here}",
                   ancestor=i + 1 < len(parts) or not final)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_directory(where: str) -> None:
    """Refuse (UnsafeProfileError, or OSError) the profiles directory *where* before a
    run that will save to it, as :func:`save` would: where it does not exist yet, the
    part of the path that does, each directory checked as an ancestor of what save()
    will make (a sticky one may be writable by others)."""
    final = True
    while not os.path.isdir(where):
        parent = os.path.dirname(where)
        if parent == where:
            return
        where, final = parent, False
    os.close(_open_checked(where, final=final))


def _makedirs(where: str) -> None:
    """*where* and its missing parents, each made 0700: os.makedirs makes the parents
    with the umask's mode (0775 under umask 002), which :func:`_open_checked` then
    refuses as writable by the group."""
    missing = []
    while not os.path.isdir(where):
        missing.append(where)
        parent = os.path.dirname(where)
        if parent == where:
            break
        where = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # made meanwhile: checked with the rest
            pass


def render(promises: list[str], unveil: list[list[str]] | list[tuple[str, str]]) -> str:
    """The profile's text; ValueError for a path its lines cannot carry back as itself."""
    lines = ["# pledgepy profile: pledge --profile NAME PROG ARGS...",
             f"promises {' '.join(promises)}"]
    for path, perms in unveil:
        # the paths are what the run used, so their names are anyone's: a line break in
        # one would start a directive of its own ("...x\nunveil rwc /home/me"), and
        # edge blanks are stripped when read (".../dir/ " would unveil .../dir)
        if path.splitlines() != [path] or path != path.strip():
            raise ValueError(f"the path {path!r} cannot be written in a profile (a line "
                             "break or edge blank in its name): unveil it with -v instead")
        lines.append(f"unveil {perms} {path}")
    return "\n".join(lines) + "\n"


def save(name: str, report: dict[str, Any]) -> str:
    """Write *report*'s promises and unveil list as profile *name*; return its path.
    Refused (UnsafeProfileError) where loading it would be: nothing is written then."""
    where = path_of(name)
    text = render(report["promises"], report["unveil"])
    _makedirs(os.path.dirname(where))
    dfd = _open_checked(os.path.dirname(where))
    try:
        base = os.path.basename(where)
        tmp = f"{base}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, base, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)
    return where


def parse_text(text: str, where: str) -> tuple[str, list[tuple[str, str]]]:
    """(promises, [(letters, path)]) from a profile's text; ValueError names the line."""
    promises: str | None = None
    rules: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.strip().split(None, 2) if line.strip() else []
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "promises" and promises is None:
            promises = format_promises(parse(" ".join(words[1:]), f"{where}:{number}")) or ""
        elif words[0] == "unveil" and len(words) == 3 and LETTERS.fullmatch(words[1]) \
                and words[2].startswith("/"):
            rules.append((words[1], words[2]))
        else:
            raise ValueError(f"{where}:{number}: expected 'promises WORDS' (once) or "
                             f"'unveil LETTERS /PATH', not {line.strip()!r}")
    if promises is None:
        raise ValueError(f"{where}: no 'promises' line")
    return promises, rules


def load(name: str) -> tuple[str, list[tuple[str, str]]]:
    """Profile *name*, after checking who could have written it and every directory
    above it (:func:`_open_checked`)."""
    where = path_of(name)
    try:
        dfd = _open_checked(os.path.dirname(where))
    except FileNotFoundError:  # no profiles directory yet: the profile is what is missing
        raise FileNotFoundError(errno.ENOENT, "no such profile", where) from None
    try:
        # not a link; O_NONBLOCK: a FIFO put there must not hang the command
        try:
            fd = os.open(os.path.basename(where),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as exc:
            why = "no such profile" if exc.errno == errno.ENOENT else exc.strerror
            raise type(exc)(exc.errno, why, where) from None
    finally:
        os.close(dfd)
    with os.fdopen(fd, encoding="utf-8") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeProfileError(f"{where} is not a regular file")
        _check(st, where)  # the file we read, not one swapped in after
        return parse_text(f.read(), where)


def apply(opts: argparse.Namespace) -> None:
    """Put profile ``opts.profile`` into the command's options (its -p and -v)."""
    if opts.promises is not None:
        raise ValueError("give either --profile or -p, not both")
    promises, rules = load(opts.profile)
    opts.promises = [promises]  # as one -p
    opts.unveil = [f"{letters}:{path}" for letters, path in rules] + list(opts.unveil)
