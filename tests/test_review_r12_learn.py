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

import json
import sys
from pathlib import Path

from tests.learning import PLEDGE, command, learn, run, violated


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


TMP_SCRIPT = """\
import os
import pledgepy

pledgepy.pledge("{promises}")
with open(os.path.join("{dir}", "made.txt"), "w") as f:
    f.write("hi")
print(open(os.path.join("{dir}", "made.txt")).read())
"""


def test_checkpoint_keeps_the_held_half_of_a_missing_way(tmp_path: Path) -> None:
    """pledge("stdio rpath wpath") then open(NEW, "w"), which needs "wpath cpath": the
    advice is "needs cpath", and wpath is used. On main it said also "never used
    afterwards (drop them): wpath" (a call the pledge lacked a promise for counted none
    of its promises as used), and following both gives "stdio rpath cpath", under which
    the same open is a violation. The advice, applied, must run."""
    script = tmp_path / "app.py"
    script.write_text(TMP_SCRIPT.format(promises="stdio rpath wpath", dir=tmp_path))
    out = tmp_path / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(out), str(script)], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    (cp,) = json.loads(out.read_text())["checkpoints"]
    assert cp["unused"] == [], cp
    assert {m["promise"] for m in cp["missing"]} == {"cpath"}, cp["missing"]
    advised = (set(cp["asked"]) - set(cp["unused"])) | {m["promise"] for m in cp["missing"]}
    (tmp_path / "made.txt").unlink()
    script.write_text(TMP_SCRIPT.format(promises=" ".join(sorted(advised)), dir=tmp_path))
    applied = run([sys.executable, str(script)], str(tmp_path))
    assert applied.returncode == 0 and applied.stdout == "hi\n", applied.stderr
