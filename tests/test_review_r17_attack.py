"""Review r17: a compromised program inside the sandbox, against last round's surfaces.

Each test runs a real pledged child (in-process, or under the ``pledge`` command) on
the running kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT, run
from tests.cprogs import compiled
from tests.pledged import killed, under
from tests.test_security_c import AS_NOBODY

pytest.importorskip("pledgepy.backends.linux.native._sigsys")

#: newfstatat(AT_FDCWD, NULL, buf, AT_EMPTY_PATH) and statx(AT_FDCWD, NULL,
#: AT_EMPTY_PATH, ...): since Linux 6.11 a NULL path with AT_EMPTY_PATH names the dirfd,
#: so with AT_FDCWD the working directory. stdio's rule for fstat spelled so let it run.
CWD_STAT = {
    "newfstatat": "libc.syscall(262, -100, None, buf, 0x1000)",
    "statx": "libc.syscall(332, -100, None, 0x1000, 0x100, buf)",
}
SETUP = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(512)
"""


@pytest.mark.parametrize("call", sorted(CWD_STAT))
@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_stdio_cannot_stat_the_working_directory(call: str, unprivileged: bool) -> None:
    # OpenBSD: stat(".") needs rpath (or wpath, cpath, dpath); under stdio alone the
    # working directory's owner, mode, times and link count (its subdirectories) were
    # the program's for the asking
    r = under("stdio", f"print('ran', {CWD_STAT[call]}, ctypes.get_errno(), flush=True)",
              setup=SETUP + "os.chdir('/')\n", unprivileged=unprivileged)
    assert killed(r) and "ran" not in r.stdout, r.explain()


@pytest.mark.parametrize("call", sorted(CWD_STAT))
def test_stdio_still_stats_a_descriptor_through_a_null_path(call: str) -> None:
    # the same call on a descriptor is fstat (a stdio call) and stays allowed
    if tuple(int(p) for p in os.uname().release.split(".")[:2] if p.isdigit()) < (6, 11):
        pytest.skip("a NULL path with AT_EMPTY_PATH needs Linux 6.11")
    body = f"print({CWD_STAT[call].replace('-100', 'fd')})"
    r = under("stdio", body, setup=SETUP + "fd = os.open('/', os.O_RDONLY)\n")
    assert r.returncode == 0 and r.stdout.split() == ["0"], r.explain()


