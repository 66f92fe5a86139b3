"""The native BPF compiler (native/bpf.c) against the Python one, byte for byte.

filter.compile_python() is the reference: for every plan the native compiler must
write the same sock_filter bytes — pledgepy's own plans and deltas (every promise
alone and with stdio, random narrowing chains, both architectures, every violation
verdict) and random synthetic plans whose layouts need far jumps and trampolines.
A malformed encoding must be an error, never a shorter filter.
"""

from __future__ import annotations

import random

import pytest

from pledgepy.backends.linux import native
from pledgepy.backends.linux.native import digest
from pledgepy.backends.linux.policy import PATHS_HELD
from pledgepy.backends.linux.rules import Arg, Rule
from pledgepy.backends.linux.seccomp import bpf, filter, plan
from pledgepy.backends.linux.syscalls import MAX_KNOWN
from pledgepy.promises import VOCABULARY

MOD = native.load()
pytestmark = pytest.mark.skipif(MOD is None, reason=native.MISSING or "no native module")

ARCHES = ("x86_64", "aarch64")
KILL, TRAP, ENOSYS, NOTIF = 0x80000000, 0x00030000, 0x00050000 | 38, 0x7FC00000
VERDICTS = (None, KILL, ENOSYS, NOTIF)


def same(p: plan.Plan, violation: int | None = None, below: int | None = None) -> bytes:
    want = filter.compile_python(p, violation, below)
    got = filter.compile_native(p, violation, below, MOD)
    assert got == want, (p.arch, sorted(p.promises), p.sparse, violation, below)
    return got


def test_compile_plan_uses_the_native_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    p = plan.build(frozenset({"stdio", "rpath"}), "x86_64")
    want = filter.compile_python(p)

    def refuse(*args: object) -> bytes:
        raise AssertionError("the Python compiler ran")

    monkeypatch.setattr(filter, "compile_python", refuse)
    assert filter.compile_plan(p) == want


def test_without_the_native_module_the_python_compiler_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = plan.build(frozenset({"stdio", "rpath"}), "aarch64")
    want = filter.compile_native(p, None, None, MOD)
    monkeypatch.setattr(native, "_sigsys", None)  # as when it is not built
    assert native.load() is None
    assert filter.compile_plan(p) == want
    with pytest.raises(OSError):
        filter.compile_native(p)


def test_the_c_source_is_in_the_build_digest() -> None:
    assert "backends/linux/native/bpf.c" in digest.SOURCES


@pytest.mark.parametrize("arch", ARCHES)
def test_every_promise_alone_with_stdio_and_all(arch: str) -> None:
    sets = [frozenset(), frozenset(VOCABULARY), frozenset(VOCABULARY) | {PATHS_HELD}]
    for p in sorted(VOCABULARY):
        sets += [frozenset({p}), frozenset({"stdio", p}), frozenset({"stdio", "rpath", p}),
                 frozenset({"stdio", p, PATHS_HELD}), frozenset(VOCABULARY) - {p}]
    for promises in sets:
        full = plan.build(promises, arch)
        for v in VERDICTS:
            same(full, v)
        for drop in sorted(promises)[:4]:  # a narrowing of it, as kernel.apply stacks it
            narrower = plan.narrow(full, promises - {drop})
            delta = narrower.delta(full)
            for v in (None, KILL):
                same(delta, v, filter.trap_verdict(full, v))
                same(delta, v, None)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("seed", range(4))
def test_random_narrowing_chains(arch: str, seed: int) -> None:
    rng = random.Random(700 + seed)
    for _ in range(25):
        first = {p for p in VOCABULARY if rng.random() < 0.5} | {"stdio"}
        if rng.random() < 0.4:
            first.add(PATHS_HELD)
        previous = plan.build(frozenset(first), arch)
        same(previous, rng.choice(VERDICTS))
        held = set(first)
        for _ in range(rng.randint(1, 6)):
            for p in rng.sample(sorted(held), k=min(len(held), rng.randint(0, 3))):
                held.discard(p)
            p = plan.narrow(previous, frozenset(held))
            v = rng.choice(VERDICTS)
            below = rng.choice([None, filter.trap_verdict(previous, v), KILL])
            same(p.delta(previous), v, below)
            orphan = p.delta(previous)  # a delta on filters not known to be pledgepy's
            same(plan.Plan(arch, orphan.promises, orphan.error, orphan.actions, sparse=True), v)
            previous = p


