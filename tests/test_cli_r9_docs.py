"""The pledge command does what its manual section in the README says."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.childproc import ROOT
from tests.childproc import run as run_code
from tests.learning import PLEDGE as PLEDGE_PY
from tests.learning import command, learn, run, violated
from tests.test_cli import pledge


@pytest.mark.parametrize("args", [("--bogus", "true"), ("-M", "lots", "true"),
                                  ("-n", "x", "true"), ("-T", "neither")])
def test_a_bad_option_is_a_usage_error(args: tuple[str, ...]) -> None:
    # the EXIT STATUS table (and --help) say 64, as for a bad promise; not argparse's 2
    r = pledge(*args)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert r.stderr.startswith("usage: pledge ") and "pledge: error: " in r.stderr, r.stderr


def test_unveil_gaps_are_a_note_of_the_command() -> None:
    # "unix" leaves connect() to pathname sockets to Landlock, which does not check
    # it: said as the command's other notes are ("pledge: ..."), not as a Python
    # warning naming pledgepy's source file and pointing at pledgepy.status()
    r = pledge("-p", "stdio rpath unix", "-v", "/etc/hostname", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    assert "pledge: unveil enforced only in part: " in r.stderr, r.stderr
    assert "pathname unix socket" in r.stderr, r.stderr
    assert "PledgeWarning" not in r.stderr and ".py:" not in r.stderr, r.stderr
    assert pledge("-q", "-p", "stdio rpath unix", "-v", "/etc/hostname", "cat",
                  "/etc/hostname").stderr == ""


def _example(text: str, marker: str) -> list[str]:
    """The example line of *text* holding *marker*, split as sh would (after 'pledge')."""
    line = next(ln for ln in text.splitlines() if marker in ln and "pledge " in ln)
    words = shlex.split(line.split("pledge ", 1)[1], comments=True)
    return words


def test_the_ls_usr_examples_list_usr() -> None:
    # the default unveil holds what sh and ls need to run, not /usr to list: the
    # examples of --help and of the README's EXAMPLES must say -v /usr
    r = pledge("-q", *_example(pledge("--help").stdout, "ls /usr"))
    assert r.returncode == 0 and "bin" in r.stdout.split(), (r.stdout, r.stderr)
    readme = (ROOT / "README.md").read_text()
    r = pledge("-q", *_example(readme, "ls /usr | wc -l"))
    assert r.returncode == 0 and int(r.stdout) > 1 and not r.stderr, (r.stdout, r.stderr)


def test_learning_echo_repeats_nothing_the_command_unveils(tmp_path: Path) -> None:
    # "what the command unveils itself for that program (the program, ...) is left
    # out": with nothing else used the list is empty, and the suggested command (no -v:
    # the command's default unveil, not -V) runs the same run clean
    r, report = learn(["echo", "hi"], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    assert report["promises"] == ["stdio"] and report["unveil"] == [], report
    assert report["command"] == "pledge -p stdio echo hi", report["command"]
    again = run(command(report), str(tmp_path))
    assert again.returncode == 0 and again.stdout == "hi\n" and not violated(again), again.stderr


def test_every_promise_row_says_something() -> None:
    # the README's table had "| `error` | nothing:  |": an explanation left empty
    from pledgepy.backends.linux import describe
    for row in describe.markdown().splitlines()[2:]:
        cell = row.split(" | ", 1)[1].rstrip(" |")
        assert cell and not cell.endswith(":"), row


@pytest.mark.parametrize("args", [("-u", "root"), ("-g", "0"), ("-c", "/")])
def test_root_only_options_say_so_to_others(args: tuple[str, ...]) -> None:
    # "-u USER, -g GROUP ... root only", "-c DIR ... root only": a usage error naming the
    # option (64), not the child's "setting up true: Operation not permitted" (70)
    # dropped by hand after the imports: this interpreter's own tree may be root's
    r = run_code(f"""
        import ctypes, grp, hashlib, os, pwd, subprocess, sys, threading
        from pledgepy import cli
        from pledgepy.command import limits
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        sys.exit(cli.main([*{args!r}, "true"]))
        """)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"pledge: {' '.join(args)}: only root can "), r.stderr



def test_readme_manual_has_every_option_and_form_of_help() -> None:
    # the README's pledge manual (SYNOPSIS, OPTIONS) and --help say the same options
    import re

    text = pledge("--help").stdout
    usage, rest = text.split("\n\n", 1)
    forms = [" ".join(f.split()) for f in usage.removeprefix("usage: ").split("\n       ")]
    section = (ROOT / "README.md").read_text().split("**SYNOPSIS**", 1)[1]
    block, table = section.split("```", 2)[1], section.split("**EXIT STATUS.**", 1)[0]
    listed = [" ".join(f.split()) for f in ("\n" + block).split("\npledge ")[1:]]
    assert [f"pledge {f}" for f in listed if not f.startswith("--version")] == forms
    flags = set(re.findall(r"^  (-[-\w]+)", rest.split("\npromises:", 1)[0], re.M)) - {"-h"}
    missing = [f for f in sorted(flags) if f"`{f}" not in table and f"`{f} " not in table]
    assert not missing, missing


def test_learning_a_module_charges_nothing_to_freed_memory(tmp_path: Path) -> None:
    # json.tool's frames are all the stdlib's: no call has a line of the user's code;
    # the calls the interpreter's exit made were charged to the freed file:line buffer
    # ("first needed in your code at @\udc92\udc8fV"), and -o then failed to write it
    (tmp_path / "j.json").write_text('{"a": 1}')
    for _ in range(4):  # the garbage came in about two runs of three
        out = tmp_path / "report.txt"
        r = run([*PLEDGE_PY, "learn", "-o", str(out), "-m", "json.tool", "j.json"],
                str(tmp_path))
        assert r.returncode == 0 and '"a": 1' in r.stdout, r.stderr
        text = out.read_text(encoding="utf-8")
        assert "first needed" not in text and " at " not in text.split("unveil:")[0], text


def test_python_learn_bad_option_is_a_usage_error() -> None:
    # as the pledge command: 64 (EX_USAGE), not argparse's 2, which a program may exit with
    r = run([*PLEDGE_PY, "learn", "--bogus", "x.py"], str(ROOT))
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert "python -m pledgepy learn: error: " in r.stderr, r.stderr
