"""libseccomp's filters of pledgepy's policy, for the per-syscall comparison (bpf_replay.py).

pledgepy's plan for a promise set is turned into libseccomp rules: one rule per allowed
syscall, and per combination of the values its argument tests accept; tests of one
argument are merged into one masked comparison.  What libseccomp cannot state (a test of
the instruction pointer, a masked "none of") is left out, so the peer's filter is, if
anything, shorter than the same policy would need.  The filter is exported with
``export_bpf`` in libseccomp's two layouts: the default (a linear list of syscalls) and
the binary tree (``SCMP_FLTATR_CTL_OPTIMIZE`` = 2).

Uses pyseccomp (PyPI) if importable, else libseccomp's own binding (Debian's
python3-seccomp, for the system python3 only, run as a child).

    python3 benchmarks/peer_filters.py ["stdio rpath"]     # sizes of both layouts
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ENOSYS = 38
SYSTEM_PYTHON = "/usr/bin/python3"

#: (action, syscall name, [(arg index, mask, value), ...]); action "allow" or an errno.
RuleRow = tuple[object, str, list[tuple[int, int, int]]]


def _merge(tests: list[tuple[int, int, int]]) -> list[tuple[int, int, int]] | None:
    """Tests of one argument as one masked comparison; None if they contradict."""
    by_index: dict[int, tuple[int, int]] = {}
    for index, mask, value in tests:
        m, v = by_index.get(index, (0, 0))
        if (v ^ value) & m & mask:
            return None
        by_index[index] = (m | mask, v | (value & mask))
    return [(i, m, v) for i, (m, v) in sorted(by_index.items())]


def policy_rows(promises: str) -> tuple[list[RuleRow], int]:
    """pledgepy's plan for *promises* (x86_64) as libseccomp rules, and the tests left out."""
    sys.path.insert(0, str(ROOT))
    from pledgepy.backends.linux.seccomp import plan as planmod
    from pledgepy.backends.linux.syscalls import BY_ARCH

    names = {nr: name for name, nr in BY_ARCH["x86_64"].items()}
    plan = planmod.build(frozenset(promises.split()), "x86_64")
    rows: list[RuleRow] = []
    dropped = 0
    for nr, act in sorted(plan.actions.items()):
        name = names[nr]
        if act.kind == "allow":
            rows.append(("allow", name, []))
        elif act.kind == "enosys":
            rows.append((ENOSYS, name, []))
        elif act.kind == "args":
            for rule in act.rules:
                if any(a.index < 0 for a in rule.args):
                    dropped += len(rule.args)
                    continue  # the handler's own call site: not a program's rule
                kept = [a for a in rule.args if not a.negate]
                dropped += len(rule.args) - len(kept)
                choices = [[(a.index, a.mask, v) for v in a.values] for a in kept]
                action: object = rule.errno or "allow"
                for combo in itertools.product(*choices):
                    merged = _merge(list(combo))
                    if merged is not None:
                        rows.append((action, name, merged))
    return rows, dropped


def build(rows: list[RuleRow], tree: bool, mod: Any) -> bytes:
    """The BPF libseccomp exports for *rows* (default action TRAP, native arch only)."""
    flt = mod.SyscallFilter(mod.TRAP)
    if tree:
        flt.set_attr(mod.Attr.CTL_OPTIMIZE, 2)
    for action, name, tests in rows:
        act = mod.ALLOW if action == "allow" else mod.ERRNO(int(str(action)))
        args = [mod.Arg(i, mod.MASKED_EQ, m, v) for i, m, v in tests]
        try:
            flt.add_rule(act, name, *args)
        except Exception:  # noqa: BLE001 - a name libseccomp does not know: leave it out
            continue
    with tempfile.TemporaryFile() as f:
        flt.export_bpf(f)
        f.flush()
        f.seek(0)
        return f.read()


def _module() -> Any:
    try:
        import pyseccomp  # type: ignore[import-untyped]
        return pyseccomp
    except ImportError:
        return None


def programs(promises: str = "stdio rpath") -> dict[str, list[bytes]]:
    """{"libseccomp tree": [bpf], "libseccomp default": [bpf]} for *promises*."""
    rows, _ = policy_rows(promises)
    mod = _module()
    if mod is not None:
        return {"libseccomp tree": [build(rows, True, mod)],
                "libseccomp default": [build(rows, False, mod)]}
    if not os.path.exists(SYSTEM_PYTHON):
        return {}
    out = subprocess.run([SYSTEM_PYTHON, __file__, "--build"], input=json.dumps(rows),
                         capture_output=True, text=True, check=True).stdout
    tree, default = json.loads(out)
    return {"libseccomp tree": [bytes.fromhex(tree)],
            "libseccomp default": [bytes.fromhex(default)]}


def main() -> int:
    if sys.argv[1:2] == ["--build"]:  # in the system python3, with python3-seccomp
        import seccomp  # type: ignore[import-not-found]
        rows = [tuple(r) for r in json.load(sys.stdin)]
        print(json.dumps([build(rows, t, seccomp).hex() for t in (True, False)]))
        return 0
    promises = sys.argv[1] if len(sys.argv) > 1 else "stdio rpath"
    rows, dropped = policy_rows(promises)
    print(f"{len(rows)} libseccomp rules; {dropped} argument tests left out")
    for name, progs in programs(promises).items():
        print(f"{name}: {len(progs[0]) // 8} instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
