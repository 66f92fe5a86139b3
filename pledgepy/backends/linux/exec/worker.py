"""Confine a pledgepy worker so that its parent, not the worker, hears its violations.

The worker installs a filter whose violations answer SECCOMP_RET_USER_NOTIF,
hands the listener to its parent over their socket (SCM_RIGHTS, so no ptrace
access is needed: the worker is not dumpable), closes its own copy, then
stacks a second filter that takes back ``sendfd`` when it was not promised.
A violation blocks the worker until the parent reads it: replacing the
SIGSYS handler, blocking signals or closing stderr changes nothing.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

from ....promises import bits
from .. import native
from ..consts import CLONE_PARENT, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF
from ..landlock import abi, domain
from ..rules import Identity, Rule, bits_clear
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import ALLOW, TRAP, Action, Plan, build, identity, narrow
from ..syscalls import BY_ARCH
from .answer import fstat_for, memory_closed, proc_stat_for, sigsys_default_for
from .stdiofiles import answer_for as stdio_file_for
from .stdiofiles import prime as stdio_files_prime

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

#: What the hand-over needs beyond the worker's promises (sendmsg with SCM_RIGHTS).
HANDOVER = frozenset({"sendfd"})
#: What a worker's processes may not do, whatever they were promised: leave its
#: session, whose members the parent ends with the worker (worker/sweep.py).
WITHHELD = ("setsid",)
WITHHELD_MESSAGE = ("setsid(): refused to a worker's processes (promised \"proc\"): "
                    "they stay in its session, so that they end with it")
#: clone(CLONE_PARENT) would make the new process a child of the worker's parent: the
#: parent's zombie once it ends (nothing there reaps a pid it never started), one pid
#: of the parent's user held for each, and a child the parent's own wait() may reap.
CLONE_PARENT_MESSAGE = ("clone(CLONE_PARENT): refused to a worker's processes: the child "
                        "would be the parent's, not the worker's")
#: What a violation whose path could not be read adds when the worker's memory is closed
#: to its parent: a worker is not dumpable, so a parent without CAP_SYS_PTRACE over it
#: (any parent but root) reads no path of its: "<unreadable>" is not a bad pointer there,
#: and what the parent serves from a path (answer.py, stdiofiles.py) stays a violation.
UNREADABLE_NOTE = (" (the worker's memory is closed to this process: a worker is not "
                   "dumpable, and this process has no CAP_SYS_PTRACE over it (a root "
                   "parent has), so no path the worker names can be read, and fstat() and the "
                   "files OpenBSD's promises let it open without rpath (/dev/null, "
                   "/etc/localtime, the CPU-count files, dns's and getpw's) cannot be "
                   "served; start workers from a root parent, or unveil and promise "
                   "(rpath) what the worker reads)")
#: What a worker killed by SIGSYS did: only the seal filter kills.
SEAL_MESSAGE = 'sendmsg/sendmmsg: needs "sendfd"'
_prepared = False  # WorkerSupervisor.prepare() has loaded everything in this process

#: Two pids no process has (pid_max <= 2**22): a fork-mode worker's parent compiles the
#: filters with each for "this process" (stdio's kill, tgkill, prlimit64 of itself);
#: the words where the two programs differ are where the worker writes its own pid.
PLACEHOLDERS = (0x7FEDCBA9, 0x7FEDCBA8)
_JMP = 0x05  # BPF_JMP: the class of the instructions that compare a value
if TYPE_CHECKING:
    #: (uid, gids, handler ip), the listener's filter, the seal's (b"": none), the byte
    #: offsets of the pid in each, every value either compares (the pid must be none)
    Compiled = tuple[tuple[int, tuple[int, ...], int], bytes, bytes, tuple[int, ...],
                     tuple[int, ...], frozenset[int]]
#: promises -> what :func:`filters` compiled for them in this process (a fork inherits it)
_compiled: dict[frozenset[str], Compiled | None] = {}


def filters(promises: frozenset[str], who: Identity) -> tuple[bytes, bytes]:
    """The worker's two filters for *promises*: the listener's (violations go to the
    parent) and the seal's (b"": nothing to take back), "this process" being *who*."""
    arch = kernel.arch() or "x86_64"
    plan = _withheld(build(promises | HANDOVER, arch, who))
    first = compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF)
    seal = b""
    if not HANDOVER <= promises:
        delta = narrow(plan, promises, who).delta(plan)
        if not delta.allows_everything():
            seal = compile_plan(delta, violation=SECCOMP_RET_KILL_PROCESS)
    return first, seal


