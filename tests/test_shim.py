"""The pledge command's start-up shim: a dynamically linked program holds exactly the
asked promises from main on (the loader's rpath, prot_exec and exec end before it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
ENV.pop("LANG", None)
SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
SOURCE = Path(__file__).parent / "data" / "after_main.c"
FAKE_LOADER = Path(__file__).parent / "data" / "fake_loader.c"
CC = shutil.which("cc") or shutil.which("gcc")


def pledge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script (python -m pledgepy where it is not installed)."""
    head = [SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]
    return subprocess.run([*head, *args], capture_output=True, text=True, env=env or ENV,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    if CC is None:
        pytest.skip("no C compiler for the test program")
    where = Path(tempfile.mkdtemp(prefix="pledgepy-shim-"))  # pytest's are root's only
    where.chmod(0o755)
    yield where
    shutil.rmtree(where)


@pytest.fixture(scope="module")
def prog(built: Path) -> str:
    out = built / "after_main"
    subprocess.run([str(CC), "-O1", "-o", str(out), str(SOURCE)], check=True)
    return str(out)


def test_a_loader_that_ignores_ld_preload_is_caught(built: Path) -> None:
    libc = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6")
                 if os.path.exists(p)), None)
    interp, program = built / "fake-ld.so", built / "with_fake_loader"
    made = subprocess.run([str(CC), "-nostdlib", "-static-pie", "-fno-stack-protector", "-O1",
                           f'-DLIBRARY="{libc}"', "-o", str(interp), str(FAKE_LOADER)],
                          capture_output=True, check=False)
    if libc is None or made.returncode:
        pytest.skip(f"cannot build the fake loader: {made.stderr!r}")
    subprocess.run([str(CC), "-O1", f"-Wl,--dynamic-linker={interp}", "-o", str(program),
                    str(SOURCE)], check=True)
    r = pledge("-q", "-p", "stdio rpath", str(program))
    assert r.returncode == 128 + 9 and r.stdout == "", (r.stdout, r.stderr)
    assert "mapped its libraries without the start-up shim" in r.stderr, r.stderr


def test_executable_memory_after_main_needs_prot_exec(prog: str) -> None:
    r = pledge("-q", "-p", "stdio rpath", prog, "map-exec")
    assert r.returncode == 134 and r.stdout == "", (r.stdout, r.stderr)
    assert 'needs "prot_exec"' in r.stderr, r.stderr
    r = pledge("-q", "-p", "stdio rpath prot_exec", prog, "map-exec")
    assert r.returncode == 0 and r.stdout == "mapped yes\n", r.stderr


def test_exec_after_main_needs_exec(prog: str) -> None:
    r = pledge("-p", "stdio rpath", prog, "exec")
    assert r.returncode == 134 and 'execve("/bin/true") needs "exec"' in r.stderr, r.stderr
    assert "keeps 'exec'" not in r.stderr and "for its whole run" not in r.stderr, r.stderr


def test_reads_without_rpath_are_violations(prog: str, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("the data\n")
    r = pledge("-q", "-p", "stdio rpath", "-v", str(data), prog, "read", str(data))
    assert r.returncode == 0 and r.stdout == "the data\n", r.stderr
    r = pledge("-q", "-p", "stdio", "-v", str(data), prog, "read", str(data))
    assert r.returncode == 134 and r.stdout == "" and 'needs "rpath"' in r.stderr, r.stderr


def test_narrowing_stacks_no_filter(tmp_path: Path) -> None:
    # the loader's promises end in the supervisor: a narrowed cat runs under the one
    # filter a program that keeps them (env executes cat: env keeps them) runs under
    status = "/proc/self/status"
    narrowed = pledge("-q", "-p", "stdio rpath", "-v", status, "cat", status)
    kept = pledge("-q", "-p", "stdio rpath", "-v", status, "env", "cat", status)
    assert narrowed.returncode == 0 and kept.returncode == 0, (narrowed.stderr, kept.stderr)
    count = [int(re.search(r"Seccomp_filters:\s*(\d+)", r.stdout)[1])  # type: ignore[index]
             for r in (narrowed, kept)]
    assert count == [1, 1], count


def test_descendants_get_the_users_environment(prog: str) -> None:
    r = pledge("-q", "-p", "stdio rpath", prog, "env")
    assert r.returncode == 0 and r.stdout == "[][]\n", r.stderr
    theirs = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6" if os.path.exists(
        "/lib/x86_64-linux-gnu/libc.so.6") else "/lib/aarch64-linux-gnu/libc.so.6")
    r = pledge("-q", "-p", "stdio rpath", prog, "env", env={**ENV, "LD_PRELOAD": theirs})
    assert r.returncode == 0 and r.stdout == f"[{theirs}][]\n", r.stderr


