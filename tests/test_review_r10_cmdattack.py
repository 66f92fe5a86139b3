"""Round-10 attack review of the pledge command: what a hostile program made the command
do before it was confined (each test failed on main before its fix), against the
running kernel, through the installed console script."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest

from tests.cprogs import compiled
from tests.test_command_unveil import ENV, pledge


def _fake_python(where: Path, fake: Path) -> Path:
    """The test program installed as *where*/bin/python3: a script host by its name."""
    (where / "bin").mkdir(parents=True, exist_ok=True)
    target = where / "bin" / "python3"
    shutil.copy(fake, target)
    return target


@pytest.mark.parametrize("flags", [(), ("-u", "nobody")], ids=["root", "nobody"])
def test_a_program_named_python3_is_asked_its_tree_confined(place: Path,
                                                            flags: tuple[str, ...]) -> None:
    """Any ELF named like a script host (python3, lua) was run by the command's child to
    ask its library tree: as root, unconfined, before any unveil, filter or -u. On main
    it created the mark (uid=0, also with -u nobody); now the query runs under "stdio
    rpath prot_exec exec" and its create kills it."""
    mark = place / "mark"
    place.chmod(0o777)  # writable to nobody too: only the sandbox may stop it
    with compiled(("fake_host", ())) as progs:
        prog = _fake_python(place / "tool", progs["fake_host"])
        r = pledge("-q", "-p", "stdio rpath", *flags, str(prog),
                   env={**ENV, "FAKE_MARK": str(mark)})
    assert r.returncode == 0, r.stderr
    assert not mark.exists(), mark.read_text()


def test_its_answer_unveils_nothing_outside_its_own_tree(place: Path) -> None:
    """The query's answer was unveiled whatever it named: a hostile "python3" named a
    secret directory and then read it as the program. On main it read SECRET; now only
    what lies in its own tree (the directory above its bin/) is believed, and a note
    says what was not."""
    secret = place / "secret"
    secret.mkdir()
    (secret / "key").write_text("SECRET\n")
    tree = place / "tool" / "lib"
    (tree / "uid0").mkdir(parents=True)
    (tree / "uid0" / "f").write_text("OWN\n")
    with compiled(("fake_host", ())) as progs:
        prog = _fake_python(place / "tool", progs["fake_host"])
        # ("-" first: a Python's first argument is its script, unveiled as such)
        r = pledge("-p", "stdio rpath", str(prog), "-", str(secret / "key"),
                   str(tree / "uid0" / "f"),
                   env={**ENV, "FAKE_OUTSIDE": str(secret), "FAKE_TREE": str(tree)})
    assert r.returncode == 0, r.stderr
    assert "SECRET" not in r.stdout and f"{secret / 'key'}: Permission denied" in r.stdout
    assert f"{tree / 'uid0' / 'f'}: read OWN" in r.stdout, r.stdout
    assert f"not unveiled, outside its own tree ({place / 'tool'}): {secret}" in r.stderr


def test_the_query_runs_as_minus_u_user(place: Path) -> None:
    """With -u nobody the query ran as root (on main the tree it named was uid0's);
    now it runs as the program will, so it names uid65534's."""
    tree = place / "tool" / "lib"
    for uid in ("uid0", f"uid{65534}"):
        (tree / uid).mkdir(parents=True)
        (tree / uid / "f").write_text(f"{uid}\n")
    with compiled(("fake_host", ())) as progs:
        prog = _fake_python(place / "tool", progs["fake_host"])
        r = pledge("-q", "-p", "stdio rpath", "-u", "nobody", str(prog), "-",
                   str(tree / "uid0" / "f"), str(tree / "uid65534" / "f"),
                   env={**ENV, "FAKE_TREE": str(tree)})
    assert r.returncode == 0, r.stderr
    assert f"{tree / 'uid65534' / 'f'}: read uid65534" in r.stdout, r.stdout
    assert f"{tree / 'uid0' / 'f'}: Permission denied" in r.stdout, r.stdout


