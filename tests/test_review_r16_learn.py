"""Round 16, issue 13 item 4 (sufficient): a file the run read and then removed.

On main, ``pledge --learn sh -c 'cat f && rm f'`` suggested ``-v c:DIR``: at report time
f is gone, and a missing path with no w or c was taken for "a missing file that was only
looked for" and left out, so the suggested command's cat was refused (EACCES, exit 1
against 0; ``xz -d FILE.xz`` the same). The recorder now marks a removed path that
existed before its unlink, rmdir or rename (the C loop lstats it before the call goes
on), and the report unveils what it was used with: folded into its directory as any
path the run creates or removes beside, or, in a directory nothing folds into (a
home, ``/srv``), its own rule.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.learning import PLEDGE, command, learn, run, violated


def _again(report: dict[str, object], cwd: Path, make: Path) -> None:
    make.write_text("x\n")  # the run's input, as it was before the learned run
    applied = run(command(report), str(cwd))  # type: ignore[arg-type]
    assert applied.returncode == 0 and applied.stdout == "x\n" and not violated(applied), \
        (applied.returncode, applied.stderr)
    assert not make.exists()


def test_an_input_read_and_removed_is_unveiled(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "f").write_text("x\n")
    r, report = learn(["sh", "-c", "cat f && rm f"], str(work))
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr
    assert [str(work), "rc"] in report["unveil"], report["unveil"]
    _again(report, work, work / "f")


def test_an_input_removed_from_a_home_keeps_its_own_rule() -> None:
    # not beneath /tmp, where tmppath's answers would need no rule at all
    home = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        f = home / "in.txt"
        f.write_text("x\n")
        r, report = learn(["sh", "-c", f"cat {f} && rm {f}"], str(home),
                          env={"HOME": str(home)})
        assert r.returncode == 0 and r.stdout == "x\n", r.stderr
        rules = {p: v for p, v in report["unveil"]}
        assert rules.get(str(f)) == "r" and "r" not in rules.get(str(home), ""), rules
        _again(report, home, f)
    finally:
        shutil.rmtree(home)


def test_a_file_only_looked_for_still_gets_no_rule(tmp_path: Path) -> None:
    r, report = learn(["sh", "-c", "cat nothere; rm -f nothere; echo done"], str(tmp_path))
    assert r.stdout == "done\n", r.stderr
    assert not [p for p, _ in report["unveil"] if "nothere" in p], report["unveil"]
    applied = run(command(report), str(tmp_path))
    assert applied.stdout == "done\n" and not violated(applied), applied.stderr


# Bad input is refused before the run and changes nothing (round 16's learn review).

def test_an_empty_save_name_is_a_usage_error(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    r = run([*PLEDGE, "--learn", "--save", "", "touch", str(mark)], str(tmp_path))
    assert r.returncode == 64 and "cannot save profile ''" in r.stderr, r.stderr
    assert not mark.exists()


def test_an_unwritable_output_is_refused_before_the_run(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    r = run([*PLEDGE, "--learn", "-o", str(tmp_path / "no" / "such" / "r.json"),
             "touch", str(mark)], str(tmp_path))
    assert r.returncode == 64 and "No such file or directory" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not mark.exists()


def test_the_report_goes_to_the_file_named_before_the_run(tmp_path: Path) -> None:
    """PROG replaces -o's name with a link to a file it may not write: the report goes
    to the file opened before the run, never through the link."""
    out, victim = tmp_path / "r.json", tmp_path / "victim"
    victim.write_text("untouched\n")
    r = run([*PLEDGE, "--learn", "--json", "-o", str(out), "sh", "-c",
             f"rm {out} && ln -s {victim} {out}"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "untouched\n"


def test_python_learn_runs_a_script_as_python_does(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("42\n")
    (tmp_path / "app.py").write_text(
        "import os\nos.chdir('/')\nhere = os.path.dirname(os.path.abspath(__file__))\n"
        "print(open(os.path.join(here, 'data.txt')).read().strip(), __file__ == "
        "os.path.join(here, 'app.py'), type(__loader__).__name__)\n")
    plain = run([sys.executable, "app.py"], str(tmp_path))
    learned = run([*PLEDGE, "learn", "-o", str(tmp_path / "r.txt"), "app.py"], str(tmp_path))
    assert plain.stdout == "42 True SourceFileLoader\n", plain.stderr
    assert learned.returncode == 0 and learned.stdout == plain.stdout, learned.stderr


def test_python_learn_of_a_missing_script_says_so_as_python_does(tmp_path: Path) -> None:
    plain = run([sys.executable, "nosuch.py"], str(tmp_path))
    learned = run([*PLEDGE, "learn", "-o", str(tmp_path / "r.txt"), "nosuch.py"],
                  str(tmp_path))
    assert learned.returncode == plain.returncode == 2, learned.stderr
    assert learned.stderr == plain.stderr and not (tmp_path / "r.txt").read_text()


# stdio's own files (round 16's learn review): the command answers a read or a plain
# stat() of them under stdio alone, a missing one with ENOENT; learn counted the stat of
# /etc/localtime (date, touch -d) and a missing zoneinfo file (TZ=UTC0) as rpath's.

@pytest.mark.parametrize("argv", [["date", "-u", "+%Y"], ["date", "-d", "2020-01-01"]])
def test_stdio_files_learn_no_rpath(tmp_path: Path, argv: list[str]) -> None:
    r, report = learn(argv, str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert report["promises"] == ["stdio"], report["evidence"]
    applied = run(command(report), str(tmp_path))
    assert applied.returncode == 0 and applied.stdout == r.stdout and not violated(applied), \
        applied.stderr


def test_a_directory_of_stdio_files_is_still_rpaths(tmp_path: Path) -> None:
    """A stat() of the zoneinfo directory itself is no file the command answers."""
    script = "test -f /usr/share/zoneinfo/UTC && test -d /usr/share/zoneinfo && echo ok"
    r, report = learn(["sh", "-c", script], str(tmp_path))  # dash's test: a plain stat()
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
    assert "rpath" in report["promises"], report["promises"]
    stats = [e for e in report["evidence"] if e["syscall"] == "newfstatat"]
    assert any(e["promise"] == "stdio" and "zoneinfo/UTC" in e["argument"] for e in stats), stats
    dropped = run(command(report, [p for p in report["promises"] if p != "rpath"]),
                  str(tmp_path))
    assert violated(dropped) and dropped.stdout == "", dropped.stderr


@pytest.mark.parametrize("kind", ["not executable", "a directory"])
def test_learning_what_cannot_run_is_refused_as_the_command_refuses_it(
        tmp_path: Path, kind: str) -> None:
    prog = tmp_path / "prog"
    if kind == "a directory":
        prog.mkdir()
    else:
        prog.write_text("#!/bin/sh\necho ran\n")
        prog.chmod(0o644)
    learned = run([*PLEDGE, "--learn", "-o", str(tmp_path / "r.txt"), str(prog)], str(tmp_path))
    enforced = run([*PLEDGE, str(prog)], str(tmp_path))
    assert learned.returncode == enforced.returncode == 126, learned.stderr
    assert learned.stderr == enforced.stderr and "Permission denied" in learned.stderr
    assert not (tmp_path / "r.txt").exists()


@pytest.mark.parametrize("keep_caps", [False, True])
def test_a_chown_the_kernel_refuses_anyway_is_fattrs(tmp_path: Path, keep_caps: bool) -> None:
    """A chown to another owner by a program without CAP_CHOWN fails EPERM in the kernel,
    and fattr's quiet refusal answers it EPERM too: the same run (sed -i as nobody on a
    root file). Learned as "chown" on main; with -D (capabilities kept) it is chown's."""
    (tmp_path / "data.txt").write_text("a\n")
    code = ("import os\nfd = os.open('data.txt', os.O_RDONLY)\ntry:\n"
            "    os.fchown(fd, 1234, 1234)\n    print('changed')\n"
            "except PermissionError:\n    print('EPERM')\n")
    extra = ("-D",) if keep_caps else ()
    r, report = learn(["/usr/bin/python3", "-S", "-c", code], str(tmp_path), *extra)
    assert r.stdout == ("changed\n" if keep_caps else "EPERM\n"), r.stderr
    assert ("chown" in report["promises"]) is keep_caps, report["promises"]
    assert ("fattr" in report["promises"]) is not keep_caps, report["promises"]
    applied = run([*PLEDGE, "-q", *report["command_words"][1:]], str(tmp_path))
    assert applied.stdout == r.stdout and not violated(applied), applied.stderr


def test_a_no_op_chgrp_to_a_group_not_held_is_still_chowns(tmp_path: Path) -> None:
    """The kernel lets a file's owner "change" it to its own group without being in it
    (chgrp_ok: a no-op), which fattr refuses with EPERM, as OpenBSD's pledge_chown: so
    only a chown to another *owner* counts as fattr's (the kernel refuses that whatever
    the file); a group the caller lacks stays chown's (found by this round's review)."""
    f = tmp_path / "f"
    f.write_text("x\n")
    os.chown(f, 0, 1234)  # (root's groups hold no 1234)
    r, report = learn(["/bin/chgrp", "1234", str(f)], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "chown" in report["promises"], report["promises"]
    applied = run(command(report), str(tmp_path))
    assert applied.returncode == 0 and not violated(applied), applied.stderr
