"""Learn mode on Linux: record the gated syscalls of a whole process tree.

The child installs the filter for the promises being audited (none, when
learning) with every violation going to a listener, and execs. The parent
receives each call and answers SECCOMP_USER_NOTIF_FLAG_CONTINUE: the call
runs exactly as it would without the filter, so the recorder never decides
anything and the target's memory cannot change a verdict. Path arguments are
read from ``/proc/<pid>/mem`` only to be written down; a program that rewrites
a path between our read and the kernel's gets a record of the old one, and
the policy learned from it is then narrower than the run, never wider (the
kernel enforces the paths it is given).

Speed: a C loop in a thread of its own (``pp_learn_loop``, native/learn.c)
receives each call, reads and resolves its paths while it waits, and
continues it at once; a call like one it has seen (the same syscall, the same
arguments the rules read, the same resolved paths) it only counts. Python
records the new ones from a queue while the program runs on. Only in python
mode (``python -m pledgepy learn``) does each call wait for Python, which
reads where in the user's code it came from (``pp_learn_batch``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import namedtuple

from ....promises import VOCABULARY
from ...base import LEARN_ANSWER, LEARN_MARKER, MADE, REMOVED, Checkpoint
from .. import native, prepared
from ..consts import (
    AF_NETLINK,
    AT_EMPTY_PATH,
    NETLINK_ROUTE,
    O__TMPFILE,
    O_ACCMODE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    SECCOMP_RET_USER_NOTIF,
    SIGSYS,
    SOCK_CLOEXEC,
    SOCK_RAW,
)
from ..landlock import abi, domain
from ..rules import Identity, Rule, bits_set, none_of, when
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import TRAP, Action, Plan, build, concrete, rules_of
from ..syscalls import BY_ARCH
from . import allowed, supervise, tmpcreate, ttyopen
from .answer import INOTIFY_INITS, NUMA, REFLINKS, XATTR_WRITES

_WORDS = frozenset(VOCABULARY)
#: The calls fattr refuses with EPERM for another owner (policy.py: OpenBSD's
#: pledge_chown): name -> the index of their uid argument.
CHOWNS = {"chown": 1, "fchown": 1, "lchown": 1, "fchownat": 2}
FATTR_WORD = frozenset({"fattr"})

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ...base import Observation

AT_FDCWD = -100
O_DIRECTORY = os.O_DIRECTORY  # differs between x86_64 and aarch64; the target's is ours
PAGE = 4096
PATH_MAX = 4096
#: The highest offset pread takes (off_t): a pointer above it is no user address.
OFF_MAX = (1 << 63) - 1
BATCH = 256
#: int16 values per syscall number in pp_learn_loop's configuration, and their bits
#: (native/learn.c: CFG_*); values per row it hands over.
CONFIG, ROW = 7, 13
#: Added to a path index: C keys the call without the path, read for the first (UNKEYED).
CFG_UNKEYED = 8
CFG_PID, CFG_ALWAYS, CFG_FACTS, CFG_FORGET = 1 << 12, 1 << 13, 1 << 14, 1 << 15
#: After these, a relative path may name another file: no working directory is trusted.
FORGET = ("chdir", "fchdir", "clone", "clone3", "fork", "vfork", "setns")
#: Bytes for the paths C reads in one batch, and its "none" offset.
ARENA = 1 << 20
NONE = 0xFFFFFFFFFFFFFFFF
#: Offset of ob_start in CPython's PyByteArrayObject (3.10-3.13, 64-bit): pyboot's
#: buffer is found through it, and checked against the token it holds.
BYTEARRAY_START = 40
#: What pyboot's buffer holds while no user line is current.
WHERE_TOKEN = b"pledgepy-where-"
#: What asking for synchronous wake-ups answered last (0: granted; -errno).
SYNC_WAKEUP = [1]

#: How a path argument is used: the unveil letters it needs ("" for none that
#: Landlock checks; "open" reads the flags; "parent:c" puts c on the directory; "refer"
#: r on the path and c on its directory (a link's source); "new"
#: too, and marks the path MADE, when it did not exist before the call (when it did,
#: the call fails with EEXIST before Landlock looks: no letters); "dest", a rename's
#: target, puts c on the directory either way and marks it MADE when it was not there).
#: syscall -> ((dirfd index or None, path index, use), ...)
PATHS: dict[str, tuple[tuple[int | None, int, str], ...]] = {
    "open": ((None, 0, "open"),), "openat": ((0, 1, "open"),), "creat": ((None, 0, "create"),),
    # Landlock checks READ_FILE as well as EXECUTE when execve opens the file
    "execve": ((None, 0, "rx"),), "execveat": ((0, 1, "rx"),),
    "truncate": ((None, 0, "w"),),
    "stat": ((None, 0, ""),), "lstat": ((None, 0, ""),), "newfstatat": ((0, 1, ""),),
    "statx": ((0, 1, ""),), "access": ((None, 0, ""),), "faccessat": ((0, 1, ""),),
    "faccessat2": ((0, 1, ""),), "readlink": ((None, 0, ""),), "readlinkat": ((0, 1, ""),),
    "chdir": ((None, 0, ""),), "statfs": ((None, 0, ""),),
    "chmod": ((None, 0, ""),), "fchmodat": ((0, 1, ""),), "fchmodat2": ((0, 1, ""),),
    "chown": ((None, 0, ""),), "lchown": ((None, 0, ""),), "fchownat": ((0, 1, ""),),
    "utime": ((None, 0, ""),), "utimes": ((None, 0, ""),), "utimensat": ((0, 1, ""),),
    "futimesat": ((0, 1, ""),),
    "unlink": ((None, 0, "parent:c"),), "unlinkat": ((0, 1, "parent:c"),),
    "rmdir": ((None, 0, "parent:c"),),
    "mkdir": ((None, 0, "new"),), "mkdirat": ((0, 1, "new"),),
    "mknod": ((None, 0, "new"),), "mknodat": ((0, 1, "new"),),
    "rename": ((None, 0, "parent:c"), (None, 1, "dest")),
    "renameat": ((0, 1, "parent:c"), (2, 3, "dest")),
    "renameat2": ((0, 1, "parent:c"), (2, 3, "dest")),
    # a link's source: "r" on it, and c on its directory: into another directory it is
    # a reparenting, which Landlock refuses (EXDEV) without REFER on both directories
    "link": ((None, 0, "refer"), (None, 1, "new")),
    "linkat": ((0, 1, "refer"), (2, 3, "new")),
    "symlink": ((None, 1, "new"),), "symlinkat": ((1, 2, "new"),),
}
#: linkat(2)'s flag: link the file a symlink source names (ln -L).
AT_SYMLINK_FOLLOW = 0x400
#: Calls that create a path: whether it existed before is part of their key, as for creat.
CREATING = frozenset(n for n, uses in PATHS.items()
                     if any(u in ("new", "dest") for _, _, u in uses))
#: Calls that remove a path: whether it existed before is part of their key too (a file
#: read and then removed is the run's input, which the report still unveils).
REMOVING = frozenset(n for n, uses in PATHS.items()
                     if any(u.startswith("parent:") for _, _, u in uses))
#: The open flags whose names make an argument readable.
_OPEN_FLAGS = ((O_ACCMODE, O_RDONLY, "O_RDONLY"), (O_ACCMODE, O_WRONLY, "O_WRONLY"),
               (O_ACCMODE, O_RDWR, "O_RDWR"), (O_CREAT, O_CREAT, "O_CREAT"),
               (O_TRUNC, O_TRUNC, "O_TRUNC"), (O_DIRECTORY, O_DIRECTORY, "O_DIRECTORY"),
               (O__TMPFILE, O__TMPFILE, "O_TMPFILE"))


class _Key(namedtuple("_Key", "syscall argument needs path access interval early",
                      defaults=(False,))):
    """A recorded call's identity; *early*: made in the loader's phase (before main)."""

    __slots__ = ()


#: What the start-up shim's report is (exec/shim.py: lookup_dcookie(COOKIE, phase)).
SHIM_COOKIE, SHIM_READY, SHIM_FAILED = 0x5053484D45444750, 1, 3
#: Stat calls that are fstat(fd) with "" and AT_EMPTY_PATH, and what that needs.
EMPTY_PATH_FSTAT = frozenset({"newfstatat", "statx"})
#: Their flags argument: with AT_EMPTY_PATH in it, whether the path is "" decides what
#: the call needs, so C reads it for every such call (its key); else only for the first.
EMPTY_PATH_FLAGS = {"newfstatat": 3, "statx": 2}
STDIO = frozenset({frozenset({"stdio"})})
FATTR = frozenset({frozenset({"fattr"})})
#: What a dynamically linked program's loader may use before main under the pledge
#: command (besides the asked promises, stdio among them): exec/shim.py's phase.
LOADER = frozenset({"rpath", "prot_exec"})


_new = tuple.__new__


class Pre(namedtuple("Pre", "paths facts slot program empty sigdfl tty plain",
                     defaults=(False, False, False, (False, False)))):
    """A call's paths as C read them before it ran: absolute (None: unreadable),
    (existed, is a directory) for each, the id C counts its like under (-1:
    none), the caller's program name when C saw the pid first (else None),
    whether the first path argument was "" (fstat spelled as a path call), and
    whether the call was posix_spawn's rt_sigaction(SIGSYS, {SIG_DFL}, NULL), and
    whether the first path was spelled exactly "/dev/tty" (exec/ttyopen.py), and
    whether each path was spelled plainly (absolute, no empty, "." or ".." component:
    the only spelling the command's allowance answers take, exec/allowed.py: _plain)."""

    __slots__ = ()
    paths: tuple[str | None, ...]
    facts: tuple[tuple[bool, bool], ...]
    slot: int
    program: str | None
    empty: bool
    sigdfl: bool
    tty: bool
    plain: tuple[bool, bool]


#: Calls whose path neither Landlock checks nor the working directory follows (stat,
#: access, readlink, ...): only their promise matters, so the C loop counts them by kind,
#: not by path (tar's fstatat of each file would be a row each), and reads the path only
#: of the first of a kind (EMPTY_PATH_FLAGS: but for those with AT_EMPTY_PATH), shown.
UNKEYED = frozenset(n for n, uses in PATHS.items() if not any(u for _, _, u in uses)) - {
    "chdir", "fchdir"}
#: Calls whose path Landlock checks, or that move the working directory (relative
#: paths are resolved against it): seen even when a granted promise allows them.
SEEN = frozenset(n for n, uses in PATHS.items() if any(u for _, _, u in uses)) | {
    "chdir", "fchdir"}


def confine(promises: frozenset[str], granted: frozenset[str] = frozenset(),
            told: int = -1) -> int:
    """In the child, just before exec: every call *promises* refuse goes to the listener,
    except those *granted* allows whose path does not matter to unveil. A byte goes to
    *told* (when >= 0) just before the filter: after it, even a write may wait on the
    listener nobody holds yet."""
    kernel.prepare()
    if abi.current().available:
        domain.enter()  # the recorder's /proc/<pid>/mem stays out of the program's reach
    arch = kernel.arch() or "x86_64"
    # the calls whose paths unveil checks are seen whatever the promises (audit mode's
    # unveil list too); the calls the promises refuse, to be recorded
    plan, strict = build(promises | granted, arch), build(frozenset(), arch)
    for name in SEEN:
        if name in BY_ARCH[arch]:
            plan.actions[BY_ARCH[arch][name]] = strict.actions[BY_ARCH[arch][name]]
    for name in ("execve", "execveat"):  # always seen: they mark where the program starts
        plan.actions[BY_ARCH[arch][name]] = TRAP
    # glibc's nscd probe fails quietly (EACCES), as the command answers it under rpath,
    # getpw or dns, one of which every run that reads nsswitch.conf is learned to need:
    # run for real, a probe that connects would look like a need for unix or inet
    nr = BY_ARCH[arch]["socket"]
    plan.actions[nr] = build(promises | granted | {"getpw"}, arch).actions[nr]
    if "stdio" in granted:
        _fstat_runs(plan, arch)
    code = compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF)
    if told >= 0:
        os.write(told, b".")
    return kernel.install(code, all_threads=False, listener=True)


