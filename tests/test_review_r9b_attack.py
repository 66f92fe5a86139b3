"""r9 attack review: the naming finder a pledge without rpath puts first on sys.meta_path
changes nothing the import system would find (a program's finder that asks the meta path
itself, a legacy finder before the path finder); every fork_exec narrows to execpromises,
whether or not it came through pledgepy's Popen wrapper."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pledgepy.learn import paths
from tests.childproc import run
from tests.pledged import under

_DELEGATING = """
class Delegating:
    def find_spec(self, name, path=None, target=None):
        for f in sys.meta_path:
            if f is self or not hasattr(f, "find_spec"):
                continue
            spec = f.find_spec(name, path, target)
            if spec is not None:
                return spec
        return None
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_finder_asking_the_meta_path_itself_still_finds(when: str) -> None:
    """It used to ask the naming finder, which asked it back: RecursionError for every
    import, built-in modules included."""
    insert = "sys.meta_path.insert(0, Delegating())\n"
    r = under("stdio", (insert if when == "after" else "")
              + "import _symtable, _tracemalloc\nprint(_symtable.__spec__.origin)\n",
              setup="import sys\n" + _DELEGATING + (insert if when == "before" else ""))
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["built-in"], r.explain()


def test_a_finder_put_before_it_is_asked_once() -> None:
    body = """
class Counting:
    calls = 0
    def find_spec(self, name, path=None, target=None):
        if name == "_symtable":
            Counting.calls += 1
        return None
sys.meta_path.insert(0, Counting())
import _symtable
print(Counting.calls)
"""
    r = under("stdio", body, setup="import sys")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["1"], r.explain()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 dropped find_module finders")
def test_a_legacy_finder_keeps_its_place() -> None:
    """A find_module finder before the path finder serves the module; the naming finder
    asked the path finder first (a violation without rpath)."""
    setup = """
import sys, types, warnings
warnings.simplefilter("ignore")
class Legacy:
    def find_module(self, name, path=None):
        return self if name == "colorsys" else None
    def load_module(self, name):
        m = types.ModuleType(name)
        m.WHO = "legacy"
        sys.modules[name] = m
        return m
sys.meta_path.insert(0, Legacy())
"""
    r = under("stdio", "import colorsys\nprint(colorsys.WHO)\n", setup=setup)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["legacy"], r.explain()


_PROMISES = "stdio rpath wpath cpath proc exec prot_exec"
_EXECPROMISES = "stdio rpath prot_exec"  # the exec'd shell may not create its file


@pytest.mark.parametrize("how", ["importlib.reload(subprocess)",
                                 "del sys.modules['subprocess']; import subprocess"])
def test_subprocess_imported_again_still_narrows(how: str, tmp_path: Path) -> None:
    """A subprocess module executed again after the pledge has no Popen wrapper: with a
    preexec_fn (narrowing in place) its child ran under promises, not execpromises."""
    out = tmp_path / "written"
    body = f"""
import subprocess
{how}
r = subprocess.run(["/bin/sh", "-c", "echo x > {out}"], preexec_fn=lambda: None)
print(r.returncode != 0, os.path.exists({str(out)!r}))
"""
    r = under(_PROMISES, body, setup="import importlib, os, sys", execpromises=_EXECPROMISES)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["True", "False"], r.explain()


def test_spawnv_passfds_in_a_fork_narrows(tmp_path: Path) -> None:
    """A fork of the caller has no spawner: multiprocessing's spawnv_passfds (fork_exec
    without a preexec_fn) exec'd there under promises, not execpromises."""
    out = tmp_path / "written"
    body = f"""
pid = os.fork()
if pid == 0:
    child = mu.spawnv_passfds(b"/bin/sh", [b"sh", b"-c", b"echo x > {out}"], [])
    os._exit(0 if os.waitpid(child, 0)[1] != 0 else 1)
print(os.waitpid(pid, 0)[1] == 0, os.path.exists({str(out)!r}))
"""
    r = under(_PROMISES, body, setup="import os\nimport multiprocessing.util as mu",
              execpromises=_EXECPROMISES)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["True", "False"], r.explain()