def test_a_home_or_root_is_no_interpreters_tree() -> None:
    """~/bin/python3 and /bin/python3 have no tree to believe (the home, /)."""
    from pledgepy.command import hosts

    home = os.path.realpath(os.path.expanduser("~"))
    assert hosts.prefixes(os.path.join(home, "bin", "python3")) == ()
    assert "/" not in hosts.prefixes("/bin/python3")
    assert hosts.prefixes("/opt/x/python3") == ()


def test_the_note_on_its_answer_prints_no_escapes(place: Path) -> None:
    """The note names paths the (hostile) interpreter chose: one holding a terminal's
    escape sequence is printed with "?" in its place (a new note: no such note on main,
    where the path was unveiled silently)."""
    odd = place / "odd\x1b]0;owned\x07"
    odd.mkdir()
    with compiled(("fake_host", ())) as progs:
        prog = _fake_python(place / "tool", progs["fake_host"])
        # the fake prints it inside a JSON string, where control characters are escaped
        named = str(odd).replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
        r = pledge("-p", "stdio rpath", str(prog), env={**ENV, "FAKE_OUTSIDE": named})
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr, r.stderr
    assert f"{place}/odd?]0;owned?" in r.stderr, r.stderr


def test_a_sigxcpu_the_program_sent_itself_is_not_called_its_limit() -> None:
    """With -C, a program that killed itself with SIGXCPU (or SIGKILL) was said to have
    hit its CPU limit (on main: "killed by SIGXCPU: it hit its limit -C 5"). The CPU
    time wait4 reports tells them apart; the status is 128+N either way."""
    r = pledge("-p", "stdio rpath proc", "-C", "5", "sh", "-c", "kill -XCPU $$")
    assert r.returncode == 128 + 24, r.stderr
    assert "hit its limit" not in r.stderr, r.stderr
    assert "killed by SIGXCPU, not by its limit -C 5" in r.stderr, r.stderr
    r = pledge("-p", "stdio rpath proc", "-C", "5", "sh", "-c", "kill -KILL $$")
    assert r.returncode == 128 + 9 and "limit" not in r.stderr, r.stderr


def test_the_hard_cpu_limit_is_still_named() -> None:
    """A program that ignores SIGXCPU is killed a second later; that one is the limit
    (on main: "perhaps its hard CPU limit", which it said of any SIGKILL under -C)."""
    r = pledge("-q", "-p", "stdio rpath", "-C", "1", "sh", "-c",
               "trap '' XCPU; while :; do :; done")
    assert r.returncode == 128 + 9, r.stderr
    assert "killed by SIGKILL (its hard CPU limit" in r.stderr, r.stderr
    assert "it hit its limit -C 1" in r.stderr, r.stderr


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs /usr/bin/python3")
def test_a_scripts_own_line_does_not_unveil_the_file_it_names(place: Path) -> None:
    """A script whose #! line gives its interpreter a file (``#!/usr/bin/python3 FILE``)
    had FILE unveiled as the interpreter's script, which then printed its first line in a
    SyntaxError (on main: the secret's line on stderr). Only the command line and the #!
    chain's programs name a host's script now."""
    secret = place / "secret"
    secret.write_text("SECRET-LINE ! x\n")
    script = place / "prog"
    script.write_text(f"#!/usr/bin/python3 {secret}\nprint('hi')\n")
    script.chmod(0o755)
    r = pledge("-p", "stdio rpath", str(script))
    assert "SECRET-LINE" not in r.stdout + r.stderr, r.stderr
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    assert f"{secret}: not unveiled: only a #! line names it" in r.stderr, r.stderr
    # the operator's own word still unveils it
    r = pledge("-q", "-p", "stdio rpath", "/usr/bin/python3", str(script))
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr


def test_a_line_naming_a_fifo_does_not_hang_the_command(place: Path) -> None:
    """Discovery read each #! interpreter and DT_NEEDED file with a blocking open: a
    script whose line names a FIFO hung the command before PROG ran (on main: no end,
    the helper's 60 s timeout; /dev/tty would read what the user types). Only regular
    files are read now; the kernel refuses the rest (126)."""
    fifo = place / "fifo"
    os.mkfifo(fifo)
    script = place / "prog"
    script.write_text(f"#!{fifo}\n")
    script.chmod(0o755)
    r = pledge("-q", "-p", "stdio rpath", str(script))
    assert r.returncode == 126, r.stderr


