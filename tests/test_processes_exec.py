"""execpromises without stdio: the window between the filter and execve, and a failed
exec, must not kill the caller or hide the error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pledged import under

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux enforcement")

# exit(7) with no libc start-up: runs under execpromises "" (the filter keeps exec)
EXIT7 = r"""
void _start(void) {
    __asm__ volatile("mov $60, %eax\n mov $7, %edi\n syscall");
}
"""


@pytest.fixture(scope="module")
def exit7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None or subprocess.run(["uname", "-m"], capture_output=True,
                                                      text=True).stdout.strip() != "x86_64":
        pytest.skip("needs gcc on x86_64")
    d = tmp_path_factory.mktemp("exit7")
    (d / "exit7.c").write_text(EXIT7)
    subprocess.run(["gcc", "-static", "-nostdlib", "-o", str(d / "exit7"), str(d / "exit7.c")],
                   check=True)
    return d / "exit7"


def test_failed_os_exec_leaves_the_caller_alive() -> None:
    body = """
for _ in range(3):
    attempt(os.execv, "/nonexistent/prog", ["prog"])
print("alive", flush=True)
"""
    r = under("stdio rpath proc exec", body, execpromises="")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["ERR", "ENOENT"] * 3 + ["alive"]


def test_failed_posix_spawn_raises_as_unpledged() -> None:
    body = """
attempt(os.posix_spawn, "/nonexistent/prog", ["prog"], dict(os.environ))
print("alive", flush=True)
"""
    r = under("stdio rpath proc exec", body, execpromises="")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["ERR", "ENOENT", "alive"]


@pytest.mark.parametrize("how", ["subprocess", "posix_spawn", "execv"])
def test_a_program_starts_under_empty_execpromises(exit7: Path, how: str) -> None:
    body = {
        "subprocess": f"import subprocess\nprint(subprocess.run([{str(exit7)!r}]).returncode)",
        "posix_spawn": f"pid = os.posix_spawn({str(exit7)!r}, ['x'], {{}})\n"
                       "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))",
        "execv": f"os.execv({str(exit7)!r}, ['x'])",
    }[how]
    r = under("stdio rpath proc exec", body, execpromises="")
    assert r.returncode == (7 if how == "execv" else 0), r.explain()
    if how != "execv":
        assert r.stdout.strip() == "7", r.explain()


def test_status_says_what_the_window_allows() -> None:
    body = """
print([g for g in pledgepy.status().not_enforced if "munmap" in g])
"""
    r = under("stdio rpath proc exec", body, execpromises="", setup="import warnings\n"
              "warnings.simplefilter('ignore')\n")
    assert "helper thread" in r.stdout, r.explain()
