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

:func:`compile_plan` compiles in the native module (native/bpf.c: the same layout and
assembly, from the plan flattened by :func:`encode`) when it is built, and with
:func:`compile_python`, the reference, when it is not.
"""

from __future__ import annotations

from itertools import groupby

from .. import native
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
from .bpf import JMP_JEQ_K, JMP_JGE_K, MAX_INSNS, Program
from .plan import ALLOW, ENOSYS, Action, Plan

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}
ENOSYS_ERRNO = 38
#: SECCOMP_RET_DATA of a violation: tells the SIGSYS handler which penalty applies.
TRAP_KILL, TRAP_ERROR = 0, 1
OFF_NR, OFF_ARCH = 0, 4
KILL = Action("kill")
#: x86_64: numbers with the x32 bit set, as runs (the bit alone; the top bit keeps
#: what it answered before: ENOSYS).
_X32_RUNS = ((X32_SYSCALL_BIT, KILL), (0x80000000, ENOSYS), (0x80000000 | X32_SYSCALL_BIT, KILL))
#: Depths above which argument checks are emitted out of line, tried in turn: checks
#: in place save a jump, but lengthen the search's jumps past 255 in large filters.
INLINE = (4, 2, 0)
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
    if last is None or last.kind != "enosys":  # by value: an equal action is the same
        runs.append((MAX_KNOWN + 1, ENOSYS, 1))  # the unknown tail
    if plan.arch == "x86_64":
        runs += [(nr, act, 1) for nr, act in _X32_RUNS]
    return runs


#: A number's class in a delta, by its action below: allowed (constantly or by argument
#: checks: must stay ALLOW), or a refusal a run of that kind may take over.
_CLASS = {"allow": "allow", "args": "allow", "trap": "trap", "enosys": "enosys"}


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
    if base is None:
        keys: list[object] = ["allow"] * (MAX_KNOWN + 2)
    else:
        get = base.actions.get
        keys = [_CLASS[get(nr, ENOSYS).kind] for nr in range(MAX_KNOWN + 1)]
        keys.append("enosys")  # the unknown tail
    for nr in changed:
        if 0 <= nr <= MAX_KNOWN + 1:
            keys[nr] = nr  # a segment of its own
    runs: Runs = []
    free: list[str] = []  # kinds of the pending free segments
    free_at = 0
    cur: Action | None = None
    joins = {"enosys", "trap"} if trap_joins else {"enosys"}

    def fits(act: Action, kinds: list[str]) -> bool:
        return act.kind == "allow" or all(k == act.kind and k in joins for k in kinds)

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
            start = free_at
            ok = fits(act, free)
            free.clear()
            if not ok:
                push(start, ALLOW, 1)
                start = nr
        push(start, act, weight)

    for key, group in groupby(range(MAX_KNOWN + 2), keys.__getitem__):
        start = next(group)
        if isinstance(key, int):
            act = changed[key]
            add(key, act, hot(key, HOT) if act.kind == "args" else 1)
        elif key == "allow":
            if cur is None or cur.kind != "allow" or free:
                add(start, ALLOW, 1)
        elif cur is not None and not free and fits(cur, [key]):  # type: ignore[list-item]
            continue  # a free segment joins the current run
        else:
            if not free:
                free_at = start
            free.append(key)  # type: ignore[arg-type]
    if free and (not runs or not fits(runs[-1][1], free)):
        runs.append((free_at, ALLOW, 1))
    if base is not None:  # the calls checked below run this filter too: they weigh
        starts = [r[0] for r in runs]
        for nr, act in base.actions.items():
            if act.kind == "args" and nr not in changed:
                i = bisect_right(starts, nr) - 1
                runs[i] = (runs[i][0], runs[i][1], runs[i][2] + hot(nr, HOT))
    return runs


def bisect_left(a: list[int], x: float, lo: int = 0, hi: int | None = None) -> int:
    """bisect.bisect_left, in Python: _bisect is an extension module, whose load costs
    more than the few searches a filter needs."""
    hi = len(a) if hi is None else hi
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def bisect_right(a: list[int], x: float) -> int:
    """bisect.bisect_right, in Python (see :func:`bisect_left`)."""
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


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
    k = bisect_left(sums, half, lo + 1, hi - 1)  # the first prefix reaching half
    if k > lo + 1 and half - sums[k - 1] <= sums[k] - half:
        return k - 1
    return k


def _emit_tree(prog: Program, runs: Runs, sums: list[int], lo: int, hi: int,
               rets: dict[str, int], blocks: list[tuple[int, Action]], inline: int) -> None:
    """Weighted binary search over runs[lo:hi]. The argument checks of a leaf less than
    *inline* compares deep are emitted in place (no jump to reach them); the others go
    to *blocks*, emitted after the tree, so the tree's conditional jumps stay short."""
    if hi - lo == 1:
        act = runs[lo][1]
        if act.kind != "args":
            prog.ret(rets[act.kind])
        elif inline > 0:
            _emit_rules(prog, act.rules, rets)
        else:
            label = prog.label()
            blocks.append((label, act))
            prog.goto(label)
        return
    mid = _split(sums, lo, hi)
    right = prog.label()
    prog.jump(JMP_JGE_K, runs[mid][0], right, None)
    _emit_tree(prog, runs, sums, lo, mid, rets, blocks, inline - 1)
    prog.place(right)
    _emit_tree(prog, runs, sums, mid, hi, rets, blocks, inline - 1)