# ---- synthetic plans: any mix of actions, tests and sizes ----

def _real_args(arch: str) -> list[Arg]:
    full = plan.build(frozenset(VOCABULARY) | {PATHS_HELD}, arch)
    return sorted({a for act in full.actions.values() for r in act.rules for a in r.args})


def random_arg(rng: random.Random, real: list[Arg]) -> Arg:
    if rng.random() < 0.4:
        return rng.choice(real)
    wide = rng.random() < 0.2
    negate = not wide and rng.random() < 0.4
    small = [0, 1, 2, 3, 0o100, 0o1000, 0xFFFFFFFF, 1 << 32]
    if wide:
        n = 1
    else:
        n = rng.choice([0 if negate else 1, 1, 2, 3, 5] + ([rng.randint(100, 400)]
                                                           if rng.random() < 0.03 else []))

    def value() -> int:
        return rng.choice(small + [rng.getrandbits(32), rng.getrandbits(64)])

    mask = rng.choice([0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 3, 0o3, rng.getrandbits(64)])
    return Arg(rng.randint(-1, 5), tuple(value() for _ in range(n)), mask, negate, wide)


def random_actions(rng: random.Random, real: list[Arg], density: float,
                   kinds: tuple[str, ...]) -> dict[int, plan.Action]:
    actions: dict[int, plan.Action] = {}
    singles = {"allow": plan.ALLOW, "trap": plan.TRAP, "enosys": plan.ENOSYS,
               "kill": plan.Action("kill")}
    shared = [random_arg(rng, real) for _ in range(6)]  # tests rules share (openat's)
    for nr in range(MAX_KNOWN + 2):
        if rng.random() >= density:
            continue
        kind = rng.choice(kinds)
        if kind != "args":
            actions[nr] = singles[kind]
            continue
        rules = []
        for _ in range(rng.randint(0, 5)):
            args = tuple(rng.choice(shared) if rng.random() < 0.5 else random_arg(rng, real)
                         for _ in range(rng.randint(0, 3)))
            rules.append(Rule("x", frozenset(), args, "", rng.choice([0, 0, 1, 13, 38])))
        actions[nr] = plan.Action("args", tuple(rules))
    return actions


def random_plan(rng: random.Random, arch: str, real: list[Arg]) -> plan.Plan:
    kinds = rng.choice([("allow", "trap", "enosys", "args"), ("allow", "trap"),
                        ("allow", "args", "args"), ("trap", "enosys", "kill", "args")])
    density = rng.choice([0.02, 0.3, 0.8, 1.0])
    actions = random_actions(rng, real, density, kinds)
    shape = rng.random()
    if shape < 0.4:
        return plan.Plan(arch, frozenset(), rng.random() < 0.3, actions)
    if shape < 0.6:
        return plan.Plan(arch, frozenset(), False, actions, sparse=True)
    base_kinds = tuple(k for k in kinds if k != "kill") or ("trap",)
    base = plan.Plan(arch, frozenset(), False,
                     random_actions(rng, real, rng.choice([0.5, 1.0]), base_kinds))
    return plan.Plan(arch, frozenset(), False, actions, sparse=True, base=base)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("seed", range(5))
def test_random_synthetic_plans(arch: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9100 + seed)
    real = _real_args(arch)
    far = [0]
    near = bpf.Program.assemble_near

    def counting(self: bpf.Program) -> bytes | None:
        got = near(self)
        far[0] += got is None
        return got

    monkeypatch.setattr(bpf.Program, "assemble_near", counting)
    compared = errors = 0
    for _ in range(60):
        p = random_plan(rng, arch, real)
        v = rng.choice(VERDICTS)
        below = rng.choice([None, KILL, TRAP, filter.trap_verdict(p, v)])
        try:
            want: bytes | type[Exception] = filter.compile_python(p, v, below)
        except (OverflowError, ValueError) as exc:
            want = type(exc)
        if isinstance(want, bytes):
            assert filter.compile_native(p, v, below, MOD) == want
            compared += 1
        else:  # too long for BPF: the native compiler refuses it too
            with pytest.raises(want):
                filter.compile_native(p, v, below, MOD)
            errors += 1
    assert compared >= 40
    assert far[0] > 0  # some layouts needed far jumps (trampolines, or the next level)