def _withheld(plan: Plan) -> Plan:
    """*plan* with WITHHELD and clone(CLONE_PARENT) refused (a violation, which the
    parent reports); narrow() keeps them so: no promise the seal takes back touches
    them."""
    actions = dict(plan.actions)
    for name in WITHHELD:
        nr = BY_ARCH[plan.arch].get(name)
        if nr is not None:
            actions[nr] = TRAP
    clone = BY_ARCH[plan.arch].get("clone")
    if clone is not None and clone in actions:
        actions[clone] = _without_clone_parent(actions[clone])
    return Plan(plan.arch, plan.promises, plan.error, actions)


def _without_clone_parent(action: Action) -> Action:
    """clone's *action* with every allowing rule also needing CLONE_PARENT clear."""
    clear = bits_clear(0, CLONE_PARENT)
    if action == ALLOW:
        return Action("args", (Rule("clone", frozenset(), (clear,)),))
    if action.kind != "args":
        return action
    return Action("args", tuple(r if r.errno else Rule(r.syscall, r.needs, (*r.args, clear),
                                                       r.hint, r.errno, r.why)
                                for r in action.rules))


def _words(program: bytes) -> list[tuple[int, int]]:
    """(code, k) of each sock_filter {u16 code; u8 jt, jf; u32 k} of *program*."""
    view = memoryview(program).cast("I")  # native order, as the kernel reads it
    return [(view[i] & 0xFFFF, view[i + 1]) for i in range(0, len(view), 2)]


def _offsets(a: bytes, b: bytes) -> tuple[tuple[int, ...], frozenset[int]] | None:
    """Where *a* (compiled with PLACEHOLDERS[0]) holds the pid, *b* differing from it
    only there (PLACEHOLDERS[1]), and every value *a* compares; None if they differ
    otherwise (then the worker compiles its own)."""
    if len(a) != len(b):
        return None
    offsets: list[int] = []
    values: set[int] = set()
    for i, ((code, k), (code_b, k_b)) in enumerate(zip(_words(a), _words(b), strict=True)):
        if (code, k) != (code_b, k_b):
            if code != code_b or (k, k_b) != PLACEHOLDERS or code & 0x07 != _JMP:
                return None
            offsets.append(i * 8 + 4)
        elif code & 0x07 == _JMP:
            values.add(k)
    return tuple(offsets), frozenset(values)


def _patched(program: bytes, offsets: tuple[int, ...], pid: int) -> bytes:
    if not offsets:
        return program
    out = bytearray(program)
    word = pid.to_bytes(4, sys.byteorder)
    for at in offsets:
        out[at:at + 4] = word
    return bytes(out)


def _own_filters(promises: frozenset[str]) -> tuple[bytes, bytes]:
    """:func:`filters` for this process, from what its parent compiled before the fork
    when that was for the same promises, user, groups and handler (and no value the
    filters compare is this pid, whose equality with it could have shaped them)."""
    who = identity()
    got = _compiled.get(promises)
    if got is None or got[0] != (who.uid, who.gids, who.ip) or who.pid in got[5] \
            or who.pid in PLACEHOLDERS:
        return filters(promises, who)
    _, first, seal, first_at, seal_at, _ = got
    return _patched(first, first_at, who.pid), _patched(seal, seal_at, who.pid)


