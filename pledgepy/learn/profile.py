"""Profiles: a learned policy saved under a name, run with ``pledge --profile NAME``.

A profile is ``NAME.pledge`` in the user's config directory (platformdirs:
``~/.config/pledgepy/profiles`` on Linux), one directive a line::

    # comments and blank lines are ignored
    promises stdio rpath prot_exec
    unveil r /etc/hostname
    unveil rwc /home/me/work dir

``unveil LETTERS PATH`` (the path is the rest of the line). A profile is a
request: the kernel enforces it. But whoever can write it chooses what the
program may do, so a profile file or directory that another user (other than
root) owns, or that group or others may write, is refused.
"""

from __future__ import annotations

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


def _check(st: os.stat_result, what: str) -> None:
    """Refuse what someone other than this user or root could have written."""
    if st.st_uid not in (os.getuid(), 0):
        raise UnsafeProfileError(f"{what} is owned by uid {st.st_uid}, not by you or root: "
                                 "another user could have written it")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeProfileError(f"{what} is writable by group or others "
                                 f"(mode {stat.S_IMODE(st.st_mode):o}): chmod go-w it")


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
    """Write *report*'s promises and unveil list as profile *name*; return its path."""
    where = path_of(name)
    os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
    _check(os.stat(os.path.dirname(where)), f"the directory {os.path.dirname(where)}")
    tmp = f"{where}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render(report["promises"], report["unveil"]))
    os.replace(tmp, where)
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
    """Profile *name*, after checking who could have written it."""
    where = path_of(name)
    parent = os.path.dirname(where)
    _check(os.stat(parent), f"the directory {parent}")
    fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, encoding="utf-8") as f:
        _check(os.fstat(f.fileno()), where)  # the file we read, not one swapped in after
        return parse_text(f.read(), where)


def apply(opts: argparse.Namespace) -> None:
    """Put profile ``opts.profile`` into the command's options (its -p and -v)."""
    if opts.promises is not None:
        raise ValueError("give either --profile or -p, not both")
    promises, rules = load(opts.profile)
    opts.promises = [promises]  # as one -p
    opts.unveil = [f"{letters}:{path}" for letters, path in rules] + list(opts.unveil)
