"""The compiled filter, checked with the BPF interpreter (compile-only: no kernel).

aarch64 cannot run here, so its filter is built and interpreted; x86_64 gets
the same checks (plus the x32 bit). Two oracles: fixed cases written from the
policy by hand (openat flags, clone3, the unknown tail), and, for every
syscall number and several promise sets, ``plan.action(nr)`` with
``rules.Arg.matches`` for the argument-checked ones (hypothesis picks args).
"""

from __future__ import annotations

import struct
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledgepy.backends.linux.rules import Identity
from pledgepy.backends.linux.seccomp import bpf, plan
from pledgepy.backends.linux.seccomp.filter import compile_plan
from pledgepy.backends.linux.syscalls import BY_ARCH, MAX_KNOWN
from pledgepy.promises import VOCABULARY

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
AUDIT = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}
FOREIGN = {"x86_64": (AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0),
           "aarch64": (AUDIT_ARCH_ARM, AUDIT_ARCH_X86_64, 0)}

RET_KILL_PROCESS = 0x80000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
ENOSYS = 38
X32_BIT = 0x40000000
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0, 1, 2, 0o100, 0o1000

WHO = Identity(4242, 1000, (1000, 27))
ARCHES = ("x86_64", "aarch64")
PROMISE_SETS = (
    "",
    "stdio",
    "stdio rpath",
    "stdio rpath wpath cpath",
    "stdio inet dns",
    "stdio unix sendfd recvfd",
    "stdio rpath prot_exec proc exec",
    "stdio tty flock fattr chown id",
    "stdio rpath error",
    " ".join(VOCABULARY),
)


@cache
def compiled(arch: str, promises: str) -> tuple[plan.Plan, bytes]:
    p = plan.build(frozenset(promises.split()), arch, WHO)
    return p, compile_plan(p)


def data(nr: int, arch: int, *args: int, ip: int = 0x7F0012345678) -> bytes:
    full = (list(args) + [0] * 6)[:6]
    return struct.pack("<iI Q 6Q", nr, arch, ip, *full)


