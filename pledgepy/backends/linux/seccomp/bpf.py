"""A small classic-BPF assembler: labels, and far jumps turned into trampolines.

Conditional BPF jumps reach at most 255 instructions ahead; :meth:`Program.assemble`
lays the program out, and any conditional jump whose target is farther becomes
``jcond +0/+1`` followed by unconditional ``ja`` instructions.
"""

from __future__ import annotations


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    """``struct sock_filter`` {u16 code; u8 jt; u8 jf; u32 k}, little-endian, without
    _struct (an extension module: its load costs more than this arithmetic)."""
    if not (0 <= code <= 0xFFFF and 0 <= jt <= 0xFF and 0 <= jf <= 0xFF and 0 <= k <= 0xFFFFFFFF):
        raise ValueError(f"BPF field out of range: {(code, jt, jf, k)}")
    return (code | jt << 16 | jf << 24 | k << 32).to_bytes(8, "little")

LD_W_ABS = 0x20
ALU_AND_K = 0x54
JMP_JA = 0x05
JMP_JEQ_K = 0x15
JMP_JGE_K = 0x35
JMP_JSET_K = 0x45
RET_K = 0x06
MAX_INSNS = 4096


class _Insn:
    """One instruction; jump targets are labels (None: the next instruction)."""

    __slots__ = ("code", "k", "jt", "jf", "far")

    def __init__(self, code: int, k: int = 0, jt: str | None = None,
                 jf: str | None = None) -> None:
        self.code, self.k, self.jt, self.jf, self.far = code, k, jt, jf, False


