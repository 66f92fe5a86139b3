"""pledge.com's runner flags, with limits on the program only (never the supervisor)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_command_unveil import ENV, SCRIPT, SYSTEM_PYTHON, pledge

root_only = pytest.mark.skipif(os.getuid() != 0, reason="needs root")


def test_help_lists_promises_and_exit_codes() -> None:
    r = pledge("--help")
    assert r.returncode == 0
    for word in ("stdio", "prot_exec", "unveil", "error", "134", "127", "-M BYTES", "-T"):
        assert word in r.stdout, word


def test_version_and_probes() -> None:
    r = pledge("--version")
    assert r.returncode == 0 and "pledgepy" in r.stdout
    assert pledge("-T", "pledge").returncode == 0
    assert pledge("-T", "unveil").returncode in (0, 70)


@root_only
def test_user_and_group() -> None:
    r = pledge("-q", "-p", "stdio rpath proc exec", "-u", "nobody", "-g", "65534", "sh", "-c",
               'echo "$(id -u) $(id -g)"')
    assert r.returncode == 0 and r.stdout.split() == ["65534", "65534"], r.stderr
    r = pledge("-u", "no-such-user-pledgepy", "true")
    assert r.returncode == 64 and "-u no-such-user-pledgepy: no such user" in r.stderr


def test_nice() -> None:
    r = pledge("-q", "-p", "stdio rpath proc", "-n", "5", "nice")
    assert r.returncode == 0 and r.stdout.strip() == str(os.nice(0) + 5), r.stderr


def test_inherited_descriptors_are_closed_unless_minus_n() -> None:
    r_fd, w_fd = os.pipe()
    try:
        args = ("-q", SYSTEM_PYTHON, "-c", f"import os; os.write({w_fd}, b'through')")
        r = pledge(*args, pass_fds=(w_fd,))
        assert r.returncode != 0 and "Bad file descriptor" in r.stderr, r.stderr
        r = pledge("-N", *args, pass_fds=(w_fd,))
        assert r.returncode == 0, r.stderr
        assert os.read(r_fd, 100) == b"through"
    finally:
        os.close(r_fd)
        os.close(w_fd)


@root_only
def test_capabilities_are_dropped_unless_minus_d() -> None:
    caps = ("-q", "-v", "/proc", "grep", "^Cap[EPB]", "/proc/self/status")
    r = pledge(*caps)
    assert r.returncode == 0, r.stderr
    assert {line.split()[1] for line in r.stdout.splitlines()} == {"0" * 16}, r.stdout
    r = pledge("-D", *caps)
    assert any(line.split()[1] != "0" * 16 for line in r.stdout.splitlines()), r.stdout


@root_only
def test_chroot(tmp_path: Path) -> None:
    static = "/sbin/ldconfig"
    if not os.path.exists(static):
        pytest.skip("no static program to chroot to")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ldconfig").write_bytes(Path(static).read_bytes())
    (tmp_path / "bin" / "ldconfig").chmod(0o755)
    r = pledge("-q", "-c", str(tmp_path), "/bin/ldconfig", "--version")
    assert r.returncode == 0 and "ldconfig" in r.stdout, r.stderr


def test_cpu_limit_is_named() -> None:
    r = pledge("-p", "stdio rpath", "-C", "1", SYSTEM_PYTHON, "-c", "while True: pass")
    assert r.returncode == 128 + 24, r.stderr
    assert "killed by SIGXCPU: it hit its limit -C 1 (CPU seconds)" in r.stderr


def test_file_size_limit_is_named(tmp_path: Path) -> None:
    out = tmp_path / "big"
    r = pledge("-p", "stdio rpath wpath cpath", "-v", f"rwc:{tmp_path}", "-F", "4K", "sh", "-c",
               f"while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done > {out}")
    assert r.returncode == 128 + 25, r.stderr
    assert "killed by SIGXFSZ: it hit its limit -F 4096" in r.stderr
    assert out.stat().st_size <= 4096


def test_memory_and_descriptor_limits_are_named() -> None:
    r = pledge("-M", "64M", SYSTEM_PYTHON, "-c", "b = bytearray(1 << 30)")
    assert r.returncode == 1 and "MemoryError" in r.stderr, r.stderr
    assert "-M 67108864 (bytes of address space)" in r.stderr
    r = pledge("-O", "20", SYSTEM_PYTHON, "-c", "fs = [open('/dev/null') for _ in range(99)]")
    assert r.returncode == 1 and "Too many open files" in r.stderr, r.stderr
    assert "-O 20 (open descriptors)" in r.stderr


def test_limits_apply_to_the_program_only() -> None:
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    p = subprocess.Popen([*head, "-q", "-F", "1000", "-O", "50", "sleep", "2"], env=ENV)
    try:
        deadline = time.monotonic() + 10
        kids: list[str] = []
        while not kids and time.monotonic() < deadline:
            time.sleep(0.05)
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        assert kids
        time.sleep(0.3)  # exec'd by now
        mine = Path(f"/proc/{p.pid}/limits").read_text()
        theirs = Path(f"/proc/{kids[0]}/limits").read_text()
        assert "Max file size             1000" in theirs, theirs
        assert "Max file size             unlimited" in mine, mine
        assert "Max open files            50" in theirs and "Max open files            50 " \
            not in mine
    finally:
        p.wait(timeout=10)
