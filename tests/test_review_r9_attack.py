"""Round-9 attack review: what a hostile program (or hostile file names) made the
supervisor, the recorder and the learn report do (each test failed on main before its
fix), against the running kernel, in fresh children."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.childproc import ROOT

#: openat(AT_FDCWD, 2**63, O_WRONLY|O_CREAT): a path pointer no pread offset reaches
#: (os.pread raised OverflowError for it, which nothing caught). A violation under
#: "stdio rpath". The mode is given: left out, it is whatever the register held, and
#: setuid/setgid bits in it make the call one no promise allows.
HUGE_POINTER = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "r = libc.syscall(ctypes.c_long(257), ctypes.c_long(-100), ctypes.c_void_p(1 << 63),\n"
    "                 ctypes.c_long(0o101), ctypes.c_long(0o600))\n"
    "print('returned', r, ctypes.get_errno())\n")
#: Modules the interpreter's own report of an uncaught exception may import (Python
#: 3.13's imports traceback, and it linecache, ...): found through sys.path.
PLANTED = ("traceback", "linecache", "tokenize", "_colorize", "textwrap", "contextlib")


def _env() -> dict[str, str]:
    # PYTHONSAFEPATH would leave the working directory off sys.path: the test could not fail
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"},
            "PYTHONPATH": str(ROOT)}


def _plant(where: Path) -> None:
    for name in PLANTED:
        (where / f"{name}.py").write_text(f"open({str(where / ('ran-' + name))!r}, 'w').close()\n")


def _ran(where: Path) -> list[str]:
    return sorted(p.name for p in where.iterdir() if p.name.startswith("ran-"))


def test_a_path_pointer_beyond_off_t_is_a_violation_not_a_supervisor_crash(
        tmp_path: Path) -> None:
    # ttyopen read the path at the pointer with os.pread, whose OverflowError (not an
    # OSError) escaped serve(): the supervisor died with a traceback (exit 1), and on
    # Python 3.13 that traceback imported the traceback module from sys.path[0], the
    # working directory under -m: a module the program wrote there ran unconfined
    _plant(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pledgepy", "-p", "stdio rpath", sys.executable,
                        "-c", HUGE_POINTER], capture_output=True, text=True, cwd=tmp_path,
                       env=_env(), timeout=60, check=False)
    assert r.returncode == 134, r.stderr
    assert 'openat(<unreadable>, O_WRONLY|O_CREAT) needs "wpath cpath"' in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert _ran(tmp_path) == [], r.stderr


#: The command with serve() failing once the program runs (any bug of the supervisor's).
FAILING_SUPERVISOR = """
import sys
sys.path.insert(0, {where!r})  # after start-up (3.13's -c itself imports linecache)
from pledgepy.backends.linux.exec import supervise
def serve(*args, **kwargs):
    raise RuntimeError("boom\\x1b[2K")
