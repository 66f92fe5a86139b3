"""Round 12 (lead): the one reader of a process's ids in /proc/PID/status, which the
command's supervisor uses twice (the loader's rules: real ids; served opens: the ids the
kernel checks an open with)."""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

from pledgepy.backends.linux.exec.answer import FS_IDS, REAL_IDS, status_ids


@pytest.mark.skipif(os.geteuid() != 0, reason="setfsuid to another user needs root")
def test_real_and_filesystem_ids_are_told_apart() -> None:
    """A child whose filesystem ids differ from its real ones (setfsuid/setfsgid): each
    column is read from its own place. Reading one column for both (as a merge that took
    either copy's index would) fails one of the two asserts."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setfsgid(4321)
        libc.setfsuid(1234)
        os.write(write, b"x")
        signal.pause()
        os._exit(0)
    try:
        os.close(write)
        assert os.read(read, 1) == b"x"
        real_uid, real_gids = status_ids(pid, REAL_IDS)
        fs_uid, fs_gids = status_ids(pid, FS_IDS)
        assert (real_uid, fs_uid) == (os.getuid(), 1234)
        assert os.getgid() in real_gids and 4321 not in real_gids
        assert 4321 in fs_gids and os.getgid() not in fs_gids - set(os.getgroups())
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_a_process_gone_is_an_oserror() -> None:
    """The callers refuse the call when the process has gone: they need the OSError."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(OSError):
        status_ids(pid, REAL_IDS)


OPENPTY = """
m, s = os.openpty()
os.write(m, b"hi\\n")
print("READ", os.read(s, 10))
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_openpty_runs_under_tty_rpath_wpath(unprivileged: bool) -> None:
    """OpenBSD's openpty(3) is PTMGET on /dev/ptm, allowed with tty, rpath and wpath;
    glibc's opens /dev/ptmx and asks TIOCGPTPEER for the peer. On main that ioctl was
    allowed by no promise: the program died (134) at openpty()."""
    from tests.pledged import under

    result = under("stdio rpath wpath tty", OPENPTY, unprivileged=unprivileged)
    assert result.returncode == 0, result.explain()
    assert "READ b'hi\\n'" in result.stdout


def test_openpty_without_tty_is_a_violation_naming_tty() -> None:
    """Without tty the pty ioctls stay violations, and the message says tty."""
    from tests.pledged import killed, under

    result = under("stdio rpath wpath", OPENPTY)
    assert killed(result), result.explain()
    assert 'needs "tty"' in result.stderr


def test_the_command_gives_a_pty_to_a_program_that_unveils_one() -> None:
    """Under the command a pty needs its device unveiled (-v rw:/dev/ptmx -v rw:/dev/pts:
    the kernel opens the peer by its path, which Landlock checks); then it runs. On main
    the TIOCGPTPEER ioctl killed it (134)."""
    from tests.test_command_unveil import SYSTEM_PYTHON, pledge

    code = "import os; m, s = os.openpty(); os.write(m, b'x\\n'); print('READ', os.read(s, 5))"
    done = pledge("-q", "-v", "rw:/dev/ptmx", "-v", "rw:/dev/pts", "-p", "stdio rpath wpath tty",
                  SYSTEM_PYTHON, "-c", code)
    assert done.returncode == 0, done.stderr
    assert "READ b'x\\n'" in done.stdout


CHOWN = """
import tempfile
fd, name = tempfile.mkstemp(dir=os.environ.get("PLACE", "/tmp"))
os.close(fd)
{pledge}
attempt(os.chown, name, -1, 54321)          # a group the process is not in
attempt(os.chown, name, 54321, -1)          # another user
attempt(os.chown, name, os.getuid(), os.getgid())  # its own: runs
os.unlink(name)
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_a_foreign_chown_under_fattr_fails_with_eperm(unprivileged: bool) -> None:
    """OpenBSD's pledge_chown(): under fattr without chown, a chown to another uid or a
    group the process is not in fails with EPERM; its own ids run. On main the foreign
    ones killed the process (134: "needs chown"), root or not."""
    from tests.childproc import run
    from tests.pledged import PRELUDE

    code = PRELUDE + CHOWN.format(pledge='pledgepy.pledge("stdio rpath wpath cpath fattr")')
    result = run(code, unprivileged=unprivileged)
    assert result.returncode == 0, result.explain()
    assert result.stdout.split() == ["ERR", "EPERM", "ERR", "EPERM", "OK"], result.explain()


def test_chown_lets_root_give_a_file_away() -> None:
    """With chown held as well, the refusal is not reached: root's chown runs."""
    if os.geteuid() != 0:
        pytest.skip("giving a file away needs root")
    from tests.childproc import run
    from tests.pledged import PRELUDE

    code = PRELUDE + CHOWN.format(pledge='pledgepy.pledge("stdio rpath wpath cpath fattr chown")')
    result = run(code)
    assert result.returncode == 0, result.explain()
    assert result.stdout.split() == ["OK", "OK", "OK"], result.explain()


WARNED_AT = """
import warnings
import pledgepy

def narrow():
    pledgepy.pledge("stdio rpath recvfd")  # recvfd always warns (directory descriptors)

with warnings.catch_warnings(record=True) as got:
    warnings.simplefilter("always")
    narrow()
print("AT", [(w.filename.rsplit("/", 1)[-1], w.lineno) for w in got])
"""


def test_a_pledge_warning_is_told_at_the_programs_own_line() -> None:
    """A best-effort warning names the program's pledge() line. After round 12's
    stdlibonly.after_workers wrapper it named the wrapper's line in pledgepy/stdlibonly.py
    (a fixed stacklevel counted one frame short)."""
    from tests.childproc import run

    result = run(WARNED_AT)
    assert result.returncode == 0, result.explain()
    line = next(l for l in result.stdout.splitlines() if l.startswith("AT "))
    at = eval(line[3:])  # a list of (file, line) tuples the child printed
    assert at and all(line_no == 6 and not name.startswith(("stdlibonly", "api")) for
                      name, line_no in at), line
