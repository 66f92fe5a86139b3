"""Round 10: paths the learned run made itself (they did not exist before it).

A rule on a path that is missing when the policy is applied grants nothing, so a
path the run created (a file it reads back and removes, a directory it makes and
fills) gives its letters to the directory it is made in, as a created file's
``c`` already did, even where nothing else folds (``/tmp``, a home). What existed
before the run keeps its own rule there (``os.makedirs(..., exist_ok=True)`` of an
existing directory makes nothing).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.learning import command, learn, run, violated


def test_a_file_made_read_back_and_removed_keeps_its_read(outside_tmp: Path) -> None:
    """sh writes a file, cat reads it back, rm removes it. The read of a path missing
    at report time was dropped as "only looked for": main learned ``wc`` on the
    directory, and cat failed under it (Permission denied, no output)."""
    tmp_path = outside_tmp  # not beneath /tmp: there its creates are tmppath's
    work = tmp_path / "work"
    work.mkdir()
    argv = ["sh", "-c", f"echo hi > {work}/t; cat {work}/t; rm {work}/t"]
    r, report = learn(argv, str(tmp_path))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    assert [str(work), "rwc"] in report["unveil"], report["unveil"]
    again = run(command(report), str(tmp_path))
    assert again.returncode == 0 and again.stdout == "hi\n" and not violated(again), again.stderr


def test_a_directory_made_in_a_home_is_unveiled_where_it_is_made(outside_tmp: Path) -> None:
    """A program makes a directory in its home and fills it. main kept the made
    directory's own rule (``rwc HOME/new``, with ``c`` on the home): applied from the
    same starting state the directory is missing, the rule grants nothing, and the
    write failed (exit 1). Then the guard: a directory that existed before the run
    (``os.makedirs(..., exist_ok=True)`` finds it, EEXIST) was not made by it, and
    keeps its own rule rather than give its letters to the home."""
    tmp_path = outside_tmp  # not beneath /tmp: there its creates are tmppath's
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    env = {"HOME": str(home)}
    code = ("import os\n"
            "h = os.environ['HOME']\n"
            "os.mkdir(h + '/new')\n"
            "open(h + '/new/f', 'w').write('x')\n"
            "print(open(h + '/new/f').read())\n")
    r, report = learn([sys.executable, "-I", "-S", "-c", code], str(tmp_path), env=env)
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr
    rules = dict(report["unveil"])
    assert str(home / "new") not in rules and rules.get(str(home)) == "rwc", rules
    # wider than the run needs once the directory exists: the report says so, and why
    assert any(n.startswith(f"{home / 'new'} was made by the run in {home}")
               and f"-v rwc:{home / 'new'}" in n for n in report["notes"]), report["notes"]
    shutil.rmtree(home / "new")
    again = run(command(report), str(tmp_path), env)
    assert again.returncode == 0 and again.stdout == "x\n", again.stderr

    code = ("import os\n"
            "h = os.environ['HOME']\n"
            "os.makedirs(h + '/.config', exist_ok=True)\n"
            "open(h + '/.config/app.ini', 'w').write('[a]\\n')\n")
    r, report = learn([sys.executable, "-I", "-S", "-c", code], str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    # and the makedirs that found it needs no c on the home: mkdir fails with EEXIST
    # before Landlock looks (main gave the home c: any file beneath it made or removed)
    assert dict(report["unveil"]) == {str(home / ".config"): "wc"}, report["unveil"]
    assert {e["syscall"] for e in report["evidence"] if e["promise"] == "cpath"} >= {"mkdir"}


def test_o_tmpfile_gives_its_letters_to_the_directory_it_names(tmp_path: Path) -> None:
    """open(DIR, O_TMPFILE) makes an unnamed file in DIR itself. main put its letters
    on DIR's parent: a wider rule (``rwc`` on the parent of DIR), and for ``/tmp`` one
    on ``/``, which the report drops, so the learned policy lacked it."""
    where = tmp_path / "d"
    where.mkdir()
    code = ("import os\n"
            f"fd = os.open({str(where)!r}, os.O_TMPFILE | os.O_RDWR, 0o600)\n"
            "os.write(fd, b'x'); print(os.pread(fd, 1, 0).decode())\n")
    r, report = learn([sys.executable, "-I", "-S", "-c", code], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr
    rules = dict(report["unveil"])
    assert rules.get(str(where)) == "rwc" and str(tmp_path) not in rules, rules
    again = run(command(report), str(tmp_path))
    assert again.returncode == 0 and again.stdout == "x\n", again.stderr


def test_a_home_unveiled_whole_for_a_directory_read_is_noted(tmp_path: Path) -> None:
    """find opens its working directory to come back to it (and does without when
    refused). Run from a home, that open is the one rule reading a directory takes:
    ``r`` on the whole home, ~/.ssh included. main gave it without a word; the report
    now says what it covers and which -v to leave out."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    (data / "x.txt").write_text("x\n")
    r, report = learn(["find", str(data), "-name", "*.txt"], str(home), env={"HOME": str(home)})
    assert r.returncode == 0 and r.stdout == f"{data / 'x.txt'}\n", r.stderr
    assert [str(home), "r"] in report["unveil"], report["unveil"]
    assert any(n.startswith(f"{home} is unveiled 'r' whole") and f"-v r:{home}" in n
               for n in report["notes"]), report["notes"]