SCRIPT = [sys.executable, "-m", "pledgepy"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("call", sorted(CWD_STAT))
@pytest.mark.parametrize("launcher", ["python", "native"])
def test_command_stdio_cannot_stat_the_working_directory(call: str, launcher: str,
                                                         tmp_path: Path) -> None:
    installed = Path(sys.executable).parent / "pledge"
    if launcher == "native":
        if not installed.is_file() or installed.read_bytes()[:4] != b"\x7fELF":
            pytest.skip("the installed pledge is not the native launcher")
        head = [str(installed)]
    else:
        head = SCRIPT
    env = {**ENV, "PLEDGEPY_LAUNCHER": launcher} if launcher == "python" else dict(ENV)
    with compiled(("r17_cwd_stat", ())) as progs:
        r = subprocess.run([*head, "-q", "-p", "stdio", str(progs["r17_cwd_stat"]), call],
                           capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=60, check=False)
    assert r.returncode == 134 and r.stdout == "", (r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("call,want", [
    # CPython's os.system returns system(3)'s -1 (ECHILD) when SIGCHLD is ignored; the
    # fork + exec replacement raised ChildProcessError out of its own wait
    ("os.system('true')", "-1"),
    # posix_spawn returns the child's pid, which nobody can wait for then
    ("os.posix_spawn('/bin/true', ['true'], os.environ) > 0", "True"),
])
def test_no_exec_spawns_under_an_ignored_sigchld(call: str, want: str) -> None:
    r = under("stdio proc", f"print({call}, flush=True)",
              setup="import signal\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n")
    assert r.returncode == 0 and r.stdout.split() == [want], r.explain()


#: MADV_HWPOISON, MADV_SOFT_OFFLINE (include/uapi/asm-generic/mman-common.h): memory
#: failure injection, CAP_SYS_ADMIN's. A poisoned page is taken from every process that
#: maps it (a shared file page: each mapper of it dies of SIGBUS when it touches it), so
#: a root process under stdio alone could kill others through a page of libc it maps.
#: Only an anonymous page of the child's own is named here: where the kernel has
#: CONFIG_MEMORY_FAILURE and the call ran, that page alone is lost.
MADVISE = """
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
page = mmap.mmap(-1, mmap.PAGESIZE)
page[0:1] = b"x"
addr = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.from_buffer(page)))
"""


@pytest.mark.parametrize("advice", [100, 101], ids=["MADV_HWPOISON", "MADV_SOFT_OFFLINE"])
@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_stdio_cannot_inject_memory_failures(advice: int, unprivileged: bool) -> None:
    r = under("stdio", f"print('ran', libc.madvise(addr, mmap.PAGESIZE, {advice}), flush=True)",
              setup=MADVISE, unprivileged=unprivileged)
    assert killed(r) and "ran" not in r.stdout, r.explain()


def test_stdio_still_advises_its_memory() -> None:
    # MADV_DONTNEED (4), as malloc's trim makes it
    r = under("stdio", "print(libc.madvise(addr, mmap.PAGESIZE, 4))", setup=MADVISE)
    assert r.returncode == 0 and r.stdout.split() == ["0"], r.explain()


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test program is x86_64's")
def test_exec_without_stdio_cannot_inject_memory_failures() -> None:
    # a program exec'd in place under execpromises without stdio keeps THREAD_END's
    # calls (a failed exec returns through a helper thread): madvise was among them
    # whatever the advice, so a root caller's execpromises "rpath" let it poison pages
    with compiled(("r17_madvise", ("-static", "-nostdlib", "-fno-stack-protector"))) as progs:
        r = run("import subprocess, warnings, pledgepy\n"
                "warnings.simplefilter('ignore')\n"
                "pledgepy.pledge(None, 'rpath')\n"
                f"print(subprocess.run([{str(progs['r17_madvise'])!r}]).returncode)\n")
    assert r.stdout.split() != ["3"] and r.returncode == 0, r.explain()
    assert "madvise is not allowed by any promise" in r.stderr, r.explain()


def test_command_says_why_a_non_dumpable_programs_path_is_unreadable() -> None:
    # an unprivileged supervisor cannot read a non-dumpable PROG's memory (no
    # CAP_SYS_PTRACE over it): /etc/localtime under stdio stayed a violation, said as
    # 'openat(<unreadable>, O_RDONLY) needs "rpath"' with nothing on why
    if os.getuid() != 0 or not os.path.exists("/etc/localtime"):
        pytest.skip("needs root to become uid 65534, and /etc/localtime")
    with compiled(("r17_nodump", ())) as progs:
        r = subprocess.run([sys.executable, "-c", AS_NOBODY, "-q", "-p", "stdio",
                            str(progs["r17_nodump"])], capture_output=True, text=True,
                           env=ENV, timeout=60, check=False)
    assert r.returncode == 134, (r.returncode, r.stdout, r.stderr)
    assert "<unreadable>" in r.stderr and "non-dumpable (PR_SET_DUMPABLE 0)" in r.stderr, \
        r.stderr


@pytest.mark.parametrize("call", ["pledgepy.unveil('/tmp', 'r', strict=True)",
                                  "pledgepy.unveil(None, None, strict=True)"])
def test_unveil_without_rpath_counts_its_threads(call: str) -> None:
    # unveil() needs only "unveil" (OpenBSD); without rpath the thread count was assumed
    # ("1 other thread(s) already running are not confined"), so a single-threaded
    # program's strict unveil was refused, and a best-effort one warned and was partial,
    # though the descriptor of /proc/self/task kept from the pledge counts them (fstat)
    body = f"{call}\nprint('gaps', pledgepy.status().unveil.not_enforced, flush=True)"
    r = under("stdio unveil", body)
    assert r.returncode == 0 and "gaps" in r.stdout, r.explain()
    assert "other thread" not in r.stdout + r.stderr, r.explain()


def test_unveil_without_rpath_still_sees_other_threads() -> None:
    # ... and a thread that runs is still counted (Landlock ABI < 8 leaves it out)
    from pledgepy.backends.linux.landlock import abi
    if abi.current().tsync:
        pytest.skip("Landlock ABI 8 confines every thread")
    setup = ("import threading, time\n"
             "t = threading.Thread(target=time.sleep, args=(3,), daemon=True); t.start()\n")
    body = ("try:\n"
            "    pledgepy.unveil('/tmp', 'r', strict=True)\n"
            "except pledgepy.UnsupportedError as e:\n"
            "    print('refused', 'other thread' in str(e), flush=True)\n")
    r = under("stdio unveil", body, setup=setup)
    assert r.returncode == 0 and r.stdout.split() == ["refused", "True"], r.explain()


@pytest.mark.parametrize("line,want", [
    ("#!/bin/sh\t-e", "hi"),      # a tab between the interpreter and its argument
    ("#! \t/bin/sh \t-e \t", "hi"),  # spaces and tabs around both
])
def test_command_reads_a_shebang_line_as_the_kernel_does(line: str, want: str,
                                                          tmp_path: Path) -> None:
    # fs/binfmt_script.c ends the interpreter at a space, a tab or a NUL: the command
    # split at a space only, so "#!/bin/sh<TAB>-e" was "bad interpreter /bin/sh?-e"
    # (126) though the kernel runs it
    script = tmp_path / "tabbed"
    script.write_text(f"{line}\necho hi\n")
    script.chmod(0o755)
    assert subprocess.run([str(script)], capture_output=True, text=True).stdout == "hi\n"
    r = subprocess.run([*SCRIPT, "-q", "-p", "stdio rpath", str(script)], capture_output=True,
                       text=True, env={**ENV, "PLEDGEPY_LAUNCHER": "python"}, timeout=60,
                       check=False)
    assert r.returncode == 0 and r.stdout == want + "\n", (r.returncode, r.stdout, r.stderr)
