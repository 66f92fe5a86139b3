"""Exec'd programs under execpromises alone, as on OpenBSD: the spawner's client.

At the first pledge holding ``exec`` (before any filter or Landlock domain of
pledgepy's), :func:`start` clones a spawner (``native/spawner.c``): a process
with exit signal 0, so ``wait()`` never sees it, outside every filter and
Landlock domain the caller enters later. It is handed the execpromises filter
and the rulesets exec'd programs enter. subprocess, ``os.posix_spawn*``,
``os.system`` and multiprocessing's spawn/forkserver then send it requests
(program, argv, env, cwd, descriptor numbers, flags) over a socket; it makes
each child with ``CLONE_PARENT`` (the caller is its parent: ``waitpid``,
``returncode`` and SIGCHLD are unchanged), and the child runs under exactly
the execpromises and the unveil rules in force, whatever the caller holds.
Its violations are explained by the spawner (SIGABRT, ENOSYS under ``error``).

Threat model (README: execpromises on Linux): the caller is assumed compromised
after its pledge. A request chooses only what a fork + exec would; the filter
and rulesets are the spawner's own: the first filter arrives before the
caller's first filter, and whatever comes later is stacked below it, which
only narrows.
"""

from __future__ import annotations

import _thread
import os

from ....promises import bits
from .. import native
from ..consts import (
    PR_GET_DUMPABLE,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_USER_NOTIF,
)
from ..landlock import abi
from ..seccomp.filter import ENOSYS_ERRNO, compile_plan
from ..seccomp.plan import ALLOW, TRAP, Plan, build, identity
from ..syscalls import BY_ARCH

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

MAGIC, JOB = 0x31535050, 0x52535050
FILTER, RULESET, SPAWN, SEAL = 1, 2, 3, 4
SETSID, RESTORE, INHERIT, SETPGID, RESETIDS, SIGMASK = 1, 2, 4, 8, 16, 32
OK, REFUSED, SETUP, CHDIR, EXEC = 0, 1, 2, 3, 4
#: waitpid's __WALL: a child that died before exec still has the spawner's exit signal 0
WALL = 0x40000000
PR_SET_PTRACER = 0x59616D61

_sock: int | None = None  # a raw descriptor: no ResourceWarning at exit, nothing to close
_pid: int | None = None
_owner: int | None = None  # the process that started it (forked children cannot use it)
_children: frozenset[str] | None = None  # what exec'd programs run under
_error = False
_lock = _thread.allocate_lock()
_libc: Any = None
WHY: str | None = None  # why the spawner does not run (status)


def _forget() -> None:
    """In a forked child: close the socket. The spawner serves a request as the caller
    (its ids, descriptors, cwd), so a fork that changes ids or is compromised later
    must not hold it. (A fork by native code skips this: its copy lasts to its exec.)"""
    global _sock
    if _sock is not None and _owner != os.getpid():
        os.close(_sock)
        _sock = None


os.register_at_fork(after_in_child=_forget)


def active() -> bool:
    """Whether exec'd programs of this process are made by the spawner."""
    return _sock is not None and _owner == os.getpid()


def children() -> frozenset[str] | None:
    """The promises the spawner's children run under (None: no spawner)."""
    return _children if active() else None


def pid() -> int | None:
    return _pid if active() else None


def fileno() -> int | None:
    """The socket to the spawner (pledgepy's own: the child closes nothing of it)."""
    return _sock


def unusable(in_domain: bool) -> str | None:
    """Why no spawner can be started here now (None: it can)."""
    from ..seccomp import kernel

    if not native.available():
        return native.MISSING or "no native module"
    if kernel.inherited():
        return "this process runs under filters it inherited"
    if not abi.current().available:
        return "no Landlock (it keeps the sandbox out of the spawner's memory)"
    if in_domain:
        return "this process is already in a Landlock domain (unveil before pledge)"
    try:
        import ctypes
    except ImportError:
        return "ctypes cannot be loaded"
    global _libc
    _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1:
        return "this process is not dumpable (after a change of ids): descriptors cannot be taken"
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", "rb") as f:
            scope = int(f.read() or b"0")
    except (OSError, ValueError):
        scope = 0  # no Yama: PR_SET_PTRACER is not needed
    if scope >= 2 and os.geteuid() != 0:
        return (f"Yama's ptrace_scope is {scope}: only root may take this process's "
                "descriptors")
    return None