def test_the_query_reads_no_more_than_the_program_will(place: Path) -> None:
    """The query read every file its user could: which of its own files it then named
    told the program what it had read (on main: "peeked", from a file the program could
    not open). It now sees only itself, its loader and libraries and its own tree."""
    secret = place / "secret"
    secret.write_text("SECRET\n")
    tree = place / "tool" / "lib"
    for name in ("peeked", "blind"):
        (tree / name).mkdir(parents=True)
        (tree / name / "f").write_text(f"{name}\n")
    with compiled(("fake_host", ())) as progs:
        prog = _fake_python(place / "tool", progs["fake_host"])
        r = pledge("-q", "-p", "stdio rpath", str(prog), "-", str(tree / "peeked" / "f"),
                   str(tree / "blind" / "f"), str(secret),
                   env={**ENV, "FAKE_TREE": str(tree), "FAKE_PEEK": str(secret)})
    assert r.returncode == 0, r.stderr
    assert f"{secret}: Permission denied" in r.stdout, r.stdout
    assert f"{tree / 'blind' / 'f'}: read blind" in r.stdout, r.stdout
    assert f"{tree / 'peeked' / 'f'}: Permission denied" in r.stdout, r.stdout


def test_node_starts_under_the_default_unveil() -> None:
    """node read /etc/ssl/openssl.cnf at every start and exited 13 without it (on main:
    "OpenSSL configuration error")."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node")
    r = pledge("-q", "-p", "stdio rpath", node, "-e", "console.log(6 * 7)")
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr


def test_a_user_number_without_an_entry_needs_a_group() -> None:
    """-u with a number the password database does not know set only the uid: PROG kept
    the command's group and supplementary groups (on main: root's gid 0, exit 0). It is
    refused (64) unless -g names the group; with -g, that group is PROG's only one."""
    uid = next(n for n in range(23456, 23556) if not _known(n))
    r = pledge("-q", "-V", "-p", "stdio rpath", "-u", str(uid), "cat", "/proc/self/status")
    assert r.returncode == 64 and f"-u {uid}: no such user" in r.stderr, r.stdout
    assert "give -g GROUP too" in r.stderr, r.stderr
    r = pledge("-q", "-V", "-p", "stdio rpath", "-u", str(uid), "-g", str(uid),
               "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    assert lines["Uid"].split()[0] == str(uid) and lines["Gid"].split() == [str(uid)] * 4
    assert lines["Groups"].split() == [str(uid)], lines["Groups"]


def _known(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("flags", [(), ("-u", "nobody")], ids=["root", "nobody"])
def test_perl_finds_its_modules(flags: tuple[str, ...]) -> None:
    """perl was no script host: its @INC stayed hidden and any module but the few built
    in failed (on main: "Can't locate POSIX.pm: ... Permission denied", exit 2)."""
    perl = shutil.which("perl")
    if perl is None:
        pytest.skip("needs perl")
    r = pledge("-q", "-p", "stdio rpath", *flags, perl, "-MPOSIX", "-MList::Util=sum",
               "-e", "print sum(floor(1.5), 2), qq(\\n)")
    assert r.returncode == 0 and r.stdout == "3\n", r.stderr


def test_a_bad_interpreter_line_prints_no_escapes(place: Path) -> None:
    """"bad interpreter" quoted the script's #! line as it was: a terminal escape in it
    reached the operator's terminal (on main: ESC ]0;... in the message)."""
    script = place / "prog"
    script.write_text("#!/nonexistent\x1b]0;owned\x07\n")
    script.chmod(0o755)
    r = pledge("-q", str(script))
    assert r.returncode == 126, r.stderr
    assert "bad interpreter /nonexistent?]0;owned?" in r.stderr, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr, r.stderr