class WorkerSupervisor:
    """Both halves of a worker's confinement on Linux (see :class:`..base.WorkerSupervisor`)."""

    def __init__(self) -> None:
        self._plan: Plan | None = None

    def prepare(self, promises: frozenset[str] | None = None) -> None:
        """Load the filter machinery and the native module now (once a process: a
        fork-mode worker inherits what its parent loaded, see worker/forked.py).

        *promises*: also compile the filters a fork-mode worker holding them installs
        (once a process for each), for "this process" a placeholder that the worker
        replaces with its pid. Made here, in the parent, from the parent's tables:
        nothing the worker does can change what the next worker gets.
        """
        global _prepared
        if not _prepared:
            kernel.prepare()
            build(frozenset({"stdio"}), kernel.arch() or "x86_64")
            abi.current()
            from ..landlock import unveil  # noqa: F401 - the worker's lock (a fork: ~0.5 ms)
            _prepared = True
        if promises is not None and promises not in _compiled:
            me = identity()
            a = filters(promises, Identity(PLACEHOLDERS[0], me.uid, me.gids, me.ip))
            b = filters(promises, Identity(PLACEHOLDERS[1], me.uid, me.gids, me.ip))
            first, seal = _offsets(a[0], b[0]), _offsets(a[1], b[1])
            _compiled[promises] = None if first is None or seal is None else (
                (me.uid, me.gids, me.ip), *a, first[0], seal[0], first[1] | seal[1])

    def before_start(self) -> None:
        """OpenSSL's module for the certificate lookups the parent answers, loaded
        before any worker runs (stdiofiles.prime: once; a no-op after)."""
        stdio_files_prime()

    def load_for(self, promises: frozenset[str]) -> None:
        """glibc's NSS modules for the lookups *promises* allow, as a pledge loads them
        (nss.py): a "stdio getpw" worker's lookup otherwise opened /etc/ld.so.cache for
        a module named in nsswitch.conf, a violation. Loaded before the worker lists
        what it mapped, so the modules are among the files it unveils."""
        from .. import nss

        nss.prepare(None, promises)

    def confine(self, promises: frozenset[str], channel: socket.socket, ready: bytes) -> None:
        """In the worker: enforce *promises*, send *ready* and the listener over *channel*."""
        kernel.prepare()
        if abi.current().available:
            domain.enter()  # keeps /proc/<pid>/mem of others out of reach
        first, seal = _own_filters(promises)
        listener = kernel.install(first, all_threads=False, listener=True)
        try:
            socket.send_fds(channel, [ready], [listener])
        finally:
            os.close(listener)  # the worker must not answer its own violations
        if seal:
            kernel.install(seal, all_threads=False)

    def explain(self, listener: int, promises: frozenset[str], prog: str) -> str | None:
        """In the parent: read one violation, refuse it (ENOSYS); its one-line message.

        None when the violating call went away before it was read, or when it was
        fstat spelled as a path call, which is answered instead (see :mod:`.answer`).
        """
        lib, ffi = native.lib(), native.ffi()
        nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
        ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
        rc = lib.pp_notif_recv(listener, nr, args, ident, pid)
        if rc in (-errno.ENOENT, -errno.EINTR):
            return None
        if rc < 0:
            raise OSError(-rc, f"reading a violation: {os.strerror(-rc)}")
        call = [int(a) for a in args]
        answer = fstat_for(listener, ident[0], pid[0], nr[0], call, promises, kernel.arch() or "")
        if answer is None:
            answer = proc_stat_for(pid[0], nr[0], call, promises, kernel.arch() or "")
        if answer is None:
            answer = sigsys_default_for(pid[0], nr[0], call, promises, kernel.arch() or "")
        if answer is None:  # stdio's files, as the in-process handler serves them
            served = stdio_file_for(listener, ident[0], pid[0], nr[0], call, promises,
                                    kernel.arch() or "")
            if served is not None and served[1]:
                return None  # answered with a descriptor installed, or its caller gone (GONE)
            answer = None if served is None else served[0]
        if answer is not None:  # answered as the in-process handler would: not a violation
            lib.pp_notif_send(listener, ident[0], answer)
            return None
        if "proc" in promises and nr[0] in _withheld_nrs():
            lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # as for any violation
            return f"{prog}[{pid[0]}]: {WITHHELD_MESSAGE}"
        if nr[0] == _clone_nr() and call[0] & CLONE_PARENT:
            lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)
            return f"{prog}[{pid[0]}]: {CLONE_PARENT_MESSAGE}"
        out = ffi.new("char[1024]")
        n = lib.pp_describe(nr[0], args, bits(promises), int("error" in promises), pid[0],
                            prog.encode(errors="replace"), out, 1024)
        text = str(ffi.string(out, n).decode(errors="replace").strip())
        if "<unreadable>" in text and memory_closed(pid[0]):  # while the caller waits
            text += UNREADABLE_NOTE
        lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # the call never runs
        return text

    def killed_by_seal(self) -> str:
        """What a worker killed by SIGSYS broke."""
        return SEAL_MESSAGE



def _clone_nr() -> int | None:
    return BY_ARCH.get(kernel.arch() or "", {}).get("clone")


def _withheld_nrs() -> frozenset[int]:
    table = BY_ARCH.get(kernel.arch() or "", {})
    return frozenset(table[name] for name in WITHHELD if name in table)
