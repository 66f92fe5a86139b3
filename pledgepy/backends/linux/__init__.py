"""The Linux backend: pledge() with seccomp-BPF, unveil() with Landlock."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ...promises import VOCABULARY
from ...status import Gaps
from ..base import BackendBase, ExecRecorder, ExecSupervisor, PledgeRequest, UnveilRule
from . import native, threads
from .landlock import abi
from .policy import NO_MEANING
from .seccomp import kernel
from .seccomp.plan import Plan, build, narrow, warm

if TYPE_CHECKING:
    from types import ModuleType


def _unveil() -> ModuleType:
    """The Landlock side, loaded on first use (cffi's ABI mode costs start-up time)."""
    from .landlock import unveil

    return unveil


EXEC_COVERED = "os.exec*, os.posix_spawn*, os.system and subprocess"

EXEC_NOT_COVERED = "multiprocessing's spawn and forkserver start methods and native code"


class LinuxBackend(BackendBase):
    """seccomp-BPF (all threads, TSYNC) for promises; Landlock for unveil."""

    platform = "linux"
    mechanism = "seccomp-bpf"
    unveil_mechanism = "landlock"

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self._in_domain = False  # in a Landlock domain (unveil's, or pledge's own)
        if kernel.unavailable() is None:
            native.load()  # a stale build is refused here, before anything changes
            warm(kernel.arch() or "x86_64")  # static tables, so pledge() itself stays quick

    # ---- pledge ----
    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        why = kernel.unavailable()
        if why is not None:
            return Gaps(not_enforced=(f"seccomp: {why}; nothing is enforced",), nothing=True)
        new, new_exec = request.new, request.new_exec
        weak: list[str] = []
        held = new if new is not None else frozenset(VOCABULARY)  # unpledged: all
        notes = [f"{p!r} grants nothing on Linux: {NO_MEANING[p]}"
                 for p in sorted(new or ()) if p in NO_MEANING]
        if new is not None and "dns" in new and "sendfd" not in new:
            weak.append("dns: glibc's resolver needs sendmmsg(), which the kernel cannot check "
                        "for descriptors (SCM_RIGHTS) the way OpenBSD's sendfd rule does")
        if new is not None and "dns" in new and "inet" not in new:
            weak.append("dns: its sockets are not limited to DNS: connect() and sendto() "
                        "reach any address and port (OpenBSD: port 53 only)")
        if new is not None and "unix" in new and not new & {"inet", "dns"}:
            weak.append("unix: connect(), bind() and sendto() cannot tell a unix socket from "
                        "an inet socket opened before pledge() (BPF cannot see a descriptor's "
                        "family; OpenBSD refuses inet sockets here)")
        weak.extend(self._proc_mem_gaps(held, request.unveils))
        if (new is not None and "unix" in new and not self._in_domain
                and abi.current().abstract_unix_scope):
            notes.append("unix: abstract unix sockets created outside the sandbox are out of "
                         "reach (the Landlock scope pledge() enters, as unveil does; OpenBSD "
                         "has no abstract namespace)")
        if new_exec is not None:
            gained = sorted(new_exec - held)
            if gained:
                weak.append("execpromises " + " ".join(gained) + " exceed promises: on Linux an "
                            "exec'd program cannot gain what its caller lacks (it runs without them)")
            if not (new_exec | {"exec"}) >= held:
                if "exec" not in new_exec:
                    weak.append("exec'd programs keep 'exec': the filter must allow the execve "
                                "that starts them")
                weak.append(f"execpromises are applied by {EXEC_COVERED}; programs started "
                            f"by {EXEC_NOT_COVERED} run under promises")
        missing = self.messages_missing()
        if missing is not None:
            notes.append(f"violations are enforced but not explained: {missing}; a violation "
                         "kills the process (SIGSYS) without a message"
                         + (", or fails with ENOSYS under 'error'" if "error" in held else ""))
        return Gaps(not_enforced=tuple(weak), notes=tuple(notes))

    def messages_missing(self) -> str | None:
        if kernel.unavailable() is not None or kernel.has_handler():
            return None
        return native.MISSING

    def _proc_mem_gaps(self, held: frozenset[str],
                       unveils: tuple[UnveilRule, ...]) -> list[str]:
        """What /proc/<pid>/mem gives path promises on Linux (no such file on OpenBSD)."""
        weak: list[str] = []
        paths = held & {"rpath", "wpath"}
        if paths and not self._in_domain:
            row = abi.current()
            if not row.available:
                weak.append(f"{'/'.join(sorted(paths))}: /proc/<pid>/mem of other processes of "
                            "this user can be opened (no Landlock to confine ptrace access)")
            elif self._plan is None and not row.tsync and threads.count() > 1:
                weak.append("threads already running are left out of the Landlock domain that "
                            "keeps /proc/<pid>/mem of other processes out of reach (ABI < 8)")
        if "wpath" in held and "prot_exec" not in held and not self._hides_proc(unveils):
            weak.append("wpath: this process's own code can be rewritten through "
                        "/proc/self/mem, so leaving out prot_exec does not stop new code "
                        "(unveil without /proc closes this)")
        return weak

    @staticmethod
    def _hides_proc(rules: tuple[UnveilRule, ...]) -> bool:
        return bool(rules) and not any(
            "w" in m and ("/proc".startswith(p.rstrip("/") or "/") or p.startswith("/proc"))
            for p, m in rules)

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        new = request.new
        commit = lock_unveil and bool(unveils)
        if kernel.unavailable() is not None:
            if commit:  # best effort: pledge_gaps() already said seccomp enforces nothing
                self.lock_unveil(unveils)
            return
        if new is None:  # execpromises only, before any pledge: exec'd programs get them
            from .exec import wrap

            wrap.prepare()
            wrap.arm(request.new_exec, None, kernel.arch() or "x86_64")
            return
        # Everything Python-side first: once Landlock or the filter is in force,
        # pledgepy itself may no longer read its own modules.
        kernel.prepare()
        plan = (narrow(self._plan, new) if self._plan is not None
                else build(new, kernel.arch() or "x86_64"))
        execs = "exec" in new or (request.old is not None and "exec" in request.old)
        if execs:
            from .exec import wrap

            wrap.prepare()  # a later pledge may set execpromises
        if commit:
            # before the filter, which may refuse the Landlock syscalls
            _unveil().commit(unveils, stdio="stdio" in new or request.old is None)
            self._in_domain = True
        elif not self._in_domain and abi.current().available:
            from .landlock import domain

            domain.enter()  # keeps /proc/<pid>/mem of others out of reach
            self._in_domain = True
        kernel.apply(plan, self._plan)
        self._plan = plan
        if execs:
            wrap.arm(request.new_exec, plan, plan.arch)

    def live_gaps(self) -> tuple[str, ...]:
        """Weaknesses that appeared after pledge() returned (status() adds them)."""
        if self._plan is not None and native.handler_replaced():
            return ("the SIGSYS handler was replaced: a violation no longer aborts the "
                    "process (the refused syscall still never runs) and prints no message",)
        return ()

    # ---- unveil ----
    def _promises(self) -> frozenset[str] | None:
        return self._plan.promises if self._plan else None

    def _threads(self) -> int | None:
        held = self._promises()
        if held is None or "rpath" in held:
            return None  # unveil counts /proc/self/task
        return max(2, threading.active_count())  # cannot look: assume others exist

    def check_unveil(self, rule: UnveilRule) -> None:
        _unveil().check_rule(rule)

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        gaps: Gaps = _unveil().gaps(unveils, locking, self._threads(), promises=self._promises())
        return gaps

    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        gaps: Gaps = _unveil().gaps(unveils, True, self._threads(), promises=request.new)
        return gaps

    def add_unveil(self, rule: UnveilRule) -> None:
        return None  # Landlock rules are built together at the lock

    def set_violation_messages(self, enabled: bool) -> None:
        """Turn the one-line violation message on stderr on or off."""
        native.set_quiet(not enabled)

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        held = self._promises()
        if unveils and (held is None or "exec" in held) and kernel.unavailable() is None:
            # A later pledge may set execpromises; its wrappers cannot be loaded
            # once the rules hide pledgepy's own files.
            from .exec import wrap

            wrap.prepare()
        _unveil().commit(unveils, stdio=held is None or "stdio" in held)
        if unveils:
            self._in_domain = True


    def exec_supervisor(self) -> ExecSupervisor | None:
        if kernel.unavailable() is not None or not kernel.has_handler():
            return None
        from .exec.supervise import Supervisor

        return Supervisor()

    def exec_recorder(self) -> ExecRecorder | None:
        if kernel.unavailable() is not None or not kernel.has_handler():
            return None  # the listener needs the native module
        from .exec.record import Recorder

        return Recorder()


__all__ = ["LinuxBackend"]