def test_actions_equal_to_the_shared_ones_compile_alike() -> None:
    """Plans hold the shared ALLOW/TRAP/ENOSYS; a copy of one is the same action."""
    for arch in ARCHES:
        full = plan.build(frozenset({"stdio", "inet"}), arch)
        copies = {nr: plan.Action(a.kind, a.rules) for nr, a in full.actions.items()}
        copies[MAX_KNOWN] = plan.Action("enosys")
        code = same(plan.Plan(arch, full.promises, full.error, copies))
        assert code == filter.compile_python(plan.Plan(arch, full.promises, full.error,
                                                       {**full.actions, MAX_KNOWN: plan.ENOSYS}))


def test_far_jumps_through_trampolines() -> None:
    """An argument check too long for any in-place layout: every level is tried and the
    last one's tree jumps far."""
    values = tuple(range(2, 300))
    actions: dict[int, plan.Action] = {nr: (plan.ALLOW if nr % 2 else plan.TRAP)
                                       for nr in range(MAX_KNOWN + 1)}
    for nr in (0, 2, 100, 250, 400):
        actions[nr] = plan.Action("args", (Rule("x", frozenset(), (Arg(1, values),)),))
    for arch in ARCHES:
        code = same(plan.Plan(arch, frozenset(), False, actions))
        assert len(code) // 8 > 5 * len(values)


def test_too_long_is_refused() -> None:
    values = tuple(range(2, 1200))
    actions = {nr: plan.Action("args", (Rule("x", frozenset(), (Arg(1, values),)),))
               for nr in (1, 3, 5, 7)}
    p = plan.Plan("x86_64", frozenset(), False, actions)
    with pytest.raises(OverflowError):
        filter.compile_python(p)
    with pytest.raises(OverflowError):
        filter.compile_native(p, None, None, MOD)


def test_a_plan_the_encoding_cannot_hold_is_refused() -> None:
    bad = [{MAX_KNOWN + 2: plan.ALLOW}, {-1: plan.ALLOW},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (-1,)),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (1 << 64,)),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (1,), -1),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (1,), 1 << 64),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(6, (1,)),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(-2, (1,)),)),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (), "", 1 << 32),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (1,)),) * 256),))},
           {5: plan.Action("args", (Rule("x", frozenset(), (Arg(0, (1,) * 65536),)),))}]
    for actions in bad:
        with pytest.raises((ValueError, OverflowError)):
            filter.compile_native(plan.Plan("x86_64", frozenset(), False, actions), None,
                                  None, MOD)


# ---- malformed encodings ----

def _encoded(arch: str = "x86_64") -> tuple[bytes, bytes]:
    base = plan.build(frozenset({"stdio", "rpath", "inet"}), arch)
    delta = plan.narrow(base, frozenset({"stdio"})).delta(base)
    return filter.encode(base), filter.encode(delta, None, TRAP)


def _refused(code: bytes) -> None:
    with pytest.raises(ValueError):
        filter.compile_encoded(code, MOD)


def test_the_encodings_compile_as_the_plans() -> None:
    full, delta = _encoded()
    assert filter.compile_encoded(full, MOD) == filter.compile_python(
        plan.build(frozenset({"stdio", "rpath", "inet"}), "x86_64"))
    assert len(filter.compile_encoded(delta, MOD)) > 16


@pytest.mark.parametrize("which", [0, 1])
def test_every_truncation_and_any_trailing_byte_is_an_error(which: int) -> None:
    code = _encoded()[which]
    for n in range(len(code)):
        _refused(code[:n])
    for extra in (b"\0", b"\xff", b"\0\0\0\0"):
        _refused(code + extra)


HEADER = 41  # bytes before the inline levels (see native/bpf.c)


def _with(code: bytes, at: int, new: bytes) -> bytes:
    return code[:at] + new + code[at + len(new):]