def test_subprocess_after_a_lock_with_a_finder_asking_the_meta_path() -> None:
    """The lock's subprocess wrapper finder asked every finder, and such a finder asked it
    back: import subprocess raised RecursionError."""
    body = """
pledgepy.unveil(os.path.dirname(os.path.dirname(os.__file__)), "rx")
pledgepy.unveil("/usr", "rx")
pledgepy.unveil()
sys.meta_path.insert(0, Delegating())
import subprocess
print(subprocess.Popen._execute_child.__module__)
"""
    r = run("import os, sys, warnings, pledgepy\nwarnings.simplefilter('ignore')\n"
            + _DELEGATING + body)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["pledgepy.backends.linux.exec.wrap"], r.explain()


def test_a_file_read_where_the_run_creates_keeps_its_rule_in_etc() -> None:
    """Creating in /etc (a lock file) gave the files read there to /etc itself: "r" on
    /etc/shadow for a run that read /etc/passwd."""
    got = dict(paths.collapse({"/etc": "c", "/etc/passwd": "r"}, library=()))
    assert got.get("/etc") == "c" and got.get("/etc/passwd") == "r", got


def test_a_file_read_where_the_run_creates_keeps_its_rule_in_a_home_through_a_link(
        tmp_path: Path) -> None:
    """A home reached through a link was judged by the link's name: the file read there
    gave "r" to the whole home."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes").write_text("x")
    (home / ".ssh").mkdir()
    link = tmp_path / "link"
    link.symlink_to(home)
    got = dict(paths.collapse({str(link): "c", str(link / "notes"): "r"}, home=str(home),
                              library=()))
    real = os.path.realpath(home)
    assert got.get(real) == "c" and got.get(os.path.join(real, "notes")) == "r", got


def test_a_dirfd_on_a_file_is_not_shown_as_a_directory(tmp_path: Path) -> None:
    """The supervisor resolved "x" against a dirfd open on a file: '"x" is "FILE/x"'."""
    from tests.test_command_unveil import ENV, SYSTEM_PYTHON, pledge

    target = tmp_path / "file"
    target.write_text("x")
    code = ("import os; fd = os.open(os.environ['F'], os.O_RDONLY); "
            "os.open('x', os.O_WRONLY | os.O_CREAT, dir_fd=fd)")
    r = pledge("-q", "-v", str(target), "-p", "stdio rpath", SYSTEM_PYTHON, "-c", code,
               env={**ENV, "F": str(target)}, cwd="/")
    assert r.returncode == 134, r.stderr
    assert 'openat(dirfd 3, "x", O_WRONLY|O_CREAT) needs "wpath cpath"\n' in r.stderr, \
        r.stderr


def test_the_supervisor_forgets_a_linked_scripts_real_directory(tmp_path: Path) -> None:
    """pledge run through a link (/usr/local/bin/pledge -> VENV/bin/pledge): Python puts
    the script's real directory first on sys.path, and it stayed there."""
    from pledgepy.cli import without_program_dirs

    real = tmp_path / "venv-bin"
    real.mkdir()
    (real / "pledge").write_text("")
    links = tmp_path / "bin"
    links.mkdir()
    (links / "pledge").symlink_to(real / "pledge")
    keep = ["/usr/lib/python3.11"]
    got = without_program_dirs([os.path.realpath(real), *keep], str(links / "pledge"))
    assert got == keep


def test_stdlib_load_leaves_sys_path_to_other_threads(tmp_path: Path) -> None:
    """stdlib.load (subprocess, at a pledge holding exec) narrowed sys.path itself while
    it loaded: a thread importing its own module meanwhile got ModuleNotFoundError. Its
    own imports still come from the standard library alone (a planted decimal.py)."""
    (tmp_path / "decimal.py").write_text("raise SystemExit('planted decimal ran')\n")
    code = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
seen = []
sys.addaudithook(lambda ev, args: seen.append(list(sys.path)) if ev == "import"
                 and args[0] == "decimal" else None)
from pledgepy.backends.linux.exec import stdlib
path = list(sys.path)
stdlib.load("fractions")
print(seen == [path], sys.modules["decimal"].__file__.startswith({str(tmp_path)!r}))
"""
    r = run(code)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["True", "False"], r.explain()
