"""Compile a :class:`~.plan.Plan` to a seccomp-BPF program.

Layout of a full filter: check the architecture (foreign: kill the process),
then a binary search over runs of syscall numbers that share an action (x32
numbers are runs of their own, answered KILL), then the argument checks of the
few syscalls that need them (the search jumps straight to them). The search is
weighted towards the argument-checked syscalls: they are the only allowed calls
that run the filter at all (the kernel caches every constant ALLOW), so they
sit near its root; violations and ENOSYS answers may take a few more steps.

A delta (a narrowing stacked on pledgepy's own full filter, see
:meth:`.plan.Plan.delta`) checks neither the architecture nor x32: the filter
below already kills both, and the kernel answers the strictest verdict of the
stack. It lists only what changed, everything else ALLOW, and numbers the stack
already refuses with the same answer may join a neighbouring run, so a call the
delta does not change takes a load, a compare or two and its RET.

Only ``nr`` and ``arch`` are read before a constant verdict, so the kernel can
cache every unconditionally allowed syscall.
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
from .bpf import JMP_JEQ_K, JMP_JGE_K, Program
from .plan import ALLOW, ENOSYS, Action, Plan

AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}
ENOSYS_ERRNO = 38
#: SECCOMP_RET_DATA of a violation: tells the SIGSYS handler which penalty applies.
TRAP_KILL, TRAP_ERROR = 0, 1
OFF_NR, OFF_ARCH = 0, 4
KILL = Action("kill")
#: x86_64: numbers with the x32 bit set, as runs (the bit alone; the top bit keeps
#: what it answered before: ENOSYS).
_X32_RUNS = ((X32_SYSCALL_BIT, KILL), (0x80000000, ENOSYS), (0x80000000 | X32_SYSCALL_BIT, KILL))
#: Search weight of a run holding an argument-checked (never cached) syscall.
HOT = 1024
#: ... times this for the argument-checked calls glibc and CPython make most (every
#: open, allocation, import and file object), so they sit nearest the root.
FREQUENT = {"openat": 8, "mmap": 8, "mprotect": 4, "fcntl": 4, "ioctl": 4, "munmap": 2,
            "madvise": 2, "socket": 1, "kill": 1}
_FREQUENT_NR: dict[str, dict[int, int]] = {}


def _hot(arch: str) -> dict[int, int]:
    """nr -> search weight of an argument-checked syscall on *arch*."""
    if arch not in _FREQUENT_NR:
        from ..syscalls import BY_ARCH

        numbers = BY_ARCH[arch]
        _FREQUENT_NR[arch] = {numbers[n]: HOT * w for n, w in FREQUENT.items() if n in numbers}
    return _FREQUENT_NR[arch]


def _arg_offset(index: int, high: bool = False) -> int:
    return 16 + 8 * index + (4 if high else 0)


def trap_data_bit(plan: Plan) -> int:
    """The SECCOMP_RET_DATA *plan*'s traps carry, as a bit (see native.set_trap_data)."""
    return 1 << (TRAP_ERROR if plan.error else TRAP_KILL)


def trap_verdict(plan: Plan, violation: int | None) -> int:
    """What a filter of *plan* compiled with *violation* answers a violation with."""
    return violation if violation is not None else (
        SECCOMP_RET_TRAP | (TRAP_ERROR if plan.error else TRAP_KILL))


def _returns(plan: Plan, violation: int | None) -> dict[str, int]:
    return {
        "allow": SECCOMP_RET_ALLOW,
        "trap": trap_verdict(plan, violation),
        "enosys": SECCOMP_RET_ERRNO | ENOSYS_ERRNO,
        "kill": SECCOMP_RET_KILL_PROCESS,
    }


Runs = list[tuple[int, Action, int]]  # (first nr, action, search weight)


