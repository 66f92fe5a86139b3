"""What a program run by the ``pledge`` command may not do, whatever its promises.

The supervisor punishes violations from outside, so the program must not
outlive it or answer its own violations first. Two calls would let it:
``prctl(PR_SET_PDEATHSIG)`` clears the SIGKILL it gets when the supervisor
dies, and a seccomp filter of its own answers a violation (ERRNO, TRAP) before
the supervisor's USER_NOTIF verdict, which ranks below them.
"""

from __future__ import annotations

from ..consts import PR_SET_PDEATHSIG
from ..rules import Rule, one_of
from ..seccomp.plan import ALLOW, ENOSYS, Action, Plan
from ..syscalls import BY_ARCH

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import signal
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

#: (the call, how a message names it, why): violations under the command. One
#: argument test each (the filter adds its negation to every rule of the syscall).
REFUSED: tuple[tuple[Rule, str, str], ...] = (
    (Rule("prctl", frozenset(), (one_of(0, PR_SET_PDEATHSIG),)), "prctl(PR_SET_PDEATHSIG)",
     "the program must die with its supervisor"),
)
#: Syscalls that answer ENOSYS under the command, as where the kernel lacks them:
#: programs that install filters of their own (pledgepy too) then run without them.
UNSUPPORTED = ("seccomp",)

#: promise -> how a program holding it can still outlive its supervisor, whose
#: death leaves violations failing with ENOSYS instead of aborting.
OUTLIVING = {
    "proc": 'with "proc" the program can kill the supervisor: it dies with it, but its '
            "children do not (Linux: no parent-death signal is inherited); their "
            "violations would then fail with ENOSYS instead of aborting",
    "id": 'with "id" a change of the program\'s user or group ids clears its parent-death '
          "signal (Linux): should the supervisor be killed, its violations would fail with "
          "ENOSYS instead of aborting",
}


#: Syscalls a program under the command may make whatever their arguments, when it
#: holds stdio: rt_sigaction, whose SIGSYS a pledged process may not take over (its
#: handler carries the penalty there), while here the penalty comes from the supervisor
#: and no filter traps (ps installs one handler for every signal, SIGSYS too).
FREED = ("rt_sigaction",)


def refuse(plan: Plan) -> Plan:
    """*plan* with :data:`REFUSED` and :data:`UNSUPPORTED` taken out of what it allows,
    and :data:`FREED` allowed under stdio."""
    numbers = BY_ARCH[plan.arch]
    actions = dict(plan.actions)
    if "stdio" in plan.promises:
        for name in FREED:
            if name in numbers:
                actions[numbers[name]] = ALLOW
    for name in UNSUPPORTED:
        if name in numbers:
            actions[numbers[name]] = ENOSYS
    for rule, _, _ in REFUSED:
        nr = numbers.get(rule.syscall)
        if nr is None:
            continue
        arg, = rule.args
        unless = arg._replace(negate=not arg.negate)
        act = plan.action(nr)
        if act.kind == "allow":
            actions[nr] = Action("args", (Rule(rule.syscall, frozenset(), (unless,)),))
        elif act.kind == "args":
            actions[nr] = Action("args", tuple(r._replace(args=(*r.args, unless))
                                               for r in act.rules))
    return Plan(plan.arch, plan.promises, plan.error, actions, plan.sparse)


def refused(nr: int, args: tuple[int, ...], arch: str) -> str | None:
    """Why the command refuses syscall *nr* with *args*, if it is one of :data:`REFUSED`."""
    for rule, label, why in REFUSED:
        if BY_ARCH[arch].get(rule.syscall) == nr and all(a.matches(args) for a in rule.args):
            return f"{label} is refused under the pledge command: {why}"
    return None


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent (the supervisor) dies.

    Kept across the exec (no_new_privs: no setuid exec can clear it); the kernel
    clears it when the program changes its effective or filesystem ids (``id``),
    and children do not inherit it.
    """
    from .. import native

    calls = native.process_calls()  # the command's child has it: no ctypes (start-up)
    if calls is not None:
        rc = calls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if rc != 0:
            raise OSError(-rc, "cannot set the parent-death signal")
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loads nothing: no file to open
    ulong = ctypes.c_ulong
    if libc.prctl(PR_SET_PDEATHSIG, ulong(signal.SIGKILL), ulong(0), ulong(0), ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "cannot set the parent-death signal")