def verdict(arch: str, promises: str, name_or_nr: str | int, *args: int,
            audit: int | None = None) -> int:
    nr = BY_ARCH[arch][name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    _, prog = compiled(arch, promises)
    return bpf.run(prog, data(nr, AUDIT[arch] if audit is None else audit, *args))


def trap(promises: str) -> int:
    return RET_TRAP | (1 if "error" in promises.split() else 0)


# ---- fixed cases, per architecture ----

@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("promises", PROMISE_SETS)
def test_foreign_architecture_kills(arch: str, promises: str) -> None:
    for audit in FOREIGN[arch]:
        for name in ("read", "exit_group", "openat"):
            assert verdict(arch, promises, name, audit=audit) == RET_KILL_PROCESS, (audit, name)


@pytest.mark.parametrize("promises", PROMISE_SETS)
def test_x32_numbers_kill_on_x86_64(promises: str) -> None:
    for nr in (0, 1, 60, 231, 257, 512, 547, MAX_KNOWN):  # read, write, exit, ..., x32-only range
        assert verdict("x86_64", promises, X32_BIT | nr) == RET_KILL_PROCESS, nr
    # the same numbers without the bit are not killed
    assert verdict("x86_64", promises, 231) == RET_ALLOW  # exit_group


def test_aarch64_has_no_x32_check() -> None:
    # 0x40000000 is just a number far beyond the table on aarch64: ENOSYS, not kill
    assert verdict("aarch64", "stdio", X32_BIT) == RET_ERRNO | ENOSYS


@pytest.mark.parametrize("arch", ARCHES)
def test_allowed_syscalls_allow(arch: str) -> None:
    for name in ("read", "write", "close", "futex", "clock_gettime", "exit_group", "getrandom"):
        assert verdict(arch, "stdio", name, 1, 2, 3) == RET_ALLOW, name
    for name in ("exit_group", "getpid", "rt_sigreturn"):
        assert verdict(arch, "", name) == RET_ALLOW, name
    # write under "" only to stderr
    assert verdict(arch, "", "write", 2) == RET_ALLOW
    assert verdict(arch, "", "write", 1) == RET_TRAP


@pytest.mark.parametrize("arch", ARCHES)
def test_refused_syscalls_trap(arch: str) -> None:
    assert verdict(arch, "stdio", "socket", 2, 1, 0) == RET_TRAP
    assert verdict(arch, "stdio", "execve") == RET_TRAP
    assert verdict(arch, "stdio", "unlinkat") == RET_TRAP
    assert verdict(arch, "stdio error", "unlinkat") == RET_TRAP | 1
    for name in ("ptrace", "bpf", "perf_event_open", "personality", "userfaultfd", "unshare"):
        assert verdict(arch, " ".join(VOCABULARY), name) == trap(" ".join(VOCABULARY)), name


@pytest.mark.parametrize("arch", ARCHES)
def test_openat_flags(arch: str) -> None:
    at = -100 & 0xFFFFFFFFFFFFFFFF  # AT_FDCWD as the register holds it
    path = 0x7FFDEADBEEF0
    assert verdict(arch, "stdio rpath", "openat", at, path, O_RDONLY) == RET_ALLOW
    assert verdict(arch, "stdio rpath", "openat", at, path, O_RDONLY | 0o2000000) == RET_ALLOW
    assert verdict(arch, "stdio rpath", "openat", at, path, O_WRONLY) == RET_TRAP
    assert verdict(arch, "stdio rpath", "openat", at, path, O_RDWR) == RET_TRAP
    assert verdict(arch, "stdio rpath", "openat", at, path, O_RDONLY | O_TRUNC) == RET_TRAP
    assert verdict(arch, "stdio rpath", "openat", at, path, O_RDONLY | O_CREAT, 0o644) == RET_TRAP
    assert verdict(arch, "stdio wpath", "openat", at, path, O_WRONLY) == RET_ALLOW
    assert verdict(arch, "stdio wpath", "openat", at, path, O_RDONLY) == RET_TRAP
    assert verdict(arch, "stdio wpath cpath", "openat", at, path, O_WRONLY | O_CREAT,
                   0o644) == RET_ALLOW
    assert verdict(arch, "stdio wpath cpath", "openat", at, path, O_WRONLY | O_CREAT,
                   0o4755) == RET_TRAP  # setuid bit
    assert verdict(arch, "stdio", "openat", at, path, O_RDONLY) == RET_TRAP
    # upper 32 bits of an int argument are ignored, as the kernel does
    assert verdict(arch, "stdio rpath", "openat", at, path, 0xFFFFFFFF00000000) == RET_ALLOW
    assert verdict(arch, "stdio rpath error", "openat", at, path, O_WRONLY) == RET_TRAP | 1


@pytest.mark.parametrize("arch", ARCHES)
def test_mmap_prot_exec(arch: str) -> None:
    prot_rx, prot_rw = 0x5, 0x3
    assert verdict(arch, "stdio", "mmap", 0, 4096, prot_rw) == RET_ALLOW
    assert verdict(arch, "stdio", "mmap", 0, 4096, prot_rx) == RET_TRAP
    assert verdict(arch, "stdio prot_exec", "mmap", 0, 4096, prot_rx) == RET_ALLOW
    assert verdict(arch, "stdio", "mprotect", 0, 4096, prot_rx) == RET_TRAP


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("promises", PROMISE_SETS)
def test_enosys_syscalls(arch: str, promises: str) -> None:
    for name in ("clone3", "openat2", "io_uring_setup", "memfd_create"):
        assert verdict(arch, promises, name) == RET_ERRNO | ENOSYS, name
    for nr in (MAX_KNOWN + 1, MAX_KNOWN + 50, 1000, 0x3FFFFFFF):
        assert verdict(arch, promises, nr) == RET_ERRNO | ENOSYS, nr


@pytest.mark.parametrize("arch", ARCHES)
def test_kill_self_only_without_proc(arch: str) -> None:
    assert verdict(arch, "stdio", "kill", WHO.pid, 10) == RET_ALLOW
    assert verdict(arch, "stdio", "kill", 1, 10) == RET_TRAP
    assert verdict(arch, "stdio proc", "kill", 1, 10) == RET_ALLOW


def test_aarch64_numbers_differ_from_x86_64() -> None:
    # the program really is per architecture: openat is 56 on aarch64, 257 on x86_64
    assert BY_ARCH["aarch64"]["openat"] == 56 and BY_ARCH["x86_64"]["openat"] == 257
    assert verdict("aarch64", "stdio rpath", 56, 0, 0, O_RDONLY) == RET_ALLOW
    assert verdict("aarch64", "stdio rpath", 56, 0, 0, O_WRONLY) == RET_TRAP
    assert "open" not in BY_ARCH["aarch64"]  # aarch64 has no open(2)
    _, x86 = compiled("x86_64", "stdio rpath")
    _, arm = compiled("aarch64", "stdio rpath")
    assert x86 != arm
    assert len(arm) % 8 == 0 and len(arm) // 8 <= bpf.MAX_INSNS


# ---- every number against the plan ----

def expected(p: plan.Plan, nr: int, args: tuple[int, ...], promises: str) -> int:
    act = p.action(nr)
    if act.kind == "allow":
        return RET_ALLOW
    if act.kind == "enosys":
        return RET_ERRNO | ENOSYS
    if act.kind == "trap":
        return trap(promises)
    for rule in act.rules:  # in the filter's order: a refusal (errno) after the allowing ones
        if all(a.matches(args) for a in rule.args):
            return RET_ERRNO | rule.errno if rule.errno else RET_ALLOW
    return trap(promises)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("promises", PROMISE_SETS)
def test_every_number_matches_the_plan(arch: str, promises: str) -> None:
    p, prog = compiled(arch, promises)
    kinds = set()
    for nr in range(0, MAX_KNOWN + 20):
        kinds.add(p.action(nr).kind)
        for args in ((0,) * 6, (0xFFFFFFFFFFFFFFFF,) * 6, (1, 2, 3, 4, 5, 6)):
            got = bpf.run(prog, data(nr, AUDIT[arch], *args))
            assert got == expected(p, nr, args, promises), (nr, args)
    assert {"trap", "enosys"} <= kinds  # the walk saw more than one verdict


def _satisfying(rule: object) -> tuple[int, ...] | None:
    """Args that pass every test of *rule* (None if the tests contradict)."""
    args = [0] * 6
    for a in rule.args:  # type: ignore[attr-defined]
        if a.negate:
            cand = next((c for c in (a.mask, 1, 2, 0xFFFFFFFF) if (c & a.mask) not in a.values), None)
        else:
            cand = a.values[0]
        if cand is None:
            return None
        args[a.index] = cand
    if not all(a.matches(tuple(args)) for a in rule.args):  # type: ignore[attr-defined]
        return None
    return tuple(args)


def _near_misses(rule: object, base: tuple[int, ...]) -> list[tuple[int, ...]]:
    """*base* with one tested argument nudged: a high bit, a masked bit, each flag bit."""
    out = []
    for a in rule.args:  # type: ignore[attr-defined]
        for v in (base[a.index] | (1 << 32), base[a.index] | (1 << 63),
                  base[a.index] ^ a.mask, *(base[a.index] ^ (1 << b) for b in range(32))):
            args = list(base)
            args[a.index] = v & 0xFFFFFFFFFFFFFFFF
            out.append(tuple(args))
    return out


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("promises", PROMISE_SETS)
def test_rule_boundaries(arch: str, promises: str) -> None:
    """For each argument rule: args that satisfy it are allowed; near misses follow the oracle."""
    p, prog = compiled(arch, promises)
    satisfied = 0
    for nr, act in p.actions.items():
        if act.kind != "args":
            continue
        for rule in act.rules:
            base = _satisfying(rule)
            if base is None:
                continue
            satisfied += 1
            want = expected(p, nr, base, promises) if rule.errno else RET_ALLOW
            assert bpf.run(prog, data(nr, AUDIT[arch], *base)) == want, (rule, base)
            for args in _near_misses(rule, base):
                got = bpf.run(prog, data(nr, AUDIT[arch], *args))
                assert got == expected(p, nr, args, promises), (rule, args)
    assert satisfied or promises == ""


def _interesting_values(arch: str) -> list[int]:
    vals = {0, 1, 2, 3, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 1 << 32, WHO.pid, WHO.uid, *WHO.gids}
    p, _ = compiled(arch, " ".join(VOCABULARY))
    for act in p.actions.values():
        for rule in act.rules:
            for a in rule.args:
                for v in a.values:
                    vals.update({v, v | 0o100, v | 0o1000, v ^ a.mask, v | (1 << 40)})
    return sorted(v & 0xFFFFFFFFFFFFFFFF for v in vals)


_VALUES = {arch: _interesting_values(arch) for arch in ARCHES}
_CHECKED = {arch: sorted({nr for s in PROMISE_SETS
                          for nr, a in compiled(arch, s)[0].actions.items() if a.kind == "args"})
            for arch in ARCHES}


def _arg(arch: str) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(_VALUES[arch]), st.integers(0, 2**64 - 1),
                     st.integers(0, 2**32 - 1))


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, str, int, tuple[int, ...]]:
    arch = draw(st.sampled_from(ARCHES))
    promises = draw(st.sampled_from(PROMISE_SETS))
    nr = draw(st.sampled_from(_CHECKED[arch]))
    args = tuple(draw(_arg(arch)) for _ in range(6))
    return arch, promises, nr, args


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_argument_checks_match_the_rules(case: tuple[str, str, int, tuple[int, ...]]) -> None:
    arch, promises, nr, args = case
    p, prog = compiled(arch, promises)
    got = bpf.run(prog, data(nr, AUDIT[arch], *args))
    assert got == expected(p, nr, args, promises)


def test_checked_syscalls_exist() -> None:
    # the hypothesis test is not vacuous: both arches have argument-checked syscalls
    for arch in ARCHES:
        names = {n for n, nr in BY_ARCH[arch].items() if nr in _CHECKED[arch]}
        assert {"openat", "mmap", "ioctl", "fcntl", "kill", "socket", "clone"} <= names, arch