#: The pid the spawner's layers are compiled with for "this process" (kill(self), tgkill,
#: prlimit): above any pid the kernel gives (pid_max <= 2**22), so each child, which
#: knows its pid only once made, replaces it in its own copy (spawner.c sp_patch_self)
CHILD_PID = 0x7FEDCBA9


def _child_identity() -> Any:
    me = identity()
    return type(me)(CHILD_PID, me.uid, me.gids, me.ip)


def first_layer(promises: frozenset[str], arch: str) -> tuple[Plan, bytes]:
    """The execpromises filter: violations and every execve go to the spawner's
    listener (it lets the child's own exec through once, and every one when
    *promises* hold exec: the child waits there until its listener is taken)."""
    plan = build(promises, arch, _child_identity())
    actions = dict(plan.actions)
    for name in ("execve", "execveat"):
        if name in BY_ARCH[arch]:
            actions[BY_ARCH[arch][name]] = TRAP  # a violation: USER_NOTIF below
    if "stdio" in promises and "rt_sigaction" in BY_ARCH[arch]:
        # SIGSYS's handler too: this layer's violations go to the listener, which no
        # handler can catch, and a child that pledges itself needs its handler to
        # explain what its own narrower filters trap (their calls never run either way)
        actions[BY_ARCH[arch]["rt_sigaction"]] = ALLOW
    notified = Plan(plan.arch, plan.promises, plan.error, actions, plan.sparse)
    return plan, compile_plan(notified, violation=SECCOMP_RET_USER_NOTIF)


def later_layer(promises: frozenset[str], arch: str) -> tuple[Plan, bytes]:
    """A narrower execpromises filter stacked under the first: it leaves execve to the
    first (the exec-once rule) and kills (ENOSYS under error) without a message."""
    plan = build(promises, arch, _child_identity())
    actions = dict(plan.actions)
    for name in ("execve", "execveat"):
        if name in BY_ARCH[arch]:
            actions[BY_ARCH[arch][name]] = ALLOW
    plan = Plan(plan.arch, plan.promises, plan.error, actions, plan.sparse)
    verdict = SECCOMP_RET_ERRNO | ENOSYS_ERRNO if plan.error else SECCOMP_RET_KILL_PROCESS
    return plan, compile_plan(plan, violation=verdict)


def start(promises: frozenset[str], arch: str, rulesets: Iterable[int]) -> bool:
    """Start the spawner (before any filter) with exec'd programs under *promises* and
    the Landlock *rulesets* (descriptors, closed by the caller). False: WHY says why."""
    global _sock, _pid, _owner, _children, _error, WHY
    import socket

    plan, code = first_layer(promises, arch)
    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = (end.detach() for end in pair)  # close-on-exec, as socketpair makes them
    got = native.lib().pp_spawner_start(theirs, 2)
    os.close(theirs)
    if got < 0:
        os.close(ours)
        WHY = f"the spawner cannot be started: {os.strerror(-got)}"
        return False
    if os.read(ours, 16) != b"R":
        os.close(ours)
        WHY = "the spawner did not start"
        return False
    _libc.prctl(PR_SET_PTRACER, int(got), 0, 0, 0)  # Yama: it takes our descriptors
    _sock, _pid, _owner = ours, int(got), os.getpid()
    try:
        _send_layer(plan, code)
        for fd in rulesets:
            add_ruleset(fd)
    except OSError as exc:
        seal(f"the spawner refused its configuration: {exc.strerror}")
        return False
    _children, _error = promises, plan.error
    WHY = None
    return True


def stop(why: str) -> None:
    """Stop using the spawner (exec'd programs fall back to narrowing in place)."""
    global _sock, WHY, _children
    if _sock is not None:
        os.close(_sock)
    _sock, _children, WHY = None, None, why


#: struct's little-endian codes the requests use: (size, signed).
_CODES = {"I": (4, False), "i": (4, True), "Q": (8, False)}


def _pack(layout: str, *values: int) -> bytes:
    """``struct.pack(layout, *values)`` for "<" and the codes of :data:`_CODES` (no
    padding): struct would load an extension module (a dlopen) at every unveil lock.
    OverflowError for a value out of its field's range, as struct.error."""
    if layout[:1] != "<" or len(layout) - 1 != len(values):
        raise ValueError(f"bad layout {layout!r} for {len(values)} value(s)")
    return b"".join(int(v).to_bytes(_CODES[code][0], "little", signed=_CODES[code][1])
                    for code, v in zip(layout[1:], values, strict=True))


