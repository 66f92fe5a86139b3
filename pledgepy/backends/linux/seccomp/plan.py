"""Plan: from held promises to one action per syscall number, for one architecture."""

from __future__ import annotations

import os

from ....record import Record
from .. import prepared
from ..rules import Arg, Identity, Rule
from ..syscalls import MAX_KNOWN

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any, Literal

    Kind = Literal["allow", "args", "trap", "enosys", "kill"]


class Action(Record):
    """What the filter does with one syscall number."""

    __slots__ = ()
    _fields = ("kind", "rules")
    kind: Kind
    rules: tuple[Rule, ...]

    def __new__(cls, kind: Kind, rules: tuple[Rule, ...] = ()) -> Action:
        return tuple.__new__(cls, (kind, rules))


ALLOW = Action("allow")
TRAP = Action("trap")
ENOSYS = Action("enosys")


class Plan:
    """The filter to build: an action for every known syscall number.

    A full plan answers ENOSYS for numbers it does not list. A delta plan
    (``sparse``) lists only what changed and allows everything else: the
    filters already in force decide those. *base*: the full plan whose filter
    (pledgepy's own, checking the architecture) is in force below a delta.
    """

    __slots__ = ("arch", "promises", "error", "actions", "sparse", "base")

    def __init__(self, arch: str, promises: frozenset[str], error: bool,
                 actions: dict[int, Action], sparse: bool = False,
                 base: Plan | None = None) -> None:
        self.arch, self.promises, self.error, self.actions = arch, promises, error, actions
        self.sparse, self.base = sparse, base

    def action(self, nr: int) -> Action:
        if self.sparse:
            return self.actions.get(nr, ALLOW)
        if nr > MAX_KNOWN:
            return ENOSYS
        return self.actions.get(nr, ENOSYS)

    def delta(self, previous: Plan | None) -> Plan:
        """What a filter stacked on *previous* needs: only the syscalls that changed.

        Filters stack and the strictest verdict wins, so a narrowing filter
        only restates what changed; everything else it allows (and so stays
        cacheable by the kernel). *previous* must be the full plan whose filter
        pledgepy installed in this process (with every delta since): the delta
        leaves the architecture and x32 checks to it.
        """
        if previous is None or previous.arch != self.arch or previous.sparse:
            return self
        same_trap = previous.error == self.error
        old_actions = previous.actions
        changed: dict[int, Action] = {}
        for nr, act in self.actions.items():
            old = old_actions.get(nr, ENOSYS)
            if (act is old or act == old) and (same_trap or act.kind in ("allow", "enosys")):
                continue  # traps and argument checks (whose misses trap) are restated
                #          when the penalty ("error") changed
            changed[nr] = act
        return Plan(self.arch, self.promises, self.error, changed, sparse=True, base=previous)

    def allows_everything(self) -> bool:
        """True for a delta that changes nothing (no filter needs stacking)."""
        return all(a.kind == "allow" for a in self.actions.values()) and (
            self.sparse or len(self.actions) > MAX_KNOWN)


def identity() -> Identity:
    """This process's pid, uid and groups, for the rules' placeholders."""
    from .. import native

    return Identity(os.getpid(), os.getuid(), tuple(sorted({os.getgid(), *os.getgroups()})),
                    native.handler_ip())


def concrete(rule: Rule, who: Identity) -> Rule:
    return rule._replace(args=tuple(a.concrete(who) for a in rule.args))


if TYPE_CHECKING:
    #: policy.py's Rule as prepared.py keeps it: (syscall, needs, args, hint, errno, why)
    Raw = tuple[str, frozenset[str], tuple[tuple[int, tuple[int, ...], int, bool, bool], ...],
                str, int, str]
    _Entry = tuple[int, str, tuple[tuple[Raw, bool], ...]]

_ENOSYS: frozenset[str] = frozenset()  # policy.ENOSYS, set by _load()
_INDEX: dict[str, tuple[_Entry, ...]] = {}
_TOUCHES: dict[str, dict[str, tuple[_Entry, ...]]] = {}
_RULES: dict[int, Rule] = {}  # id() of a prepared rule (kept alive by _INDEX) -> its Rule
_SHORTCUTS: dict[str, tuple[Any, ...]] = {}  # prepared._shortcuts() of each architecture


