"""Seed 002's script hosts: Alice's game, attack by attack, each stopped and explained."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.test_command_unveil import ENV, pledge

GAME = r"""
local what = arg[1]
if what == "sudo" then os.execute("sudo -n rm -rf --no-preserve-root /")
elseif what == "rm" then print(os.remove(os.getenv("HOME") .. "/precious"))
elseif what == "aws" then
  local f, err = io.open(os.getenv("HOME") .. "/.aws/credentials", "r")
  print(f and f:read("a") or err)
elseif what == "mem" then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
elseif what == "cpu" then while true do end
elseif what == "disk" then
  local f = assert(io.open(arg[2], "w"))
  for i = 1, 1e6 do assert(f:write(string.rep("x", 4096))) end
elseif what == "fds" then local t = {} for i = 1, 1e5 do t[i] = assert(io.open("/dev/null")) end
elseif what == "fork" then for i = 1, 64 do os.execute("sleep 1 &") end
end
print("game over")
"""
LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(LUA is None, reason="needs lua5.4 (Debian's lua5.4)")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("SECRET\n")
    (tmp_path / "precious").write_text("mine\n")
    (tmp_path / "game.lua").write_text(GAME)
    return tmp_path


def play(home: Path, attack: str, *flags: str, promises: str = "stdio rpath",
         extra: tuple[str, ...] = ()) -> tuple[int, str]:
    r = pledge("-p", promises, *flags, str(LUA), str(home / "game.lua"), attack, *extra,
               env={**ENV, "HOME": str(home)})
    return r.returncode, r.stdout + r.stderr


def test_sudo_is_stopped(home: Path) -> None:
    rc, out = play(home, "sudo")
    assert rc in (134, 137) and 'needs "proc"' in out, out


def test_rm_home_is_stopped(home: Path) -> None:
    rc, out = play(home, "rm")
    assert rc == 134 and re.search(r'unlink(at)?\("[^"]*precious"\) needs "cpath"', out), out
    assert (home / "precious").exists()


def test_credentials_stay_hidden(home: Path) -> None:
    rc, out = play(home, "aws")
    assert rc == 0 and "SECRET" not in out and "Permission denied" in out, out


def test_memory_bomb_hits_minus_m(home: Path) -> None:
    rc, out = play(home, "mem", "-M", "64M")
    assert rc == 1 and "not enough memory" in out and "-M 67108864" in out, out


def test_cpu_spin_hits_minus_c(home: Path) -> None:
    rc, out = play(home, "cpu", "-C", "1")
    assert rc == 128 + 24 and "it hit its limit -C 1" in out, out


def test_filling_the_disk_hits_minus_f(home: Path) -> None:
    out_dir = home / "out"
    out_dir.mkdir()
    rc, out = play(home, "disk", "-F", "1M", "-v", f"rwc:{out_dir}",
                   promises="stdio rpath wpath cpath", extra=(str(out_dir / "big"),))
    assert rc == 128 + 25 and "it hit its limit -F 1048576" in out, out
    assert (out_dir / "big").stat().st_size <= 1 << 20


def test_fd_exhaustion_hits_minus_o(home: Path) -> None:
    rc, out = play(home, "fds", "-O", "32")
    assert rc == 1 and "Too many open files" in out and "-O 32" in out, out


@pytest.mark.skipif(os.getuid() != 0, reason="RLIMIT_NPROC needs a uid of its own: -u")
def test_fork_bomb_hits_minus_p(home: Path) -> None:
    home.chmod(0o755)
    (home / "game.lua").chmod(0o644)
    rc, out = play(home, "fork", "-u", "nobody", "-P", "4", promises="stdio rpath proc exec")
    assert "Resource temporarily unavailable" in out or "fork" in out, out
