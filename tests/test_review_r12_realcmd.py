"""Round-12 sweep of the pledge command with real programs under the promises OpenBSD's
own ports pledge: what OpenBSD lets through that the command refused (each test failed
on main before its fix), against the running kernel, through the installed console
script, as root and as nobody."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_command_unveil import ENV, SYSTEM_PYTHON, pledge

AS = pytest.mark.parametrize("flags", [(), ("-u", "nobody")], ids=["root", "nobody"])
#: mkstemp's own directory: /tmp itself, not the suite's TMPDIR beneath it
PLAIN_ENV = {k: v for k, v in ENV.items() if k != "TMPDIR"}


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory every user may write, outside /tmp."""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-outside-", dir="/var/tmp"))
    try:
        where.chmod(0o777)
        yield where
    finally:
        shutil.rmtree(where)


def _new_tmp_files(before: set[str]) -> set[str]:
    return set(os.listdir("/tmp")) - before


@AS
def test_mktemp_runs_under_stdio_tmppath(flags: tuple[str, ...]) -> None:
    """OpenBSD's tmppath lets mkstemp(3) create its file under /tmp without wpath or
    cpath. On main the promise granted nothing under the command:
    ``openat("/tmp/tmp.X", O_RDWR|O_CREAT) needs "rpath wpath cpath"`` (134). The file is
    PROG's user's (the call is PROG's own, not the supervisor's)."""
    r = pledge("-q", "-p", "stdio tmppath", *flags, "mktemp", env=PLAIN_ENV)
    assert r.returncode == 0, r.stderr
    made = Path(r.stdout.strip())
    try:
        assert made.parent == Path("/tmp") and made.is_file()
        assert made.stat().st_uid == (65534 if flags else 0)
    finally:
        made.unlink()


@AS
def test_sort_spills_to_tmp_under_tmppath(place: Path, flags: tuple[str, ...]) -> None:
    """sort(1) with more input than its buffer writes runs to /tmp and removes them; on
    main ``-p "stdio rpath tmppath"`` died at the first one (134)."""
    data = place / "in.txt"
    lines = [f"{(i * 7919) % 20011:05d}\n" for i in range(20011)]
    data.write_text("".join(lines))
    data.chmod(0o644)
    before = set(os.listdir("/tmp"))
    r = pledge("-q", "-p", "stdio rpath tmppath", "-v", str(data), *flags,
               "sort", "-S", "64K", "-T", "/tmp", str(data))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join(sorted(lines))
    assert not {n for n in _new_tmp_files(before) if n.startswith("sort")}


