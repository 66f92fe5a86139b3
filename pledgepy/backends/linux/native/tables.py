"""The tables the SIGSYS handler reads to explain a violation.

For each syscall number: its name, which argument to show and how to name
its values, and every rule of the policy (all promises, fewest first), so the
handler can say which promises the trapped call lacked.
"""

from __future__ import annotations

from ....promises import VOCABULARY
from .. import consts as c
from .. import policy
from ..rules import OWN_GIDS, OWN_UID, SELF, Rule
from ..syscalls import BY_ARCH

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
    "socket": (0, KEY_ENUM, _FAMILY), "socketpair": (0, KEY_ENUM, _FAMILY),
    "clone": (0, KEY_FLAGS, _CLONE), "mknod": (1, KEY_INT, ()), "mknodat": (2, KEY_INT, ()),
    "ioctl": (1, KEY_ENUM, _named(("TC", "TIOC", "FIO", "SIOC", "MTIOC"))),
    "fcntl": (1, KEY_ENUM, _named(("F_",))),
    "prctl": (0, KEY_ENUM, _named(("PR_",))),
    "kill": (0, KEY_INT, ()), "tgkill": (0, KEY_INT, ()), "write": (0, KEY_INT, ()),
    "rt_sigaction": (0, KEY_INT, ()), "setsockopt": (2, KEY_INT, ()),
    "getsockopt": (2, KEY_INT, ()),
}


PLACEHOLDER_SELF, PLACEHOLDER_ANY = 1, 2


class Rows:
    """The handler's tables for one architecture, as rows of C struct fields."""

    __slots__ = ("sys", "rules", "conds", "vals", "flags", "strings", "promise_names")

    def __init__(self) -> None:
        self.sys: list[tuple[int, ...]] = []
        self.rules: list[tuple[int, ...]] = []
        self.conds: list[tuple[int, ...]] = []
        self.vals: list[int] = []
        self.flags: list[tuple[int, ...]] = []
        self.strings = bytearray()
        self.promise_names: list[int] = []


def _sort_key(rule: Rule) -> int:
    return len(rule.needs)


def build(arch: str) -> Rows:
    """Flatten the policy into the handler's tables for *arch* (done at build time).

    Placeholders become flags in a condition's last field: this process's pid
    is compared with getpid(); the uid and groups match anything (they only
    choose which message to print).
    """
    numbers = BY_ARCH[arch]
    out = Rows()
    offsets: dict[str, int] = {}

    def text(s: str) -> int:
        if s not in offsets:
            offsets[s] = len(out.strings)
            out.strings.extend(s.encode() + b"\0")
        return offsets[s]

    bit = {p: i for i, p in enumerate(VOCABULARY)}
    by_name: dict[str, list[Rule]] = {}
    for rule in policy.all_rules():
        # the kernel answers refusals and path allowances (no trap to explain)
        if rule.needs and not rule.errno and policy.PATHS_HELD not in rule.needs:
            by_name.setdefault(rule.syscall, []).append(rule)
    names = {nr: name for name, nr in numbers.items()}
    for nr in range(max(numbers.values()) + 1):
        name = names.get(nr)
        keyarg, keyfmt, flags = KEYS.get(name or "", (0, KEY_NONE, ()))
        rules = sorted(by_name.get(name or "", []), key=_sort_key)
        first_rule, first_flag = len(out.rules), len(out.flags)
        for rule in rules:
            first_cond = len(out.conds)
            for arg in rule.args:
                special = 0
                values: list[int] = []
                for v in arg.values:
                    if v == SELF:
                        special |= PLACEHOLDER_SELF
                    elif v in (OWN_UID, OWN_GIDS):
                        special |= PLACEHOLDER_ANY
                    else:
                        values.append(v & 0xFFFFFFFFFFFFFFFF)
                out.conds.append((arg.mask, arg.index, int(arg.wide), int(arg.negate),
                                  len(values), len(out.vals), special))
                out.vals.extend(values)
            needs = sum(1 << bit[p] for p in rule.needs)
            out.rules.append((needs, first_cond, len(rule.args),
                              text(rule.hint) if rule.hint else -1))
        for mask, value, fname in flags:
            out.flags.append((mask, value, text(fname)))
        out.sys.append((text(name) if name else -1, keyarg, keyfmt, first_rule, len(rules),
                        first_flag, len(flags)))
    out.promise_names = [text(p) for p in VOCABULARY] + [text("?")] * (64 - len(VOCABULARY))
    return out


def _c_int(value: int) -> str:
    return f"{value}ull" if value > 0x7FFFFFFF else str(value)


def c_source(arch: str) -> str:
    """The tables for *arch* as C definitions (``static const`` arrays)."""
    rows = build(arch)

    def array(ctype: str, name: str, items: list[tuple[int, ...]]) -> str:
        body = ",\n".join("{" + ", ".join(_c_int(v) for v in item) + "}" for item in items) or "{0}"
        return f"static const {ctype} {name}[] = {{\n{body}\n}};\n"

    strings = ", ".join(str(b) for b in rows.strings)
    return (
        array("struct pp_sys", "T_SYS", rows.sys)
        + array("struct pp_rule", "T_RULES", rows.rules)
        + array("struct pp_cond", "T_CONDS", rows.conds)
        + f"static const uint64_t T_VALS[] = {{{', '.join(f'{v}ull' for v in rows.vals) or '0'}}};\n"
        + array("struct pp_flag", "T_FLAGS", rows.flags)
        + f"static const char T_STRINGS[] = {{{strings}}};\n"
        + f"static const uint32_t T_PROMISE_NAMES[64] = {{{', '.join(map(str, rows.promise_names))}}};\n"
        + f"#define T_NSYS {len(rows.sys)}\n"
        + f"#define T_STDIO_BIT {1 << VOCABULARY.index('stdio')}ull\n"
        + f"#define T_ERROR_BIT {1 << VOCABULARY.index('error')}ull\n"
    )


