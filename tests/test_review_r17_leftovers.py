"""Review round 17: what round 16 noticed and left.

unveil()'s lock under a pledge without rpath warned that "1 other thread(s) already
running are not confined" in a process with one thread: without /proc it assumed
others. The pledge that drops rpath (and keeps "unveil") now keeps /proc/self/task open,
whose link count fstat() reads under stdio.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.childproc import run

if sys.platform.startswith("linux"):
    from pledgepy.backends.linux.landlock import abi as A

    ABI = A.version()
    TSYNC = A.features(ABI).tsync
else:  # pragma: no cover - other platforms
    ABI, TSYNC = 0, True

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(ABI == 0, reason="no Landlock in this kernel"),
]
OTHERS = "other thread(s) already running are not confined"

LOCK = """
import threading, pledgepy
ev = threading.Event()
{before}
pledgepy.pledge("stdio unveil")
{after}
pledgepy.unveil({tmp!r}, "r")
pledgepy.unveil(None, None)
print("|".join(pledgepy.status().unveil.not_enforced))
ev.set()
"""
START = "t = threading.Thread(target=ev.wait, daemon=True); t.start()"


@pytest.mark.parametrize("unprivileged", [False, True])
def test_lock_without_rpath_counts_threads(tmp_path: object, unprivileged: bool) -> None:
    r = run(LOCK.format(before="", after="", tmp="/tmp"), unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert OTHERS not in r.stdout, r.explain()
    assert OTHERS not in r.stderr, r.explain()


@pytest.mark.skipif(TSYNC, reason="Landlock confines every thread (ABI >= 8)")
@pytest.mark.parametrize("where", ["before", "after"])
def test_lock_without_rpath_still_sees_a_thread(where: str) -> None:
    # one started before the pledge, or after it and before the lock: both outside
    code = LOCK.format(before=START if where == "before" else "",
                       after=START if where == "after" else "", tmp="/tmp")
    r = run(code)
    assert r.returncode == 0, r.explain()
    assert "1 " + OTHERS in r.stdout, r.explain()


def test_system_under_ignored_sigchld_returns_minus_one() -> None:
    # glibc's system() returns -1 (ECHILD) when the kernel reaped the shell itself; the
    # fork + exec stand-in under proc without exec raised ChildProcessError instead
    code = """
import os, signal, pledgepy
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
unpledged = os.system("true")
pledgepy.pledge("stdio proc")
print("system", unpledged, os.system("true"), flush=True)
"""
    r = run(code)
    assert r.returncode == 0, r.explain()
    assert "system -1 -1" in r.stdout, r.explain()
    assert 'execve("/bin/sh") needs "exec"' in r.stderr, r.explain()


def test_handler_unmappable_under_ulimit_v_says_so() -> None:
    # Under ulimit -v the handler's dlopen fails "to map segment": the warning sent the
    # user to rebuild, which cannot help. Find a limit where the interpreter starts and
    # the handler does not load (it depends on the Python build), then read the advice.
    import subprocess

    from tests.childproc import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = []
    for mib in range(24, 80, 4):
        script = f"ulimit -v {mib << 10}; exec \"$0\" -m pledgepy -p stdio /bin/true"
        # near the interpreter's own floor malloc can spin at the limit: a run that does
        # not end is a limit too low to say anything (its whole group is killed)
        p = subprocess.Popen(["sh", "-c", script, sys.executable], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.communicate()
            seen.append((mib, "timeout", ""))
            continue
        r = subprocess.CompletedProcess(p.args, p.returncode, "", err)
        seen.append((mib, r.returncode, r.stderr[-300:]))
        if "handler cannot be loaded" in r.stderr:
            assert "a memory limit is set (ulimit -v" in r.stderr, r.stderr
            assert "rebuild: pip install -e ." not in r.stderr, r.stderr
            return
    pytest.skip(f"no limit between 16 and 80 MiB starts Python without the handler: {seen}")


@pytest.mark.skipif(not os.path.islink("/etc/localtime"), reason="/etc/localtime is no symlink")
@pytest.mark.parametrize("unprivileged", [False, True])
def test_lstat_of_localtime_under_stdio_reads_the_link(unprivileged: bool) -> None:
    # stdio keeps /etc/localtime reachable (OpenBSD); its stat() is answered from a
    # descriptor opened before the filter, and lstat() was answered from the same,
    # followed one: a symlink read as the regular file it names
    code = """
import os, stat, pledgepy
before = os.lstat("/etc/localtime"), os.stat("/etc/localtime")
pledgepy.pledge("stdio")
after = os.lstat("/etc/localtime"), os.stat("/etc/localtime")
print("link", stat.S_ISLNK(after[0].st_mode), stat.S_ISREG(after[1].st_mode),
      [(x.st_ino, x.st_mode, x.st_size) for x in before] ==
      [(x.st_ino, x.st_mode, x.st_size) for x in after])
"""
    r = run(code, unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert "link True True True" in r.stdout, r.explain()


def test_o_path_after_the_lock_is_the_documented_difference_until_unveil_is_dropped() -> None:
    # the unveil promise grants O_PATH opens (unveil()'s own lookups need them without
    # rpath); after the lock they still show a hidden path's metadata, as stat() does
    # under rpath (README, "unveil on Linux"); a pledge that drops unveil ends it
    code = """
import os, pledgepy
pledgepy.pledge("stdio unveil")
pledgepy.unveil("/tmp", "r")
pledgepy.unveil(None, None)
fd = os.open("/etc/passwd", os.O_PATH)
print("metadata", os.fstat(fd).st_size > 0, flush=True)
os.close(fd)
pledgepy.pledge("stdio")
os.open("/etc/passwd", os.O_PATH)
print("not reached")
"""
    r = run(code)
    assert "metadata True" in r.stdout, r.explain()
    assert "not reached" not in r.stdout, r.explain()
    assert r.signal == 6, r.explain()
    assert 'openat("/etc/passwd", O_RDONLY|O_PATH) needs "rpath" or "unveil"' in r.stderr, \
        r.explain()


@pytest.mark.parametrize("unprivileged", [False, True])
def test_proc_of_a_process_outside_the_sandbox(unprivileged: bool) -> None:
    # The pledge's Landlock domain keeps /proc/<pid>/mem of processes outside it out of
    # reach. Its read-class files (environ, maps, auxv) too, but only without
    # CAP_SYS_ADMIN or CAP_PERFMON in effect: root's in-process pledge still reads them
    # (the kernel's ptrace check passes those capabilities; README, "Differences").
    code = """
import os, subprocess, sys, pledgepy
child = subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
pledgepy.pledge("stdio rpath proc")
out = []
for name in ("environ", "maps", "auxv", "mem"):
    try:
        with open(f"/proc/{child.pid}/{name}", "rb") as f:
            f.read(16)
        out.append(name + "=read")
    except OSError as e:
        out.append(name + "=" + (e.strerror or ""))
print(" ".join(out), flush=True)
child.kill()
"""
    r = run(code, unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert "mem=Permission denied" in r.stdout, r.explain()
    for name in ("environ", "maps", "auxv"):
        want = f"{name}=Permission denied" if unprivileged else f"{name}=read"
        assert want in r.stdout, r.explain()
