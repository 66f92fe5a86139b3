"""The tables the SIGSYS handler reads to explain a violation.

For each syscall number: its name, which argument to show and how to name
its values, and every rule of the policy (all promises, fewest first), so the
handler can say which promises the trapped call lacked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...promises import VOCABULARY
from . import consts as c
from . import policy
from .plan import identity
from .rules import Rule
from .syscalls import BY_ARCH

KEY_NONE, KEY_FLAGS, KEY_ENUM, KEY_INT = 0, 1, 2, 3

_OPEN = ((c.O_ACCMODE, c.O_RDONLY, "O_RDONLY"), (c.O_ACCMODE, c.O_WRONLY, "O_WRONLY"),
         (c.O_ACCMODE, c.O_RDWR, "O_RDWR"), (c.O_CREAT, c.O_CREAT, "O_CREAT"),
         (c.O_TRUNC, c.O_TRUNC, "O_TRUNC"), (c.O__TMPFILE, c.O__TMPFILE, "O_TMPFILE"),
         (c.O_PATH, c.O_PATH, "O_PATH"))
_PROT = ((1, 1, "PROT_READ"), (2, 2, "PROT_WRITE"), (c.PROT_EXEC, c.PROT_EXEC, "PROT_EXEC"))
_MODE = ((c.S_ISUID, c.S_ISUID, "S_ISUID"), (c.S_ISGID, c.S_ISGID, "S_ISGID"))
_FAMILY = tuple((0xFFFFFFFF, v, n) for v, n in (
    (c.AF_UNIX, "AF_UNIX"), (c.AF_INET, "AF_INET"), (c.AF_INET6, "AF_INET6"),
    (c.AF_NETLINK, "AF_NETLINK"), (17, "AF_PACKET")))
_CLONE = tuple((v, v, n) for v, n in (
    (c.CLONE_VM, "CLONE_VM"), (c.CLONE_THREAD, "CLONE_THREAD"), (c.CLONE_VFORK, "CLONE_VFORK"),
    (c.CLONE_PTRACE, "CLONE_PTRACE"), (c.CLONE_UNTRACED, "CLONE_UNTRACED"),
    (c.CLONE_NEWNS, "CLONE_NEWNS"), (c.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (c.CLONE_NEWUTS, "CLONE_NEWUTS"), (c.CLONE_NEWIPC, "CLONE_NEWIPC"),
    (c.CLONE_NEWUSER, "CLONE_NEWUSER"), (c.CLONE_NEWPID, "CLONE_NEWPID"),
    (c.CLONE_NEWNET, "CLONE_NEWNET")))


def _named(prefixes: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0xFFFFFFFF, getattr(c, n), n) for n in dir(c)
                 if n.startswith(prefixes) and isinstance(getattr(c, n), int)
                 and n not in ("IOC_TYPE_MASK", "IOC_TYPE_VIDEO"))


#: syscall -> (argument shown, how, value names)
KEYS: dict[str, tuple[int, int, tuple[tuple[int, int, str], ...]]] = {
    "open": (1, KEY_FLAGS, _OPEN), "openat": (2, KEY_FLAGS, _OPEN),
    "mmap": (2, KEY_FLAGS, _PROT), "mprotect": (2, KEY_FLAGS, _PROT),
    "pkey_mprotect": (2, KEY_FLAGS, _PROT),
    "chmod": (1, KEY_FLAGS, _MODE), "fchmod": (1, KEY_FLAGS, _MODE),
    "fchmodat": (2, KEY_FLAGS, _MODE), "fchmodat2": (2, KEY_FLAGS, _MODE),
    "socket": (0, KEY_ENUM, _FAMILY), "clone": (0, KEY_FLAGS, _CLONE),
    "ioctl": (1, KEY_ENUM, _named(("TC", "TIOC", "FIO", "SIOC", "MTIOC"))),
    "fcntl": (1, KEY_ENUM, _named(("F_",))),
    "prctl": (0, KEY_ENUM, _named(("PR_",))),
    "kill": (0, KEY_INT, ()), "tgkill": (0, KEY_INT, ()), "write": (0, KEY_INT, ()),
    "rt_sigaction": (0, KEY_INT, ()), "setsockopt": (2, KEY_INT, ()),
    "getsockopt": (2, KEY_INT, ()),
}


@dataclass
class Tables:
    """cffi arrays for ``pp_configure``; keep this object alive while they are used."""

    keep: list[Any]
    args: tuple[Any, ...]


def _sort_key(rule: Rule) -> int:
    return len(rule.needs)


def build(ffi: Any, arch: str) -> Tables:
    """Flatten the policy into the handler's arrays for *arch*."""
    numbers = BY_ARCH[arch]
    who = identity()
    strings = bytearray()
    offsets: dict[str, int] = {}

    def text(s: str) -> int:
        if s not in offsets:
            offsets[s] = len(strings)
            strings.extend(s.encode() + b"\0")
        return offsets[s]

    bit = {p: i for i, p in enumerate(VOCABULARY)}
    by_name: dict[str, list[Rule]] = {}
    for rule in policy.all_rules():
        if rule.needs:
            by_name.setdefault(rule.syscall, []).append(rule)
    nsys = max(numbers.values()) + 1
    sys_rows, rule_rows, cond_rows, vals, flag_rows = [], [], [], [], []
    names = {nr: name for name, nr in numbers.items()}
    for nr in range(nsys):
        name = names.get(nr)
        keyarg, keyfmt, flags = KEYS.get(name or "", (0, KEY_NONE, ()))
        rules = sorted(by_name.get(name or "", []), key=_sort_key)
        first_rule, first_flag = len(rule_rows), len(flag_rows)
        for rule in rules:
            first_cond = len(cond_rows)
            for arg in rule.args:
                a = arg.concrete(who)
                cond_rows.append((a.mask, a.index, int(a.wide), int(a.negate), len(a.values), len(vals)))
                vals.extend(v & 0xFFFFFFFFFFFFFFFF for v in a.values)
            needs = sum(1 << bit[p] for p in rule.needs)
            rule_rows.append((needs, first_cond, len(rule.args), text(rule.hint) if rule.hint else -1))
        for mask, value, fname in flags:
            flag_rows.append((mask, value, text(fname)))
        sys_rows.append((text(name) if name else -1, keyarg, keyfmt, first_rule, len(rules),
                         first_flag, len(flags)))
    promise_names = [text(p) for p in VOCABULARY] + [text("?")] * (64 - len(VOCABULARY))

    def array(ctype: str, rows: list[tuple[int, ...]], fields: tuple[str, ...]) -> Any:
        arr = ffi.new(f"{ctype}[]", max(1, len(rows)))
        for i, row in enumerate(rows):
            for f, v in zip(fields, row):
                setattr(arr[i], f, v)
        return arr

    sys_arr = array("struct pp_sys", sys_rows,
                    ("name", "keyarg", "keyfmt", "first_rule", "nrules", "first_flag", "nflags"))
    rule_arr = array("struct pp_rule", rule_rows, ("needs", "first_cond", "nconds", "hint"))
    cond_arr = array("struct pp_cond", cond_rows,
                     ("mask", "arg", "wide", "negate", "nvals", "first_val"))
    flag_arr = array("struct pp_flag", flag_rows, ("mask", "value", "name"))
    val_arr = ffi.new("uint64_t[]", vals or [0])
    str_arr = ffi.new("char[]", bytes(strings))
    pn_arr = ffi.new("uint32_t[]", promise_names)
    keep = [sys_arr, rule_arr, cond_arr, flag_arr, val_arr, str_arr, pn_arr]
    args = (sys_arr, nsys, rule_arr, cond_arr, val_arr, flag_arr, str_arr, pn_arr,
            1 << bit["stdio"])
    return Tables(keep, args)


def held_bits(promises: frozenset[str]) -> int:
    """The promise bitmask the handler compares rules against."""
    return sum(1 << i for i, p in enumerate(VOCABULARY) if p in promises)