#: Calls the command may answer as a read allowance (exec/allowed.py: answer), and
#: where the files they answer are (one str.startswith turns the rest away).
ANSWERED = frozenset({"open", "openat", "newfstatat"})
DNS_OR_GETPW = frozenset({frozenset({"dns"}), frozenset({"getpw"})})
#: tmppath's way: a create or unlink under /tmp/ the command lets run (exec/tmpcreate.py).
TMPPATH = frozenset({"tmppath"})
TMP_CALLS = frozenset({"open", "openat", "creat", "unlink", "unlinkat"})
#: Opens of the controlling terminal tty alone allows (exec/ttyopen.py; policy.PATHS).
TTY_OPENS = frozenset({"open", "openat"})
TTY = frozenset({frozenset({"tty"})})
AT_NO_AUTOMOUNT = 0x800


ANSWERED_ROOTS = ("/etc/", "/proc/sys/kernel/", *(t + "/" for t in allowed.CATALOGS),
                  # stdio's files elsewhere (their stats are keyed by path in C too:
                  # native/learn.c allowance_like)
                  "/usr/share/zoneinfo/", "/usr/lib/zoneinfo/", "/usr/share/lib/zoneinfo/",
                  "/sys/devices/system/cpu/", "/proc/sys/vm/")


#: glibc's netlink probe for AI_ADDRCONFIG (policy.netlink_probe): a quiet refusal under
#: dns or inet, so what it needs is one of them; the C loop answers it EACCES as they do.
NETLINK_PROBE = (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
DNS_OR_INET = frozenset({frozenset({"dns"}), frozenset({"inet"})})


def _fstat_runs(plan: Plan, arch: str) -> None:
    """Let fstat spelled as a path call (a descriptor and AT_EMPTY_PATH: what glibc's
    fstat is) run without a notification, when learning with stdio granted: tar makes
    two a file. The filter cannot read the path, so a real stat with AT_EMPTY_PATH and a
    name goes unseen too: the learned set may then lack its rpath (narrower, never
    wider: the command then refuses that call, loudly). Audits and --every-call see all."""
    for name, flags in (("newfstatat", 3), ("statx", 2)):
        nr = BY_ARCH[arch].get(name)
        if nr is None:
            continue
        rule = when("stdio", name, bits_set(flags, AT_EMPTY_PATH),
                    none_of(0, AT_FDCWD & 0xFFFFFFFF))
        act = plan.action(nr)
        if act.kind == "args":
            plan.actions[nr] = Action("args", (*act.rules, rule))
        elif act.kind != "allow":
            plan.actions[nr] = Action("args", (rule,))


_ACCESS: dict[tuple[int, bool], tuple[str, str]] = {}


def _open_access(flags: int, existed: bool) -> tuple[str, str]:
    """(letters on the path, letters on its directory) an open with *flags* needs."""
    got = _ACCESS.get((flags, existed))
    if got is None:
        got = _ACCESS[flags, existed] = _access(flags, existed)
    return got


def _access(flags: int, existed: bool) -> tuple[str, str]:
    mode = flags & O_ACCMODE
    letters = {O_RDONLY: "r", O_WRONLY: "w"}.get(mode, "rw")
    if flags & O_TRUNC:
        letters += "w"
    if flags & O__TMPFILE:
        return "", letters + "c"  # an unnamed file in that directory
    if flags & O_CREAT and not existed:
        return "", letters + "c"  # the file may not exist when the policy is applied
    return letters, ""


def _utf8(path: str) -> bool:
    """Whether *path* (os.fsdecode'd) was UTF-8, as the command's answers decode it."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return False
    return True


def _tmppath(name: str, path_index: int, args: tuple[int, ...],
             needs: frozenset[frozenset[str]]) -> frozenset[frozenset[str]]:
    """*needs* of a call on a plainly spelled path under /tmp/ with tmppath's way added
    when the command lets it run under tmppath (exec/tmpcreate.py: the same test of its
    flags and mode). Not an O_TMPFILE open: the command answers that EOPNOTSUPP, and what
    the program does then (a named file instead, or giving up) this run never did. The
    report drops the way again when the learned -v rules would make the command refuse
    it (tmpcreate.refusal: learn/report.py)."""
    taken = tmpcreate.takes(name, args)
    if taken is None or taken[1] or taken[0] != path_index:
        return needs
    alts = needs | {TMPPATH}
    return frozenset(a for a in alts if not any(b < a for b in alts))


def _stdio_allowance(path: str, flags: int, existed: bool) -> bool:
    """Whether OpenBSD lets this open through under ``stdio`` alone, unveil or not
    (policy.PATHS: /dev/null, the time zone files, the CPU-count files): every learned
    set holds stdio, so such an open needs neither a promise nor an unveil rule. A read
    of a missing one too: the command answers it ENOENT (``TZ=UTC0`` looks for
    ``zoneinfo/UTC0``), as a pledged Python's Landlock layer refuses it."""
    if flags & (O__TMPFILE | O_DIRECTORY) or not path.startswith(_stdio_roots()):
        return False
    writes = flags & O_ACCMODE != O_RDONLY or flags & (O_CREAT | O_TRUNC)
    if writes and not existed:
        return False
    for root, letters in prepared.paths()["stdio"]:
        inside = path == root or path.startswith(root.rstrip("/") + "/")
        if inside and (not writes or ("w" in letters and root in prepared.data()["duped"])):
            return True
    return False


def _stdio_stat(path: str) -> bool:
    """Whether the command answers a plain stat() of *path* under stdio alone
    (exec/allowed.py answer(): a regular file of stdio's allowance, as it really is,
    or a missing one, ENOENT; a directory there is a violation)."""
    if not path.startswith(_stdio_roots()):
        return False
    roots = tuple(r for r, letters in prepared.paths()["stdio"] if "r" in letters
                  and r not in prepared.data()["duped"])
    if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
        return False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    real = os.path.realpath(path)
    return stat.S_ISREG(st.st_mode) and any(real == r or real.startswith(r.rstrip("/") + "/")
                                            for r in roots)


_STDIO_ROOTS: list[tuple[str, ...]] = []


def _stdio_roots() -> tuple[str, ...]:
    """The stdio allowance's paths, for one str.startswith that turns away (in C) the
    thousands of paths a run opens elsewhere before the loop above looks at each."""
    if not _STDIO_ROOTS:
        _STDIO_ROOTS.append(tuple(allowed for allowed, _ in prepared.paths()["stdio"]))
    return _STDIO_ROOTS[0]


_FLAGS_TEXT: dict[int, str] = {}


def _flags_text(flags: int) -> str:
    text = _FLAGS_TEXT.get(flags)
    if text is None:
        text = _FLAGS_TEXT[flags] = "|".join(
            n for mask, value, n in _OPEN_FLAGS if flags & mask == value)
    return text


class _Process:
    """What the recorder knows of one pid: its memory, its name."""

    __slots__ = ("pid", "mem", "program")

    def __init__(self, pid: int, program: str | None = None) -> None:
        self.pid, self.mem = pid, -1
        if program is not None:  # read by C while the call waited
            self.program = program
            return
        try:
            self.program = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            self.program = "?"

    def read_bytes(self, addr: int, size: int) -> bytes | None:
        """*size* bytes at *addr*, or None."""
        if addr > OFF_MAX - size or (self.mem < 0 and self.read(addr) is None):
            return None
        try:
            return os.pread(self.mem, size, addr)
        except OSError:
            return None

    def read(self, addr: int) -> bytes | None:
        """The NUL-terminated string at *addr*, or None when it cannot be read."""
        if addr > OFF_MAX - PATH_MAX:  # no user address; os.pread: OverflowError
            return None
        for attempt in (0, 1):
            if self.mem < 0 or attempt:
                self.close()  # after execve the old descriptor reads a gone mm
                try:
                    self.mem = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return None
            out, at = b"", addr
            try:
                while len(out) < PATH_MAX:
                    chunk = os.pread(self.mem, PAGE - at % PAGE, at)
                    if not chunk:
                        break
                    end = chunk.find(b"\0")
                    if end >= 0:
                        return out + chunk[:end]
                    out, at = out + chunk, at + len(chunk)
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self.mem >= 0:
            os.close(self.mem)
            self.mem = -1


class Recording:
    """Calls received so far, aggregated, with counts and the first caller."""

    def __init__(self, arch: str, start_pid: int, audited: frozenset[str],
                 python: bool = False, shim: bool = False, capable: bool = True) -> None:
        self.names = {nr: name for name, nr in BY_ARCH[arch].items()}
        self.rules: dict[str, list[Rule]] = {}
        rules = rules_of(arch)
        for rule, _ in rules:
            # promises only: quiet refusals and the handler's own retries allow nothing,
            # but fattr's EPERM for a chown to another *owner* where the program has no
            # CAP_CHOWN: the kernel answers that call EPERM too, whatever the file, so the
            # run under fattr is the same run. Not its EPERM for another group: the kernel
            # lets an owner "change" to the file's own group without being in it (a no-op
            # chgrp), which fattr refuses (as OpenBSD's pledge_chown)
            quiet_as_kernel = (not capable and rule.errno == errno.EPERM
                               and rule.needs == FATTR_WORD and rule.syscall in CHOWNS
                               and rule.args[0].index == CHOWNS[rule.syscall])
            if (not rule.errno or quiet_as_kernel) and rule.needs <= _WORDS:
                self.rules.setdefault(rule.syscall, []).append(rule)
        self.hold = bytearray(max(self.names) + 1)
        if python:  # every call waits, so where it came from can be read
            self.hold = bytearray(b"\1" * len(self.hold))
        self.python = python
        self.wheres: dict[int, int] = {}  # pid -> address of its file:line buffer
        # pids whose last call was an execve, with their auxiliary vector then (a new
        # program has another: its memory is not the one the buffer was in), and pids
        # that went on in a new program (never given their parent's buffer)
        self.execing: dict[int, bytes | None] = {}
        self.execd: set[int] = set()
        self.checkpoints: list[Checkpoint] = []
        for name in PATHS:
            if name in BY_ARCH[arch]:
                self.hold[BY_ARCH[arch][name]] = 1
        self.start_pid, self.started, self.audited = start_pid, False, audited
        # The loader's phase (as the pledge command's, exec/shim.py): with the start-up
        # shim preloaded, from the program's execve to its READY; without, none.
        self.magic = BY_ARCH[arch].get("lookup_dcookie", -1)
        self.shim, self.early = shim, shim
        self.go: float | None = None  # when the program was let run (time.monotonic)
        self.ready: float | None = None  # when READY came
        self.failed: str | None = None  # what the shim reported instead
        self.loader: list[Observation] = []  # the loader's calls (observations())
        self.procs: dict[int, _Process] = {}
        # key -> [count, pid, program, first file:line, when (the call's number)]
        self.seen: dict[_Key, list[Any]] = {}
        self.calls = 0
        self.uid, self.gids = os.getuid(), tuple(sorted({os.getgid(), *os.getgroups()}))
        self.shapes: dict[str, tuple[tuple[int, bool], ...]] = {}
        self.placeholders = {r.syscall for r, placeholder in rules if placeholder}
        self.judged: dict[tuple[Any, ...], tuple[frozenset[frozenset[str]], str]] = {}
        self.allowed: dict[frozenset[frozenset[str]], bool] = {}  # needs -> audited allow
        self.resolved: dict[tuple[Any, ...], list[_Key]] = {}
        # A working directory can be cached only while every chdir is seen.
        self.cwd_known = not audited & {"rpath"}
        self.cwds: dict[int, str] = {}
        self.ids: dict[int, list[_Key]] = {}  # C's id of a call -> the keys it counted
        self._config: tuple[str, bytearray] | None = None

    def _proc(self, pid: int, program: str | None = None) -> _Process:
        proc = self.procs.get(pid)
        if proc is None:
            proc = self.procs[pid] = _Process(pid, program)
        return proc

    def config(self, arch: str) -> bytearray:
        """For C (pp_learn_loop): CONFIG int16 values per syscall number (made once: the
        recorder makes it while the child sets itself up, before PROG's calls wait)."""
        if self._config is None or self._config[0] != arch:
            self._config = (arch, self._make_config(arch))
        return self._config[1]

    def _make_config(self, arch: str) -> bytearray:
        numbers = BY_ARCH[arch]
        # int16 values, -1 unless set (a memoryview, not array.array: see record_loop)
        out = bytearray(b"\xff\xff" * (CONFIG * (max(numbers.values()) + 1)))
        cfg = memoryview(out).cast("h")
        for name, nr in numbers.items():
            at = CONFIG * nr
            for i, (dirfd_index, path_index, use) in enumerate(PATHS.get(name, ())[:2]):
                cfg[at + 2 * i] = -1 if dirfd_index is None else dirfd_index
                cfg[at + 2 * i + 1] = path_index + (CFG_UNKEYED if name in UNKEYED else 0)
                if use == "open":
                    cfg[at + 5] = 1 if dirfd_index is None else dirfd_index + 2
            bits = 0
            for index, null_only in self._shape(name):
                bits |= 1 << (index + 6 if null_only else index)
            if cfg[at + 5] >= 0:
                bits |= 1 << cfg[at + 5]
            bits |= CFG_PID if name in self.placeholders else 0
            bits |= CFG_ALWAYS if name in ("execve", "execveat") else 0
            bits |= CFG_FACTS if name == "creat" or name in CREATING or name in REMOVING else 0
            bits |= CFG_FORGET if name in FORGET else 0
            cfg[at + 4] = bits - (1 << 16) if bits >= 1 << 15 else bits
            cfg[at + 6] = EMPTY_PATH_FLAGS.get(name, -1)
        cfg.release()
        return out

    def _shape(self, name: str) -> tuple[tuple[int, bool], ...]:
        """The arguments *name*'s rules and key read: (index, only tested for NULL)."""
        shape = self.shapes.get(name)
        if shape is None:
            tests: dict[int, bool] = {}
            for rule in self.rules.get(name, ()):
                for a in rule.args:
                    tests[a.index] = tests.get(a.index, True) and a.wide and a.values == (0,)
            key = prepared.keys().get(name)
            if key is not None:
                tests[key[0]] = False
            shape = self.shapes[name] = tuple(sorted(tests.items()))
        return shape

    def needs(self, name: str, args: tuple[int, ...], pid: int) -> frozenset[frozenset[str]]:
        """Every promise set one of whose rules allows this call (minimal sets only)."""
        who = Identity(pid, self.uid, self.gids)
        alts = {r.needs for r in self.rules.get(name, ())  # (Recording keeps no other
                if all(a.matches(args) for a in concrete(r, who).args)}  # quiet refusal)
        return frozenset(a for a in alts if not any(b < a for b in alts))

    def _judge(self, name: str, args: tuple[int, ...],
               pid: int) -> tuple[frozenset[frozenset[str]], str]:
        """(needs, argument in words), cached on the arguments the rules read."""
        key = (name, pid if name in self.placeholders else 0,
               tuple(bool(args[i]) if null_only else args[i] & 0xFFFFFFFF
                     for i, null_only in self._shape(name)))
        got = self.judged.get(key)
        if got is None:
            got = self.judged[key] = (self.needs(name, args, pid), self._argument(name, args))
        return got

    def _argument(self, name: str, args: tuple[int, ...]) -> str:
        key = prepared.keys().get(name)
        if key is None:
            return ""
        index, how, names = key
        value = args[index] & 0xFFFFFFFF
        kinds = prepared.data()["key_kinds"]
        if how == kinds["flags"]:
            shown = [n for mask, v, n in names if value & mask == v and (v or mask != 0xFFFFFFFF)]
            return "|".join(shown) or hex(value)
        if how == kinds["enum"]:
            return next((n for _, v, n in names if v == value), hex(value))
        if how == kinds["signal"]:  # as the handler's message names it
            return next((n for _, v, n in names if v == value), str(value))
        return str(value) if how == kinds["int"] else ""

    def _base(self, proc: _Process, dirfd_index: int | None, args: tuple[int, ...]) -> str | None:
        """The directory a relative path in this call starts from."""
        dirfd = AT_FDCWD if dirfd_index is None else \
            int.from_bytes((args[dirfd_index] & 0xFFFFFFFF).to_bytes(4, "little"),
                           "little", signed=True)
        if dirfd == AT_FDCWD and proc.pid in self.cwds:
            return self.cwds[proc.pid]
        try:
            base = os.readlink(f"/proc/{proc.pid}/{'cwd' if dirfd == AT_FDCWD else f'fd/{dirfd}'}")
        except OSError:
            return None
        if dirfd == AT_FDCWD and self.cwd_known:
            self.cwds[proc.pid] = base
        return base

    def _path(self, proc: _Process, dirfd_index: int | None, path_index: int,
              args: tuple[int, ...]) -> str | None:
        return self._spelled(proc, dirfd_index, path_index, args)[0]

    def _spelled(self, proc: _Process, dirfd_index: int | None, path_index: int,
                 args: tuple[int, ...]) -> tuple[str | None, bool]:
        """The call's path, absolute (None: unreadable), and whether it was spelled
        plainly (as C's plain_spelling: "/" alone, or allowed._plain's)."""
        raw = proc.read(args[path_index]) if args[path_index] else b""
        if raw is None:
            return None, False
        if raw.startswith(b"/"):
            return walked(os.fsdecode(raw)), raw == b"/" or allowed._plain(raw) is not None
        base = self._base(proc, dirfd_index, args)
        if base is None:
            return None, False
        return walked(os.path.join(base, os.fsdecode(raw)) if raw else base), False

    @property
    def interval(self) -> int:
        return len(self.checkpoints)

    def add(self, nr: int, pid: int, args: tuple[int, ...], pre: Pre | None = None
            ) -> int | None:
        """Record one call (its memory still readable when it is a held one, or its
        paths read by C: *pre*); the answer for a call that must not run (0 or -errno:
        pyboot's messages, the start-up shim's report), else None (it runs)."""
        if nr == self.magic and args[0] == SHIM_COOKIE:
            return self._shim_report(pid, args)
        name = self.names.get(nr)
        if name is None:  # (not as get's default: that is formatted for every call)
            name = f"syscall {nr}"
        if not self.started and pid == self.start_pid:
            self.started = name in ("execve", "execveat")
            if self.started and pre is not None and pre.paths[0]:
                # C named the pid before it exec'd: the program is the one it runs now
                self._proc(pid, pre.program).program = os.path.basename(pre.paths[0])
            return None  # the pledge command's own child, up to the exec of the program
        proc = self._proc(pid, pre.program if pre else None)
        try:
            return self._add(name, nr, proc, args, pre)
        finally:
            if name in FORGET:
                # after the call (which resolved its own path against the old one):
                # threads and CLONE_FS children share a working directory, and a
                # new process may reuse the pid of one that had another
                self.cwds.clear()

    def _fstat(self, name: str, proc: _Process, args: tuple[int, ...], pre: Pre | None) -> bool:
        """Whether this stat call is fstat(fd) spelled as glibc spells it: a descriptor,
        "" and AT_EMPTY_PATH (a "stdio" call, as the command answers it)."""
        flags = args[3] if name == "newfstatat" else args[2]
        fd = int.from_bytes((args[0] & 0xFFFFFFFF).to_bytes(4, "little"), "little", signed=True)
        if not flags & AT_EMPTY_PATH or fd < 0 or not args[1]:
            return False
        if pre is not None:
            return pre.empty
        return proc.read(args[1]) == b""

    def _sigsys_default(self, proc: _Process, args: tuple[int, ...], pre: Pre | None) -> bool:
        """Whether this is posix_spawn's rt_sigaction(SIGSYS, {SIG_DFL}, NULL): C read the
        action while the call waited (*pre*), else it still waits (audit mode)."""
        if args[0] & 0xFFFFFFFF != SIGSYS or not args[1] or args[2]:
            return False
        if pre is not None:
            return bool(pre.sigdfl)
        return proc.read_bytes(args[1], 8) == bytes(8)

    def _shim_report(self, pid: int, args: tuple[int, ...]) -> int:
        """The start-up shim's report: READY ends the loader's phase for every process
        (from anyone, as the supervisor takes it); the answer pp_learn_loop gives too."""
        import time

        if args[1] == SHIM_READY:
            if self.early:
                self.early, self.ready = False, time.monotonic()
            return 0
        if self.failed is None:
            self.failed = (f"failed ({os.strerror(args[2] & 0xFFFF)})" if args[1] == SHIM_FAILED
                           and args[2] != errno.ENOENT else
                           "found no mark of its own (code that ran before it changed the "
                           "environment)" if args[1] == SHIM_FAILED else
                           f"sent an unknown report {args[1]}")
            self.failed += f" in pid {pid}"
        return -errno.ENOSYS

    def _add(self, name: str, nr: int, proc: _Process, args: tuple[int, ...],
             pre: Pre | None) -> int | None:
        pid = proc.pid
        if self.python:
            if pid not in self.wheres and pid != self.start_pid and pid not in self.execd:
                self._inherit(pid)
            if name == "execve":
                raw = proc.read(args[0]) if args[0] else b""
                if raw is not None and raw.startswith(LEARN_MARKER):
                    self._message(proc, raw[len(LEARN_MARKER):])
                    return -LEARN_ANSWER
                # the call is still the caller's, counted with its file:line (subprocess's
                # child holds the line it was started from); a PATH search makes several
                self.execing.setdefault(pid, _auxv(pid))
            elif pid in self.execing:
                before = self.execing.pop(pid)
                if before is None or _auxv(pid) != before:  # a new program: another memory
                    self.execd.add(pid)
                    self.wheres.pop(pid, None)
                # else every exec failed: the same program goes on, its line with it
        needs, argument = self._judge(name, args, pid)
        if name in EMPTY_PATH_FSTAT and self._fstat(name, proc, args, pre):
            needs = STDIO  # as the supervisor answers it (exec/answer.py: fstat_for)
        elif name == "rt_sigaction" and (not self.python or self._sigsys_default(proc, args, pre)):
            # under the command any rt_sigaction is stdio's (exec/refuse.py: FREED); in a
            # Python program, only posix_spawn's SIG_DFL (exec/answer.py: sigsys_default_for)
            needs = STDIO
        elif name in XATTR_WRITES and not self.python:
            needs = FATTR  # the command answers it EOPNOTSUPP (exec/answer.py: xattr_write_for)
        elif name == "socket" and tuple(a & 0xFFFFFFFF for a in args[:3]) == NETLINK_PROBE:
            needs = DNS_OR_INET  # refused quietly there, as here (native/learn.c)
        elif name in NUMA and not self.python:
            needs = STDIO  # the command answers it ENOSYS (exec/answer.py: numa_for)
        elif not self.python and (name in INOTIFY_INITS or (
                name == "ioctl" and args[1] & 0xFFFFFFFF in REFLINKS)):
            # the command answers them ENOSYS, EOPNOTSUPP (inotify_for, reflink_for), and
            # so did the loop here (native/learn.c): GNU tail -f polls, cp copies
            needs = STDIO
        allowed = self.allowed.get(needs)
        if allowed is None:
            allowed = self.allowed[needs] = any(w <= self.audited for w in needs)
        if allowed:
            # allowed by the promises audited: recorded only for the paths it used
            # (the report's unveil list; the report knows it needs nothing more)
            if name in ("execve", "execveat"):
                path = pre.paths[0] if pre else self._path(proc, *PATHS[name][0][:2], args)
                proc.program = os.path.basename(path or proc.program)
            if name not in PATHS:
                return None
        uses = PATHS.get(name, ())
        counted: list[_Key] = []
        if pre is not None and pre.slot >= 0:
            self.ids[pre.slot] = counted  # C counts the calls like this one
        if not uses:
            key = _Key(name, argument, needs, None, "", self.interval)
            counted.append(self._count(key, proc))
            return None
        # a link whose new name exists fails with EEXIST before Landlock looks (as
        # "new" says): its source then needs nothing, neither r nor c on its directory
        over = uses[0][2] == "refer" and self._existed(proc, 1, uses[1], args, pre)
        for i, (dirfd_index, path_index, use) in enumerate(uses):
            if over and use == "refer":
                continue
            # the command's answers (and a pledged Python's handler) take only a plain
            # spelling (C saw the raw bytes): a file reached as "passwd" from /etc or as
            # "/etc//passwd" is rpath's there
            if pre is not None:
                path = pre.paths[i]
                plain = path is not None and pre.plain[i] and _utf8(path)
            else:  # python mode: the call waits, its memory is read here
                path, plain = self._spelled(proc, dirfd_index, path_index, args)
            if use == "refer" and path is not None and name == "linkat" and (
                    args[4] & 0xFFFFFFFF & AT_SYMLINK_FOLLOW):
                # ln -L: the file linked (whose directory Landlock's REFER checks) is
                # the one the symlink names, not the link's own directory; never through
                # /proc, whose links would name the recorder's own (kept as given then)
                from ....learn.paths import resolved
                path = resolved(path) or path
            if path is None or not plain:
                pass
            elif name in ANSWERED and (path == "/" or path.startswith(ANSWERED_ROOTS)):
                needs = self._answered(name, path, args, needs)
            elif path == ttyopen.TTY_PATH and name in TTY_OPENS:
                needs = self._tty(name, proc, args, pre, needs)
            elif pre is not None and name in TMP_CALLS and tmpcreate.under(path):
                needs = _tmppath(name, path_index, args, needs)
            memo = (name, use, path, argument, needs, plain)
            keys = self.resolved.get(memo)
            if keys is None:
                facts = pre.facts[i] if pre else None
                keys = self._resolve(name, use, path, argument, needs, args, dirfd_index, facts,
                                     plain)
                if use not in ("open", "new", "dest", "parent:c") or use == "open" and not args[
                        dirfd_index + 2 if dirfd_index is not None else 1] & (O_CREAT | O__TMPFILE):
                    self.resolved[memo] = keys  # creation depends on what exists now
            counted.extend([self._count(key, proc) for key in keys])
            if use == "rx" and path is not None:
                proc.program = os.path.basename(path)
        return None

    def _existed(self, proc: _Process, i: int, use: tuple[int | None, int, str],
                 args: tuple[int, ...], pre: Pre | None) -> bool:
        """Whether path *i* (*use*: PATHS's entry) of a call named an existing path before
        it ran (C's facts; python mode: the call still waits, so look now)."""
        if pre is not None:
            return pre.paths[i] is not None and pre.facts[i][0]
        path = self._path(proc, use[0], use[1], args)
        return path is not None and os.path.lexists(path)

    def _answered(self, name: str, path: str, args: tuple[int, ...],
                  needs: frozenset[frozenset[str]]) -> frozenset[frozenset[str]]:
        """*needs* of a read-only open or a stat of *path* with the ways the command's
        answers add (exec/allowed.py): a dns or getpw file needs that promise or rpath
        (``id`` learns "stdio getpw", as OpenBSD's pledges), "/" (NSS's stat) dns or getpw,
        the stdio extras (sysconf's files, catalogs: the command's only) stdio alone."""
        if name == "newfstatat":
            if self.python or args[3] & 0xFFFFFFFF & ~AT_NO_AUTOMOUNT:
                return needs  # lstat, AT_EMPTY_PATH: not answered (nor in a pledged Python)
            if path != "/" and _stdio_stat(path):
                return STDIO
            extra = DNS_OR_GETPW if path == "/" else allowed.granting(path)
        else:
            flags = args[2 if name == "openat" else 1] & 0xFFFFFFFF
            if flags & ~allowed.PLAIN or flags & O_ACCMODE != O_RDONLY:
                return needs
            if not self.python and allowed.stdio_extra(path):
                return STDIO
            extra = allowed.granting(path)
        if not extra:
            return needs
        alts = needs | extra
        return frozenset(a for a in alts if not any(b < a for b in alts))

    def _tty(self, name: str, proc: _Process, args: tuple[int, ...], pre: Pre | None,
             needs: frozenset[frozenset[str]]) -> frozenset[frozenset[str]]:
        """*needs* of an open of /dev/tty with tty's way added where tty alone allows it
        (OpenBSD's allowance: read and write without rpath or wpath): plain access flags
        only, as the command's answer (exec/ttyopen.py) and the in-process rules take;
        under the command only for the path spelled exactly "/dev/tty" (the supervisor
        compares the bytes: "//dev/tty" or "tty" from /dev stay rpath's and wpath's)."""
        flags = args[2 if name == "openat" else 1] & 0xFFFFFFFF
        if flags & ~ttyopen.PLAIN:
            return needs
        if not self.python and not (pre.tty if pre is not None else proc.read_bytes(
                args[PATHS[name][0][1]], len(ttyopen.TTY)) == ttyopen.TTY):
            return needs  # (without C's loop the call still waits: its memory is read)
        alts = needs | TTY
        return frozenset(a for a in alts if not any(b < a for b in alts))

    def harvest(self, counts: list[int]) -> None:
        """Add the calls C counted alone: *counts*[id] calls stood for id's first."""
        known = len(counts)
        for slot, keys in self.ids.items():
            extra = counts[slot] - 1 if slot < known else 0
            if extra <= 0:
                continue  # (most: tar's opens are each of another file)
            for key in keys:
                entry = self.seen.get(key)
                if entry is not None:
                    entry[0] += extra

    def _inherit(self, pid: int) -> None:
        """A forked child has its parent's memory, so its parent's buffer address."""
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                ppid = next(int(line.split()[1]) for line in f if line.startswith(b"PPid:"))
        except (OSError, StopIteration, ValueError):
            return
        if ppid in self.wheres:
            self.wheres[pid] = self.wheres[ppid]

    def _message(self, proc: _Process, body: bytes) -> None:
        """pyboot's messages: where its file:line buffer is, and checkpoints."""
        kind, _, rest = body.partition(b"/")
        if kind == b"where":
            address, _, token = rest.partition(b"/")
            try:
                start = proc.read_bytes(int(address, 16) + BYTEARRAY_START, 8)
            except ValueError:
                return
            if start is None:
                return
            data = int.from_bytes(start, "little")
            if proc.read(data) == token:  # the layout is the one we assumed
                self.wheres[proc.pid] = data
        elif kind == b"forget":  # the buffer is about to be freed (interpreter exit)
            self.wheres.pop(proc.pid, None)
        elif kind == b"checkpoint":
            try:
                fields = [None if f == "\0" else f
                          for f in bytes.fromhex(rest.decode()).decode().split("\x1f")]
            except ValueError:
                return
            if len(fields) == 5 and fields[0] in ("pledge", "unveil"):
                what, promises, execpromises, path, permissions = fields
                self.checkpoints.append(Checkpoint(what or "", promises, execpromises, path,
                                                   permissions, self._where(proc)))

    def _where(self, proc: _Process) -> str | None:
        address = self.wheres.get(proc.pid)
        if address is None:
            return None
        raw = proc.read(address)
        if not raw or raw.startswith(WHERE_TOKEN):
            return None  # no line of the user's code has run yet (or any more)
        try:  # pyboot writes "FILE:LINE" in UTF-8; anything else is not its line
            where = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return where if where.rpartition(":")[2].isdigit() else None

    def _resolve(self, name: str, use: str, path: str | None, argument: str,
                 needs: frozenset[frozenset[str]], args: tuple[int, ...],
                 dirfd_index: int | None, facts: tuple[bool, bool] | None = None,
                 plain: bool = True) -> list[_Key]:
        """What one path argument of a call records: (path, letters) keys; *facts*:
        whether it existed and was a directory before the call (else: look now); *plain*:
        whether it was spelled as the command's allowance answers take a path."""
        interval = self.interval
        if path is None:
            return [_Key(name, f"(unreadable) {argument}".rstrip(), needs, None, "", interval)]
        if use == "open" or use == "create":
            flags = args[dirfd_index + 2 if dirfd_index is not None else 1] & 0xFFFFFFFF
            if use == "create":
                flags = O_CREAT | O_WRONLY | O_TRUNC
            text = f"{path} {_flags_text(flags)}"
            existed, is_dir = facts or (os.path.lexists(path), os.path.isdir(path))
            if plain and not is_dir and _stdio_allowance(path, flags, existed):
                return [_Key(name, text, STDIO, None, "", interval)]
            own, parent = _open_access(flags, existed)
            if own and flags & O_DIRECTORY == 0 and is_dir:
                flags |= O_DIRECTORY  # opendir() without O_DIRECTORY: still a walk
            if flags & O_DIRECTORY and own == "r":
                own = "r/"  # a directory read: the program walked it
            # (tuple.__new__: _Key's own __new__ is a Python frame, and this is every open)
            keys = [_new(_Key, (name, text, needs, path, own, interval, False))] if own else []
            if parent:  # O_TMPFILE names the directory it makes its file in
                keys.append(_Key(name, text, needs, path if flags & O__TMPFILE
                                 else os.path.dirname(path), parent, interval))
            if flags & O_CREAT and not flags & O__TMPFILE and not existed:
                keys.append(_Key(name, text, needs, path, MADE, interval))
            return keys
        # counted by kind, in C: the path is the first of them
        text = f"{'e.g. ' if name in UNKEYED and not self.python else ''}{path} {argument}"
        text = text.rstrip()
        if use in ("new", "dest"):  # c on the directory; made, when nothing was there
            existed = facts[0] if facts else os.path.lexists(path)
            if existed and use == "new":  # EEXIST whatever the rules (makedirs, exist_ok)
                return [_Key(name, text, needs, None, "", self.interval)]
            keys = [_Key(name, text, needs, os.path.dirname(path), "c", self.interval)]
            if not existed:
                keys.append(_Key(name, text, needs, path, MADE, self.interval))
            return keys
        if use == "refer":  # (within one directory, the new name gives it c all the same)
            return [_Key(name, text, needs, path, "r", self.interval),
                    _Key(name, text, needs, os.path.dirname(path), "c", self.interval)]
        if use.startswith("parent:"):
            keys = [_Key(name, text, needs, os.path.dirname(path), use[7:], self.interval)]
            if facts[0] if facts else os.path.lexists(path):  # (python mode: before the call)
                keys.append(_Key(name, text, needs, path, REMOVED, self.interval))
            return keys
        return [_Key(name, text, needs, path, use, self.interval)]

    def _count(self, key: _Key, proc: _Process) -> _Key:
        """Count one call as *key* (in the loader's phase: its early twin); the key."""
        if self.early:
            key = key._replace(early=True)
        entry = self.seen.get(key)
        self.calls += 1
        if entry is None:
            where = self._where(proc) if proc.pid in self.wheres else None
            self.seen[key] = [1, proc.pid, proc.program, where, self.calls]
            return key
        entry[0] += 1
        if entry[3] is None and self.python:  # the first time the user's code made it
            entry[3], entry[4] = self._where(proc), self.calls
        return key

    def observations(self) -> list[Observation]:
        """What the program needed; those with a file:line first, in the order they were
        made. The loader's calls (before main, allowed by its promises: what the pledge
        command lets through until the shim's READY) go to :attr:`loader` instead; other
        calls before main need what they need less the loader's promises."""
        from ...base import Observation

        # (outside python mode no row has a file:line, and each keeps the number of the
        # call that made it, in the order they were made: the order they were added in)
        rows = sorted(self.seen.items(), key=lambda kv: (kv[1][3] is None, kv[1][4])) \
            if self.python else list(self.seen.items())
        shown: dict[frozenset[frozenset[str]], tuple[list[str], ...]] = {}
        held = LOADER | {"stdio"}  # stdio: every command's promises have it
        out, self.loader = [], []
        # no READY after all (the program ended, or the shim never ran, before main): no
        # phase the command would have let end, so every call is counted as the program's
        ended = self.ready is not None
        for k, (count, pid, program, where, _) in rows:
            needs = k.needs
            if k.early and not ended:
                pass
            elif k.early and any(w <= held for w in needs):
                self.loader.append(Observation(k.syscall, k.argument, _shown(shown, needs),
                                               k.path, k.access, count, pid, program, where,
                                               k.interval))
                continue
            elif k.early:  # the loader's promises held: the asked ones must give the rest
                needs = frozenset(w - LOADER for w in needs)
            out.append(Observation(k.syscall, k.argument, _shown(shown, needs),
                                   k.path, k.access, count, pid, program, where, k.interval))
        return out

    def close(self) -> None:
        for proc in self.procs.values():
            proc.close()


def _auxv(pid: int) -> bytes | None:
    """*pid*'s auxiliary vector (the kernel's, set at each exec: its stack and entry
    addresses differ from one program, or one exec, to the next), or None."""
    try:
        with open(f"/proc/{pid}/auxv", "rb") as f:
            return f.read()
    except OSError:
        return None


def _shown(shown: dict[frozenset[frozenset[str]], tuple[list[str], ...]],
           needs: frozenset[frozenset[str]]) -> tuple[list[str], ...]:
    """*needs* as sorted lists, one object per shape (the report memoises on it)."""
    got = shown.get(needs)
    if got is None:
        got = shown[needs] = tuple(sorted(sorted(n) for n in needs))
    return got


def walked(path: str) -> str:
    """Absolute *path* normalised as the kernel walks it: "." and "//" dropped, and
    ".." climbing out of where the walk really is (``LINK/..`` is the parent of LINK's
    target, not LINK's parent: os.path.normpath alone recorded a path the program never
    used); a ".." out of /proc, whose links name the recorder's own, is kept as given."""
    parts = path.split("/")
    if ".." not in parts:
        return os.path.normpath(path)
    here = "/"
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part != "..":
            here = here.rstrip("/") + "/" + part
        elif here == "/proc" or here.startswith("/proc/"):
            rest = [p for p in parts[i:] if p not in ("", ".")]
            return here.rstrip("/") + "/" + "/".join(rest)
        else:
            here = os.path.dirname(os.path.realpath(here))
    return here


#: C's bits 20 and 21 (paths 0 and 1 spelled plainly) as Pre.plain.
_PLAIN = ((False, False), (True, False), (False, True), (True, True))
#: C's facts bits (1, 2: path 0 existed, was a directory; 4, 8: path 1) as Pre.facts.
_FACTS = tuple(((bool(b & 1), bool(b & 2)), (bool(b & 4), bool(b & 8))) for b in range(16))


def _text(arena: Any, ffi: Any, offset: int, normal: bool = True) -> str | None:
    if offset == NONE:
        return None
    text = os.fsdecode(ffi.string(arena + offset))
    if normal and ("/." in text or "//" in text or text.endswith("/")):
        return walked(text)  # C joins without normalising
    return text


def record_loop(listener: int, recording: Recording, arch: str,
                started: Callable[[], None] | None = None) -> None:
    """:func:`record` without making any call wait for Python: a C loop in a thread
    of its own answers every call; Python records the new ones as they come."""
    import _thread  # threading's import costs ~1.5 ms of start-up; a lock is the join

    lib, ffi = native.lib(), native.ffi()
    cfg_bytes = recording.config(arch)
    cfg = ffi.from_buffer("int16_t[]", cfg_bytes)
    numbers = BY_ARCH[arch]
    ended: list[int] = []

    running = _thread.allocate_lock()
    running.acquire()

    def loop() -> None:  # the GIL is released for the whole call
        try:
            ended.append(int(lib.pp_learn_loop(
                listener, cfg, len(cfg_bytes) // (2 * CONFIG), recording.start_pid,
                numbers["execve"], numbers.get("execveat", -1), int(not recording.audited),
                recording.magic if recording.shim else -1)))
        finally:
            running.release()

    _thread.start_new_thread(loop, ())
    add, make_pre = recording.add, tuple.__new__  # (Pre's own __new__ is a Python frame)
    out = ffi.new("uint64_t[]", ROW * BATCH)
    arena = ffi.new("char[]", ARENA)
    words = memoryview(ffi.buffer(out)).cast("Q")
    ids = 0
    try:
        if started is not None:
            started()  # the loop is there to answer PROG's first call
        while True:
            n = lib.pp_learn_take(out, BATCH, arena, ARENA)
            if n == 0:
                break
            if n < 0:
                raise OSError(-n, f"reading the program's calls: {os.strerror(-n)}")
            # the rows in place, as 64-bit words (not array.array: its import, with the
            # collections.abc it registers with, is ~1.8 ms of every run's start-up); read
            # before the next take, the only writer of *out*
            rows = words[:ROW * n]
            for i in range(0, ROW * n, ROW):
                bits = rows[i + 10]
                slot = -1 if rows[i + 11] == NONE else int(rows[i + 11])
                if slot >= ids:
                    ids = slot + 1
                pre = make_pre(Pre, (
                    (_text(arena, ffi, rows[i + 8]), _text(arena, ffi, rows[i + 9])),
                    _FACTS[bits & 15], slot, _text(arena, ffi, rows[i + 12], normal=False),
                    bool(bits & 1 << 16), bool(bits & 1 << 24), bool(bits & 1 << 28),
                    _PLAIN[bits >> 20 & 3]))
                add(int(rows[i]), int(rows[i + 1]), tuple(rows[i + 2:i + 8]), pre)
    finally:
        while lib.pp_learn_take(out, BATCH, arena, ARENA) > 0:
            pass  # after an error here: the program still runs, its calls answered
        running.acquire()  # the loop's thread has ended
    if ended and ended[0] < 0:
        raise OSError(-ended[0], f"reading the program's calls: {os.strerror(-ended[0])}")
    counts = ffi.new("uint64_t[]", max(ids, 1))
    lib.pp_learn_counts(counts, ids)
    recording.harvest(list(counts))


def record(listener: int, recording: Recording, arch: str = "x86_64",
           started: Callable[[], None] | None = None) -> None:
    """Receive and continue calls until every process under the filter has gone;
    *started* is called once the calls can be answered (the go for the child)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()  # thousands of small records, no cycles: collections only cost time
    try:
        _record(listener, recording, arch, started)
    finally:
        if enabled:
            gc.enable()


def _record(listener: int, recording: Recording, arch: str,
            started: Callable[[], None] | None = None) -> None:
    lib, ffi = native.lib(), native.ffi()
    SYNC_WAKEUP[0] = int(lib.pp_notif_sync_wakeup(listener))  # best effort (Linux 6.6+)
    if not recording.python:
        record_loop(listener, recording, arch, started)
        return
    if started is not None:
        started()
    hold = ffi.from_buffer(recording.hold)
    out = ffi.new("uint64_t[]", 8 * BATCH)
    held_id, held = ffi.new("uint64_t *"), ffi.new("int *")
    words = memoryview(ffi.buffer(out)).cast("Q")  # (as in record_loop: no array module)
    while True:
        n = lib.pp_learn_batch(listener, hold, len(recording.hold), out, BATCH, held_id, held)
        if n == 0:
            return
        if n < 0:
            if n == -errno.EINTR:
                continue
            raise OSError(-n, f"reading the program's calls: {os.strerror(-n)}")
        rows = words[:8 * n]
        answer = None
        for i in range(0, 8 * n, 8):
            answer = recording.add(int(rows[i]), int(rows[i + 1]), tuple(rows[i + 2:i + 8]))
        if held[0]:
            # The memory was read while the caller waited; the answer is CONTINUE
            # whatever it said, so nothing the program does afterwards changes a verdict.
            # The exceptions never run: pyboot's messages are execve()s of paths that
            # must not run (refused), the shim's report a call no kernel should see.
            if answer is not None:
                lib.pp_notif_send(listener, held_id[0], answer)
            else:
                lib.pp_notif_continue(listener, held_id[0])  # -ENOENT: the caller died


class LoaderPhase:
    """How a recorded run's loader phase went: whether the start-up *shim* was preloaded
    (else the phase ends at the program's execve), the seconds from the go to its READY
    (None: none came), what it reported instead (*failed*), and the loader's calls."""

    __slots__ = ("shim", "ready_after", "failed", "calls", "deadline")

    def __init__(self, shim: bool, ready_after: float | None, failed: str | None,
                 calls: list[Observation]) -> None:
        from .shim import DEADLINE

        self.shim, self.ready_after, self.failed, self.calls = shim, ready_after, failed, calls
        self.deadline = DEADLINE  # the command's: a READY later than this, it kills


class Recorder:
    """The learn mode's halves on Linux (see :class:`..base.ExecRecorder`).

    Made in the parent before it forks: the child's :meth:`confine` says through a pipe
    made here (both ends close at exec) when its filter is about to go on, so that
    :meth:`watch` looks for the listener then, not all through the child's set-up."""

    def __init__(self) -> None:
        self._told: tuple[int, int] | None = os.pipe()
        self.phase: LoaderPhase | None = None  # the last watch()'s loader phase

    def confine(self, promises: frozenset[str], granted: frozenset[str] = frozenset()) -> None:
        confine(promises, granted, self._told[1] if self._told is not None else -1)

    def served(self, path: str, promises: frozenset[str]) -> bool:
        return allowed.served(path, promises)

    def tmppath(self, promises: frozenset[str],
                unveils: tuple[tuple[str, str], ...]) -> str | None:
        return tmpcreate.refusal(promises, False, unveils, abi.version())

    def start_up_shim(self, env: dict[str, str],
                      load: tuple[str, ...] = ()) -> tuple[dict[str, str], str]:
        """*env* with the pledge command's start-up shim preloaded (loading *load* first),
        and the shim's path; NativeBuildError when it is missing or stale."""
        from . import shim

        library = shim.library()
        return shim.environment(library, env, load), library

    def _listener(self, pid: int) -> int | None:
        """The parent's copy of child *pid*'s listener, once it has one (None: it ended)."""
        fd = None
        if self._told is not None:
            told, mine = self._told
            self._told = None
            os.close(mine)  # else the pipe would not close when the child ends
            try:
                if supervise.told_listener(pid, told, want=False) is not None:
                    fd = supervise.find_listener(pid)
            finally:
                os.close(told)
        else:
            fd = supervise.find_listener(pid)
        return None if fd is None else supervise.take_listener(pid, fd)

    def watch(self, pid: int, promises: frozenset[str], go: int, *,
              python: bool = False, shim: bool = False, capable: bool = True,
              ) -> tuple[list[Observation], list[Checkpoint]]:
        """As :meth:`..base.ExecRecorder.watch`; with *shim* (the start-up shim is
        preloaded), calls before its READY are the loader's (:attr:`phase`)."""
        arch = kernel.arch() or "x86_64"
        # made while the child sets itself up: after the go, PROG's calls wait for it
        recording = Recording(arch, pid, promises, python, shim, capable)
        if not python:
            recording.config(arch)
        try:
            observations, checkpoints = self._watch(pid, go, recording, arch)
        finally:
            recording.close()
        ready = recording.ready
        self.phase = LoaderPhase(
            shim, None if ready is None else ready - (recording.go or ready),
            recording.failed, recording.loader)
        return observations, checkpoints

    def _watch(self, pid: int, go: int, recording: Recording,
               arch: str) -> tuple[list[Observation], list[Checkpoint]]:
        released: list[bool] = []

        def release(ok: bool) -> None:
            """Let the child exec (*ok*) or, closing *go* unwritten, exit; once."""
            if not released:
                released.append(ok)
                try:
                    if ok:
                        import time

                        recording.go = time.monotonic()
                        os.write(go, b"x")
                finally:
                    os.close(go)

        try:
            listener = self._listener(pid)
            if listener is None:
                return [], []  # the child ended before confining itself: its status says why
            try:  # the go once the loop runs: PROG's first call does not wait for it to start
                record(listener, recording, arch, lambda: release(True))
            finally:
                os.close(listener)
        finally:
            release(False)
        return recording.observations(), recording.checkpoints

