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


OWN_TERMINAL = """\
import fcntl, os, struct
m = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
fcntl.ioctl(m, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
n = struct.unpack("I", fcntl.ioctl(m, 0x80045430, bytes(4)))[0]  # TIOCGPTN
pid = os.fork()
if pid == 0:
    os.setsid()
    s = os.open(f"/dev/pts/{n}", os.O_RDWR)
    fcntl.ioctl(s, 0x540E, 0)  # TIOCSCTTY: a controlling terminal of its own
    os.write(os.open("/dev/tty", os.O_RDWR), b"via-tty\\n")
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(os.read(m, 100).decode().strip(), os.waitstatus_to_exitcode(status))
"""


def test_tty_of_its_own_still_learns_wpath(tmp_path: Path) -> None:
    """The command answers /dev/tty under tty only for a process without a controlling
    terminal or with the supervisor's (exec/ttyopen.py); a child that made a pty its own
    (setsid, TIOCSCTTY: script, expect) opens it through rpath wpath and its unveil
    rule. A guard of the fix above (passes on main): its open must not be counted as
    tty's."""
    script = tmp_path / "own.py"
    script.write_text(OWN_TERMINAL)
    r, report = learn([sys.executable, "-S", str(script)], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "via-tty 0\n", r.stderr
    opens = {e["promise"] for e in report["evidence"]
             if e["syscall"] == "openat" and e["argument"].startswith("/dev/tty ")}
    assert opens == {"rpath", "wpath"}, report["evidence"]
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


def _imported_after(stderr: str, marker: str) -> list[str]:
    """The modules ``-X importtime`` shows imported after *marker*, but built-in ones
    (those read no file)."""
    lines = stderr.splitlines()
    after = lines[lines.index(marker) + 1:]
    names = [line.rsplit("|", 1)[1].strip() for line in after if line.startswith("import time:")]
    return [n for n in names if n not in sys.builtin_module_names and "[us]" not in n]


def test_save_imports_nothing_after_the_program_ran(tmp_path: Path) -> None:
    """``--save NAME`` imported pledgepy.learn.profile, platformdirs, re, typing, enum,
    ... after the run on main: files the program, which ran unconfined as the same user,
    could have rewritten, run then by the supervisor, which writes the profile (as root,
    with the capabilities the program was run without). Now they are imported first."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    r = run([sys.executable, "-X", "importtime", "-m", "pledgepy", "--learn", "--save",
             "r12", "-o", str(tmp_path / "report.txt"), "sh", "-c", "echo MARK >&2"],
            str(tmp_path), env)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "config").rglob("r12.pledge")), r.stderr
    assert _imported_after(r.stderr, "MARK") == [], r.stderr
    script = tmp_path / "app.py"
    script.write_text("import sys\nprint('MARK', file=sys.stderr, flush=True)\n")
    r = run([sys.executable, "-X", "importtime", "-m", "pledgepy", "learn", "--save", "r12py",
             "-o", str(tmp_path / "report2.txt"), str(script)], str(tmp_path), env)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "config").rglob("r12py.pledge")), r.stderr
    assert _imported_after(r.stderr, "MARK") == [], r.stderr


def test_bad_profile_name_is_refused_before_the_run(tmp_path: Path) -> None:
    """On main ``--save ../x`` ran the program (its side effects done) and then failed
    with 70; a bad name is a usage error (64), before anything runs."""
    made = tmp_path / "made"
    r = run([*PLEDGE, "--learn", "--save", "../x", "-o", str(tmp_path / "r.txt"),
             "touch", str(made)], str(tmp_path), {"XDG_CONFIG_HOME": str(tmp_path)})
    assert r.returncode == 64 and "profile name" in r.stderr, (r.returncode, r.stderr)
    assert not made.exists()


def test_an_interpreter_learned_imports_nothing_after_it_ran(tmp_path: Path) -> None:
    """For a program whose #! chain holds an interpreter the command asks for its trees
    (python3 here), the report's plan asked it after the run on main: json, re, enum
    and the query's pledgepy.command.limits were imported then (see above). Now the
    answer is asked for before the run and kept."""
    script = tmp_path / "app.py"
    script.write_text("import sys\nprint('MARK', file=sys.stderr, flush=True)\n")
    report = tmp_path / "report.json"
    r = run([sys.executable, "-X", "importtime", "-m", "pledgepy", "--learn", "--json", "-o",
             str(report), sys.executable, "-S", str(script)], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert _imported_after(r.stderr, "MARK") == [], r.stderr
    learned = json.loads(report.read_text())
    applied = run(command(learned), str(tmp_path))
    assert applied.returncode == 0 and not violated(applied), applied.stderr


def _imported(argv: list[str], cwd: Path) -> list[str]:
    r = run([sys.executable, "-X", "importtime", *argv], str(cwd))
    assert r.returncode == 0, r.stderr
    return [line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:")]


def test_learn_imports_no_array_module(tmp_path: Path) -> None:
    """Start-up (item 2): the recorder read C's rows and made its config with
    array.array, whose import (a shared object, and collections.abc it registers with)
    was ~1.8 ms of every ``pledge --learn`` run on main; memoryview casts do the same.
    (Only the command's path: ``python -m pledgepy learn``'s child is a Python too, and
    -X importtime's lines do not say whose they are.)"""
    names = _imported(["-m", "pledgepy", "--learn", "--json", "-o", str(tmp_path / "r.json"),
                       "true"], tmp_path)
    assert "pledgepy.backends.linux.exec.record" in names, names
    assert "array" not in names and "collections.abc" not in names, names


def test_a_broken_interpreter_line_is_refused_as_the_command_does(tmp_path: Path) -> None:
    """``pledge --learn ./script`` whose #! names no interpreter ended in a traceback on
    main (discover.ProgramError out of shim_env); the command says why and exits 126."""
    script = tmp_path / "bad.py"
    script.write_text("#!/nonexistent/python3\nprint(1)\n")
    script.chmod(0o755)
    r = run([*PLEDGE, "--learn", "-o", str(tmp_path / "r.txt"), str(script)], str(tmp_path))
    assert r.returncode == 126, (r.returncode, r.stderr)
    assert r.stderr.startswith("pledge: ") and "bad interpreter" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
