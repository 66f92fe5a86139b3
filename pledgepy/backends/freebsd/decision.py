"""The FreeBSD decision procedure (bsd-backends.md A.3), as pure functions.

:func:`decide` turns the promises, execpromises, unveil rules, lock state and
options into a :class:`Plan`: which directories to pre-open with which rights,
how to limit inherited fds, whether ``cap_enter`` may run, and every line that
Capsicum leaves unenforced. Nothing here touches the system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum

from ...promises import VOCABULARY
from ...status import Gaps
from . import rights as R
from .ioctls import BASE_IOCTLS, TTY_IOCTLS

Promises = frozenset[str]

#: What ``PLEDGEPY_CAPSICUM_ACCEPT`` may name: promises usable in degraded form.
ACCEPTABLE = ("proc", "getpw", "inet", "mcast")


class Action(str, Enum):
    """What the backend does for a plan."""

    ENTER = "enter"      # pre-open, limit fds, cap_enter
    REDUCE = "reduce"    # already in capability mode: shrink rights, close dirfds
    DEFER = "defer"      # unveil held and not locked: record, enter nothing yet
    BLOCK = "block"      # a promise cannot coexist with capability mode
    NOTHING = "nothing"  # no promises to enforce (only execpromises)


class Kind(str, Enum):
    """How a promise maps to Capsicum (the "kind" column of table A)."""

    OK = "ok"
    FD = "fd"
    DEGRADED = "degraded"   # blocks unless the caller accepts the degraded form
    BLOCK = "block"


@dataclass(frozen=True)
class Handling:
    """One row of the promise table."""

    kind: Kind
    #: Why capability mode is impossible (BLOCK) or what breaks (DEGRADED).
    reason: str = ""
    #: What stays possible when the promise is *not* granted (a gap), if anything.
    absence: str = ""
    #: A gap that remains when the promise *is* granted.
    granted_gap: str = ""
    #: A harmless difference when granted (availability, not safety).
    granted_note: str = ""


_DEV = "pledgepy has no FreeBSD ioctl list for this device class yet"

#: Every OpenBSD promise: how Capsicum handles it.
TABLE: dict[str, Handling] = {
    "stdio": Handling(
        Kind.OK,
        absence="without stdio, fds created after pledge() (pipe, socket, kqueue) "
                "still allow read/write/mmap; only inherited fds were limited",
        granted_note="stdio: waitpid() and fchdir() fail with ECAPMODE "
                     "(OpenBSD's stdio allows them)"),
    "rpath": Handling(Kind.FD),
    "wpath": Handling(Kind.FD),
    "cpath": Handling(Kind.FD),
    "dpath": Handling(Kind.FD),
    "tmppath": Handling(Kind.FD),
    "inet": Handling(
        Kind.DEGRADED,
        reason="connect()/bind() fail in capability mode and pledgepy does not use "
               "Casper system.net; only sockets opened before pledge() would work",
        absence="without inet, socket() still succeeds (capability mode refuses "
                "connect()/bind(), so new sockets reach nothing)"),
    "mcast": Handling(
        Kind.DEGRADED,
        reason="joining a group needs bind(), which capability mode refuses",
        absence="without mcast, multicast socket options are still allowed on held sockets"),
    "fattr": Handling(
        Kind.FD,
        granted_gap="fattr: setuid/setgid/sticky bits are not stripped as on OpenBSD"),
    "chown": Handling(Kind.FD),
    "flock": Handling(Kind.FD),
    "unix": Handling(
        Kind.FD,
        absence="without unix, socketpair() and unix sockets held before pledge() "
                "still work",
        granted_note="unix: connecting or binding by path needs connectat()/bindat(); "
                     "Python's socket.connect()/bind() fail with ECAPMODE"),
    "dns": Handling(
        Kind.BLOCK,
        reason="resolving needs Casper system.net, which pledgepy does not use yet"),
    "getpw": Handling(
        Kind.DEGRADED,
        reason="the pwd/grp modules cannot open /etc/pwd.db in capability mode "
               "(no Casper system.pwd support)"),
    "sendfd": Handling(
        Kind.OK, absence="without sendfd, SCM_RIGHTS over held unix sockets still works"),
    "recvfd": Handling(
        Kind.OK, absence="without recvfd, SCM_RIGHTS over held unix sockets still works"),
    "tape": Handling(Kind.BLOCK, reason=_DEV),
    "tty": Handling(
        Kind.FD,
        granted_gap="tty: the ioctl list is FreeBSD's own, not OpenBSD's",
        granted_note="tty: /dev/tty cannot be opened after pledge(); open it before"),
    "proc": Handling(
        Kind.DEGRADED,
        reason="waitpid(), kill() of other processes, setpgid() and vfork/posix_spawn "
               "fail with ECAPMODE (fork() works)",
        absence="without proc, fork() still works (capability mode cannot forbid it)"),
    "exec": Handling(Kind.BLOCK, reason="execve() is impossible in capability mode"),
    "prot_exec": Handling(
        Kind.OK, absence="without prot_exec, anonymous PROT_EXEC mappings are still allowed"),
    "settime": Handling(
        Kind.BLOCK, reason="settimeofday()/clock_settime() are refused in capability mode"),
    "ps": Handling(
        Kind.BLOCK,
        reason="kern.proc sysctls are not capability-safe (no Casper system.sysctl support)"),
    "vminfo": Handling(
        Kind.BLOCK,
        reason="vm sysctls are not capability-safe (no Casper system.sysctl support)"),
    "id": Handling(
        Kind.OK,
        absence="without id, setuid()/setgid()/setrlimit() stay allowed "
                "(only the kernel's privilege checks apply)",
        granted_note="id: setgroups()/setlogin()/initgroups() fail with ECAPMODE"),
    "pf": Handling(Kind.BLOCK, reason=_DEV),
    "route": Handling(
        Kind.BLOCK, reason="routing sockets and sysctls need the global namespace"),
    "wroute": Handling(
        Kind.BLOCK, reason="routing sockets and sysctls need the global namespace"),
    "audio": Handling(Kind.BLOCK, reason=_DEV),
    "video": Handling(Kind.BLOCK, reason=_DEV),
    "bpf": Handling(Kind.BLOCK, reason=_DEV),
    "unveil": Handling(Kind.OK),
    "error": Handling(
        Kind.OK,
        absence="violations return ECAPMODE/ENOTCAPABLE errors instead of killing "
                "the process",
        granted_note="error: violations give ECAPMODE/ENOTCAPABLE, not ENOSYS"),
}

ALWAYS_GAP = ("fds created after pledge() by socket(), pipe(), kqueue() and "
              "shm_open(SHM_ANON) start with full rights")
EXECPROMISES_GAP = "execpromises: not enforceable with Capsicum (exec is impossible)"
PENDING = ("pending: capability mode is entered only once unveil is locked "
           "(pledge without the 'unveil' promise); nothing is enforced yet")


@dataclass(frozen=True)
class Options:
    """Caller choices: promises accepted in degraded form, the temp directory."""

    accept: Promises = frozenset()
    tmpdir: str = "/tmp"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Options:
        """Read ``PLEDGEPY_CAPSICUM_ACCEPT`` (e.g. ``"proc getpw"``) and ``TMPDIR``."""
        env = os.environ if environ is None else environ
        words = env.get("PLEDGEPY_CAPSICUM_ACCEPT", "").replace(",", " ").split()
        bad = sorted(set(words) - set(ACCEPTABLE))
        if bad:
            raise ValueError(
                f"PLEDGEPY_CAPSICUM_ACCEPT may name only {' '.join(ACCEPTABLE)}; "
                f"got {' '.join(bad)}")
        tmp = env.get("TMPDIR") or "/tmp"
        return cls(frozenset(words), os.path.abspath(tmp))


@dataclass(frozen=True)
class Entry:
    """One unveil rule as the backend saw it: path, letters, and whether a directory."""

    path: str
    permissions: str
    is_dir: bool


@dataclass(frozen=True)
class DirGrant:
    """A directory to pre-open, and the rights its fd keeps."""

    path: str
    rights: R.Rights
    why: tuple[str, ...]


@dataclass(frozen=True)
class FdGrant:
    """Rights for one inherited fd, its fcntl mask and ioctl list (None: no CAP_IOCTL)."""

    rights: R.Rights
    fcntls: int
    ioctls: tuple[int, ...] | None


@dataclass(frozen=True)
class Plan:
    """What the backend will do, and what stays unenforced."""

    action: Action
    dirs: tuple[DirGrant, ...] = ()
    hidden: tuple[str, ...] = ()
    promises: Promises = frozenset()
    blockers: tuple[str, ...] = ()
    not_enforced: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=())

    def gaps(self) -> Gaps:
        """The status gaps for this plan."""
        nothing = self.action in (Action.BLOCK, Action.DEFER, Action.NOTHING)
        return Gaps(self.not_enforced, self.notes, nothing)


def _ordered(promises: Promises) -> list[str]:
    return [p for p in VOCABULARY if p in promises]


def effective_letters(permissions: str, promises: Promises) -> str:
    """The unveil letters the promises make usable: r/rpath, w/wpath, c/cpath, x/exec."""
    need = {"r": "rpath", "w": "wpath", "c": "cpath", "x": "exec"}
    return "".join(c for c in permissions if need[c] in promises)


#: What every pre-opened directory keeps: lookups and metadata, no data access.
DIR_BASE = R.Rights.of(R.CAP_LOOKUP, R.CAP_SEEK, R.CAP_FSTAT, R.CAP_FSTATFS,
                       R.CAP_FPATHCONF, R.CAP_FCNTL, R.CAP_EVENT)


def dir_rights(letters: str, promises: Promises) -> R.Rights:
    """The directory-fd bundle (A.1) for effective unveil *letters* under *promises*.

    ``fattr``/``chown``/``unix`` connect ride on ``w``; ``dpath``/``unix``
    bind on ``c``; ``flock`` on ``r`` or ``w``. No letter: no rights at all.
    """
    if not set(letters) & set("rwc"):
        return R.NONE
    out = DIR_BASE
    if "r" in letters:
        out |= R.R_DIR
    if "w" in letters:
        out |= R.W_ADD
        if "fattr" in promises:
            out |= R.FATTR_ADD
        if "chown" in promises:
            out |= R.CHOWN_ADD
        if "unix" in promises:
            out |= R.UNIX_CONNECT_ADD
    if "c" in letters:
        out |= R.C_ADD
        if "dpath" in promises:
            out |= R.DPATH_ADD
        if "unix" in promises:
            out |= R.UNIX_BIND_ADD
    if "flock" in promises and set(letters) & set("rw"):
        out |= R.FLOCK_ADD
    return out


def whole_fs_rights(promises: Promises) -> R.Rights:
    """Rights on ``/`` when path promises are held without any unveil."""
    letters = "".join(c for c, p in (("r", "rpath"), ("w", "wpath"), ("c", "cpath"))
                      if p in promises)
    out = dir_rights(letters, promises)
    extra = {"fattr": R.FATTR_ADD, "chown": R.CHOWN_ADD, "dpath": R.DPATH_ADD}
    if any(p in promises for p in extra):
        out |= DIR_BASE
        for p, r in extra.items():
            if p in promises:
                out |= r
    return out


def _within(path: str, ancestor: str) -> bool:
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")


def fd_grant(promises: Promises, kind: str, accmode: int,
             ioctl_values: dict[str, int] | None = None) -> FdGrant:
    """Rights for an inherited fd of *kind* (``dir``/``socket``/``other``) and access mode.

    Without ``stdio`` the fd keeps nothing. Directories never keep lookup
    rights; sockets get the socket rights when ``inet`` or ``unix`` is held.
    """
    if "stdio" not in promises:
        return FdGrant(R.NONE, 0, None)
    rights = R.STDIO_BASE
    if accmode in (os.O_RDONLY, os.O_RDWR) or kind == "socket":
        rights |= R.Rights.of(R.CAP_READ)
    if accmode in (os.O_WRONLY, os.O_RDWR) or kind == "socket":
        rights |= R.Rights.of(R.CAP_WRITE)
    if "flock" in promises:
        rights |= R.FLOCK_ADD
    if "fattr" in promises:
        rights |= R.FD_FATTR_ADD
    if "chown" in promises:
        rights |= R.FD_CHOWN_ADD
    if kind == "socket" and promises & {"inet", "unix"}:
        rights |= R.SOCKET_ADD
    if kind == "dir":
        rights = rights.without(R.LOOKUP_RIGHTS).without(R.Rights.of(R.CAP_IOCTL))
        return FdGrant(rights, R.STDIO_FCNTLS, None)
    table = dict(BASE_IOCTLS)
    if "tty" in promises:
        table.update(TTY_IOCTLS)
    if ioctl_values is not None:
        table = {k: v for k, v in ioctl_values.items() if k in table}
    return FdGrant(rights, R.STDIO_FCNTLS, tuple(sorted(set(table.values()))))


def _blockers(promises: Promises, options: Options) -> list[str]:
    out = []
    for p in _ordered(promises):
        h = TABLE[p]
        if h.kind is Kind.BLOCK or (h.kind is Kind.DEGRADED and p not in options.accept):
            hint = (f" (accept the degraded form with PLEDGEPY_CAPSICUM_ACCEPT={p})"
                    if h.kind is Kind.DEGRADED else "")
            out.append(f"{p}: {h.reason}{hint}")
    return out


def _unveil_gaps(entries: tuple[Entry, ...], promises: Promises) -> list[str]:
    out = []
    granted = {e.path: dir_rights(effective_letters(e.permissions, promises), promises)
               for e in entries}
    for e in entries:
        if not e.is_dir and e.permissions:
            parent = os.path.dirname(e.path) or "/"
            out.append(f"unveil {e.path} ({e.permissions}): not a directory, so it is "
                       f"granted through {parent}, which exposes its siblings too")
        for a in entries:
            if a is e or not a.is_dir or not _within(e.path, a.path) or a.path == e.path:
                continue
            if not granted[e.path].contains(granted[a.path]):
                what = "hidden" if not e.permissions else f"narrowed to {e.permissions!r}"
                out.append(f"unveil {e.path} is {what} inside {a.path} "
                           f"({a.permissions}): the wider directory fd still reaches it")
                break
    return out


def unveil_gaps(entries: tuple[Entry, ...], promises: Promises | None) -> list[str]:
    """What Capsicum cannot enforce about these rules (nested narrowing, files)."""
    p = promises if promises is not None else frozenset({"rpath", "wpath", "cpath"})
    return _unveil_gaps(entries, p)


def _grants(promises: Promises, entries: tuple[Entry, ...],
            options: Options) -> tuple[list[DirGrant], list[str], list[str]]:
    by_dir: dict[str, tuple[R.Rights, list[str]]] = {}

    def add(path: str, rights: R.Rights, why: str) -> None:
        old, whys = by_dir.get(path, (R.NONE, []))
        by_dir[path] = (old | rights, [*whys, why])

    hidden, files = [], []
    if entries:
        for e in entries:
            letters = effective_letters(e.permissions, promises)
            rights = dir_rights(letters, promises)
            if rights.empty:
                hidden.append(e.path)
                continue
            target = e.path if e.is_dir else (os.path.dirname(e.path) or "/")
            if not e.is_dir:
                files.append(e.path)
            add(target, rights, f"unveil {e.path} ({e.permissions})")
    else:
        rights = whole_fs_rights(promises)
        if not rights.empty:
            add("/", rights, "path promises without unveil: the whole filesystem")
    if "tmppath" in promises:
        add(options.tmpdir, R.R_DIR | R.W_ADD | R.C_ADD, "tmppath")
    grants = [DirGrant(p, r, tuple(w)) for p, (r, w) in sorted(by_dir.items())]
    return grants, hidden, files


def decide(promises: Promises | None, execpromises: Promises | None,
           entries: tuple[Entry, ...], locked: bool, entered: bool,
           options: Options = Options()) -> Plan:
    """The plan for pledging *promises* with these unveils (A.3 steps 1-8)."""
    if promises is None:
        lines = [EXECPROMISES_GAP] if execpromises is not None else []
        return Plan(Action.NOTHING, not_enforced=tuple(lines))
    blockers = _blockers(promises, options)
    if blockers and not entered:
        lines = [f"capability mode not entered: {b}" for b in blockers]
        lines += [f"{p}: not enforced (capability mode not entered)"
                  for p in _ordered(promises)]
        if execpromises is not None:
            lines.append(EXECPROMISES_GAP)
        return Plan(Action.BLOCK, promises=promises, blockers=tuple(blockers),
                    not_enforced=tuple(lines))
    if "unveil" in promises and not locked and not entered:
        return Plan(Action.DEFER, promises=promises, not_enforced=(PENDING,))
    grants, hidden, files = _grants(promises, entries, options)
    gaps: list[str] = []
    notes: list[str] = []
    if execpromises is not None:
        gaps.append(EXECPROMISES_GAP)
    for p in VOCABULARY:
        h = TABLE[p]
        if p in promises:
            if h.kind is Kind.DEGRADED:
                gaps.append(f"{p}: degraded: {h.reason}")
            if h.granted_gap:
                gaps.append(h.granted_gap)
            if h.granted_note:
                notes.append(h.granted_note)
        elif h.absence:
            gaps.append(h.absence)
    gaps.append(ALWAYS_GAP)
    if "tmppath" in promises:
        gaps.append(f"tmppath: all of {options.tmpdir} is readable, writable and "
                    "creatable, more than OpenBSD's mkstemp-only rules")
    gaps += _unveil_gaps(entries, promises)
    if any("x" in e.permissions for e in entries):
        notes.append("unveil 'x': exec is impossible in capability mode")
    return Plan(Action.REDUCE if entered else Action.ENTER, tuple(grants), tuple(hidden),
                promises, (), tuple(gaps), tuple(notes), tuple(files))