def test_corrupt_fields_are_errors() -> None:
    full, delta = _encoded()
    n_inline, n_hot, n_tail = full[7], full[40], full[6]
    kinds_at = HEADER + n_inline + 6 * n_hot + 5 * n_tail
    first_args = full.index(5, kinds_at)  # an "args" number's kind
    blocks_at = kinds_at + MAX_KNOWN + 2
    for bad in (
        _with(full, 0, b"PPB2"),                          # magic
        _with(full, 4, b"\x03"),                          # mode
        _with(full, 5, b"\x02"),                          # trap_joins
        _with(full, 7, b"\x00"),                          # no layout level
        _with(full, 10, (0).to_bytes(2, "little")),       # max_insns 0
        _with(full, 10, (4097).to_bytes(2, "little")),    # max_insns above BPF's
        _with(full, 8, (0xFFFF).to_bytes(2, "little")),   # max_known: kinds run past the end
        _with(full, kinds_at + 3, b"\x06"),               # an unknown kind
        _with(full, first_args, b"\x01"),                 # a block for a number without args
        _with(full, kinds_at + 1, b"\x05"),               # args without a block
        _with(full, blocks_at, (MAX_KNOWN + 9).to_bytes(2, "little")),  # number out of range
        _with(full, HEADER + n_inline + 6 * n_hot + 4, b"\x05"),  # a tail run of args
        _with(full, HEADER + n_inline + 6 * n_hot + 4, b"\x00"),  # a tail run of nothing
    ):
        _refused(bad)
    # the base of a delta with a KILL number: no class for it
    base_at = kinds_at - 5 * n_tail + MAX_KNOWN + 2  # a delta has no tail runs
    assert delta[6] == 0 and delta[4] == 2
    _refused(_with(delta, base_at + 7, b"\x04"))


def _block(nr: int, rules: list[tuple[int, list[tuple[int, int, int, list[int]]]]]) -> bytes:
    out = nr.to_bytes(2, "little") + len(rules).to_bytes(2, "little")
    for errno, args in rules:
        out += errno.to_bytes(4, "little") + bytes((len(args),))
        for index, flags, mask, values in args:
            out += (index & 0xFF).to_bytes(1, "little") + bytes((flags,))
            out += mask.to_bytes(8, "little") + len(values).to_bytes(2, "little")
            out += b"".join(v.to_bytes(8, "little") for v in values)
    return out


def test_corrupt_tests_are_errors() -> None:
    one = plan.Plan("x86_64", frozenset(), False, {
        3: plan.Action("args", (Rule("x", frozenset(), (Arg(1, (7,)),)),)),
        9: plan.Action("args", (Rule("x", frozenset(), (Arg(2, (8,)),)),))})
    code = filter.encode(one)
    blocks = code.index(_block(3, [(0, [(1, 0, 0xFFFFFFFF, [7])])]))
    head = code[:blocks]
    good9 = _block(9, [(0, [(2, 0, 0xFFFFFFFF, [8])])])
    ok = head + _block(3, [(0, [(1, 0, 0xFFFFFFFF, [7])])]) + good9
    assert filter.compile_encoded(ok, MOD) == filter.compile_python(one)
    for bad3 in (
        _block(3, [(0, [(6, 0, 0xFFFFFFFF, [7])])]),      # argument index 6
        _block(3, [(0, [(-2, 0, 0xFFFFFFFF, [7])])]),     # index -2
        _block(3, [(0, [(1, 4, 0xFFFFFFFF, [7])])]),      # an unknown flag
        _block(3, [(0, [(1, 2, 0xFFFFFFFF, [7, 8])])]),   # wide with two values
        _block(3, [(0, [(1, 2, 0xFFFFFFFF, [])])]),       # wide with none
        _block(3, [(0, [(1, 0, 0xFFFFFFFF, [])])]),       # one of no values
    ):
        _refused(head + bad3 + good9)
    _refused(head + good9 + _block(3, [(0, [(1, 0, 0xFFFFFFFF, [7])])]))  # out of order
    _refused(head + _block(3, [(0, [])]) + _block(3, [(0, [])]) + good9)  # twice
    # a count larger than what follows
    _refused(head + _block(3, [(0, [(1, 0, 0xFFFFFFFF, [7])])])[:-12] + good9)


def test_random_corruption_never_crashes_or_overflows() -> None:
    rng = random.Random(4242)
    full, delta = _encoded("aarch64")
    refused = 0
    for _ in range(3000):
        code = bytearray(rng.choice((full, delta)))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(code))
            code[i] = rng.choice((0, 1, 2, 5, 0xFF, rng.randrange(256)))
        try:
            out = filter.compile_encoded(bytes(code), MOD)
        except (ValueError, OverflowError):
            refused += 1
            continue
        assert len(out) % 8 == 0 and 0 < len(out) <= bpf.MAX_INSNS * 8
    assert refused > 100
