"""The vocabulary the policy table is written in: syscall rules and argument tests.

A :class:`Rule` allows one syscall when the process holds every promise in
``needs`` and every :class:`Arg` test holds. A syscall is allowed when any of
its rules is. Tests read the syscall's registers as the kernel sees them:
``int`` arguments by their low 32 bits, pointers and ``long`` by all 64.
"""

from __future__ import annotations

from ...record import Record

#: Stand for this process's pid, uid and groups; filled in when the filter is built.
SELF = -1
OWN_UID = -2
OWN_GIDS = -3
HANDLER_IP = -4
#: The pseudo-promise a plan holds while the Landlock layer of the path allowances
#: (policy.PATHS) is in force: their rules need it.
PATHS_HELD = "@paths"
#: The index of the instruction pointer in an :class:`Arg` (seccomp_data offset 8).
IP = -1


class Identity(Record):
    """The values the placeholders stand for (*ip*: where the SIGSYS handler's own
    syscall returns to, 0 without the handler: such rules then never match)."""

    __slots__ = ()
    _fields = ("pid", "uid", "gids", "ip")
    pid: int
    uid: int
    gids: tuple[int, ...]
    ip: int

    def __new__(cls, pid: int, uid: int, gids: tuple[int, ...], ip: int = 0) -> Identity:
        return tuple.__new__(cls, (pid, uid, gids, ip))

    def expand(self, values: tuple[int, ...]) -> tuple[int, ...]:
        out: list[int] = []
        for v in values:
            if v == SELF:
                out.append(self.pid)
            elif v == OWN_UID:
                out.append(self.uid)
            elif v == OWN_GIDS:
                out.extend(self.gids)
            elif v == HANDLER_IP:
                out.append(self.ip)
            else:
                out.append(v)
        return tuple(dict.fromkeys(out))


class Arg(Record):
    """``(arg[index] & mask) in values`` (or ``not in``, when ``negate``)."""

    __slots__ = ()
    _fields = ("index", "values", "mask", "negate", "wide")
    index: int  # type: ignore[assignment]  # the field hides tuple.index, as in namedtuple
    values: tuple[int, ...]
    mask: int
    negate: bool
    wide: bool

    def __new__(cls, index: int, values: tuple[int, ...], mask: int = 0xFFFFFFFF,
                negate: bool = False, wide: bool = False) -> Arg:
        return tuple.__new__(cls, (index, values, mask, negate, wide))

    def concrete(self, who: Identity) -> Arg:
        """This test with the placeholders filled in."""
        return Arg(self.index, who.expand(self.values), self.mask, self.negate, self.wide)

    def matches(self, args: tuple[int, ...]) -> bool:
        """Evaluate a concrete test in Python (the SIGSYS handler does it in C)."""
        width = 0xFFFFFFFFFFFFFFFF if self.wide else 0xFFFFFFFF
        got = args[self.index] & width & self.mask
        return (got not in self.values) if self.negate else (got in self.values)


class Rule(Record):
    """One way a syscall may be allowed, or (``errno``) quietly refused.

    A rule with an ``errno`` makes a matching call fail with that error
    instead of running or counting as a violation; ``why`` says why the table
    holds the rule (shown in the README's promise table).
    """

    __slots__ = ()
    _fields = ("syscall", "needs", "args", "hint", "errno", "why")
    syscall: str
    needs: frozenset[str]
    args: tuple[Arg, ...]
    hint: str
    errno: int
    why: str

    def __new__(cls, syscall: str, needs: frozenset[str], args: tuple[Arg, ...] = (),
                hint: str = "", errno: int = 0, why: str = "") -> Rule:
        return tuple.__new__(cls, (syscall, needs, args, hint, errno, why))


def one_of(index: int, *values: int, mask: int = 0xFFFFFFFF) -> Arg:
    """The (masked) argument is one of *values*."""
    return Arg(index, tuple(values), mask)


def none_of(index: int, *values: int, mask: int = 0xFFFFFFFF) -> Arg:
    """The (masked) argument is none of *values*."""
    return Arg(index, tuple(values), mask, negate=True)


def bits_clear(index: int, bits: int) -> Arg:
    """None of *bits* is set."""
    return Arg(index, (0,), bits)


def bits_set(index: int, bits: int) -> Arg:
    """All of *bits* are set."""
    return Arg(index, (bits,), bits)


def null(index: int) -> Arg:
    """The pointer argument is NULL (all 64 bits)."""
    return Arg(index, (0,), 0xFFFFFFFFFFFFFFFF, wide=True)


def from_handler() -> Arg:
    """The call is made by pledgepy's SIGSYS handler (its one call site), not the program."""
    return Arg(IP, (HANDLER_IP,), 0xFFFFFFFFFFFFFFFF, wide=True)


#: The sign bit of an ``int`` argument (the low 32 bits are what the kernel reads).
INT_SIGN = 0x80000000


def is_descriptor(index: int) -> Arg:
    """The ``int`` argument is a descriptor number: not negative (AT_FDCWD is)."""
    return bits_clear(index, INT_SIGN)


def is_self(index: int) -> Arg:
    """The pid argument is this process."""
    return Arg(index, (SELF,))


def allow(needs: str, *syscalls: str, hint: str = "", why: str = "") -> tuple[Rule, ...]:
    """Each syscall, unconditionally, with promises *needs* (space-separated)."""
    need = frozenset(needs.split())
    return tuple(Rule(s, need, (), hint, 0, why) for s in syscalls)


def allow_any(promises: str, *syscalls: str, hint: str = "") -> tuple[Rule, ...]:
    """Each syscall, unconditionally, with any one of *promises*."""
    return tuple(r for p in promises.split() for r in allow(p, *syscalls, hint=hint))


def when(needs: str, syscall: str, *args: Arg, hint: str = "", why: str = "") -> Rule:
    """*syscall* with promises *needs* when every test in *args* holds."""
    return Rule(syscall, frozenset(needs.split()), tuple(args), hint, 0, why)


def fail(needs: str, syscall: str, errno: int, *args: Arg, why: str, hint: str = "") -> Rule:
    """*syscall* fails with *errno* (no violation) under *needs* when every test holds.

    Refusals are tried after every allowing rule, so another promise that
    allows the call wins. *args* may not be empty: an unconditional refusal
    is no promise's business. *hint*: what the violation message adds when a
    process holding none of *needs* makes exactly this call (the refusal's shape
    says what the program was doing better than the rule that would allow it).
    """
    if not args:
        raise ValueError("a refusal needs argument tests")
    return Rule(syscall, frozenset(needs.split()), tuple(args), hint, errno, why)