def _load(arch: str) -> None:
    """(nr, name, its rules with a has-placeholder flag) for *arch*, and which of them
    each promise touches: the tables the build prepared (prepared.py), read once."""
    global _ENOSYS
    _ENOSYS = prepared.data()["enosys"]
    _INDEX[arch], _TOUCHES[arch], _SHORTCUTS[arch] = prepared.arch(arch)


def _index(arch: str) -> tuple[_Entry, ...]:
    if arch not in _INDEX:
        _load(arch)
    return _INDEX[arch]


def _touches(arch: str, promise: str) -> tuple[_Entry, ...]:
    """The index entries with a rule that needs *promise*."""
    if arch not in _TOUCHES:
        _load(arch)
    return _TOUCHES[arch].get(promise, ())


def warm(arch: str) -> None:
    """Read *arch*'s static indexes now (they depend only on the policy table)."""
    _index(arch)


def _rule(raw: Raw) -> Rule:
    """The Rule record of a prepared rule (made on first use: most are never needed)."""
    got = _RULES.get(id(raw))
    if got is None:
        new = tuple.__new__  # what the records' own __new__ does, field by field
        s, needs, args, hint, errno, why = raw
        got = _RULES[id(raw)] = new(Rule, (s, needs, tuple(new(Arg, a) for a in args), hint,
                                           errno, why))
    return got


def rules_of(arch: str) -> list[tuple[Rule, bool]]:
    """Every rule of *arch*'s syscalls as a Rule record, with whether its tests name the
    process (a placeholder to make concrete): policy.all_rules() without importing it."""
    return [(_rule(raw), placeholder) for _, _, rules in _index(arch) for raw, placeholder in rules]


def _action(name: str, rules: tuple[tuple[Raw, bool], ...], promises: frozenset[str],
            who: list[Identity]) -> Action:
    if name in _ENOSYS:
        return ENOSYS
    held = [(r, p) for r, p in rules if r[1] <= promises]  # needs
    if not held:
        return TRAP
    if any(not r[2] and not r[4] for r, _ in held):  # no tests, no errno
        return ALLOW
    if not who and any(p for _, p in held):
        who.append(identity())
    held.sort(key=lambda rp: rp[0][4] != 0)  # refusals after every allowing rule
    return Action("args", tuple(concrete(_rule(r), who[0]) if p else _rule(r) for r, p in held))


def build(promises: frozenset[str], arch: str, who: Identity | None = None) -> Plan:
    """The plan for *promises* on *arch* (``x86_64`` or ``aarch64``)."""
    ids = [who] if who else []
    index = _index(arch)
    numbers, simple, checked, enosys = _SHORTCUTS[arch]
    # what _action() answers for each, without calling it for the unconditional ones
    actions: dict[int, Action] = dict.fromkeys(numbers, TRAP)
    for needs, nrs in simple:
        if needs <= promises:
            actions.update(dict.fromkeys(nrs, ALLOW))
    for k in checked:
        nr, name, rules = index[k]
        actions[nr] = _action(name, rules, promises, ids)
    actions.update(dict.fromkeys(enosys, ENOSYS))
    return Plan(arch, promises, "error" in promises, actions)


def narrow(previous: Plan, promises: frozenset[str], who: Identity | None = None) -> Plan:
    """:func:`build` for *promises*, redoing only the syscalls whose rules name a promise
    *previous* held and *promises* do not, or the reverse (a narrowing that enters the
    allowances' layer gains policy.PATHS_HELD): the others' actions cannot differ.
    *who*: as for :func:`build` (the identity *previous* was built with)."""
    if previous.sparse:
        return build(promises, previous.arch, who)
    ids: list[Identity] = [who] if who else []
    actions = dict(previous.actions)
    done: set[int] = set()
    for promise in previous.promises ^ promises:
        for nr, name, rules in _touches(previous.arch, promise):
            if nr not in done:
                done.add(nr)
                actions[nr] = _action(name, rules, promises, ids)
    return Plan(previous.arch, promises, "error" in promises, actions)