class Program:
    """Build with the emit methods, then :meth:`assemble` to sock_filter bytes.

    Instructions are kept as plain tuples and labels as numbers (where each was
    placed), which keeps building a filter of a few hundred instructions quick;
    the :class:`_Insn` objects are made only when a far jump needs a second layout.
    """

    def __init__(self) -> None:
        self._code: list[tuple[int, int, int | None, int | None]] = []
        self._at: list[int] = []  # label -> index of the instruction it precedes

    def label(self) -> int:
        """A fresh label (place it with :meth:`place`)."""
        self._at.append(-1)
        return len(self._at) - 1

    def place(self, label: int) -> None:
        self._at[label] = len(self._code)

    def load(self, offset: int) -> None:
        self._code.append((LD_W_ABS, offset, None, None))

    def and_(self, mask: int) -> None:
        self._code.append((ALU_AND_K, mask & 0xFFFFFFFF, None, None))

    def jump(self, code: int, k: int, jt: int | None, jf: int | None) -> None:
        self._code.append((code, k & 0xFFFFFFFF, jt, jf))

    def goto(self, label: int) -> None:
        self._code.append((JMP_JA, 0, label, None))

    def ret(self, value: int) -> None:
        self._code.append((RET_K, value & 0xFFFFFFFF, None, None))

    @property
    def _items(self) -> list[_Insn | str]:
        """The program as instructions and the labels placed before them."""
        before: dict[int, list[str]] = {}
        for label, at in enumerate(self._at):
            if at < 0:
                raise KeyError(f"label L{label} was never placed")
            before.setdefault(at, []).append(f"L{label}")
        items: list[_Insn | str] = []
        for pc, (code, k, jt, jf) in enumerate(self._code):
            items += before.get(pc, ())
            items.append(_Insn(code, k, None if jt is None else f"L{jt}",
                               None if jf is None else f"L{jf}"))
        items += before.get(len(self._code), ())
        return items

    def _layout(self, items: list[_Insn | str]) -> tuple[list[_Insn], dict[str, int], list[int]]:
        insns: list[_Insn] = []
        where: dict[str, int] = {}
        starts: list[int] = []
        pos = 0
        for item in items:
            if isinstance(item, str):
                where[item] = pos
                continue
            insns.append(item)
            starts.append(pos)
            pos += self._size(item)
        for item in items:  # labels at the very end
            if isinstance(item, str) and item not in where:
                where[item] = pos
        return insns, where, starts

    @staticmethod
    def _size(insn: _Insn) -> int:
        if insn.code & 0x07 != 0x05 or insn.code == JMP_JA or not insn.far:
            return 1
        return 1 + (insn.jt is not None) + (insn.jf is not None)

    def assemble_near(self) -> bytes | None:
        """The fast path: one layout pass, or None if some conditional jump is far."""
        at = self._at
        code_ = self._code
        if len(code_) > MAX_INSNS:
            raise OverflowError(f"filter has {len(code_)} instructions (limit {MAX_INSNS})")
        flat: list[bytes] = []
        for pc, (code, k, jt, jf) in enumerate(code_):
            if code == JMP_JA:
                flat.append(_insn(code, 0, 0, at[jt] - pc - 1))  # type: ignore[index]
            elif code & 0x07 == 0x05:
                t = at[jt] - pc - 1 if jt is not None else 0
                f = at[jf] - pc - 1 if jf is not None else 0
                if t > 255 or f > 255:
                    return None
                if t < 0 or f < 0:
                    raise ValueError("backward or unplaced jump target")
                flat.append(_insn(code, t, f, k))
            else:
                flat.append(_insn(code, 0, 0, k))
        return b"".join(flat)

    def assemble(self) -> bytes:
        """The program as ``struct sock_filter[]`` bytes (native little-endian)."""
        near = self.assemble_near()
        if near is not None:
            return near
        items = self._items
        while True:
            insns, where, starts = self._layout(items)
            changed = False
            for insn, start in zip(insns, starts, strict=True):
                if insn.code & 0x07 == 0x05 and insn.code != JMP_JA and not insn.far:
                    for target in (insn.jt, insn.jf):
                        if target is not None and where[target] - start - 1 > 255:
                            insn.far, changed = True, True
            if not changed:
                break
        out: list[bytes] = []
        for insn, start in zip(insns, starts, strict=True):
            if insn.code == JMP_JA:
                assert insn.jt is not None
                out.append(_insn(JMP_JA, 0, 0, where[insn.jt] - start - 1))
            elif insn.code & 0x07 == 0x05 and insn.far:
                # jcond: true -> first trampoline (or next), false -> after them
                n_tramp = (insn.jt is not None) + (insn.jf is not None)
                jt = 0 if insn.jt is not None else n_tramp
                jf = (1 if insn.jt is not None else 0) if insn.jf is not None else n_tramp
                out.append(_insn(insn.code, jt, jf, insn.k))
                pos = start + 1
                for target in (insn.jt, insn.jf):
                    if target is not None:
                        out.append(_insn(JMP_JA, 0, 0, where[target] - pos - 1))
                        pos += 1
            elif insn.code & 0x07 == 0x05:
                jt = where[insn.jt] - start - 1 if insn.jt is not None else 0
                jf = where[insn.jf] - start - 1 if insn.jf is not None else 0
                out.append(_insn(insn.code, jt, jf, insn.k))
            else:
                out.append(_insn(insn.code, 0, 0, insn.k))
        if len(out) > MAX_INSNS:
            raise OverflowError(f"filter has {len(out)} instructions (limit {MAX_INSNS})")
        return b"".join(out)


def run(program: bytes, data: bytes) -> int:
    """Interpret *program* over a ``struct seccomp_data`` (for tests and the planner)."""
    from _struct import unpack_from

    pc, acc = 0, 0
    n = len(program) // 8
    while pc < n:
        code, jt, jf, k = unpack_from("<HBBI", program, pc * 8)
        pc += 1
        if code == LD_W_ABS:
            acc = unpack_from("<I", data, k)[0]
        elif code == ALU_AND_K:
            acc &= k
        elif code == JMP_JA:
            pc += k
        elif code == JMP_JEQ_K:
            pc += jt if acc == k else jf
        elif code == JMP_JGE_K:
            pc += jt if acc >= k else jf
        elif code == JMP_JSET_K:
            pc += jt if acc & k else jf
        elif code == RET_K:
            return int(k)
        else:
            raise ValueError(f"unknown BPF opcode {code:#x}")
    raise ValueError("BPF program fell off its end")
