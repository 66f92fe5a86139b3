"""Render the policy table as Markdown (the README's "What each promise allows on Linux")."""

from __future__ import annotations

import errno

from . import consts, policy
from .rules import INT_SIGN, OWN_GIDS, OWN_UID, SELF, Arg, Rule

_PLACEHOLDER = {SELF: "self", OWN_UID: "own uid", OWN_GIDS: "own groups", 0xFFFFFFFF: "-1"}
#: Masks as the table uses them.
_MASKS = {
    consts.O_TRUNC: "O_TRUNC", consts.O_CREAT | consts.O__TMPFILE: "O_CREAT/O_TMPFILE",
    consts.O_PATH: "O_PATH", consts.S_ISUID | consts.S_ISGID: "setuid/setgid bits",
    consts.PROT_EXEC: "PROT_EXEC", consts.AT_EMPTY_PATH: "AT_EMPTY_PATH",
    consts.CLONE_THREAD_FLAGS: "the thread flags (VM FS FILES SIGHAND THREAD)",
    consts.CLONE_NAMESPACES | consts.CLONE_PTRACE | consts.CLONE_UNTRACED:
        "namespace, PTRACE or UNTRACED flags",
    consts.O__TMPFILE | consts.O_CREAT | consts.O_TRUNC: "O_CREAT/O_TMPFILE/O_TRUNC",
    consts.IOC_DIR_MASK: "a direction (not _IO)", consts.O_ASYNC: "O_ASYNC",
}
#: (syscall, argument) -> prefixes of the constant names its values are shown with.
_VOCAB = {
    ("socket", 0): ("AF_",), ("socket", 1): ("SOCK_",), ("socket", 2): ("IPPROTO_",),
    ("setsockopt", 1): ("SOL_", "IPPROTO_"), ("getsockopt", 1): ("SOL_", "IPPROTO_"),
    ("ioctl", 1): ("TC", "TIOC", "FIO", "SIOC", "MTIOC"), ("fcntl", 1): ("F_",),
    ("prctl", 0): ("PR_",), ("arch_prctl", 0): ("ARCH_",), ("rt_sigaction", 0): ("SIG",),
    ("tgkill", 2): ("SIG",), ("socketpair", 0): ("AF_",), ("seccomp", 0): ("SECCOMP_SET",),
    ("seccomp", 1): ("SECCOMP_FILTER",), ("madvise", 2): ("MADV_",),
}


#: Promises that allow no call but change how the others are enforced.
_NO_CALLS = {"error": "no call: a violation fails with ENOSYS instead of aborting, and a "
                      "later pledge() may ask for more (ignored) as on OpenBSD"}


def _value(syscall: str, index: int, value: int) -> str:
    if value in _PLACEHOLDER:
        return _PLACEHOLDER[value]
    if syscall in ("setsockopt", "getsockopt") and index == 2:
        return str(value)
    if syscall == "socket" and index == 2 and value == 0:
        return "0"
    if syscall == "socket" and index == 1 and value & ~consts.SOCK_TYPE_MASK:
        flags = [n for n in ("SOCK_CLOEXEC", "SOCK_NONBLOCK") if value & getattr(consts, n)]
        return "\\|".join([_value(syscall, index, value & consts.SOCK_TYPE_MASK), *flags])  # a table cell
    if syscall in ("setsockopt", "getsockopt") and index == 1 and value == 0:
        return "IPPROTO_IP"
    for prefix in _VOCAB.get((syscall, index), ()):
        for name in dir(consts):
            if name.startswith(prefix) and getattr(consts, name) == value:
                return name
    return str(value) if value < 64 else hex(value)


def arg_text(syscall: str, arg: Arg) -> str:
    """One argument test in words."""
    if arg.wide and arg.values == (0,):
        return f"arg {arg.index} NULL"
    mask = _MASKS.get(arg.mask, hex(arg.mask))
    if arg.mask == consts.O_ACCMODE:
        names = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "3"}
        return "/".join(names[v] for v in arg.values)
    if arg.mask == consts.IOC_TYPE_MASK:
        return f"type '{chr(arg.values[0] >> 8)}'"
    if arg.mask == consts.S_IFMT:
        names = {consts.S_IFIFO: "S_IFIFO", consts.S_IFCHR: "S_IFCHR", consts.S_IFBLK: "S_IFBLK"}
        return "/".join(names[v] for v in arg.values)
    if arg.mask == INT_SIGN and arg.values == (0,) and not arg.negate:
        return f"arg {arg.index} a descriptor (not AT_FDCWD)"
    if arg.values == (0,) and arg.mask != 0xFFFFFFFF:
        return f"{'with' if arg.negate else 'no'} {mask}"
    if len(arg.values) == 1 and arg.values[0] == arg.mask != 0xFFFFFFFF:
        return f"with {mask}"
    shown = [_value(syscall, arg.index, v) for v in arg.values]
    if syscall in ("setsockopt", "getsockopt") and arg.index == 2:
        return f"{len(shown)} options"
    return ("not " if arg.negate else "") + "/".join(shown)


def rule_text(rule: Rule, promise: str) -> str:
    text = rule.syscall
    if rule.args:
        text += "(" + ", ".join(arg_text(rule.syscall, a) for a in rule.args) + ")"
    others = sorted(rule.needs - {promise})
    if others:
        text += " with " + " ".join(others)
    if rule.errno:
        text += f" fails with {errno.errorcode.get(rule.errno, rule.errno)}"
    if rule.why:
        text += f" ({rule.why})"
    return text


def markdown() -> str:
    """The table: one row per promise, its plain syscalls and its argument-checked ones."""
    lines = ["| promise | allows on Linux |", "|---|---|"]
    for promise, rules in policy.POLICY.items():
        plain = sorted({r.syscall for r in rules
                        if not r.args and r.needs == {promise} and not r.why})
        checked = [rule_text(r, promise) for r in rules
                   if r.args or r.needs != {promise} or r.why]
        parts = []
        if plain:
            parts.append(", ".join(plain))
        if checked:
            parts.append("; ".join(dict.fromkeys(checked)))
        if promise in policy.PATHS:
            parts.append("paths (OpenBSD's, through a Landlock layer of exactly these): "
                         + ", ".join(f"{p} {m!r}" for p, m in policy.PATHS[promise]))
        cell = "<br>".join(parts) or (
            f"nothing: {policy.NO_MEANING[promise]}" if promise in policy.NO_MEANING
            else _NO_CALLS.get(promise, "nothing"))
        if promise in policy.NO_MEANING and parts:
            cell += f"<br>({policy.NO_MEANING[promise]})"
        lines.append(f"| `{promise}` | {cell} |")
    always = "; ".join(rule_text(r, "") for r in policy.ALWAYS)
    lines.append(f"| *(always)* | {always} |")
    lines.append(f"| *(never)* | ENOSYS: {', '.join(policy.ENOSYS)}; any syscall newer than "
                 f"the table. Refused under every promise: {', '.join(policy.NEVER)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
