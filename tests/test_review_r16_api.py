"""Review round 16 (API): unveil() under a pledge without rpath; children started without
exec.

A child made under a pledge with proc but without exec by vfork (subprocess) or glibc's
posix_spawn (os.posix_spawn*, os.system) died of SIGSYS without a word on main: it resets
SIGSYS's handler while every signal is blocked. They are forked now, and the refused
execve is explained, the child aborted.

unveil(2) needs only the "unveil" promise on OpenBSD, and here it grants O_PATH opens. On
main, unveil() after pledge("stdio inet unveil") died: its module was imported lazily
(a newfstatat of pledgepy's own directory, "needs rpath"), and once imported its checks
stat()ed the rule's path, with the import hint for a stat of a plain directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.childproc import run

if sys.platform.startswith("linux"):
    from pledgepy.backends.linux.landlock import abi as A

    ABI = A.version()
else:  # pragma: no cover - other platforms
    ABI = 0

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
]
landlock = pytest.mark.skipif(ABI == 0, reason="no Landlock in this kernel")

IMPORT_HINT = "importing a module that was not imported before pledge()"


@landlock
@pytest.mark.parametrize("imported", [False, True], ids=["lazy", "imported-before"])
def test_unveil_needs_no_rpath(imported: bool) -> None:
    r = run(f"""
        import sys, pledgepy
        if {imported!r}:
            import pledgepy.backends.linux.landlock.unveil
        pledgepy.pledge("stdio inet unveil")
        pledgepy.unveil("/tmp", "r")
        pledgepy.unveil()
        s = pledgepy.status().unveil
        print("locked", s.locked, s.in_force, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "locked True True" in r.stdout
    assert "pledge:" not in r.stderr


@landlock
def test_unveil_lock_with_exec_needs_no_rpath() -> None:
    """The lock's check that rules keep the exec wrappers loadable resolves paths: it
    is skipped (prepare() ran at the pledge holding exec) when it cannot look."""
    r = run("""
        import pledgepy
        pledgepy.pledge("stdio proc exec unveil")
        pledgepy.unveil("/", "r")
        pledgepy.unveil()
        print("in force", pledgepy.status().unveil.in_force, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "in force True" in r.stdout and "pledge:" not in r.stderr, r.explain()


@landlock
@pytest.mark.parametrize("how", ["lock", "narrowed", "pledge"])
def test_unveil_rules_take_effect_without_rpath(tmp_path: Path, how: str) -> None:
    """wpath lets the child open files for writing (so Landlock's refusal shows) but
    neither read pledgepy's modules nor readlink(); unveil_many, a narrowing that keeps
    unveil, and a pledge that commits the rules all work without rpath."""
    (tmp_path / "a").touch()
    (tmp_path / "b").touch()
    (tmp_path / "link").symlink_to(tmp_path)
    r = run(f"""
        import os, pledgepy
        d, how = {str(tmp_path)!r}, {how!r}
        if how == "narrowed":
            pledgepy.pledge("stdio rpath wpath unveil")
            pledgepy.pledge("stdio wpath unveil")
        else:
            pledgepy.pledge("stdio wpath unveil")
        pledgepy.unveil(d + "/a", "w")
        pledgepy.unveil_many([(d + "/new", "w"), (d + "/link/a", "w")])
        for bad in ("/nonexistent-r16/x", d + "/a/x"):
            try:
                pledgepy.unveil(bad, "r")
            except (FileNotFoundError, NotADirectoryError) as e:
                print("refused", type(e).__name__, flush=True)
        if how == "pledge":
            pledgepy.pledge("stdio wpath")
        else:
            pledgepy.unveil()
        os.close(os.open(d + "/a", os.O_WRONLY))
        try:
            os.open(d + "/b", os.O_WRONLY)
        except PermissionError:
            print("hidden", flush=True)
        print("in force", pledgepy.status().unveil.in_force, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "refused FileNotFoundError" in r.stdout and "refused NotADirectoryError" in r.stdout
    assert "hidden" in r.stdout and "in force True" in r.stdout, r.explain()
    assert "pledge:" not in r.stderr


@landlock
def test_unveil_without_stat_says_what_symlinks_hide(tmp_path: Path) -> None:
    """Under "stdio unveil" paths are looked up through O_PATH descriptors; a symlink's
    target cannot be read (readlink needs rpath or wpath), so nesting through it is
    said to be unjudged, never guessed."""
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    r = run(f"""
        import pledgepy
        d = {str(tmp_path)!r}
        pledgepy.pledge("stdio unveil")
        pledgepy.unveil_many([(d + "/link/new", "w"), (d + "/d", "rwc")])
        pledgepy.unveil()
        print("gaps", pledgepy.status().unveil.not_enforced, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "cannot be read without rpath or wpath" in r.stdout, r.explain()


def test_stat_of_a_directory_is_no_import(tmp_path: Path) -> None:
    """A stat of a directory under a sys.path entry gets the import hint only while a
    module is being found."""
    r = run(f"""
        import os, sys, pledgepy
        sys.path.insert(0, {str(tmp_path)!r})
        pledgepy.pledge("stdio")
        os.stat({str(tmp_path)!r})
    """)
    assert r.returncode == -6, r.explain()
    assert 'newfstatat("' + str(tmp_path) + '") needs "rpath"' in r.stderr, r.explain()
    assert IMPORT_HINT not in r.stderr, r.explain()
    (tmp_path / "pkg_r16").mkdir()
    r = run(f"""
        import sys, pledgepy
        sys.path.insert(0, {str(tmp_path)!r})
        pledgepy.pledge("stdio")
        import pkg_r16
    """)
    assert r.returncode == -6, r.explain()
    assert IMPORT_HINT in r.stderr and "pkg_r16" in r.stderr, r.explain()


SPAWNERS = {
    "subprocess": 'r = subprocess.run(["/bin/echo", "child ran"]); print("rc", r.returncode)',
    "system": 'print("rc", os.system("echo child ran"))',
    "posix_spawn": 'pid = os.posix_spawn("/bin/echo", ["echo", "child ran"], os.environ)\n'
                   'print("rc", os.waitpid(pid, 0)[1])',
    "posix_spawnp": 'pid = os.posix_spawnp("echo", ["echo", "child ran"], os.environ)\n'
                    'print("rc", os.waitpid(pid, 0)[1])',
}


@pytest.mark.parametrize("how", sorted(SPAWNERS))
def test_child_without_exec_is_explained(how: str) -> None:
    r = run('import os, subprocess, pledgepy\npledgepy.pledge("stdio proc rpath")\n'
            + SPAWNERS[how])
    assert r.returncode == 0, r.explain()
    assert 'needs "exec"' in r.stderr and "execve(" in r.stderr, r.explain()
    assert "child ran" not in r.stdout
    # subprocess: killed by SIGABRT (-6); os.system and waitpid: the wait status (6)
    assert ("rc -6" if how == "subprocess" else "rc 6") in r.stdout, r.explain()


def test_subprocess_imported_after_the_pledge_forks() -> None:
    r = run("""
        import os, pledgepy
        pledgepy.pledge("stdio proc rpath prot_exec")
        import subprocess
        r = subprocess.run(["/bin/echo", "child ran"])
        print("rc", r.returncode, flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert 'execve("/bin/echo") needs "exec"' in r.stderr and "rc -6" in r.stdout, r.explain()


def test_child_without_exec_under_error_fails_as_an_exec() -> None:
    r = run("""
        import os, subprocess, pledgepy
        pledgepy.pledge("stdio proc rpath error")
        try:
            subprocess.run(["/bin/echo", "child ran"])
        except OSError as e:
            print("subprocess", e.errno, flush=True)
        try:
            os.posix_spawn("/bin/echo", ["echo"], os.environ)
        except OSError as e:
            print("posix_spawn", e.errno, flush=True)
        print("system", os.system("echo child ran"), flush=True)
    """)
    assert r.returncode == 0, r.explain()
    assert "subprocess 38" in r.stdout and "posix_spawn 38" in r.stdout, r.explain()
    assert "system 32512" in r.stdout, r.explain()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-q"]))


def test_a_spawn_does_not_wait_for_another_threads_fork() -> None:
    """The spawn's error pipe is inherited by a fork another thread makes meanwhile: its
    EOF waited for that child's exit (5 s in the review's run). The spawn now waits for
    its own child's end (it cannot exec: no "exec"), not for the pipe to close."""
    r = run("""
        import os, threading, time
        import pledgepy
        pledgepy.pledge("stdio proc")  # each spawned child is killed at its execve
        stop, held = threading.Event(), []
        def forker():
            while not stop.is_set():
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                held.append(pid)
                time.sleep(0.0005)
        threading.Thread(target=forker, daemon=True).start()
        time.sleep(0.05)
        worst = 0.0
        for _ in range(200):
            t0 = time.monotonic()
            try:
                os.posix_spawn("/bin/true", ["true"], {})
            except OSError:
                pass
            worst = max(worst, time.monotonic() - t0)
            if worst > 10:
                break
        stop.set()
        for pid in held:
            os.kill(pid, 9)
        print("slow" if worst > 10 else "ok")
    """)
    assert r.stdout.strip().endswith("ok"), r.explain()


@pytest.mark.skipif(not hasattr(os, "POSIX_SPAWN_CLOSEFROM"), reason="Python 3.13+")
def test_a_spawn_with_closefrom_is_explained() -> None:
    """3.13's subprocess passed POSIX_SPAWN_CLOSEFROM, which the fork + exec spawn did not
    know ("[Errno 0] Success" raised in the parent): it closes from there, the pipe aside."""
    r = run("""
        import os
        import pledgepy
        pledgepy.pledge("stdio proc")
        pid = os.posix_spawn("/bin/true", ["true"], {},
                             file_actions=[(os.POSIX_SPAWN_CLOSEFROM, 3)])
        _, status = os.waitpid(pid, 0)
        print("signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)
    """)
    assert r.returncode == 0 and r.stdout.strip() == "signal 6", r.explain()
    assert 'execve("/bin/true") needs "exec"' in r.stderr, r.explain()