def _full_runs(plan: Plan) -> Runs:
    """(first nr, action, weight) for each run of numbers sharing a constant action."""
    get = plan.actions.get  # Plan.action() inlined: calling it for every number costs start-up
    hot = _hot(plan.arch).get
    runs: Runs = []
    last: Action | None = None
    for nr in range(0, MAX_KNOWN + 1):
        act = get(nr, ENOSYS)
        if act is last and act.kind != "args":
            continue  # plans share the ALLOW/TRAP/ENOSYS constants: identity suffices
        if runs and act.kind != "args" and last is not None and last.kind != "args" \
                and last == act:
            last = act
            continue
        runs.append((nr, act, hot(nr, HOT) if act.kind == "args" else 1))
        last = act
    if last is not ENOSYS:
        runs.append((MAX_KNOWN + 1, ENOSYS, 1))  # the unknown tail
    if plan.arch == "x86_64":
        runs += [(nr, act, 1) for nr, act in _X32_RUNS]
    return runs


def _delta_runs(plan: Plan, base: Plan | None, trap_joins: bool) -> Runs:
    """Runs of a delta on *base*: what changed; ALLOW for the rest.

    A number *base* answers with a constant refusal the delta keeps (TRAP or
    ENOSYS) is free: ALLOW there leaves the stack's answer, and so does the same
    refusal (a TRAP only when *trap_joins*: this filter's violation verdict is the
    one below). Free numbers join a neighbouring run, so the search has fewer.
    Numbers the stack allows must stay ALLOW (cached; or checked below). Without
    *base* (a delta on filters not known to be pledgepy's) nothing is free.
    """
    changed = plan.actions
    hot = _hot(plan.arch).get
    runs: Runs = []
    free: list[tuple[int, str]] = []  # pending free numbers (nr, refusal kind)
    cur: Action | None = None
    joins = {"enosys", "trap"} if trap_joins else {"enosys"}

    def fits(act: Action, kinds: list[tuple[int, str]]) -> bool:
        return act.kind == "allow" or all(k == act.kind and k in joins for _, k in kinds)

    def push(start: int, act: Action, weight: int) -> None:
        nonlocal cur
        if runs and cur is not None and act.kind != "args" and cur.kind != "args" \
                and cur == act:
            runs[-1] = (runs[-1][0], cur, runs[-1][2] + weight)
            return
        runs.append((start, act, weight))
        cur = act

    def add(nr: int, act: Action, weight: int) -> None:
        start = nr
        if free:  # they could not join the run before: join this one, or an ALLOW run
            start = free[0][0]
            ok = fits(act, free)
            free.clear()
            if not ok:
                push(start, ALLOW, 1)
                start = nr
        push(start, act, weight)

    for nr in range(0, MAX_KNOWN + 2):
        if nr in changed:
            act = changed[nr]
            add(nr, act, hot(nr, HOT) if act.kind == "args" else 1)
            continue
        if base is None:
            add(nr, ALLOW, 1)
            continue
        was = base.actions.get(nr, ENOSYS) if nr <= MAX_KNOWN else ENOSYS
        if was.kind in ("trap", "enosys"):
            if cur is not None and not free and fits(cur, [(nr, was.kind)]):
                continue  # joins the current run
            free.append((nr, was.kind))
            continue
        # allowed below (constantly, or by argument checks): ALLOW here
        weight = hot(nr, HOT) if was.kind == "args" else 1
        if cur is ALLOW and not free:
            last_nr, last_act, w = runs[-1]
            runs[-1] = (last_nr, last_act, w + weight)
            continue
        add(nr, ALLOW, weight)
    if free:
        if not runs or not fits(runs[-1][1], free):
            runs.append((free[0][0], ALLOW, 1))
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


def _implies_failure(a: Arg, b: Arg) -> bool:
    """True when a call failing test *a* fails test *b* too (same register and mask)."""
    if a == b:
        return True
    if a.index != b.index or a.mask != b.mask or a.wide or b.wide:
        return False
    va = {v & 0xFFFFFFFF for v in a.values}
    vb = {v & 0xFFFFFFFF for v in b.values}
    if a.negate:  # failing: the value is in va
        return va <= vb if b.negate else not va & vb
    return not b.negate and vb <= va  # failing: the value is outside va


