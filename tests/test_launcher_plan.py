"""The native launcher's plan.c and package.c against the Python command's code.

A driver (tests/data/lplan_driver.c) is built with the generated policy_tables.h and
native/bpf.c, digest.c; it runs in child processes. The references: promises.parse,
seccomp/plan.build + exec/refuse.refuse + seccomp/filter.compile_plan (as
exec/supervise.confine makes the opening filter), exec/shim.verdict(loader_plan(...)).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pledgepy.backends.linux import prepared
from pledgepy.backends.linux.consts import SECCOMP_RET_USER_NOTIF
from pledgepy.backends.linux.exec import refuse as refuse_mod
from pledgepy.backends.linux.exec import shim
from pledgepy.backends.linux.native import plan_tables
from pledgepy.backends.linux.rules import Identity
from pledgepy.backends.linux.seccomp.filter import compile_plan
from pledgepy.backends.linux.seccomp.plan import Plan, build
from pledgepy.backends.linux.syscalls import BY_ARCH, MAX_KNOWN
from pledgepy.promises import VOCABULARY, bits, parse

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64" or shutil.which("cc") is None,
                                reason="the launcher's tables are x86_64's; needs cc")

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "pledgepy" / "backends" / "linux" / "native"
LAUNCHER = NATIVE / "launcher"
NUMBERS = BY_ARCH["x86_64"]
#: Identities: (pid, uid, gids); pids and ids that collide with policy values too.
IDS = ((12345, 0, (0,)), (1, 65534, (65534,)), (777, 1000, (4, 24, 27, 1000)),
       (2, 2, (1, 2, 3)), (0x7FFFFFFF, 0xFFFFFFFE, ()))

DIGEST_UNIT = """#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "digest.c"
"""


def _build(out: Path, package_dir: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plan_tables.write(str(out / "policy_tables.h"))
    (out / "digest_unit.c").write_text(DIGEST_UNIT)
    exe = out / "lplan_driver"
    where = (f'-DPL_PACKAGE_DIR="{package_dir}"' if package_dir is not None
             else '-DPL_PACKAGE_REL="../pledgepy"')
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{LAUNCHER}", f"-I{NATIVE}",
                    f"-I{out}", where, "-o", str(exe), str(ROOT / "tests/data/lplan_driver.c"),
                    str(LAUNCHER / "plan.c"), str(LAUNCHER / "package.c"), str(NATIVE / "bpf.c"),
                    str(out / "digest_unit.c")], check=True)
    return exe


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("lplan"), str(ROOT / "pledgepy"))


def _batch(driver: Path, lines: list[str]) -> list[str]:
    got = subprocess.run([str(driver), "batch"], input="".join(lines), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert len(got) == len(lines)
    return got


def _gids(gids: tuple[int, ...]) -> str:
    return ":".join(f"{g:x}" for g in gids) or "-"


def _opening(promises: frozenset[str], who: Identity) -> bytes:
    """exec/supervise.confine's filter for a child of identity *who*."""
    return compile_plan(refuse_mod.refuse(build(promises, "x86_64", who)),
                        violation=SECCOMP_RET_USER_NOTIF)


def _promise_sets(n: int, seed: int) -> list[frozenset[str]]:
    rng = random.Random(seed)
    sets = [frozenset(), frozenset(VOCABULARY)] + [frozenset({p}) for p in VOCABULARY]
    sets += [frozenset({"stdio", p}) for p in VOCABULARY]
    while len(sets) < n:
        sets.append(frozenset(rng.sample(VOCABULARY, rng.randint(1, len(VOCABULARY)))))
    return sets


def test_opening_filter_bytes_are_pythons(driver: Path) -> None:
    sets = _promise_sets(320, 14)
    cases = [(s, Identity(pid, uid, gids, 0)) for s in sets
             for pid, uid, gids in random.Random(5).sample(IDS, 3)]
    lines = [f"f {bits(s):x} {w.pid:x} {w.uid:x} {_gids(w.gids)}\n" for s, w in cases]
    got = _batch(driver, lines)
    for (s, who), hexed in zip(cases, got, strict=True):
        assert hexed == _opening(s, who).hex(), (sorted(s), who)