@AS
def test_python_tempfile_under_tmppath(flags: tuple[str, ...]) -> None:
    """tempfile.TemporaryFile (O_TMPFILE first: answered EOPNOTSUPP, then a named file
    it unlinks) and NamedTemporaryFile (removed on close) under ``stdio rpath
    tmppath``: on main the first create was a violation."""
    code = ("import tempfile\n"
            "with tempfile.TemporaryFile() as f:\n"
            "    f.write(b'abc'); f.seek(0); assert f.read() == b'abc'\n"
            "with tempfile.NamedTemporaryFile(dir='/tmp') as g:\n"
            "    g.write(b'x'); g.flush(); print(g.name)\n")
    r = pledge("-q", "-p", "stdio rpath tmppath", *flags, SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(r.stdout.strip())


def test_tmppath_gives_nothing_beyond_creating_and_removing_in_tmp(outside: Path) -> None:
    """As on OpenBSD: no mkdir (mkdtemp needs cpath), no path that climbs out, and a
    link out of /tmp leads nowhere Landlock lets it write (the call runs, Landlock
    refuses it: EACCES). On main nothing under /tmp ran (the create was a violation)."""
    r = pledge("-q", "-p", "stdio rpath tmppath", "mktemp", "-d", env=PLAIN_ENV)
    assert r.returncode == 134, r.stderr
    assert 'mkdir("/tmp/tmp.' in r.stderr and 'needs "cpath"' in r.stderr, r.stderr
    link = Path(tempfile.mkdtemp()) / "out"
    try:
        link.parent.chmod(0o755)
        link.symlink_to(outside)
        code = (f"import os\ntry:\n    os.open({str(link / 'x')!r}, os.O_CREAT | os.O_WRONLY)\n"
                "except PermissionError:\n    print('refused')\n")
        r = pledge("-q", "-p", "stdio rpath tmppath", SYSTEM_PYTHON, "-c", code)
        assert r.returncode == 0 and r.stdout == "refused\n", r.stderr
        assert not (outside / "x").exists()
    finally:
        shutil.rmtree(link.parent)
    code = f"open('/tmp/../{outside.relative_to('/')}/y', 'w')"
    r = pledge("-q", "-p", "stdio rpath tmppath", SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 134, r.stderr
    assert not (outside / "y").exists()


def test_tmppath_with_another_writable_path_says_why(outside: Path) -> None:
    """Where another path is writable (a ``-v`` with w or c outside /tmp, or ``-V``) a
    racing thread could redirect the create after the supervisor read its path: the
    creates stay violations, and a note says why and what to ask instead."""
    r = pledge("-p", "stdio tmppath", "-v", f"rwc:{outside}", "mktemp")
    assert r.returncode == 134, r.stderr
    assert f"tmppath: -v rwc:{outside} lets a racing thread" in r.stderr, r.stderr
    assert 'needs "wpath cpath" instead' in r.stderr
    r = pledge("-p", "stdio tmppath", "-V", "mktemp")
    assert r.returncode == 134, r.stderr
    assert "tmppath: with -V nothing confines" in r.stderr, r.stderr
    for promises, perms in (("stdio rpath tmppath", "r"), ("stdio rpath wpath tmppath", "rw")):
        # nothing a redirected call could do there that the promises do not allow
        r = pledge("-q", "-p", promises, "-v", f"{perms}:{outside}", "mktemp", env=PLAIN_ENV)
        assert r.returncode == 0, r.stderr
        os.unlink(r.stdout.strip())
    r = pledge("-p", "stdio rpath tmppath", "-v", f"rw:{outside}", "mktemp", env=PLAIN_ENV)
    assert r.returncode == 134 and f"-v rw:{outside} lets" in r.stderr, r.stderr


@AS
def test_timeout_runs(flags: tuple[str, ...]) -> None:
    """GNU timeout(1) arms a POSIX timer (timer_create: setitimer's kin, stdio on
    OpenBSD as setitimer is): on main ``timer_create is not allowed by any promise``
    (134) whatever the promises."""
    r = pledge("-q", "-p", "stdio rpath proc exec", *flags, "timeout", "5", "true")
    assert r.returncode == 0, r.stderr
    r = pledge("-q", "-p", "stdio rpath proc exec", *flags, "timeout", "0.3", "sleep", "10")
    assert r.returncode == 124, r.stderr


@AS
def test_cp_runs_where_it_tries_a_reflink(place: Path, flags: tuple[str, ...]) -> None:
    """GNU cp (9.0 on) tries ioctl(FICLONE) before copying bytes; OpenBSD has no such
    call and its cp runs under ``stdio rpath wpath cpath``: on main
    ``ioctl(0x40049409) is not allowed by any promise`` (134). Answered EOPNOTSUPP, as
    a filesystem without shared extents: cp copies."""
    place.chmod(0o777)
    src = place / "a.txt"
    src.write_text("hello\n")
    src.chmod(0o644)
    r = pledge("-q", "-p", "stdio rpath wpath cpath", "-v", f"rwc:{place}", *flags,
               "cp", str(src), str(place / "b.txt"))
    assert r.returncode == 0, r.stderr
    assert (place / "b.txt").read_text() == "hello\n"


def test_a_foreign_chown_under_fattr_fails_as_on_openbsd(place: Path) -> None:
    """OpenBSD's fattr lets chown to the caller's own uid and groups through and answers
    any other EPERM (pledge_chown), no violation: GNU sed -i and xz copy the file's group
    and go on. On main a chown to a group nobody is not in killed the program (fchown
    needs "chown", 134)."""
    place.chmod(0o777)
    target = place / "f.txt"
    target.write_text("old\n")
    os.chown(target, 65534, 0)  # nobody's file, root's group
    r = pledge("-q", "-p", "stdio rpath wpath cpath fattr", "-v", f"rwc:{place}",
               "-u", "nobody", "sed", "-i", "s/old/new/", str(target))
    assert r.returncode == 0, r.stderr
    assert target.read_text() == "new\n"
    code = (f"import os\nfd = os.open({str(target)!r}, os.O_RDONLY)\n"
            "try:\n    os.fchown(fd, -1, 0)\nexcept PermissionError as e:\n    print(e.errno)\n")
    r = pledge("-q", "-p", "stdio rpath fattr", "-v", str(place), "-u", "nobody",
               SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    r = pledge("-q", "-p", "stdio rpath", "-v", str(place), "-u", "nobody",
               SYSTEM_PYTHON, "-c", code)  # without fattr: the violation it was
    assert r.returncode == 134 and 'needs "fattr"' in r.stderr, r.stderr


def test_root_without_capabilities_is_named_when_it_may_be_why(place: Path) -> None:
    """Root's rights are its capabilities, which the command drops (``-D`` keeps them):
    on main ``pledge -p "stdio rpath chown getpw" chown root FILE`` (another user's
    file) printed only chown's "Operation not permitted", with nothing to say that the
    command made root powerless. A note now names it (and -D) when the program failed
    holding chown or fattr or given another user's path; not for any failure."""
    target = place / "f.txt"
    target.write_text("x\n")
    os.chown(target, 65534, 65534)
    r = pledge("-p", "stdio rpath chown getpw", "-v", f"rw:{target}", "chown", "root",
               str(target))
    assert r.returncode == 1, r.stderr
    assert "it ran as root without capabilities (dropped by default; -D keeps them)" \
        in r.stderr, r.stderr
    assert target.stat().st_uid == 65534
    r = pledge("-p", "stdio rpath chown getpw", "-D", "-v", f"rw:{target}", "chown", "root",
               str(target))
    assert r.returncode == 0 and target.stat().st_uid == 0, r.stderr
    r = pledge("-p", "stdio rpath", "false")  # a plain failure: no such note
    assert r.returncode == 1 and "capabilities" not in r.stderr, r.stderr


@AS
def test_a_shell_without_path_runs_programs_under_exec(flags: tuple[str, ...]) -> None:
    """Under ``env -i`` PATH is unset and a shell searches its built-in path; the default
    unveil added only PATH's directories for ``exec``, so on main ``env -i pledge -p
    "stdio rpath proc exec" sh -c uname`` printed ``sh: 1: uname: Permission denied``."""
    import subprocess

    from tests.test_command_unveil import SCRIPT

    assert SCRIPT is not None
    r = subprocess.run(["env", "-i", SCRIPT, "-q", "-p", "stdio rpath proc exec", *flags,
                        "/bin/sh", "-c", "uname"], capture_output=True, text=True,
                       timeout=60, check=False, cwd="/")
    assert r.returncode == 0 and r.stdout == "Linux\n", r.stderr


def test_a_failure_on_a_hidden_argument_names_it(place: Path) -> None:
    """The commonest failure: a path PROG was given but not unveiled. On main
    ``pledge -p "stdio rpath" cat FILE`` printed only cat's "Permission denied" (exit 1),
    nothing naming unveil or -v. Now a note names the argument; none when it ran, when it
    was unveiled, or for an argument that names no path."""
    target = place / "f.txt"
    target.write_text("x\n")
    target.chmod(0o644)
    r = pledge("-p", "stdio rpath", "cat", str(target))
    assert r.returncode == 1, r.stderr
    assert f"arguments it was not given by unveil (it gets EACCES, \"Permission denied\", " \
        f"there): {str(target)!r}; give them with -v PATH" in r.stderr, r.stderr
    r = pledge("-p", "stdio rpath", "-v", str(target), "grep", "zzz", str(target))
    assert r.returncode == 1 and "not given by unveil" not in r.stderr, r.stderr
    r = pledge("-p", "stdio rpath", "grep", "no-such-path-anywhere", "/etc/localtime")
    assert r.returncode == 1 and "not given by unveil" not in r.stderr, r.stderr


@AS
def test_tail_follows_a_file(place: Path, flags: tuple[str, ...]) -> None:
    """GNU tail -f asks inotify first (a watch takes a path Landlock does not check;
    OpenBSD's tail uses kqueue, stdio): on main ``inotify_init is not allowed by any
    promise`` (134). Answered ENOSYS, as a kernel without inotify: tail polls."""
    target = place / "log.txt"
    target.write_text("first\n")
    target.chmod(0o644)
    r = pledge("-q", "-p", "stdio rpath proc exec", "-v", str(target), *flags,
               "timeout", "1", "tail", "-f", str(target))
    assert r.returncode == 124, r.stderr
    assert r.stdout == "first\n"


@AS
def test_timeout_passes_on_its_childs_signal(flags: tuple[str, ...]) -> None:
    """When its child dies of a signal, GNU timeout makes itself non-dumpable
    (prctl(PR_SET_DUMPABLE, 0): less, never more) and re-raises it: on main
    ``prctl(0x4) is not allowed by any promise`` (134) instead of 143."""
    r = pledge("-q", "-p", "stdio rpath proc exec", *flags, "timeout", "5", "/bin/sh", "-c",
               "kill -TERM $$")
    assert r.returncode == 143, r.stderr
    code = "import ctypes; print(ctypes.CDLL(None).prctl(4, 1, 0, 0, 0))"  # dumpable again
    r = pledge("-q", "-p", "stdio rpath prot_exec", *flags, SYSTEM_PYTHON, "-c", code)
    assert r.returncode == 134, r.stderr
