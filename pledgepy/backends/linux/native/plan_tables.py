"""The native launcher's policy tables (launcher/plan.c), generated from the Python policy.

``write(path)`` (or ``python -m pledgepy.backends.linux.native.plan_tables OUT``) writes
``policy_tables.h``: the x86_64 syscall index that seccomp/plan.build() reads (prepared.py's
flattening of policy.py: each number's rules, their promises, tests and placeholders),
exec/refuse.py's changes, the vocabulary and the head of filter.encode()'s serialisation
for a USER_NOTIF violation verdict. plan.c only combines these rows for a promise set and
a child's ids, so its plans are build()'s. The header carries the digest (digest.py's
framing) of :data:`SOURCES`; plan.c's pl_tables_check() recomputes it from the installed
package and refuses the tables when the policy changed since.
"""

from __future__ import annotations

import marshal
import os
import sys

from ....promises import VOCABULARY
from .. import prepared
from ..consts import SECCOMP_RET_USER_NOTIF
from ..exec.refuse import FREED, REFUSED, UNSUPPORTED
from ..policy import PATHS
from ..rules import HANDLER_IP, IP, OWN_GIDS, OWN_UID, PATHS_HELD, SELF, Arg
from ..seccomp.bpf import MAX_INSNS
from ..seccomp.filter import encode
from ..seccomp.plan import Plan
from ..syscalls import BY_ARCH, MAX_KNOWN
from . import digest

ARCH = "x86_64"
#: The files whose content decides the tables or what plan.c does with them, relative to
#: the package (the digest names them relative to its parent: "pledgepy/...").
SOURCES: tuple[str, ...] = (
    *digest.POLICY,
    "backends/linux/seccomp/plan.py",
    "backends/linux/seccomp/filter.py",
    "backends/linux/seccomp/bpf.py",
    "backends/linux/exec/refuse.py",
    "backends/linux/exec/shim.py",
    "backends/linux/native/bpf.c",
    "backends/linux/native/plan_tables.py",
)
#: The bit of policy.PATHS_HELD in a rule's needs: beyond the vocabulary, so never held
#: by a command's promises (no path-allowance layer under the command).
PATHS_BIT = 63
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def names() -> tuple[str, ...]:
    """:data:`SOURCES` relative to the package's parent directory."""
    top = os.path.basename(PACKAGE_DIR)
    return tuple(f"{top}/{name}" for name in SOURCES)


def _c_text(text: str) -> str:
    """*text* inside a C string literal: printable ASCII without quotes or backslashes
    only (policy paths are such), so nothing needs escaping and nothing is escaped wrong."""
    if not text.isascii() or not text.isprintable() or set(text) & {'"', "\\", "?"}:
        raise ValueError(f"not plain text for a C literal: {text!r}")
    return text


def _u64(v: int) -> str:
    return f"{v}ull"


def _i64(v: int) -> str:
    return f"({v}ll)" if v < 0 else f"{v}ll"