def _emit_rules(prog: Program, rules: tuple[Rule, ...], rets: dict[str, int]) -> None:
    """The rules in order, the first that holds answering; a failed test skips the
    following rules it already refutes (openat's rules share their access-mode tests)."""
    starts = [prog.label() for _ in rules]
    trap = prog.label()
    for i, rule in enumerate(rules):
        prog.place(starts[i])
        for arg in rule.args:
            fail = next((starts[j] for j in range(i + 1, len(rules))
                         if not any(_implies_failure(arg, b) for b in rules[j].args)), trap)
            _emit_test(prog, arg, fail)
        prog.ret(SECCOMP_RET_ERRNO | rule.errno if rule.errno else rets["allow"])
    prog.place(trap)
    prog.ret(rets["trap"])


def _split(sums: list[int], lo: int, hi: int) -> int:
    """The index in (lo, hi) that halves the weight of runs[lo:hi] best."""
    half = (sums[lo] + sums[hi]) / 2
    best, best_gap = lo + 1, None
    a, b = lo + 1, hi - 1
    while a < b:  # sums is increasing: the first index whose prefix reaches half
        m = (a + b) // 2
        if sums[m] < half:
            a = m + 1
        else:
            b = m
    for k in (a - 1, a, a + 1):
        if lo < k < hi:
            gap = abs(sums[k] - half)
            if best_gap is None or gap < best_gap:
                best, best_gap = k, gap
    return best


def _emit_tree(prog: Program, runs: Runs, sums: list[int], lo: int, hi: int,
               rets: dict[str, int], blocks: list[tuple[int, Action]]) -> None:
    """Weighted binary search over runs[lo:hi]; argument checks go to *blocks*, emitted
    after the tree (the tree jumps straight to them), so its jumps stay short."""
    if hi - lo == 1:
        act = runs[lo][1]
        if act.kind == "args":
            prog.goto(_block(prog, act, blocks))
        else:
            prog.ret(rets[act.kind])
        return
    mid = _split(sums, lo, hi)
    left = _block(prog, runs[lo][1], blocks) if mid - lo == 1 and runs[lo][1].kind == "args" \
        else None
    right_args = hi - mid == 1 and runs[mid][1].kind == "args"
    right = _block(prog, runs[mid][1], blocks) if right_args else prog.label()
    prog.jump(JMP_JGE_K, runs[mid][0], right, left)
    if left is None:
        _emit_tree(prog, runs, sums, lo, mid, rets, blocks)
    if not right_args:
        prog.place(right)
        _emit_tree(prog, runs, sums, mid, hi, rets, blocks)


def _block(prog: Program, act: Action, blocks: list[tuple[int, Action]]) -> int:
    label = prog.label()
    blocks.append((label, act))
    return label


def compile_plan(plan: Plan, violation: int | None = None,
                 below: int | None = None) -> bytes:
    """The seccomp-BPF program for *plan*, as sock_filter bytes.

    A violation returns SECCOMP_RET_TRAP (the SIGSYS handler reports it), or
    *violation* instead (the pledge command's supervisor uses USER_NOTIF).
    *below*: for a delta, the violation verdict of the filter under it, when known
    (numbers that filter refuses may then share this one's TRAP runs).
    """
    prog = Program()
    base = plan.base
    if base is None:
        native = prog.label()
        prog.load(OFF_ARCH)
        prog.jump(JMP_JEQ_K, AUDIT_ARCH[plan.arch], native, None)
        prog.ret(SECCOMP_RET_KILL_PROCESS)  # a foreign architecture (i386 int 0x80)
        prog.place(native)
        runs = _delta_runs(plan, None, False) if plan.sparse else _full_runs(plan)
    else:  # the full filter below kills foreign architectures and x32 numbers
        runs = _delta_runs(plan, base, below == trap_verdict(plan, violation))
    rets = _returns(plan, violation)
    prog.load(OFF_NR)
    if plan.sparse and base is None and plan.arch == "x86_64":
        runs += [(nr, act, 1) for nr, act in _X32_RUNS]  # not known to be on ours: kill x32
    sums = [0]
    for _, _, w in runs:
        sums.append(sums[-1] + w)
    blocks: list[tuple[int, Action]] = []
    _emit_tree(prog, runs, sums, 0, len(runs), rets, blocks)
    for label, act in blocks:
        prog.place(label)
        _emit_rules(prog, act.rules, rets)
    return prog.assemble()
