"""Worker(namespaces=("user", "net", "ipc")): the worker's own namespaces, seen from
outside (/proc/<pid>), for a root parent, a root parent switching user, and a parent
without privileges; a namespace the kernel refuses is an error (strict) or a warning
plus status (best effort)."""

from __future__ import annotations

import json
import os
import sys

import pytest

import pledgepy

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
              pytest.mark.skipif(os.geteuid() != 0, reason="reads /proc of a non-dumpable worker")]
R3 = "tests.programs.worker_r3"
ALL = ("user", "net", "ipc")


def outside(pid: int) -> dict[str, object]:
    """What the worker's namespaces look like from here."""
    with open(f"/proc/{pid}/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    with open(f"/proc/{pid}/uid_map") as f:
        uid_map = f.read().split()
    with open(f"/proc/{pid}/status") as f:
        caps = [line.split()[1] for line in f if line.startswith("CapEff:")][0]
    fresh = {ns: os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
             for ns in ALL}
    return {"interfaces": interfaces, "uid_map": uid_map, "caps": caps, "fresh": fresh}


def test_root_worker_gets_its_own_user_net_and_ipc_namespaces() -> None:
    with pledgepy.Worker(R3, promises="stdio", namespaces=ALL) as w:
        assert w.call("echo", "x") == "x"
        assert w.pid is not None
        seen = outside(w.pid)
        assert seen["interfaces"] == ["lo"]
        assert seen["fresh"] == {"user": True, "net": True, "ipc": True}
        assert seen["uid_map"] == ["0", "0", "1"]  # only its own uid, mapped to itself
        assert seen["caps"] == "0000000000000000"
        assert set(w.status().namespaces) == set(ALL) and not w.status().not_enforced


def test_violations_are_still_heard_by_the_parent() -> None:
    with pledgepy.Worker("tests.programs.worker_hostile", promises="stdio",
                         namespaces=ALL) as w:
        with pytest.raises(pledgepy.WorkerViolation, match='"rpath"'):
            w.call("read", "/etc/hostname")
        assert w.call("echo", 1) == 1
        assert w.status().violations_heard_by == "parent"


def test_switched_user_gets_namespaces_with_unmapped_ids() -> None:
    with pytest.warns(pledgepy.PledgeWarning, match="not mapped"):
        w = pledgepy.Worker(R3, promises="stdio", namespaces=ALL, user=65534).start()
    with w:
        assert w.pid is not None
        seen = outside(w.pid)
        assert seen["interfaces"] == ["lo"] and all(seen["fresh"].values())  # type: ignore
        assert seen["uid_map"] == [] and seen["caps"] == "0000000000000000"
        assert "uid 65534 gid 65534" in w.status().hardening
        assert w.call("echo", 2) == 2


PRELOAD = """
import json, os, sys, warnings, typing, msgpack
import pledgepy, pledgepy.api
from pledgepy.worker import worker, conn, forked, keeper, child, codec, frames, harden
from pledgepy.worker import limits, namespaces, status, errors
import tests.programs.worker_r3
child._preload({"supervised": True})
"""
PROBE = """
os.environ.pop("PLEDGEPY_STRICT", None)
ns = tuple(sys.argv[1].split(","))
strict = sys.argv[2] == "strict"
out = {}
try:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = pledgepy.Worker("tests.programs.worker_r3", promises="stdio", namespaces=ns,
                            strict=strict, start="fork")  # nobody cannot read the interpreter
        w.start()
    out["echo"] = w.call("echo", 7)
    out["pid"] = w.pid
    out["status"] = list(w.status().namespaces)
    out["not_enforced"] = list(w.status().not_enforced)
    out["warned"] = [str(c.message) for c in caught]
    print(json.dumps(out), flush=True)
    sys.stdin.readline()  # the test looks at /proc/<pid> meanwhile
    w.close()
except pledgepy.UnsupportedError as exc:
    print(json.dumps({"refused": str(exc)}), flush=True)
"""


def _unprivileged(ns: str, strict: str) -> dict[str, object]:
    import subprocess

    from tests.childproc import DROP, NOBODY, ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen([sys.executable, "-c", PRELOAD + DROP.format(uid=NOBODY) + PROBE, ns, strict],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd="/")
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line, "the unprivileged parent died"
        got: dict[str, object] = json.loads(line)
        if "pid" in got:
            got["outside"] = outside(int(got["pid"]))  # type: ignore[call-overload]
        proc.stdin.write("\n")
        proc.stdin.flush()
    finally:
        proc.wait(timeout=30)
    return got


def test_an_unprivileged_parent_gets_all_three_with_its_uid_mapped() -> None:
    if not os.path.exists("/proc/self/ns/user"):
        pytest.skip("no user namespaces")
    got = _unprivileged("user,net,ipc", "strict")
    if "refused" in got:
        pytest.skip(f"this kernel refuses unprivileged user namespaces: {got['refused']}")
    assert got["echo"] == 7 and set(got["status"]) == set(ALL)  # type: ignore[arg-type]
    seen = got["outside"]
    assert seen["interfaces"] == ["lo"]  # type: ignore[index]
    assert seen["uid_map"] == ["65534", "65534", "1"]  # type: ignore[index]
    assert all(seen["fresh"].values())  # type: ignore[index]


def test_a_refused_namespace_strict_raises_best_effort_warns() -> None:
    # without "user", an unprivileged process may not make a network namespace
    got = _unprivileged("net", "strict")
    assert "refused a new net namespace" in str(got.get("refused")), got
    got = _unprivileged("net", "best")
    assert got["echo"] == 7 and got["status"] == []
    assert any("refused a new net namespace" in t for t in got["not_enforced"])  # type: ignore
    assert any("refused a new net namespace" in t for t in got["warned"])  # type: ignore
    assert len(got["outside"]["interfaces"]) >= 1  # type: ignore[index]


def test_unknown_namespaces_are_refused() -> None:
    with pytest.raises(ValueError, match="namespaces"):
        pledgepy.Worker(R3, promises="stdio", namespaces=("pid",))
