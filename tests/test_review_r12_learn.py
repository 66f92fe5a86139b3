"""Round 12, issue 13 item 4 on more programs: a learned policy names no promise the run
does not need.

On main, ``pledge --learn bash -c 'echo hi'`` suggested "stdio rpath wpath tty": bash
opens /dev/tty O_RDWR|O_NONBLOCK at start, and the recorder counted that open as rpath
and wpath only, although under tty the command answers exactly that open itself
(exec/ttyopen.py, OpenBSD's /dev/tty allowance), so wpath was never needed (the README's
own example runs bash under "stdio rpath tty"). Every bash script learned wpath so, and
``python3 -m json.tool`` through pyenv's bash shim too. The test of bash fails on main;
the other guards the fix's edge: the command answers only the spelling "/dev/tty" (it
compares the bytes), so "tty" opened from /dev must still learn wpath.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.learning import command, learn, run, violated


def test_bash_learns_tty_not_wpath(tmp_path: Path) -> None:
    r, report = learn(["bash", "-c", "echo hi"], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    promises = report["promises"]
    assert "tty" in promises and "wpath" not in promises, promises
    tty = [e for e in report["evidence"] if e["promise"] == "tty"]
    assert any(e["argument"].startswith("/dev/tty O_RDWR") for e in tty), tty
    applied = run(command(report), str(tmp_path))
    assert applied.returncode == 0 and applied.stdout == "hi\n" and not violated(applied), \
        applied.stderr
    # minimal: without tty the same run breaks its promise (bash's TIOCGPGRP, the open)
    dropped = run(command(report, [p for p in promises if p != "tty"]), str(tmp_path))
    assert violated(dropped), (dropped.returncode, dropped.stderr)


def test_tty_spelled_otherwise_still_learns_wpath(tmp_path: Path) -> None:
    code = ("import os\nos.chdir('/dev')\ntry:\n    os.close(os.open('tty', os.O_RDWR))\n"
            "except OSError as e:\n    print(e.errno)\n")
    argv = [sys.executable, "-I", "-S", "-c", code]
    r, report = learn(argv, str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "wpath" in report["promises"], report["promises"]
    applied = run(command(report), str(tmp_path))
    assert applied.returncode == 0 and applied.stdout == r.stdout and not violated(applied), \
        applied.stderr