def test_opening_filter_many_groups(driver: Path) -> None:
    who = Identity(4242, 5, tuple(range(0, 512, 2)), 0)  # 256 gids, the uid among them
    s = frozenset(VOCABULARY)
    (hexed,) = _batch(driver, [f"f {bits(s):x} {who.pid:x} {who.uid:x} {_gids(who.gids)}\n"])
    assert hexed == _opening(s, who).hex()


def test_opening_filter_refuses_unknown_bits(driver: Path) -> None:
    assert _batch(driver, [f"f {1 << 40 | 1:x} 1 0 0\n"]) == ["fallback"]
    # policy.PATHS_HELD's bit, held: its allowances would run; nothing does
    getpid = NUMBERS["getpid"]
    assert _batch(driver, [f"v {1 << 63 | 1:x} 1 0 0 {getpid:x} 0 0 0 0 0 0\n",
                           f"v 1 1 0 0 {getpid:x} 0 0 0 0 0 0\n"]) == ["-1", "0"]


_RULES = {nr: rules for nr, _, rules in prepared.arch("x86_64")[0]}


def _interesting(nr: int, index: int, rng: random.Random, who: Identity) -> int:
    """An argument near the policy's tests of syscall *nr* (or anything)."""
    values: list[tuple[int, int]] = []
    for r in _RULES.get(nr, ()):
        for t in r[0][2]:
            if t[0] == index:
                for v in t[1]:
                    v = {-1: who.pid, -2: who.uid, -3: who.gids[0] if who.gids else 0,
                         -4: 0}.get(v, v)
                    values.append((v, t[2]))
    roll = rng.random()
    if values and roll < 0.7:
        v, mask = rng.choice(values)
        if rng.random() < 0.5:  # other bits: outside the mask, or within it
            v |= rng.getrandbits(64) & (~mask if rng.random() < 0.5 else mask)
        if rng.random() < 0.15:
            v |= rng.getrandbits(32) << 32  # the high half: an int's test ignores it
        return v & 0xFFFFFFFFFFFFFFFF
    if roll < 0.8:
        return 0
    if roll < 0.9:
        return rng.getrandbits(32)
    return rng.getrandbits(64)


#: openat flags, mmap/mprotect prot and flags worth trying every combination of.
O_FLAGS = (0, 1, 2, 3, 0o100, 0o200, 0o1000, 0o2000, 0o200000, 0o2000000, 0o10000000,
           0o20200000, 0o4010000, 0o100 | 1, 0o100 | 2, 0o1000 | 1, 0o20000000 | 0o200000)
PROTS = tuple(range(8)) + (0x01000000, 0x02000000, 0x10, 0x7 | 0x01000000)
MAP_FLAGS = (0x01, 0x02, 0x03, 0x22, 0x21, 0x32, 0x100002, 0x40022, 0x4000022)


def _verdict_cases(seed: int) -> list[tuple[frozenset[str], Identity, int, tuple[int, ...]]]:
    rng = random.Random(seed)
    loaders = [frozenset({"stdio", "rpath", "prot_exec", "exec"}),
               frozenset({"stdio", "rpath", "prot_exec"}), frozenset(VOCABULARY),
               *_promise_sets(40, seed)]
    out: list[tuple[frozenset[str], Identity, int, tuple[int, ...]]] = []
    openat, mmap, mprotect = NUMBERS["openat"], NUMBERS["mmap"], NUMBERS["mprotect"]
    for loader in loaders:
        for pid, uid, gids in IDS[:3]:
            who = Identity(pid, uid, gids, 0)
            for fl in O_FLAGS:
                out.append((loader, who, openat, (0xFFFFFF9C, 0x7FFF0000, fl, 0o644, 0, 0)))
            for prot in PROTS:
                out.append((loader, who, mprotect, (0x7F0000001000, 4096, prot, 0, 0, 0)))
                mf = rng.choice(MAP_FLAGS)
                out.append((loader, who, mmap, (0, 8192, prot, mf, rng.choice((3, 2 ** 64 - 1)),
                                                0)))
            for _ in range(60):
                nr = rng.choice((*NUMBERS.values(), rng.randint(0, MAX_KNOWN + 5), -1))
                args = tuple(_interesting(nr, i, rng, who) for i in range(6))
                out.append((loader, who, nr, args))
            # the refused prctl and the narrowed kill/tgkill of oneself
            for option in (1, 2, 15, 38):
                out.append((loader, who, NUMBERS["prctl"], (option, 9, 0, 0, 0, 0)))
            for target in (pid, pid + 1, 0, 2 ** 32 - 1):
                out.append((loader, who, NUMBERS["kill"], (target, 9, 0, 0, 0, 0)))
    return out