supervise.serve = serve
from pledgepy import cli
sys.exit(cli.main({argv!r}))
"""


def test_a_failing_supervisor_says_so_in_one_line_and_exits_70(tmp_path: Path) -> None:
    # whatever fails in the supervisor after the go must not reach the interpreter's
    # report (3.13: an import through sys.path; before: exit status 1, a traceback):
    # PROG is killed, one line names the failure, the status is EXIT_SANDBOX
    _plant(tmp_path)
    argv = ["-p", "stdio", "/bin/sleep", "30"]
    code = FAILING_SUPERVISOR.format(where=str(tmp_path), argv=argv)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                       env=_env(), timeout=60, check=False)
    assert r.returncode == 70, r.stderr
    assert r.stderr.endswith("the supervisor failed (RuntimeError: boom?[2K)\n"), r.stderr
    assert "Traceback" not in r.stderr and "\x1b" not in r.stderr, r.stderr
    assert _ran(tmp_path) == [], r.stderr


def test_learn_records_a_path_pointer_beyond_off_t_as_unreadable(tmp_path: Path) -> None:
    # python -m pledgepy learn reads paths in Python (record._Process.read): the same
    # OverflowError ended the recorder, and the learn run with exit status 1
    script = tmp_path / "huge.py"
    script.write_text(HUGE_POINTER)
    r = subprocess.run([sys.executable, "-m", "pledgepy", "learn", "--json", str(script)],
                       capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "(unreadable) O_WRONLY|O_CREAT" in r.stderr, r.stderr


def _learn_and_save(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    from tests.learning import PLEDGE, run

    return run([*PLEDGE, "--learn", "--save", "named", "cat", *map(str, files)], str(tmp_path),
               {"XDG_CONFIG_HOME": str(tmp_path / "config")})


def test_a_file_name_cannot_add_a_rule_to_a_saved_profile(tmp_path: Path) -> None:
    # the profile's lines were written with the paths raw: a benign program (cat) that
    # read a file whose *name* holds "\nunveil rwc /DIR" saved a profile granting DIR
    secret = tmp_path / "secret"
    secret.mkdir()
    hostile = tmp_path / "x\nunveil rwc " / secret.relative_to("/")
    hostile.parent.mkdir(parents=True)
    hostile.write_text("data\n")
    (tmp_path / "x").write_text("data\n")
    r = _learn_and_save(tmp_path, tmp_path / "x", hostile)
    saved = tmp_path / "config" / "pledgepy" / "profiles" / "named.pledge"
    assert not saved.exists() or f"unveil rwc {secret}\n" not in saved.read_text(), \
        saved.read_text()
    assert r.returncode == 70 and "cannot be written in a profile" in r.stderr, r.stderr


def test_a_blank_ending_a_file_name_cannot_widen_a_saved_profile(tmp_path: Path) -> None:
    # "unveil r DIR/ " was read back stripped, as "DIR/": the whole directory
    (tmp_path / "dir").mkdir()
    blank = tmp_path / "dir" / " "
    blank.write_text("data\n")
    r = _learn_and_save(tmp_path, blank)
    saved = tmp_path / "config" / "pledgepy" / "profiles" / "named.pledge"
    assert not saved.exists(), saved.read_text()
    assert r.returncode == 70 and "cannot be written in a profile" in r.stderr, r.stderr


def test_read_siblings_never_fold_through_a_symlink_out_of_where_folding_may_go(
        tmp_path: Path) -> None:
    # the fold's guards (a tree, never / or /X, never a home) read the path as written:
    # a link in a tree the user can write (a venv's lib) to /etc, or to a home, was
    # folded into, and a rule on the link is a rule on /etc (/etc/shadow with it)
    from pledgepy.learn import paths

    lib, home = tmp_path / "lib", tmp_path / "home"
    (lib / "sub").mkdir(parents=True)
    home.mkdir()
    names = ("passwd", "hosts", "group")
    for n in names:
        (lib / "sub" / n).write_text("x")
        (home / n).write_text("x")
    (lib / "etc").symlink_to("/etc")
    (lib / "h").symlink_to(home)
    (lib / "l").symlink_to(lib / "sub")
    for top, real in (("etc", "/etc"), ("h", str(home.resolve()))):
        used = {f"{lib}/{top}/{n}": "r" for n in names}
        # not folded, and named by what each rule grants
        assert paths.collapse(used, home=str(home), library=(str(lib),)) == \
            sorted((f"{real}/{n}", "r") for n in names), top
    # within the tree it still folds, through a link that stays in it too (named by
    # the directory the rule grants)
    for top in ("sub", "l"):
        used = {f"{lib}/{top}/{n}": "r" for n in names}
        assert paths.collapse(used, home=str(home), library=(str(lib),)) == \
            [(str((lib / "sub").resolve()), "r")], top
    assert paths.resolved("/proc/self/root/etc") is None
    assert paths.resolved(f"{lib}/l/../etc/x") == "/etc/x"


def test_learn_records_the_file_a_dotdot_after_a_symlink_reached(tmp_path: Path) -> None:
    # os.path.normpath took LINK/.. for LINK's parent; the kernel takes the parent of
    # LINK's target: cat read deep/a/f, the report said (and unveiled) f beside LINK, a
    # file the program never touched
    from tests.learning import learn

    (tmp_path / "deep" / "a" / "b").mkdir(parents=True)
    (tmp_path / "deep" / "a" / "f").write_text("used\n")
    (tmp_path / "f").write_text("never read\n")
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "a" / "b")
    r, report = learn(["cat", f"{tmp_path}/link/../f"], str(tmp_path))
    assert r.stdout == "used\n", r.stderr
    assert [str(tmp_path / "deep" / "a" / "f"), "r"] in report["unveil"], report["unveil"]
    assert [str(tmp_path / "f"), "r"] not in report["unveil"], report["unveil"]


def test_walked_normalises_as_the_kernel_walks(tmp_path: Path) -> None:
    from pledgepy.backends.linux.exec.record import walked

    (tmp_path / "t" / "u").mkdir(parents=True)
    (tmp_path / "l").symlink_to(tmp_path / "t" / "u")
    assert walked(f"{tmp_path}//./x/../y/") == f"{tmp_path}/y"  # no link: lexical
    assert walked(f"{tmp_path}/l/../z") == f"{tmp_path}/t/z"
    assert walked(f"{tmp_path}/l/./../../w") == f"{tmp_path}/w"
    assert walked("/proc/self/cwd/../x") == "/proc/self/cwd/../x"  # the program's, not ours


def test_the_learn_report_spells_out_what_a_terminal_would_act_on(tmp_path: Path) -> None:
    # the text report printed the paths raw: a file name with a newline and escape
    # sequences forged report lines and rewrote the terminal (title, erased lines);
    # violation messages spell them \xNN, and so does the report now
    from tests.learning import PLEDGE, run

    name = tmp_path / "evil\n\x1b[2K\rpromises: stdio\x1b]0;title\x07"
    name.write_text("x\n")
    r = run([*PLEDGE, "--learn", "cat", str(name)], str(tmp_path))
    assert r.returncode == 0, r.stderr
    report = r.stderr[r.stderr.index("pledge: learned"):]
    assert "\x1b" not in report and "\x07" not in report and "\r" not in report, report
    assert "evil\\x0a\\x1b[2K\\x0dpromises: stdio\\x1b]0;title\\x07" in report, report
    assert "\npromises: stdio\n" not in report, report  # the forged line


def test_printable_spells_undecodable_bytes_as_the_bytes() -> None:
    from pledgepy.learn.dump import printable

    assert printable("/tmp/caf\u00e9") == "/tmp/caf\u00e9"
    assert printable("/tmp/\udcff\x1b\u2028") == "/tmp/\\xff\\x1b\\u2028"


#: A pledged Python starting *argv[1]* narrowed in place (preexec_fn): the explainer's case.
NARROWED_IN_PLACE = """
import subprocess, sys
import pledgepy
pledgepy.pledge("stdio rpath proc exec prot_exec inet", "stdio rpath prot_exec")
print(subprocess.run([sys.argv[1]], preexec_fn=lambda: None).returncode)
"""


def test_the_explainers_message_stays_one_printable_line() -> None:
    # the explainer printed the violating program's comm raw (the supervisor and the
    # spawner replace control characters): a name with a newline and an escape forged
    # a "pledge:" line and cleared the screen
    from tests.cprogs import compiled

    with compiled(("comm_escape", ())) as built:
        r = subprocess.run([sys.executable, "-W", "ignore", "-c", NARROWED_IN_PLACE,
                            str(built["comm_escape"])], capture_output=True, text=True,
                           env=_env(), timeout=60, check=False)
    assert r.stdout == "-6\n", (r.stdout, r.stderr)  # SIGABRT, the penalty
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "socket(AF_INET, SOCK_STREAM)" in lines[0], r.stderr
    assert not any(ord(c) < 32 or c == "\x7f" for c in lines[0]), repr(r.stderr)


def test_the_supervisor_forgets_the_directories_the_program_may_write(tmp_path: Path) -> None:
    """Backstop to the no-import-after-the-go rule: the cwd and the script's directory
    leave the supervisor's sys.path after the fork (a 3.13 traceback imported from it)."""
    from pledgepy.cli import without_program_dirs

    script_dir = tmp_path / "bin"
    keep = ["/usr/lib/python3.11", "/usr/lib/python3/dist-packages"]
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        got = without_program_dirs(["", str(tmp_path), ".", str(script_dir), *keep],
                                   str(script_dir / "pledge"))
    finally:
        os.chdir(old)
    assert got == keep
    # the directory pledgepy itself comes from stays (its supervisor modules load late)
    ours = str(Path(str(__import__("pledgepy").__file__)).resolve().parent.parent)
    assert without_program_dirs([ours, *keep], ours + "/bin/pledge") == [ours, *keep]


def test_an_explainer_thread_that_fails_prints_no_traceback() -> None:
    """The explainer runs outside every sandbox: an exception in one of its threads is
    swallowed there (3.13 prints tracebacks through the traceback module, an import),
    and the thread's lock is released all the same."""
    import _thread

    from pledgepy.backends.linux.exec import explain

    done = _thread.allocate_lock()
    done.acquire()
    real = explain._take

    def broken(*args: object) -> None:
        raise OverflowError("a hostile request")

    explain._take = broken  # type: ignore[assignment]
    try:
        explain._taking(done, 1, 0, False, None, 0)
    finally:
        explain._take = real
    assert not done.locked()
