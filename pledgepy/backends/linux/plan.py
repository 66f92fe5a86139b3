"""Plan: from held promises to one action per syscall number, for one architecture."""

from __future__ import annotations

import os
from collections import namedtuple
from typing import TYPE_CHECKING

from . import policy
from .rules import Identity, Rule
from .syscalls import BY_ARCH, MAX_KNOWN

if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["allow", "args", "trap", "enosys"]


class Action(namedtuple("Action", "kind rules", defaults=((),))):
    """What the filter does with one syscall number."""

    __slots__ = ()
    kind: Kind
    rules: tuple[Rule, ...]


ALLOW = Action("allow")
TRAP = Action("trap")
ENOSYS = Action("enosys")


class Plan:
    """The filter to build: an action for every known syscall number."""

    __slots__ = ("arch", "promises", "error", "actions")

    def __init__(self, arch: str, promises: frozenset[str], error: bool,
                 actions: dict[int, Action]) -> None:
        self.arch, self.promises, self.error, self.actions = arch, promises, error, actions

    def action(self, nr: int) -> Action:
        if nr > MAX_KNOWN:
            return ENOSYS
        return self.actions.get(nr, ENOSYS)

    def delta(self, previous: Plan | None) -> Plan:
        """What a filter stacked on *previous*'s needs: unchanged syscalls become ALLOW.

        Filters stack and the strictest verdict wins, so a narrowing filter
        only has to say what changed; the unchanged rest stays cacheable.
        """
        if previous is None or previous.arch != self.arch:
            return self
        same_trap = previous.error == self.error
        actions = {}
        for nr, act in self.actions.items():
            old = previous.action(nr)
            unchanged = act == old and (act.kind != "trap" or same_trap)
            actions[nr] = ALLOW if unchanged else act
        return Plan(self.arch, self.promises, self.error, actions)


def identity() -> Identity:
    """This process's pid, uid and groups, for the rules' placeholders."""
    return Identity(os.getpid(), os.getuid(), tuple(sorted({os.getgid(), *os.getgroups()})))


def concrete(rule: Rule, who: Identity) -> Rule:
    return Rule(rule.syscall, rule.needs, tuple(a.concrete(who) for a in rule.args), rule.hint)


def build(promises: frozenset[str], arch: str, who: Identity | None = None) -> Plan:
    """The plan for *promises* on *arch* (``x86_64`` or ``aarch64``)."""
    who = who or identity()
    numbers = BY_ARCH[arch]
    held: dict[str, list[Rule]] = {}
    for rule in policy.all_rules():
        if rule.needs <= promises and rule.syscall in numbers:
            held.setdefault(rule.syscall, []).append(concrete(rule, who))
    actions: dict[int, Action] = {}
    for name, nr in numbers.items():
        rules = held.get(name, [])
        if name in policy.ENOSYS:
            actions[nr] = ENOSYS
        elif any(not r.args for r in rules):
            actions[nr] = ALLOW
        elif rules:
            actions[nr] = Action("args", tuple(rules))
        else:
            actions[nr] = TRAP
    return Plan(arch, promises, "error" in promises, actions)
