"""The BPF assembler: near jumps in one pass, far conditional jumps through trampolines."""

from __future__ import annotations

import struct

import pytest

from pledgepy.backends.linux.seccomp import bpf


def data(nr: int) -> bytes:
    return struct.pack("<iIQ6Q", nr, 0, 0, *[0] * 6)


@pytest.mark.parametrize("distance", [10, 255, 256, 1000])
def test_conditional_jumps_reach_any_distance(distance: int) -> None:
    prog = bpf.Program()
    far = prog.label()
    prog.load(0)
    prog.jump(bpf.JMP_JEQ_K, 1, far, None)   # taken: jump over `distance` returns
    for i in range(distance):
        prog.ret(i)
    prog.place(far)
    prog.ret(7777)
    code = prog.assemble()
    assert bpf.run(code, data(1)) == 7777
    assert bpf.run(code, data(2)) == 0
    # a far jump costs trampolines; a near one does not
    assert len(code) // 8 == distance + 3 + (1 if distance > 255 else 0)


def test_far_false_branch() -> None:
    prog = bpf.Program()
    far = prog.label()
    prog.load(0)
    prog.jump(bpf.JMP_JGE_K, 5, None, far)   # below 5 goes far
    for i in range(400):
        prog.ret(1000 + i)
    prog.place(far)
    prog.ret(42)
    code = prog.assemble()
    assert bpf.run(code, data(3)) == 42 and bpf.run(code, data(9)) == 1000


def test_too_long_is_refused() -> None:
    prog = bpf.Program()
    for i in range(bpf.MAX_INSNS + 1):
        prog.ret(i)
    with pytest.raises(OverflowError):
        prog.assemble()
