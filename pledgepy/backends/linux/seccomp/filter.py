"""Compile a :class:`~.plan.Plan` to a seccomp-BPF program.

Layout: check the architecture (foreign: kill the process), refuse x32
numbers (kill), then a binary search over runs of syscall numbers that share
an action, then the argument checks of the few syscalls that need them (the
search jumps to them, so its own conditional jumps stay short). Only ``nr``
and ``arch`` are read before a constant verdict, so the kernel can cache
every unconditionally allowed syscall.
"""

from __future__ import annotations

from ..consts import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_X86_64,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
    X32_SYSCALL_BIT,
)
from ..rules import Arg, Rule
from ..syscalls import MAX_KNOWN
from .bpf import JMP_JEQ_K, JMP_JGE_K, JMP_JSET_K, Program
from .plan import ENOSYS, Action, Plan

AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}
ENOSYS_ERRNO = 38
#: SECCOMP_RET_DATA of a violation: tells the SIGSYS handler which penalty applies.
TRAP_KILL, TRAP_ERROR = 0, 1
OFF_NR, OFF_ARCH = 0, 4


def _arg_offset(index: int, high: bool = False) -> int:
    return 16 + 8 * index + (4 if high else 0)


def trap_data_bit(plan: Plan) -> int:
    """The SECCOMP_RET_DATA *plan*'s traps carry, as a bit (see native.set_trap_data)."""
    return 1 << (TRAP_ERROR if plan.error else TRAP_KILL)


def _returns(plan: Plan, violation: int | None) -> dict[str, int]:
    return {
        "allow": SECCOMP_RET_ALLOW,
        "trap": violation if violation is not None
        else SECCOMP_RET_TRAP | (TRAP_ERROR if plan.error else TRAP_KILL),
        "enosys": SECCOMP_RET_ERRNO | ENOSYS_ERRNO,
    }


def _runs(plan: Plan) -> list[tuple[int, Action]]:
    """(first nr, action) for each run of numbers sharing a constant action."""
    if plan.sparse:
        numbers = sorted({n for nr in plan.actions for n in (nr, nr + 1)})
        acts = [plan.action(nr) for nr in numbers]
        runs: list[tuple[int, Action]] = [(0, plan.action(-1))]
    else:  # Plan.action() inlined: calling it for every number costs start-up
        get = plan.actions.get
        numbers = list(range(0, MAX_KNOWN + 2))  # MAX_KNOWN + 1 starts the unknown tail
        acts = [get(nr, ENOSYS) for nr in range(0, MAX_KNOWN + 1)] + [ENOSYS]
        runs = []
    last: Action | None = None
    for nr, act in zip(numbers, acts, strict=True):
        if act is last and act.kind != "args":
            continue  # plans share the ALLOW/TRAP/ENOSYS constants: identity suffices
        if runs and act.kind != "args" and runs[-1][1] == act:
            last = act
            continue
        if runs and runs[-1][0] == nr:
            runs[-1] = (nr, act)
            last = act
            continue
        runs.append((nr, act))
        last = act
    return runs


def _emit_test(prog: Program, arg: Arg, fail: int) -> None:
    """Fall through when *arg* holds, jump to *fail* when it does not."""
    if arg.wide:
        (value,) = arg.values
        prog.load(_arg_offset(arg.index, high=True))
        if arg.mask >> 32 != 0xFFFFFFFF:
            prog.and_(arg.mask >> 32)
        prog.jump(JMP_JEQ_K, value >> 32, None, fail)
    prog.load(_arg_offset(arg.index))
    if arg.mask & 0xFFFFFFFF != 0xFFFFFFFF:
        prog.and_(arg.mask)
    values = [v & 0xFFFFFFFF for v in arg.values]
    if arg.negate:
        for v in values:
            prog.jump(JMP_JEQ_K, v, fail, None)
        return
    ok = prog.label()
    for v in values[:-1]:
        prog.jump(JMP_JEQ_K, v, ok, None)
    prog.jump(JMP_JEQ_K, values[-1], None, fail)
    prog.place(ok)


def _emit_rules(prog: Program, rules: tuple[Rule, ...], rets: dict[str, int]) -> None:
    for rule in rules:
        fail = prog.label()
        for arg in rule.args:
            _emit_test(prog, arg, fail)
        prog.ret(SECCOMP_RET_ERRNO | rule.errno if rule.errno else rets["allow"])
        prog.place(fail)
    prog.ret(rets["trap"])


def _emit_tree(prog: Program, runs: list[tuple[int, Action]], rets: dict[str, int],
               blocks: list[tuple[int, Action]]) -> None:
    """Binary search over *runs*; argument checks go to *blocks*, emitted after the
    tree, so the tree's conditional jumps stay short (one layout pass)."""
    if len(runs) == 1:
        act = runs[0][1]
        if act.kind == "args":
            label = prog.label()
            blocks.append((label, act))
            prog.goto(label)
        else:
            prog.ret(rets[act.kind])
        return
    mid = len(runs) // 2
    right = prog.label()
    prog.jump(JMP_JGE_K, runs[mid][0], right, None)
    _emit_tree(prog, runs[:mid], rets, blocks)
    prog.place(right)
    _emit_tree(prog, runs[mid:], rets, blocks)


def compile_plan(plan: Plan, violation: int | None = None) -> bytes:
    """The seccomp-BPF program for *plan*, as sock_filter bytes.

    A violation returns SECCOMP_RET_TRAP (the SIGSYS handler reports it), or
    *violation* instead (the pledge command's supervisor uses USER_NOTIF).
    """
    prog = Program()
    native = prog.label()
    prog.load(OFF_ARCH)
    prog.jump(JMP_JEQ_K, AUDIT_ARCH[plan.arch], native, None)
    prog.ret(SECCOMP_RET_KILL_PROCESS)  # a foreign architecture (i386 int 0x80)
    prog.place(native)
    prog.load(OFF_NR)
    if plan.arch == "x86_64":
        x64 = prog.label()
        prog.jump(JMP_JSET_K, X32_SYSCALL_BIT, None, x64)
        prog.ret(SECCOMP_RET_KILL_PROCESS)  # an x32 syscall number
        prog.place(x64)
    rets = _returns(plan, violation)
    blocks: list[tuple[int, Action]] = []
    _emit_tree(prog, _runs(plan), rets, blocks)
    for label, act in blocks:
        prog.place(label)
        _emit_rules(prog, act.rules, rets)
    return prog.assemble()