def test_loader_verdicts_are_shims(driver: Path) -> None:
    cases = _verdict_cases(7)
    lines = [f"v {bits(lo):x} {w.pid:x} {w.uid:x} {_gids(w.gids)} {nr & 0xFFFFFFFFFFFFFFFF:x} "
             + " ".join(f"{a:x}" for a in args) + "\n" for lo, w, nr, args in cases]
    got = _batch(driver, lines)
    plans: dict[tuple[frozenset[str], Identity], Plan] = {}
    kinds = set()
    for (loader, who, nr, args), answer in zip(cases, got, strict=True):
        plan = plans.get((loader, who))
        if plan is None:
            plan = plans[(loader, who)] = shim.loader_plan(loader, who)
        want = shim.verdict(plan, nr, args)
        assert int(answer) == (-1 if want is None else want), (sorted(loader), who, nr, args)
        kinds.add(-1 if want is None else min(want, 1))
    assert kinds == {-1, 0, 1}  # violations, calls run and quiet refusals were all seen


PARSED = ("stdio", "stdio rpath", "  stdio   rpath  ", "rpath stdio stdio", "stdio error",
          "stdio rpath wpath cpath dpath inet unix dns getpw tty prot_exec",
          "stdio unveil bpf video audio wroute route pf vminfo ps settime recvfd sendfd tape")
REFUSED = ("", " ", "rpath", "stdio rpth", "stdio\trpath", "stdio\nrpath", "Stdio",
           "stdio exec", "stdio tmppath", "stdio proc", "stdio id", "stdio chown", "stdio fattr",
           "stdio rpath,wpath", "stdio \u00e9", "stdio\u00a0rpath")


