"""Which syscalls the kernel's seccomp action cache can serve under a pledge() filter.

The kernel (>= 5.11, kernel/seccomp.c: seccomp_cache_prepare_bitmap / seccomp_is_const_allow)
emulates each new filter once per syscall number of the native architecture, knowing only
``nr`` and ``arch``.  If that emulation reaches ``RET ALLOW`` without loading anything else,
the syscall is marked "always allowed" and later calls skip the BPF program entirely; any
other path (a load of an argument or the instruction pointer, an unsupported instruction, a
non-ALLOW return) leaves the syscall uncached, so every call runs the filter.  A stack of
filters caches a syscall only if every filter in it does.

This module replays that emulation on the bytes pledgepy compiles, so the benchmark can say
which loops should cost the allow-all floor and which must pay for running the program.

    python3 benchmarks/seccomp_cache.py ["stdio rpath"] [--syscalls getppid read ...]
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LD_W_ABS, ALU_AND_K, JMP_JA, RET_K = 0x20, 0x54, 0x05, 0x06
JEQ_K, JGE_K, JGT_K, JSET_K = 0x15, 0x35, 0x25, 0x45
SECCOMP_RET_ALLOW = 0x7FFF0000
OFF_NR, OFF_ARCH = 0, 4
AUDIT_ARCH_X86_64 = 0xC000003E


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]


def const_allow(insns: list[tuple[int, int, int, int]], nr: int,
                arch: int = AUDIT_ARCH_X86_64) -> bool:
    """The kernel's seccomp_is_const_allow() for one syscall number."""
    reg = 0
    pc = 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        if code == LD_W_ABS:
            if k == OFF_NR:
                reg = nr
            elif k == OFF_ARCH:
                reg = arch
            else:
                return False  # non-constant load (argument, instruction pointer)
        elif code == RET_K:
            return k == SECCOMP_RET_ALLOW
        elif code == JMP_JA:
            pc += k
        elif code in (JEQ_K, JGE_K, JGT_K, JSET_K):
            res = {JEQ_K: reg == k, JGE_K: reg >= k, JGT_K: reg > k,
                   JSET_K: bool(reg & k)}[code]
            pc += jt if res else jf
        elif code == ALU_AND_K:
            reg &= k
        else:
            return False  # an instruction the emulator does not know
        pc += 1
    return False


def _selfcheck() -> None:
    """The emulator agrees with the kernel on two programs whose answer is known."""
    allow = struct.pack("<HBBI", RET_K, 0, 0, SECCOMP_RET_ALLOW)
    assert const_allow(decode(allow), 39)
    args = (struct.pack("<HBBI", LD_W_ABS, 0, 0, 16)             # load args[0]
            + struct.pack("<HBBI", JEQ_K, 0, 1, 0) + allow
            + struct.pack("<HBBI", RET_K, 0, 0, 0))
    assert not const_allow(decode(args), 39)
    by_nr = (struct.pack("<HBBI", LD_W_ABS, 0, 0, OFF_NR)
             + struct.pack("<HBBI", JEQ_K, 0, 1, 39) + allow
             + struct.pack("<HBBI", RET_K, 0, 0, 0))
    assert const_allow(decode(by_nr), 39) and not const_allow(decode(by_nr), 40)


def pledge_programs(chain: list[str]) -> list[bytes]:
    """The filters pledge() stacks for successive calls with *chain* (x86_64)."""
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.seccomp import plan as planmod
    from pledgepy.backends.linux.seccomp.filter import compile_plan

    programs, previous = [], None
    for promises in chain:
        p = planmod.build(frozenset(promises.split()), "x86_64")
        programs.append(compile_plan(p.delta(previous)))
        previous = p
    return programs


def cached(programs: list[bytes], syscalls: list[str]) -> dict[str, bool]:
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.syscalls import BY_ARCH

    _selfcheck()
    numbers = BY_ARCH["x86_64"]
    decoded = [decode(p) for p in programs]
    return {s: all(const_allow(d, numbers[s]) for d in decoded) for s in syscalls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("promises", nargs="*", default=["stdio rpath"],
                        help="successive pledge() calls (default: 'stdio rpath')")
    parser.add_argument("--syscalls", nargs="+", default=[
        "getppid", "read", "newfstatat", "fstat", "openat", "close", "mmap", "munmap"])
    args = parser.parse_args()
    programs = pledge_programs(args.promises)
    print(f"filters: {len(programs)}; instructions: {[len(p) // 8 for p in programs]}")
    for name, ok in cached(programs, args.syscalls).items():
        print(f"  {name:12} {'cached (constant ALLOW)' if ok else 'NOT cached: runs the filter'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