def compile_plan(plan: Plan, violation: int | None = None,
                 below: int | None = None) -> bytes:
    """The seccomp-BPF program for *plan*, as sock_filter bytes.

    A violation returns SECCOMP_RET_TRAP (the SIGSYS handler reports it), or
    *violation* instead (the pledge command's supervisor uses USER_NOTIF).
    *below*: for a delta, the violation verdict of the filter under it, when known
    (numbers that filter refuses may then share this one's TRAP runs).

    Compiled by the native module when it is built (raises NativeBuildError when it
    is stale), else by :func:`compile_python`: the same bytes either way.
    """
    mod = native.load()
    if mod is None:
        return compile_python(plan, violation, below)
    return compile_native(plan, violation, below, mod)


def compile_python(plan: Plan, violation: int | None = None,
                   below: int | None = None) -> bytes:
    """:func:`compile_plan` in Python: the reference the native compiler must match."""
    base = plan.base
    if base is None:
        runs = _delta_runs(plan, None, False) if plan.sparse else _full_runs(plan)
        if plan.sparse and plan.arch == "x86_64":
            runs += [(nr, act, 1) for nr, act in _X32_RUNS]  # not known to be on ours
    else:  # the full filter below kills foreign architectures and x32 numbers
        runs = _delta_runs(plan, base, below == trap_verdict(plan, violation))
    rets = _returns(plan, violation)
    sums = [0]
    for _, _, w in runs:
        sums.append(sums[-1] + w)
    for inline in INLINE:  # the first layout whose jumps all reach (one layout pass)
        prog = Program()
        if base is None:
            native = prog.label()
            prog.load(OFF_ARCH)
            prog.jump(JMP_JEQ_K, AUDIT_ARCH[plan.arch], native, None)
            prog.ret(SECCOMP_RET_KILL_PROCESS)  # a foreign architecture (i386 int 0x80)
            prog.place(native)
        prog.load(OFF_NR)
        blocks: list[tuple[int, Action]] = []
        _emit_tree(prog, runs, sums, 0, len(runs), rets, blocks, inline)
        for label, act in blocks:
            prog.place(label)
            _emit_rules(prog, act.rules, rets)
        if inline == 0:
            return prog.assemble()
        near = prog.assemble_near()
        if near is not None:
            return near
    raise AssertionError("unreachable: the last layout assembles whatever its jumps")


#: Action kinds as native/bpf.c numbers them (0: a number the plan does not list).
_CODE = {"allow": 1, "trap": 2, "enosys": 3, "kill": 4, "args": 5}
_ARGS_CODE = 5
#: The native compiler's errors (its PPB_E_* codes).
_ERRORS = {-1: (ValueError, "malformed plan encoding"),
           -2: (OverflowError, f"filter has more than {MAX_INSNS} instructions"),
           -3: (ValueError, "backward or unplaced jump target"),
           -4: (MemoryError, "out of memory"),
           -5: (ValueError, "output buffer too small")}
#: id(rule) -> (the rule, kept alive so its id stays its own, its bytes in the encoding).
_RULE_BYTES: dict[int, tuple[Rule, bytes]] = {}


def _kinds(actions: dict[int, Action]) -> bytes:
    """One byte per number 0..MAX_KNOWN + 1: the code of its action (0: not listed)."""
    n = MAX_KNOWN + 2
    codes = bytearray(2 * n)  # a negative number lands in the upper half (as one too large)
    code = _CODE
    for nr, act in actions.items():  # a plain loop: quicker here than map() or min()/max()
        codes[nr] = code[act.kind]
    if codes.count(0, n) != n:
        raise ValueError("plan lists a syscall number outside 0..MAX_KNOWN + 1")
    return bytes(codes[:n])


