"""The Linux backend: pledge() with seccomp-BPF, unveil() with Landlock."""

from __future__ import annotations

import threading

from ... import runtime
from ...status import Gaps
from ..base import PledgeRequest, UnveilRule
from typing import TYPE_CHECKING

from . import seccomp
from .plan import Plan, build, narrow, warm
from ...promises import VOCABULARY
from .policy import NO_MEANING

if TYPE_CHECKING:
    from types import ModuleType


def _unveil() -> ModuleType:
    """The Landlock side, loaded on first use (cffi's ABI mode costs start-up time)."""
    from . import unveil

    return unveil


EXEC_COVERED = "os.exec*, os.posix_spawn*, os.system and subprocess"


class LinuxBackend:
    """seccomp-BPF (all threads, TSYNC) for promises; Landlock for unveil."""

    platform = "linux"
    mechanism = "seccomp-bpf"
    unveil_mechanism = "landlock"

    def __init__(self) -> None:
        self._plan: Plan | None = None
        if seccomp.unavailable() is None:
            warm(seccomp.arch() or "x86_64")  # static tables, so pledge() itself stays quick

    # ---- pledge ----
    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        why = seccomp.unavailable()
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
                            "by native code run under promises")
        return Gaps(not_enforced=tuple(weak), notes=tuple(notes))

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        new = request.new
        commit = lock_unveil and bool(unveils)
        if seccomp.unavailable() is not None:
            if commit:  # best effort: pledge_gaps() already said seccomp enforces nothing
                self.lock_unveil(unveils)
            return
        if new is None:  # execpromises only, before any pledge: exec'd programs get them
            from . import execwrap

            execwrap.prepare()
            execwrap.arm(request.new_exec, None, seccomp.arch() or "x86_64")
            return
        # Everything Python-side first: once Landlock or the filter is in force,
        # pledgepy itself may no longer read its own modules.
        runtime.prepare(new)
        guarded = "rpath" not in new and runtime.guard_files()
        seccomp.prepare(new)
        plan = (narrow(self._plan, new) if self._plan is not None
                else build(new, seccomp.arch() or "x86_64"))
        execs = "exec" in new or (request.old is not None and "exec" in request.old)
        if execs:
            from . import execwrap

            execwrap.prepare()  # a later pledge may set execpromises
        try:
            if commit:
                # before the filter, which may refuse the Landlock syscalls
                _unveil().commit(unveils, stdio="stdio" in new or request.old is None)
            seccomp.apply(plan, self._plan)
        except BaseException:
            if guarded:
                runtime.unguard_files()  # nothing took effect: leave Python as it was
            raise
        self._plan = plan
        if execs:
            execwrap.arm(request.new_exec, plan, plan.arch)

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
        return _unveil().gaps(unveils, locking, self._threads(), promises=self._promises())

    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        return _unveil().gaps(unveils, True, self._threads(), promises=request.new)

    def add_unveil(self, rule: UnveilRule) -> None:
        return None  # Landlock rules are built together at the lock

    def set_violation_messages(self, enabled: bool) -> None:
        """Turn the one-line violation message on stderr on or off."""
        seccomp.set_quiet(not enabled)

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        held = self._promises()
        if unveils and (held is None or "exec" in held) and seccomp.unavailable() is None:
            # A later pledge may set execpromises; its wrappers cannot be loaded
            # once the rules hide pledgepy's own files.
            from . import execwrap

            execwrap.prepare()
        _unveil().commit(unveils, stdio=held is None or "stdio" in held)


__all__ = ["LinuxBackend"]