@pytest.mark.parametrize("text", PARSED + REFUSED)
def test_parse_promises_as_the_command(driver: Path, text: str) -> None:
    got = subprocess.run([str(driver), "parse", text], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        asked = parse(text) or frozenset()
    except ValueError:
        asked = None
    fallback = {"exec", "tmppath", "proc", "id", "chown", "fattr"}
    if asked is None or "stdio" not in asked or asked & fallback:
        assert got == "fallback"
    else:
        assert got == f"ok {bits(asked):x}"
    assert (text in PARSED) == got.startswith("ok ")


def test_fallback_promises_are_words() -> None:
    text = (LAUNCHER / "plan.h").read_text()
    for word in ("exec", "tmppath", "proc", "id", "chown", "fattr"):
        assert f'X("{word}",' in text and word in VOCABULARY


def _violates(driver: Path, after: frozenset[str], *calls: tuple[int, ...]) -> list[str]:
    specs = [":".join(f"{v:x}" for v in call) for call in calls]
    out = subprocess.run([str(driver), "enforce", f"{bits(after):x}", *specs],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_installed_filter_enforces(driver: Path) -> None:
    socket, getpid, seccomp = NUMBERS["socket"], NUMBERS["getpid"], NUMBERS["seccomp"]
    prctl = NUMBERS["prctl"]
    got = _violates(driver, frozenset({"stdio"}), (getpid,), (socket, 2, 1, 0),
                    (seccomp, 0, 0, 0), (prctl, 1, 9))
    assert f"notif {socket:x}" in got and f"notif {prctl:x}" in got
    assert not any(line in got for line in (f"notif {getpid:x}", f"notif {seccomp:x}"))
    calls = {int(line.split()[1], 16): line.split()[2:] for line in got if line.startswith("call")}
    assert calls[getpid][0] == str(int(calls[getpid][0])) and int(calls[getpid][0]) > 0
    assert calls[socket] == ["-1", "1"]  # the parent answered EPERM
    assert calls[seccomp] == ["-1", "38"]  # refuse.UNSUPPORTED: ENOSYS from the filter
    assert calls[prctl] == ["-1", "1"]
    assert got[-1] == "exit 0"


def test_installed_filter_allows_held_promise(driver: Path) -> None:
    socket = NUMBERS["socket"]
    got = _violates(driver, frozenset({"stdio", "inet"}), (socket, 2, 1, 0))
    assert not any(line.startswith("notif") for line in got)
    call = next(line for line in got if line.startswith("call"))
    assert int(call.split()[2]) >= 0


def test_installed_filter_enforces_as_nobody(driver: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to become uid 65534")

    def nobody() -> None:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    kill = NUMBERS["kill"]
    with tempfile.TemporaryDirectory(prefix="lplan-") as where:  # reachable by uid 65534
        os.chmod(where, 0o755)
        exe = shutil.copy(driver, where)
        # kill(1, 0): not oneself: a violation under stdio alone
        out = subprocess.run([exe, "enforce", f"{bits(frozenset({'stdio'})):x}",
                              f"{kill:x}:1:0"], capture_output=True, text=True,
                             timeout=60, preexec_fn=nobody)
    assert out.returncode == 0, out.stderr
    assert f"notif {kill:x}" in out.stdout.splitlines()


def test_tables_check_sees_a_changed_policy(driver: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "pledgepy"
    shutil.copytree(ROOT / "pledgepy", pkg, ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "build"))
    check = [str(driver), "check"]
    assert subprocess.run([*check, str(ROOT / "pledgepy")], capture_output=True, text=True,
                          check=True).stdout.strip() == "0"
    assert subprocess.run([*check, str(pkg)], capture_output=True, text=True,
                          check=True).stdout.strip() == "0"
    policy = pkg / "backends" / "linux" / "policy.py"
    policy.write_text(policy.read_text() + "\n# edited\n")
    assert subprocess.run([*check, str(pkg)], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
    policy.unlink()  # unreadable: the Python command says what is wrong
    assert subprocess.run([*check, str(pkg)], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
    other = tmp_path / "other"
    shutil.copytree(ROOT / "pledgepy", other, ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "build"))
    assert subprocess.run([*check, str(other)], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"  # not named as the digest's


def test_digest_is_digest_py(driver: Path) -> None:
    from pledgepy.backends.linux.native import digest

    names = plan_tables.SOURCES  # relative to the package, as exec/shim.py's SOURCES
    got = subprocess.run([str(driver), "digest", *names], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == digest.compute(str(ROOT / "pledgepy"), names)
    missing = subprocess.run([str(driver), "digest", "nothing-here.py"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert missing == "error 2"


def test_package_dir_from_the_executable(tmp_path: Path) -> None:
    site = tmp_path / "lib"
    shutil.copytree(ROOT / "pledgepy", site / "pledgepy", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "build"))
    exe = _build(tmp_path / "bin")  # PL_PACKAGE_REL "../pledgepy": bin/../pledgepy
    (tmp_path / "pledgepy").symlink_to(site / "pledgepy")
    link = tmp_path / "elsewhere"
    link.mkdir()
    (link / "drv").symlink_to(exe)  # /proc/self/exe is the real file, not the link
    got = subprocess.run([str(link / "drv"), "dir"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == str((site / "pledgepy").resolve())
    assert subprocess.run([str(exe), "check", got], capture_output=True, text=True,
                          check=True).stdout.strip() == "0"


def test_generated_header_says_how() -> None:
    text = plan_tables.source()
    assert "python -m pledgepy.backends.linux.native.plan_tables OUT" in text.splitlines()[1]
    assert all(name.startswith("pledgepy/") for name in plan_tables.names())