def test_code_before_the_shim_cannot_switch_it_off(prog: str) -> None:
    r = pledge("-q", "-p", "stdio rpath", prog, env={**ENV, "AFTER_MAIN_HIDE_FILTER": "1"})
    assert r.returncode == 128 + 9 and r.stdout == "", (r.stdout, r.stderr)
    assert "start-up shim found no PLEDGEPY_SHIM " in r.stderr, r.stderr


def test_as_nobody(prog: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch user")
    r = pledge("-q", "-u", "nobody", "-p", "stdio rpath", prog, "map-exec")
    assert r.returncode == 134 and 'needs "prot_exec"' in r.stderr, r.stderr
    r = pledge("-q", "-u", "nobody", "-p", "stdio rpath", prog)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr


# (bash opens /dev/tty read-write at start-up, whatever its stdin)
@pytest.mark.parametrize("promises,argv", [
    ("stdio", ["true"]), ("stdio rpath getpw", ["ls", "-l", "/etc/passwd"]),
    ("stdio rpath", ["grep", "-c", "root", "/etc/passwd"]),
    ("stdio rpath", ["sh", "-c", "echo $((6 * 7))"]),
    ("stdio rpath wpath tty", ["bash", "--norc", "-c", "echo 42"])])
def test_real_programs_narrow_and_work(promises: str, argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"no {argv[0]}")
    # without HOME and SHELL, bash and others look the user up (glibc asks nscd first)
    bare = {k: v for k, v in ENV.items() if k not in ("HOME", "SHELL", "USER", "LOGNAME")}
    for env in (ENV, bare):
        r = pledge("-p", promises, "-v", "/etc/passwd", *argv, env=env)
        assert r.returncode == 0, r.stderr
        assert "for its whole run" not in r.stderr and "keeps 'exec'" not in r.stderr, r.stderr


def test_hosts_that_load_code_later_keep_the_loaders_promises() -> None:
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no system python3")
    r = pledge("-p", "stdio rpath", python, "-c", "import json, _ctypes; print('ok')")
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
    assert "maps code after main" in r.stderr, r.stderr
    r = pledge("--strict", "-p", "stdio rpath", python, "-c", "print('ok')")
    assert r.returncode == 70 and "--strict" in r.stderr and r.stdout == "", r.stderr


def test_exec_asked_keeps_the_loaders_promises() -> None:
    r = pledge("-p", "stdio rpath proc exec", "sh", "-c", "true && true")
    assert r.returncode == 0, r.stderr
    assert "programs it executes need their loader's promises" in r.stderr, r.stderr


def test_a_stale_shim_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "pledgepy"
    shutil.copytree(ROOT / "pledgepy", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shim_c = copy / "backends" / "linux" / "native" / "shim.c"
    shim_c.write_text(shim_c.read_text() + "/* edited without a rebuild */\n")
    r = subprocess.run([sys.executable, "-m", "pledgepy", "-p", "stdio", "true"],
                       capture_output=True, text=True, timeout=60, check=False,
                       env={**ENV, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 70 and "start-up shim" in r.stderr and "stale" in r.stderr, r.stderr


def test_stdio_alone_is_enough_for_a_filter_like_cat() -> None:
    # the locale the environment names is loaded by the shim (setlocale in main then
    # opens nothing), and fstat as glibc spells it (newfstatat(fd, "")) is answered
    if not os.path.isdir("/usr/lib/locale/C.utf8"):
        pytest.skip("no C.UTF-8 locale")
    for user in ([], ["-u", "nobody"] if os.geteuid() == 0 else []):
        r = subprocess.run([*([SCRIPT] if SCRIPT else [sys.executable, "-m", "pledgepy"]),
                            *user, "-p", "stdio", "cat"], input="piped\n", capture_output=True,
                           text=True, timeout=60, check=False, env={**ENV, "LC_ALL": "C.UTF-8"})
        assert r.returncode == 0 and r.stdout == "piped\n", (user, r.stderr)
