"""Round 17 (c): learn mode on real programs.

A run that failed for root's dropped capabilities. ``pledge --learn chown 65534:65534
FILE`` as root runs chown as the command would, without capabilities: chown fails
(EPERM, exit 1) and the report learned ``stdio rpath fattr`` from that failed run with
no word of why, where the command's own run says "it ran as root without capabilities
(dropped by default; -D keeps them)". The report now says so too, and that it is of
that run (learn again with -D: ``stdio rpath chown``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.learning import PLEDGE, command, learn, run
from tests.shims import pyenv_shim

CHOWN = shutil.which("chown")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@ROOT_ONLY
@pytest.mark.skipif(CHOWN is None, reason="no chown")
def test_a_run_failed_without_capabilities_says_so(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x\n")
    r, report = learn([str(CHOWN), "65534:65534", str(f)], str(tmp_path))
    assert r.returncode != 0 and f.stat().st_uid == 0, r.stderr
    said = [n for n in report["notes"] if "without capabilities" in n]
    assert said and "-D" in said[0], report["notes"]
    r, report = learn([str(CHOWN), "65534:65534", str(f)], str(tmp_path), "-D")
    assert r.returncode == 0 and f.stat().st_uid == 65534, r.stderr
    assert "chown" in report["promises"], report["promises"]
    assert not [n for n in report["notes"] if "without capabilities" in n], report["notes"]


@ROOT_ONLY
def test_a_run_that_succeeded_has_no_such_note(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x\n")
    r, report = learn(["chmod", "600", str(f)], str(tmp_path))
    assert r.returncode == 0 and "fattr" in report["promises"], r.stderr
    assert not [n for n in report["notes"] if "without capabilities" in n], report["notes"]


# Temporary files made, read back and removed. ``pledge --learn sort -S 1M -T /tmp BIG``
# said "/tmp/sortXXXXXX was made and removed by the run, and read between: 'r' goes to
# /tmp" once for each of sort's two dozen temporary files, of a rule the report did not
# suggest (the command's default /tmp rule under tmppath covers it). One note a
# directory now, and none where the command's own rules grant the letters.

SORT = shutil.which("sort")
MADE = "made and removed by the run"


def _big(path: Path) -> None:
    import random

    rng = random.Random(17)
    path.write_text("".join(f"{rng.random()}\n" for _ in range(120_000)))


@pytest.mark.skipif(SORT is None, reason="no sort")
def test_sorts_temporary_files_under_tmp_say_nothing(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    _big(big)
    r, report = learn([str(SORT), "-S", "1M", "-T", "/tmp", str(big)], str(tmp_path))
    assert r.returncode == 0 and "tmppath" in report["promises"], r.stderr
    assert not [n for n in report["notes"] if MADE in n], report["notes"]


@pytest.mark.skipif(SORT is None, reason="no sort")
def test_sorts_temporary_files_in_a_home_are_one_note() -> None:
    # a home: nothing folds into it, so the files' letters go there with a note
    home = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        big = home / "big.txt"
        _big(big)
        r, report = learn([str(SORT), "-S", "1M", "-T", str(home), str(big)], str(home),
                          env={"HOME": str(home)})
        assert r.returncode == 0, r.stderr
        said = [n for n in report["notes"] if MADE in n]
        assert len(said) == 1 and str(home) in said[0], report["notes"]
        assert [str(home), "rwc"] in report["unveil"], report["unveil"]
    finally:
        shutil.rmtree(home)


# --profile NAME of a profile that does not exist said "[Errno 2] No such file or
# directory: '~/.config/pledgepy'" (the directory the walk stopped at, as Python
# prints an OSError); it now names the profile file that is missing.


@pytest.mark.parametrize("made", [False, True])
def test_a_missing_profile_is_named(tmp_path: Path, made: bool) -> None:
    config = tmp_path / "config"
    if made:  # the profiles directory exists, the profile does not
        (config / "pledgepy" / "profiles").mkdir(parents=True, mode=0o700)
        (config / "pledgepy").chmod(0o700)
    r = run([*PLEDGE, "--profile", "nothere", "true"], str(tmp_path),
            env={"XDG_CONFIG_HOME": str(config)})
    assert r.returncode == 64, r.stderr
    assert "no such profile" in r.stderr and "nothere.pledge" in r.stderr, r.stderr
    assert "Errno" not in r.stderr, r.stderr


# creat() of a new file under /tmp/ is tmppath's, as the command now answers it
# (exec/tmpcreate.py): learn said "wpath cpath" with -v rwc:/tmp, the whole of /tmp.

CREAT = "import ctypes, sys; print(ctypes.CDLL(None).creat(sys.argv[1].encode(), 0o600) >= 0)"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="creat() is x86_64's")
def test_creat_under_tmp_learns_tmppath(tmp_path: Path) -> None:
    fd, made = tempfile.mkstemp(dir="/tmp", prefix="pledgepy-r17-")
    os.close(fd)
    os.unlink(made)
    try:
        import sys

        r, report = learn([sys.executable, "-c", CREAT, made], str(tmp_path))
        assert r.returncode == 0 and r.stdout == "True\n", r.stderr
        assert "tmppath" in report["promises"] and "cpath" not in report["promises"], report
        assert not [u for u in report["unveil"] if u[0] == "/tmp"], report["unveil"]
        os.unlink(made)
        again = run(command(report), str(tmp_path))
        assert again.returncode == 0 and again.stdout == "True\n", again.stderr
    finally:
        if os.path.exists(made):
            os.unlink(made)


# A hard link into another directory. Landlock takes it for a reparenting: REFER (c) on
# the source's directory as well as the target's, else EXDEV. ``pledge --learn ln a/f
# b/g`` suggested -v r:a/f -v c:b, and the suggested command's ln failed "Invalid
# cross-device link" (exit 1 against 0). The source's directory now gets c.

LN = shutil.which("ln")


@pytest.mark.skipif(LN is None, reason="no ln")
def test_a_link_across_directories_is_sufficient(tmp_path: Path) -> None:
    work = Path(tempfile.mkdtemp(dir="/var/tmp"))  # not /tmp: tmppath answers nothing here
    try:
        (work / "a").mkdir()
        (work / "b").mkdir()
        (work / "a" / "f").write_text("x\n")
        argv = [str(LN), str(work / "a" / "f"), str(work / "b" / "g")]
        r, report = learn(argv, str(work))
        assert r.returncode == 0 and (work / "b" / "g").exists(), r.stderr
        (work / "b" / "g").unlink()
        again = run(command(report), str(work))
        assert again.returncode == 0 and (work / "b" / "g").exists(), (again.stderr, report)
    finally:
        shutil.rmtree(work)


# What the command answers without running it. Under the command inotify_init is
# answered ENOSYS (tail -f polls) and cp's FICLONE EOPNOTSUPP (it copies), but learn let
# them run and listed "no promise allows inotify_init, inotify_add_watch" for tail -f and
# "no promise allows ioctl 0x40049409" for cp: "no policy will run that program", of
# programs the suggested command runs. They are answered as the command answers them now.

TAIL, TIMEOUT, CP = shutil.which("tail"), shutil.which("timeout"), shutil.which("cp")


@pytest.mark.skipif(TAIL is None or TIMEOUT is None, reason="no tail or timeout")
def test_tail_f_learns_what_polling_needs(tmp_path: Path) -> None:
    f = tmp_path / "log"
    f.write_text("line\n")
    argv = [str(TIMEOUT), "1", str(TAIL), "-f", str(f)]
    r, report = learn(argv, str(tmp_path))
    assert r.returncode == 124 and r.stdout == "line\n", r.stderr
    assert not report["refused"], report["refused"]
    again = run(command(report), str(tmp_path))
    assert again.returncode == 124 and again.stdout == "line\n", again.stderr


@pytest.mark.skipif(CP is None, reason="no cp")
def test_cp_refuses_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x\n")
    r, report = learn([str(CP), str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "b").read_text() == "x\n", r.stderr
    assert not report["refused"], report["refused"]


# A pyenv shim. ``pledge python3 ...`` through pyenv's shim gets a note naming the
# interpreter to give instead; ``pledge --learn python3 ...`` said nothing, and learned
# pyenv's own run (exec, proc, tty and a dozen of its scripts unveiled) as the program's.


def test_learning_a_pyenv_shim_says_what_to_learn_instead(tmp_path: Path) -> None:
    root, pyenv, shim = pyenv_shim(tmp_path)
    r, report = learn([str(shim), "-c", "print(1)"], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "ran-pyenv\n", r.stderr
    said = [n for n in report["notes"] if "is a pyenv shim" in n]
    assert said and f"{root}/versions/VERSION/bin/python3" in said[0], report["notes"]