def seal(why: str) -> None:
    """No more children, ever (the caller dropped exec): the spawner refuses every
    later request, whoever sends it; then stop using it."""
    if _sock is not None:
        try:
            _ask(_pack("<II", MAGIC, SEAL))
        except OSError:
            pass  # it has gone: nothing to seal
    stop(why)


def _ask(message: bytes) -> tuple[int, int, int]:
    assert _sock is not None
    with _lock:
        try:
            os.write(_sock, message)  # one record (SOCK_SEQPACKET)
            reply = os.read(_sock, 16)
        except OSError:
            reply = b""
        except BaseException:  # interrupted: its reply would answer the next request
            stop("a request to the spawner was interrupted")
            raise
    if len(reply) != 16:
        stop("the spawner has gone")
        raise OSError(32, "the spawner has gone")
    a, b, c = (int.from_bytes(reply[at:at + 4], "little", signed=True) for at in (4, 8, 12))
    return a, b, c


def _send_layer(plan: Plan, code: bytes) -> None:
    # the last field: 1, the child may write() under this layer (it wakes the spawner
    # up); 2, it holds exec
    flags = int("stdio" in plan.promises) | (2 if "exec" in plan.promises else 0)
    status, _, _ = _ask(_pack("<IIQII", MAGIC, FILTER, bits(plan.promises),
                                    int(plan.error), flags) + code)
    if status < 0:
        raise OSError(-status, os.strerror(-status))


def narrow(promises: frozenset[str], arch: str) -> None:
    """Exec'd programs run under *promises* too from now on (stacked: only narrows)."""
    global _children
    if _children is None or promises >= _children:
        return
    plan, code = later_layer(promises & _children, arch)
    _send_layer(plan, code)
    _children = promises & _children


def add_ruleset(fd: int) -> None:
    """Exec'd programs enter the Landlock ruleset *fd* too (stacked: only narrows)."""
    status, _, _ = _ask(_pack("<IIi", MAGIC, RULESET, fd))
    if status < 0:
        raise OSError(-status, os.strerror(-status))


def _strings(items: Sequence[Any]) -> bytes:
    out = bytearray()
    for item in items:
        data = os.fsencode(item)
        if b"\0" in data:
            raise ValueError("embedded null byte")
        out += data + b"\0"
    return bytes(out)


def spawn(candidates: Sequence[Any], argv: Sequence[Any], env: Sequence[bytes],
          fds: Sequence[tuple[int, int]], *, flags: int = 0, cwd: Any = None,
          pgid: int = 0, umask: int = -1, uid: int = -1, gid: int = -1,
          groups: Sequence[int] | None = None, sigmask: int = 0,
          sigdef: int = 0) -> tuple[int, int, int]:
    """Ask the spawner for a child: (pid, errno, stage). Stage REFUSED: no child was
    made (pid 0); SETUP/CHDIR/EXEC: it failed there and has ended, unreaped (reap it
    with :data:`WALL`); OK: it exec'd."""
    ngroups = -1 if groups is None else len(groups)
    # never the socket itself (pass_fds=range(...), say): its holder's requests are
    # served as this process
    fds = [(target, -1 if source == _sock else source) for target, source in fds]
    head = _pack("<IIiiiiiiQQIIII", JOB, flags, pgid, umask, uid, gid, ngroups,
                       len(fds), sigmask, sigdef, len(candidates), len(argv), len(env),
                       int(cwd is not None))
    body = b"".join(_pack("<I", g) for g in groups or ())
    body += b"".join(_pack("<ii", target, source) for target, source in fds)
    blob = head + body + _strings(candidates) + _strings(argv) + _strings(env)
    if cwd is not None:
        blob += _strings([cwd])
    ffi = native.ffi()
    buf = ffi.from_buffer(blob)
    addr = int(ffi.cast("uintptr_t", buf))
    return _ask(_pack("<IIQQ", MAGIC, SPAWN, addr, len(blob)))


def stand_in(status: int) -> int | None:
    """A child of this process that ends at once with exit *status* (None: none could be
    made): what a caller that waits with a plain waitpid() waits for in place of a child
    that failed before exec (exit signal 0: see :func:`reap`)."""
    got = int(native.lib().pp_stand_in(status))
    return got if got > 0 else None


def reap(child: int) -> None:
    """Reap a child that ended before exec (invisible to a plain waitpid)."""
    try:
        os.waitpid(child, WALL)
    except ChildProcessError:
        pass
