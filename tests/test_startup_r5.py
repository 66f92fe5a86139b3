"""Start-up, round five: the lock defers the exec wrappers when a later pledge can still
load them, a narrowing redoes only what changed (never timings)."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pledgepy.backends.linux.policy import PATHS_HELD, POLICY
from pledgepy.backends.linux.rules import Identity
from pledgepy.backends.linux.seccomp import plan as plan_mod

from .childproc import run

ROOT = Path(__file__).resolve().parent.parent

#: The exec wrappers' modules: a lock that defers them loads none.
WRAPPERS = ("pledgepy.backends.linux.exec.wrap", "subprocess", "selectors", "socket")

LOCK = """
import json, os, sys
import pledgepy
for path in {paths!r}:
    pledgepy.unveil(path, {letters!r})
pledgepy.unveil(None, None)
locked = sorted(sys.modules)
pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath exec prot_exec")
import subprocess
rc = subprocess.run(["/bin/true"]).returncode
print(json.dumps({{"locked": locked, "rc": rc, "unveil": pledgepy.status().unveil.locked}}))
"""


def _lock(paths: list[str], letters: str, first: str = "") -> dict[str, object]:
    r = run(first + LOCK.format(paths=paths, letters=letters))
    assert r.returncode == 0, r.explain()
    got: dict[str, object] = json.loads(r.stdout.splitlines()[-1])
    return got


def test_a_lock_that_keeps_the_wrappers_readable_leaves_them_to_the_exec_pledge() -> None:
    got = _lock(["/"], "rx")
    locked = got["locked"]
    assert isinstance(locked, list)
    assert not set(locked) & set(WRAPPERS), sorted(set(locked) & set(WRAPPERS))
    assert got["rc"] == 0  # loaded by the pledge that holds exec, and the child ran


def test_a_lock_that_hides_the_wrappers_still_prepares_them(tmp_path: Path) -> None:
    # the rules hide the library: the program imports subprocess before the lock, as any
    # module (round 9: the lock no longer imports it for the program)
    got = _lock([str(tmp_path), "/bin", "/usr", "/lib", "/lib64", "/etc"], "rx",
                first="import subprocess\n")
    locked = got["locked"]
    assert isinstance(locked, list)
    assert "pledgepy.backends.linux.exec.wrap" in locked  # /proc is hidden: loaded at the lock
    assert got["rc"] == 0


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_narrow_equals_build_for_any_change_of_promises(arch: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    who = Identity(4242, 1000, (1000, 27), 0x7F00)
    monkeypatch.setattr(plan_mod, "identity", lambda: who)
    names = [*POLICY, PATHS_HELD]
    rng = random.Random(5)
    for _ in range(150):
        a = frozenset(rng.sample(names, rng.randint(0, len(names))))
        b = frozenset(rng.sample(names, rng.randint(0, len(names))))
        narrowed, built = plan_mod.narrow(plan_mod.build(a, arch, who), b), plan_mod.build(b, arch, who)
        assert narrowed.actions == built.actions, (sorted(a), sorted(b))
        assert (narrowed.promises, narrowed.error) == (built.promises, built.error)


def test_a_narrowing_into_the_allowances_layer_rebuilds_nothing_it_keeps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """stdio rpath -> stdio gains the allowances' pseudo-promise: only what names rpath
    or it is redone, not the whole table (it was a full build)."""
    first = plan_mod.build(frozenset({"stdio", "rpath"}), "x86_64", Identity(1, 0, (0,), 0))
    calls: list[str] = []
    real = plan_mod._action

    def counted(name: str, *args: object) -> object:
        calls.append(name)
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_mod, "_action", counted)
    monkeypatch.setattr(plan_mod, "identity", lambda: Identity(1, 0, (0,), 0))
    plan_mod.narrow(first, frozenset({"stdio", PATHS_HELD}))
    touched = {name for p in ("rpath", PATHS_HELD) for _, name, _ in plan_mod._touches("x86_64", p)}
    assert calls and set(calls) <= touched
    assert len(calls) < len(plan_mod._index("x86_64")) // 4


FIRST = """
import json, sys
first = set(sys.modules)
import pledgepy
pledgepy.pledge("stdio rpath")
pledgepy.pledge("stdio")
print(json.dumps(sorted(set(sys.modules) - first)))
"""

#: Extension modules (each a dlopen) and modules the prepared tables made unneeded.
NOT_LOADED = ("pledgepy.backends.linux.policy", "_struct", "_bisect")


def test_pledges_read_the_prepared_tables_not_policy_py() -> None:
    r = run(FIRST)
    assert r.returncode == 0, r.explain()
    loaded = set(json.loads(r.stdout))
    assert "pledgepy.backends.linux.native._sigsys" in loaded  # the prepared path was taken
    assert "pledgepy.backends.linux.prepared" in loaded
    assert not loaded & set(NOT_LOADED), sorted(loaded & set(NOT_LOADED))


RECORDER = """
import json, sys
first = set(sys.modules)
from pledgepy.backends.linux.exec import record, supervise
r = record.Recording("x86_64", 1, frozenset())
print(json.dumps(sorted(set(sys.modules) - first)))
"""


def test_the_learn_recorder_reads_the_prepared_tables_not_policy_py() -> None:
    # tables.py works out socket-option and ioctl names (socket, enum, termios): ~7 ms
    r = run(RECORDER)
    assert r.returncode == 0, r.explain()
    loaded = set(json.loads(r.stdout))
    assert "pledgepy.backends.linux.prepared" in loaded
    heavy = {"pledgepy.backends.linux.policy", "pledgepy.backends.linux.native.tables", "socket"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_the_recorder_names_arguments_as_the_tables_do() -> None:
    from pledgepy.backends.linux import prepared
    from pledgepy.backends.linux.exec import record
    from pledgepy.backends.linux.native import tables

    assert prepared.keys() == tables.KEYS
    rec = record.Recording("x86_64", 1, frozenset())
    assert rec._argument("openat", (0, 0, 0o1101, 0, 0, 0)) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert rec._argument("ioctl", (0, 0x5401, 0, 0, 0, 0)) == "TCGETS"
    assert rec._argument("kill", (1234, 9, 0, 0, 0, 0)) == "1234"


def test_sockopt_names_do_not_depend_on_the_python_that_builds() -> None:
    """The tables name socket options without the socket module (whose names differ
    between Python versions: a module built by one and run by another disagreed with the
    policy), and name every option value this Python's socket module names."""
    from pledgepy.backends.linux import consts
    from pledgepy.backends.linux.native import tables

    code = ("import sys; sys.modules['socket'] = None\n"
            "from pledgepy.backends.linux.native import tables\n"
            "print(len(tables.KEYS['setsockopt'][2]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0 and int(r.stdout) == len(tables.KEYS["setsockopt"][2]), r.stderr
    import socket

    named = {(level, v) for level, v, _ in tables.KEYS["setsockopt"][2]}
    missing = []
    for level, _, prefix in tables._LEVELS:
        for n in dir(socket):
            v = getattr(socket, n)
            if (n.startswith(prefix) and isinstance(v, int) and not isinstance(v, bool)
                    and 0 <= v < 1 << 16 and n != prefix + "MASK"
                    and n not in tables.NOT_SOCKET_OPTIONS and (level, v) not in named):
                missing.append(f"{n} = {v}")
    assert not missing, missing
    assert not {n for _, n in sum(tables.SOCKET_OPTION_NAMES.values(), ())} & set(dir(consts))


def test_the_embedded_tables_are_what_the_installed_policy_gives() -> None:
    from pledgepy.backends.linux import native, prepared
    from pledgepy.backends.linux.native import digest

    # an edit of the flattening is an edit of the build: the digest covers it
    assert "backends/linux/prepared.py" in digest.SOURCES
    assert native.load() is not None
    prepared._data = None
    import marshal

    def plain(d: dict) -> dict:  # type: ignore[type-arg]
        # marshal's bytes depend on reference counts at dump time (3.10 writes a shared
        # reference only for objects referenced more than once): compare what they hold
        return {**d, "arches": {a: marshal.loads(b) for a, b in d["arches"].items()}}

    assert plain(prepared.data()) == plain(prepared.flatten())


PROBE = """
from pledgepy.backends.linux.landlock import domain
domain.prepare()
counts = [(domain._probe(), domain._probe_thread())]
for _ in range(3):
    domain.enter()
    counts.append((domain._probe(), domain._probe_thread()))
print(counts)
"""


def test_the_native_depth_probe_counts_as_the_python_one() -> None:
    r = run(PROBE)
    assert r.returncode == 0, r.explain()
    counts = ast.literal_eval(r.stdout)
    assert all(a == b for a, b in counts), counts
    first = counts[0][0]
    assert first >= 3 and [a for a, _ in counts] == [first, first - 1, first - 2, first - 3]


LANDLOCK = """
import os, pledgepy
pledgepy.api.backend()
from pledgepy.backends.linux.landlock import abi, ruleset
native = type(ruleset._load()).__name__
if {abi_mode!r}:
    ruleset._lib = ruleset._Lib()
with ruleset.Ruleset(abi.ACCESS_FS_READ_FILE | abi.ACCESS_FS_READ_DIR) as rs:
    rs.add_path({inside!r}, abi.ACCESS_FS_READ_FILE | abi.ACCESS_FS_READ_DIR)
    rs.restrict_self()
open(os.path.join({inside!r}, "f")).close()
try:
    open({outside!r}).close()
    print(native, ruleset.version(), "open")
except PermissionError:
    print(native, ruleset.version(), "refused")
"""


@pytest.mark.parametrize("abi_mode", [False, True])
def test_landlock_calls_through_the_native_module_or_without_it(tmp_path: Path,
                                                                abi_mode: bool) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    (inside / "f").write_text("x")
    outside.write_text("y")
    r = run(LANDLOCK.format(abi_mode=abi_mode, inside=str(inside), outside=str(outside)))
    assert r.returncode == 0, r.explain()
    native, version, verdict = r.stdout.split()
    assert native == "_Native"  # the backend loaded the module first: its calls are used
    assert int(version) >= 1 and verdict == "refused"


def test_import_pledgepy_does_not_load_warnings() -> None:
    from .test_startup_r4 import _bare

    got = _bare("import sys\nfirst = set(sys.modules)\nimport pledgepy\n"
                "print(repr({'first': sorted(first), 'import': sorted(set(sys.modules) - first)}))")
    assert "warnings" not in got["first"]  # else this could not see it
    assert "warnings" not in got["import"], got["import"]


HIDDEN_WARNING = """
import sys
sys.modules.pop("warnings", None)  # as without site: an editable install's finder loads it
import pledgepy
pledgepy.unveil({where!r}, "r")
pledgepy.pledge("stdio rpath dns")  # dns without inet: a gap, warned once the rules hide warnings.py
print("after", flush=True)
"""


def test_a_warning_after_unveil_hid_the_warnings_module_is_still_written(tmp_path: Path) -> None:
    r = run(HIDDEN_WARNING.format(where=str(tmp_path)))
    assert r.returncode == 0 and r.stdout == "after\n", r.explain()
    assert "PledgeWarning: pledge enforced only in part: dns:" in r.stderr, r.explain()


def test_maps_read_as_bytes_gives_what_the_text_parse_gave(tmp_path: Path) -> None:
    from pledgepy.backends.linux import maps

    lines = [
        b"55d0-55d1 r-xp 00000000 08:01 1234 /usr/bin/python3.11",
        b"7f00-7f01 rwxp 00000000 00:00 0 ",
        b"7f02-7f03 rw-s 00000000 08:01 99 /tmp/double mapped \xff (deleted)",
        b"7f04-7f05 r-xp 00001000 08:01 99 /tmp/double mapped \xff (deleted)",
        b"7f06-7f07 rw-p 00000000 00:00 0",
        b"7f08-7f09 r-xp 00000000 00:00 0 [vdso]",
    ]
    path = tmp_path / "maps"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert maps.writable_executable(str(path)) == [  # as the text-mode parse gave
        "7f00-7f01 rwxp [anonymous]", "7f02-7f03 rw-s /tmp/double mapped \ufffd (deleted)"]
    assert maps.executable_files(str(path)) == ["/usr/bin/python3.11",
                                                "/tmp/double mapped \ufffd"]


PROBE_UNDER_FILTER = """
import pledgepy
from pledgepy.backends.linux.landlock import domain
pledgepy.pledge("stdio rpath")
before = domain.layers_left()
domain._left = None  # probed again under the filter: no call stdio lacks (sched_setaffinity)
print(before, domain.layers_left())
"""


def test_the_depth_probe_under_a_filter_makes_no_call_the_filter_refuses() -> None:
    r = run(PROBE_UNDER_FILTER)
    assert r.returncode == 0, r.explain()
    before, again = map(int, r.stdout.split())
    assert again == before


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_build_from_shortcuts_equals_deciding_every_syscall_by_its_rules(
        arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    who = Identity(4242, 1000, (1000, 27), 0x7F00)
    monkeypatch.setattr(plan_mod, "identity", lambda: who)
    names = [*POLICY, PATHS_HELD]
    rng = random.Random(7)
    for _ in range(100):
        held = frozenset(rng.sample(names, rng.randint(0, len(names))))
        ref = {nr: plan_mod._action(name, rules, held, [who])
               for nr, name, rules in plan_mod._index(arch)}
        assert plan_mod.build(held, arch, who).actions == ref, sorted(held)
