"""pledgepy.Worker's front end: acall, @isolated, WorkerPool, max_calls, restart, status,
the codec, and the libmagic example on real files."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pledgepy
from pledgepy.worker import codec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "tests.programs.worker_hostile"


def test_acall() -> None:
    async def main(w: pledgepy.Worker) -> list[object]:
        return list(await asyncio.gather(*(w.acall("echo", i) for i in range(5))))

    with pledgepy.Worker(HOSTILE, promises="stdio") as w:
        assert asyncio.run(main(w)) == [0, 1, 2, 3, 4]


def test_isolated_runs_in_a_worker() -> None:
    from tests.programs import worker_isolated as mod

    assert mod.double(21) == 42
    worker = mod.double.worker[0]  # type: ignore[attr-defined]
    assert worker.pid != os.getpid() and worker.status().promises == "stdio"
    with pytest.raises(pledgepy.WorkerViolation, match='"rpath"'):
        mod.peek("/etc/hostname")
    assert mod.double(1) == 2
    worker.close()
    mod.peek.worker[0].close()  # type: ignore[attr-defined]


def test_pool_map_spreads_and_keeps_order() -> None:
    with pledgepy.WorkerPool(2, HOSTILE, promises="stdio") as pool:
        assert pool.map("echo", range(20)) == list(range(20))
        assert asyncio.run(pool.acall("echo", "a")) == "a"
        assert len({w.pid for w in pool.workers}) == 2


def test_max_calls_one_is_a_fresh_worker_each_call() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", max_calls=1) as w:
        pids = set()
        for i in range(3):
            assert w.call("echo", i) == i
            pids.add(w.stats.restarts)
        assert w.stats.calls == 3 and w.stats.restarts == 2 and w.stats.failures == 0


def test_restart_false_stays_dead() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", restart=False) as w:
        with pytest.raises(pledgepy.WorkerCrashed):
            w.call("abort")
        with pytest.raises(pledgepy.WorkerError, match="restart=False"):
            w.call("echo", 1)


def test_setup_failure_is_reported() -> None:
    w = pledgepy.Worker("no_such_module_here", promises="stdio")
    with pytest.raises(pledgepy.RemoteError, match="ModuleNotFoundError"):
        w.start()


def test_status_reports_the_hardening() -> None:
    with pledgepy.Worker(HOSTILE, promises="stdio", limits=pledgepy.Limits(memory=1 << 30)) as w:
        st = w.status()
        assert st.running and st.pid == w.pid
        assert {"no_new_privs", "not dumpable", "dies with its parent", "no capabilities",
                f"memory={1 << 30}"} <= set(st.hardening)
        assert st.limits == (f"memory={1 << 30}",)
        assert not any(p == os.getcwd() for p, _ in st.unveils)


def test_the_environment_is_cleared_unless_given() -> None:
    with pledgepy.Worker("os", promises="stdio") as w:
        assert w.call("getenv", "HOME") is None
    with pledgepy.Worker("os", promises="stdio", env={"GREETING": "hi"}) as w:
        assert w.call("getenv", "GREETING") == "hi"


def test_namespaces_are_applied() -> None:
    # namespaces are implemented now: refusals are tested in test_worker_r3_namespaces.py
    with pledgepy.Worker(HOSTILE, promises="stdio", namespaces=("net",), strict=True) as w:
        assert w.status().namespaces == ("net",) and w.call("echo", 1) == 1


@pytest.mark.parametrize("value", [object(), {1, 2}, 1 << 70, {(1,): 2}])
def test_codec_refuses_what_is_not_plain(value: object) -> None:
    with pytest.raises(codec.CodecError):
        codec.encode(value)


def test_codec_refuses_extension_types_and_big_frames() -> None:
    with pytest.raises(codec.CodecError):
        codec.decode(b"\xd6\xff\x00\x00\x00\x00")  # a msgpack timestamp
    with pytest.raises(codec.CodecError):
        codec.length((1 << 30).to_bytes(4, "big"), 1 << 20)
    assert codec.decode(codec.encode({"a": [1, b"x", None]})[4:]) == {"a": [1, b"x", None]}


def test_libmagic_example_on_real_files(tmp_path: Path) -> None:
    pytest.importorskip("magic")
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "libmagic_worker.py"),
                        sys.executable, str(pdf), str(script)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "ELF" in lines[0] and "PDF document, version 1.4" in lines[1]
    assert "shell script" in lines[2]
