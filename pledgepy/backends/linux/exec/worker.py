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

from ....promises import bits
from .. import native
from ..consts import SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF
from ..landlock import abi, domain
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import Plan, build, narrow
from .answer import fstat_for, proc_stat_for

#: What the hand-over needs beyond the worker's promises (sendmsg with SCM_RIGHTS).
HANDOVER = frozenset({"sendfd"})
#: What a worker killed by SIGSYS did: only the seal filter kills.
SEAL_MESSAGE = 'sendmsg/sendmmsg: needs "sendfd"'
_prepared = False  # WorkerSupervisor.prepare() has loaded everything in this process


class WorkerSupervisor:
    """Both halves of a worker's confinement on Linux (see :class:`..base.WorkerSupervisor`)."""

    def __init__(self) -> None:
        self._plan: Plan | None = None

    def prepare(self) -> None:
        """Load the filter machinery and the native module now (once a process: a
        fork-mode worker inherits what its parent loaded, see worker/forked.py)."""
        global _prepared
        if _prepared:
            return
        kernel.prepare()
        build(frozenset({"stdio"}), kernel.arch() or "x86_64")
        abi.current()
        _prepared = True

    def confine(self, promises: frozenset[str], channel: socket.socket, ready: bytes) -> None:
        """In the worker: enforce *promises*, send *ready* and the listener over *channel*."""
        kernel.prepare()
        if abi.current().available:
            domain.enter()  # keeps /proc/<pid>/mem of others out of reach
        plan = build(promises | HANDOVER, kernel.arch() or "x86_64")
        listener = kernel.install(compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF),
                                  all_threads=False, listener=True)
        try:
            socket.send_fds(channel, [ready], [listener])
        finally:
            os.close(listener)  # the worker must not answer its own violations
        if not HANDOVER <= promises:
            final = narrow(plan, promises)
            delta = final.delta(plan)
            if not delta.allows_everything():
                kernel.install(compile_plan(delta, violation=SECCOMP_RET_KILL_PROCESS),
                               all_threads=False)

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
        if answer is not None:  # answered as the in-process handler would: not a violation
            lib.pp_notif_send(listener, ident[0], answer)
            return None
        out = ffi.new("char[1024]")
        n = lib.pp_describe(nr[0], args, bits(promises), int("error" in promises), pid[0],
                            prog.encode(errors="replace"), out, 1024)
        lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # the call never runs
        return str(ffi.string(out, n).decode(errors="replace").strip())

    def killed_by_seal(self) -> str:
        """What a worker killed by SIGSYS broke."""
        return SEAL_MESSAGE