def source() -> str:
    """The header's text."""
    flat = prepared.flatten()
    index, _, _ = marshal.loads(flat["arches"][ARCH])
    enosys = frozenset(flat["enosys"])
    bit = {p: i for i, p in enumerate(VOCABULARY)}
    if len(VOCABULARY) >= PATHS_BIT:
        raise ValueError("the vocabulary reaches the bit kept for policy.PATHS_HELD")
    numbers = BY_ARCH[ARCH]
    sys_rows: dict[int, tuple[int, int, int]] = {}
    rules: list[tuple[int, int, int, int, int]] = []
    args: list[tuple[int, int, int, int, int]] = []
    vals: list[int] = []

    def add_arg(arg: Arg) -> int:
        if not -1 <= arg.index <= 5 or not 0 <= arg.mask < 1 << 64:
            raise ValueError(f"test out of range: {arg}")
        for v in arg.values:
            if v < 0 and v not in (SELF, OWN_UID, OWN_GIDS, HANDLER_IP):
                raise ValueError(f"unknown placeholder {v} in {arg}")
            if v >= 1 << 64:
                raise ValueError(f"value out of range: {arg}")
        args.append((arg.index, int(arg.negate) | int(arg.wide) << 1, arg.mask, len(vals),
                     len(arg.values)))
        vals.extend(arg.values)
        return len(args) - 1

    for nr, name, entries in index:
        if not 0 <= nr <= MAX_KNOWN:
            raise ValueError(f"{name}: number {nr} outside 0..MAX_KNOWN")
        first = len(rules)
        for raw, placeholder in entries:
            _, needs, tests, _, errno, _ = raw
            mask = 0
            for p in needs:
                mask |= 1 << (PATHS_BIT if p == PATHS_HELD else bit[p])
            if any(v == HANDLER_IP for t in tests for v in t[1]) and PATHS_HELD not in needs:
                raise ValueError(f"{name}: a handler-ip test outside the path allowances")
            first_arg = len(args)
            for t in tests:
                add_arg(Arg(*t))
            rules.append((mask, errno, int(placeholder), first_arg, len(tests)))
        flags = 1 | (2 if name in enosys else 0)
        sys_rows[nr] = (flags, first, len(rules) - first)
    refused: list[tuple[int, int]] = []
    for rule, _, _ in REFUSED:
        (arg,) = rule.args
        if rule.needs:
            raise ValueError("refuse.REFUSED rules need no promises")
        unless = arg._replace(negate=not arg.negate)
        if any(nr == numbers[rule.syscall] for nr, _ in refused):
            raise ValueError(f"refuse.REFUSED names {rule.syscall} twice")
        refused.append((numbers[rule.syscall], add_arg(unless)))
    most = max(n for _, _, n in sys_rows.values())
    head = encode(Plan(ARCH, frozenset(), False, {}), SECCOMP_RET_USER_NOTIF)
    head = head[:len(head) - (MAX_KNOWN + 2)]  # the plan's kinds and blocks follow

    def array(ctype: str, name: str, items: list[str]) -> str:
        return f"static const {ctype} {name}[] = {{\n" + ",\n".join(items or ["{0}"]) + "\n};\n"

    blob = "".join(n + "\0" for n in names())
    out = [
        "/* Generated by pledgepy/backends/linux/native/plan_tables.py from the Python policy;\n"
        " * regenerate: python -m pledgepy.backends.linux.native.plan_tables OUT (the build\n"
        " * does). Not committed, not edited. */\n",
        "#ifndef PL_POLICY_TABLES_H\n#define PL_POLICY_TABLES_H\n",
        "#include <stdint.h>\n",
        f"#define PLT_MAX_KNOWN {MAX_KNOWN}\n",
        f"#define PLT_PATHS_BIT {PATHS_BIT}\n",
        f"#define PLT_MAX_INSNS {MAX_INSNS}\n",
        f"#define PLT_MAX_RULES {most}\n",
        f"#define PLT_MAX_VALS {max(n for *_, n in args)}\n",
        f'#define PLT_TOP "{os.path.basename(PACKAGE_DIR)}"\n',
        f"#define PLT_IP_INDEX {IP}\n",
        f"#define PLT_SELF ({SELF}ll)\n#define PLT_OWN_UID ({OWN_UID}ll)\n",
        f"#define PLT_OWN_GIDS ({OWN_GIDS}ll)\n#define PLT_HANDLER_IP ({HANDLER_IP}ll)\n",
        # the allowance the child's Landlock rules add (confine.c; unveil.allowance_rules)
        "#define PLT_STDIO_PATHS {" + ", ".join(
            f'{{"{_c_text(w)}", "{_c_text(m)}"}}' for w, m in PATHS["stdio"]) + "}\n",
        f"#define PLT_NVOCAB {len(VOCABULARY)}\n",
        "static const char *const PLT_VOCAB[PLT_NVOCAB] = {"
        + ", ".join(f'"{p}"' for p in VOCABULARY) + "};\n",
        f'static const char PLT_DIGEST[] = "{digest.compute(os.path.dirname(PACKAGE_DIR), names())}";\n',
        "static const char PLT_SOURCES[] = \"" + blob.replace("\0", "\\0") + "\";\n",
        f"#define PLT_SOURCES_LEN {len(blob.encode())}\n",
        "static const unsigned char PLT_HEAD[] = {" + ",".join(map(str, head)) + "};\n",
        "struct plt_sys { uint8_t flags; uint16_t first, n; };\n",
        "struct plt_rule { uint64_t needs; uint32_t errno_; uint8_t placeholder;"
        " uint32_t first, n; };\n",
        "struct plt_arg { int8_t index; uint8_t flags; uint64_t mask; uint32_t first, n; };\n",
        "struct plt_refused { uint16_t nr; uint32_t arg; };\n",
        "#define PLT_KNOWN 1\n#define PLT_ENOSYS 2\n#define PLT_NEGATE 1\n#define PLT_WIDE 2\n",
        array("struct plt_sys", "PLT_SYS", [
            "{{{}, {}, {}}}".format(*sys_rows.get(nr, (0, 0, 0))) for nr in range(MAX_KNOWN + 1)]),
        array("struct plt_rule", "PLT_RULES", [
            f"{{{_u64(m)}, {e}, {p}, {f}, {n}}}" for m, e, p, f, n in rules]),
        array("struct plt_arg", "PLT_ARGS", [
            f"{{{i}, {fl}, {_u64(m)}, {f}, {n}}}" for i, fl, m, f, n in args]),
        array("int64_t", "PLT_VALS", [_i64(v) if v < 1 << 63 else f"(int64_t){_u64(v)}"
                                      for v in vals] or ["0"]),
        array("uint16_t", "PLT_FREED", [str(numbers[n]) for n in FREED if n in numbers]),
        f"#define PLT_NFREED {sum(1 for n in FREED if n in numbers)}\n",
        array("uint16_t", "PLT_UNSUPPORTED", [str(numbers[n]) for n in UNSUPPORTED
                                              if n in numbers]),
        f"#define PLT_NUNSUPPORTED {sum(1 for n in UNSUPPORTED if n in numbers)}\n",
        array("struct plt_refused", "PLT_REFUSED", [f"{{{nr}, {a}}}" for nr, a in refused]),
        f"#define PLT_NREFUSED {len(refused)}\n",
        "#endif\n",
    ]
    return "".join(out)


def write(path: str) -> None:
    """Write the header to *path* (atomically: a half-written one is never compiled)."""
    text = source()
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m pledgepy.backends.linux.native.plan_tables OUT", file=sys.stderr)
        sys.exit(2)
    write(sys.argv[1])
