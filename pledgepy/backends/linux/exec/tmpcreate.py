"""OpenBSD's ``tmppath`` for an exec'd program: creating opens and unlinks under ``/tmp/``.

On OpenBSD ``tmppath`` lets a process create-open (``O_CREAT``, mkstemp(3)) and unlink
paths under ``/tmp/`` without ``wpath``/``cpath`` (pledge_namei). BPF cannot see the
path, so such a call traps to the supervisor like any violation. The supervisor reads
the path the program passed and, when it is plainly under ``/tmp/``, lets the call run
(``SECCOMP_USER_NOTIF_FLAG_CONTINUE``).

CONTINUE runs the call with the path the program's memory holds when the kernel
resumes it, so another thread may change it after the read. That is answered here only
when it cannot matter: :func:`refusal` is None only when the program's Landlock domain
grants creating and removing nowhere but beneath ``/tmp`` (the ``tmppath`` rule of the
default unveil), nor writing, unless ``rpath`` and ``wpath`` are held (``/dev/null``,
and ``/dev/tty`` under ``tty``, which OpenBSD lets it open read-write anyway, aside:
with ``wpath`` alone an ``O_RDWR`` create redirected to a writable file would read it
too), so whatever path the call really uses, the kernel lets it do only what its
promises or OpenBSD's allowance grant. Reading is granted far wider (the default
unveil's libraries, ``/etc/ssl`` under ``inet``, any ``-v r:``): an ``O_RDONLY`` create
runs only with ``rpath``, since redirected to an existing file it creates nothing and
reads it. With ``-V``, a ``-v`` path outside ``/tmp`` with ``c`` (or ``w`` without
``rpath wpath``), or no Landlock, the calls
stay violations and the command says why at start. The flags and the mode are
registers, which the kernel does not read again: they are decided here (no
``O_PATH``, no setid bits, no ``O_RDONLY|O_TRUNC``, which Landlock checks only from
ABI 3, no access mode 3, for which it checks neither reading nor writing);
``O_TMPFILE`` in ``/tmp`` is answered EOPNOTSUPP (Landlock has no right that checks
it), as a filesystem without it would, and as the in-process handler answers it:
``tempfile`` falls back to a named file.
"""

from __future__ import annotations

import errno
import os

from .. import native
from ..consts import O__TMPFILE
from ..syscalls import BY_ARCH
from .allowed import _path_at, _plain

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable

TMP = "/tmp"
_AT_REMOVEDIR = 0x200
_SETID = 0o6000
#: Paths outside /tmp the default unveil may give "w" (both are OpenBSD's own allowances).
_WRITABLE_ANYWAY = ("/dev/null", "/dev/tty")


def _beneath(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def refusal(promises: frozenset[str], no_unveil: bool, unveils: Iterable[tuple[str, str]],
            landlock_abi: int, chroot: bool = False) -> str | None:
    """None when the supervisor may let ``tmppath``'s creates and unlinks run (above);
    else why not, for a note at start. Under *chroot* the ``-v`` paths are not this
    root's: any of them that may be written or created in refuses."""
    tail = '; creating and removing files under /tmp needs "wpath cpath" instead'
    if no_unveil:
        return "tmppath: with -V nothing confines the path such a call really uses" + tail
    if landlock_abi < 1:
        return "tmppath: without Landlock nothing confines the path such a call uses" + tail
    tmp = os.path.realpath(TMP)
    # "w" without wpath writes; with wpath but not rpath, O_RDWR|O_CREAT redirected to a
    # file any rule (the default unveil's or a -v's) lets it read as well would read it
    risky = set("c" if {"rpath", "wpath"} <= promises else "wc")
    # /dev/tty is OpenBSD's allowance under tty only
    anyway = {p for p in _WRITABLE_ANYWAY if p != "/dev/tty" or "tty" in promises}
    for where, perms in unveils:
        real = os.path.realpath(where)
        outside = chroot or not _beneath(real, tmp) and real not in anyway
        if set(perms) & risky and outside:
            return (f"tmppath: -v {perms}:{where} lets a racing thread redirect such a call "
                    "out of /tmp" + tail)
    return None


def takes(name: str, args: tuple[int, ...], promises: frozenset[str] = frozenset()
          ) -> tuple[int, bool] | None:
    """(the path's argument index, whether it is an ``O_TMPFILE`` open) when call *name*
    with *args* is one :func:`answer` may let run under *promises*, its path aside: a
    creating open whose flags and mode are decided here, or an unlink (not rmdir); else
    None. Learn mode (record.py) asks the same, with no promise held, so what it credits
    to tmppath is what is answered whatever else the learned set holds."""
    if name == "openat":
        index, flags, mode, opening = 1, args[2], args[3], True
    elif name == "open":
        index, flags, mode, opening = 0, args[1], args[2], True
    elif name == "creat":  # x86_64's creat(path, mode): open(O_CREAT|O_WRONLY|O_TRUNC)
        index, flags, mode, opening = 0, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, args[1], True
    elif name == "unlinkat":
        if args[2] & 0xFFFFFFFF & _AT_REMOVEDIR:  # rmdir: cpath's, as on OpenBSD
            return None
        return 1, False
    elif name == "unlink":
        return 0, False
    else:
        return None
    flags &= 0xFFFFFFFF
    if flags & os.O_PATH or mode & 0xFFFF & _SETID:
        return None
    tmpfile = bool(flags & O__TMPFILE)
    mode_bits = flags & os.O_ACCMODE
    if not tmpfile and (not flags & os.O_CREAT or mode_bits == os.O_ACCMODE or (
            mode_bits == os.O_RDONLY and flags & os.O_TRUNC)):
        return None  # access mode 3: Landlock checks neither reading nor writing
    if not tmpfile and mode_bits == os.O_RDONLY and "rpath" not in promises:
        # Landlock lets it read what the default unveil or a -v gives "r" (libraries,
        # /etc/ssl under inet, ...): redirected (or through a link in /tmp) to an
        # existing file, O_CREAT creates nothing and the call reads it without rpath
        return None
    return index, tmpfile and opening


def under(path: str) -> bool:
    """Whether *path*, spelled plainly (allowed._plain), is one whose create or unlink
    :func:`answer` lets run: beneath ``/tmp/``, not /tmp itself."""
    return path.startswith(TMP + "/")


def answer(listener: int, ident: int, pid: int, nr: int, args: tuple[int, ...],
           arch: str, promises: frozenset[str]) -> bool:
    """Let a creating open or an unlink of a path under ``/tmp/`` run, or answer an
    ``O_TMPFILE`` open of ``/tmp`` EOPNOTSUPP (True); False: it stays a violation.
    *promises*: what the program holds (an ``O_RDONLY`` create runs only with rpath)."""
    name = _NAMES.get(arch, {}).get(nr)
    taken = takes(name, args, promises) if name is not None else None
    if taken is None:
        return False
    index, tmpfile = taken
    try:
        raw = _path_at(pid, args[index])
    except OSError:
        return False
    path = _plain(raw) if raw is not None else None
    if path is None:
        return False
    lib = native.lib()
    if tmpfile:
        if not _beneath(path, TMP):
            return False
        lib.pp_notif_send(listener, ident, -errno.EOPNOTSUPP)
        return True
    if not under(path):
        return False
    lib.pp_notif_continue(listener, ident)  # -ENOENT: the caller went away meanwhile
    return True


#: arch -> syscall number -> name, for the calls :func:`takes` knows.
_NAMES = {arch: {table[n]: n for n in ("open", "openat", "creat", "unlink", "unlinkat")
                 if n in table}
          for arch, table in BY_ARCH.items()}