def _rule_bytes(rule: Rule) -> bytes:
    """errno(u32) n_args(u8), each test: index(i8) flags(u8) mask(u64) n(u16) values(u64)."""
    got = _RULE_BYTES.get(id(rule))
    if got is not None and got[0] is rule:
        return got[1]
    # each field packed into one int, its range checked first: a value too wide for
    # its field must be refused, not spill into the next
    if not 0 <= rule.errno <= 0xFFFFFFFF:
        raise ValueError(f"errno out of range: {rule.errno}")
    out = (rule.errno | len(rule.args) << 32).to_bytes(5, "little")  # OverflowError: > 255
    for a in rule.args:
        if not -1 <= a.index <= 5 or not 0 <= a.mask <= 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"test out of range: {a}")
        values = a.values
        out += ((a.index & 0xFF) | ((1 if a.negate else 0) | (2 if a.wide else 0)) << 8
                | a.mask << 16 | len(values) << 80).to_bytes(12, "little")
        for v in values:
            out += v.to_bytes(8, "little")  # OverflowError outside 0..2**64 - 1
    if len(_RULE_BYTES) >= 4096:  # concrete rules (they name a pid) are new each build
        _RULE_BYTES.clear()
    _RULE_BYTES[id(rule)] = (rule, out)
    return out


def encode(plan: Plan, violation: int | None = None, below: int | None = None) -> bytes:
    """*plan* flattened for the native compiler (the format: native/bpf.c's header).

    Raises ValueError or OverflowError for a plan the format cannot hold (a number
    or a value out of its range): it is refused, never compiled shortened.
    """
    base = plan.base
    if base is None:
        mode, trap_joins = (1 if plan.sparse else 0), False
    else:
        mode, trap_joins = 2, below == trap_verdict(plan, violation)
    tail = _X32_RUNS if plan.arch == "x86_64" and base is None else ()
    rets = _returns(plan, violation)
    hot = _hot(plan.arch)
    le = int.to_bytes
    parts = [b"PPB1", bytes((mode, trap_joins, len(tail), len(INLINE))),
             le(MAX_KNOWN, 2, "little"), le(MAX_INSNS, 2, "little"),
             le(AUDIT_ARCH[plan.arch], 4, "little"),
             *(le(rets[k], 4, "little") for k in ("allow", "trap", "enosys", "kill")),
             le(SECCOMP_RET_ERRNO, 4, "little"), le(HOT, 4, "little"), bytes((len(hot),)),
             *(le(i, 1, "little", signed=True) for i in INLINE)]
    parts += [le(nr, 2, "little") + le(w, 4, "little") for nr, w in hot.items()]
    parts += [le(nr, 4, "little") + bytes((_CODE[act.kind],)) for nr, act in tail]
    kinds = _kinds(plan.actions)
    parts.append(kinds)
    if base is not None:
        parts.append(_kinds(base.actions))
    actions = plan.actions
    nr = kinds.find(_ARGS_CODE)
    while nr >= 0:
        rules = actions[nr].rules
        parts.append(le(nr, 2, "little") + le(len(rules), 2, "little"))
        parts += map(_rule_bytes, rules)
        nr = kinds.find(_ARGS_CODE, nr + 1)
    return b"".join(parts)


def compile_native(plan: Plan, violation: int | None = None, below: int | None = None,
                   mod: Any = None) -> bytes:
    """:func:`compile_plan` by the native module *mod* (default: load it; OSError when
    it is not built)."""
    if mod is None:
        mod = native.load()
        if mod is None:
            raise OSError(38, native.MISSING or "the native module is not built")
    return compile_encoded(encode(plan, violation, below), mod)


def compile_encoded(code: bytes, mod: Any) -> bytes:
    """The filter native/bpf.c compiles from the encoding *code* (see :func:`encode`);
    a malformed one raises ValueError (nothing is compiled from part of it)."""
    cap = MAX_INSNS * 8
    out = mod.ffi.new("unsigned char[]", cap)
    n = int(mod.lib.pp_bpf_compile(code, len(code), out, cap))
    if n < 0:
        kind, what = _ERRORS.get(n, (ValueError, f"error {n}"))
        raise kind(f"native BPF compiler: {what}")
    if n % 8 or n > cap:
        raise ValueError(f"native BPF compiler returned {n} bytes")
    return bytes(mod.ffi.buffer(out, n))
