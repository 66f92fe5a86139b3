"""What CPython 3.10 to 3.13 do differently under a pledge, each case on every version.

- 3.10's subprocess finds the descriptors to close (close_fds) by listing
  /proc/self/fd in the child, an open() that a pledge (or execpromises)
  without rpath forbids; 3.11+ uses close_range(2).
- 3.11+ tracebacks put ``^^^`` under the failing expression: ``import ast`` on
  first use, and on 3.13 an ast.parse() of each statement, whose SyntaxError
  makes the parser look for the line in a file named "<unknown>".
- 3.12+ os.fork() counts the process's threads by reading /proc/self/stat.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT
from tests.pledged import killed, under
from tests.test_exec import static_bins  # noqa: F401 - the fixture

ENV = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")


def _script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "prog.py"
    path.write_text(source)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          env=ENV, timeout=60)


# ---- subprocess's close_fds ----

def test_subprocess_without_rpath_runs_a_static_program(
        static_bins: dict[str, str]) -> None:  # noqa: F811 - the fixture imported above
    if "raw" not in static_bins:
        pytest.skip("the raw-syscall program is written for x86_64")
    body = f"""
import subprocess
p = subprocess.run([{static_bins['raw']!r}], capture_output=True)
print(p.returncode, p.stdout.decode().strip(), flush=True)
"""
    r = under("stdio proc exec", body)
    assert r.returncode == 0 and r.stdout == "0 static ok\n", r.explain()
    assert "pledge:" not in r.stderr


LIST_FDS = """
import subprocess
os.dup2(os.open('/dev/null', os.O_RDONLY), 50, inheritable=True)
os.dup2(os.open('/dev/null', os.O_RDONLY), 51, inheritable=True)
{pledge}
for kw in ({{'pass_fds': (51,)}}, {{'close_fds': False}}, {{}}):
    p = subprocess.run(['/bin/ls', '/proc/self/fd'], capture_output=True, text=True, **kw)
    fds = {{int(n) for n in p.stdout.split()}}
    print(p.returncode, 50 in fds, 51 in fds, flush=True)
"""


# Where close_range is (os.closerange, subprocess): the wrappers close the
# descriptors themselves unless subprocess uses it; forced both ways on every version.
FORCE = "import pledgepy.backends.linux.exec.wrap as w; w._close_range_usable = lambda: {}\n"


@pytest.mark.parametrize("force,pledge", [
    ("", ""),
    ("", "pledgepy.pledge('stdio rpath prot_exec proc exec')"),
    ("", "pledgepy.pledge('stdio rpath wpath prot_exec proc exec', 'stdio rpath prot_exec')"),
    ("(True, False)", "pledgepy.pledge('stdio rpath prot_exec proc exec')"),
    ("(False, False)", "pledgepy.pledge('stdio rpath wpath prot_exec proc exec', "
                       "'stdio rpath prot_exec')"),
], ids=["unpledged", "pledged", "execpromises", "we-close-by-range", "we-close-to-the-limit"])
def test_close_fds_closes_what_cpython_closes(force: str, pledge: str) -> None:
    from tests.childproc import run

    pre = FORCE.format(force) if force else ""
    r = run("import os, pledgepy\n" + pre + LIST_FDS.format(pledge=pledge))
    assert r.returncode == 0, r.explain()
    # pass_fds: kept, the others closed; close_fds=False: all kept; default: none
    assert r.stdout.splitlines() == ["0 False True", "0 True True", "0 False False"], r.explain()


# ---- tracebacks ----

TRACEBACKS = """\
import traceback, pledgepy
pledgepy.pledge('stdio')
def f(d):
    return d['a'] + d['b']
try:
    try:
        f({'b': 1})
    except KeyError as e:
        raise ValueError('chained') from e
except ValueError:
    traceback.print_exc()
try:
    exec('(raise x)')
except SyntaxError as e:
    print('SyntaxError', e.lineno, flush=True)
x = (1 +
     f({}))
"""


def test_tracebacks_of_a_script_without_rpath_are_cpythons(tmp_path: Path) -> None:
    # the main script's lines are cached before the pledge, so every version prints
    # them, with 3.11+'s carets, exactly as it does unpledged
    pledged = _script(tmp_path, TRACEBACKS)
    unpledged = _script(tmp_path, TRACEBACKS.replace("pledgepy.pledge('stdio')", "pass"))
    assert pledged.returncode == 1 and "pledge:" not in pledged.stderr, pledged.stderr
    assert (pledged.stdout, pledged.stderr) == (unpledged.stdout, unpledged.stderr)
    assert "raise ValueError('chained') from e" in pledged.stderr
    if sys.version_info >= (3, 11):
        assert "~^^^^^" in pledged.stderr, pledged.stderr


def test_syntax_errors_in_strings_are_raised_without_rpath() -> None:
    body = """
for src in ('(raise x)', 'return 1', 'x = ('):
    try:
        compile(src, '<string>', 'exec')
    except SyntaxError as e:
        print(type(e).__name__, e.text is not None, flush=True)
try:
    ast.parse('a b')
except SyntaxError:
    print('ast', flush=True)
"""
    r = under("stdio", body, setup="import ast")
    assert r.returncode == 0, r.explain()
    # the parser's errors carry the line from the string; the compiler's ('return'
    # outside a function) only one read from the file, which does not exist anyway
    assert r.stdout.splitlines() == ["SyntaxError True", "SyntaxError False",
                                     "SyntaxError True", "ast"], r.explain()


def test_python_open_of_a_pseudo_file_stays_a_violation() -> None:
    # only CPython's own C-level reads are refused quietly; Python's open() is not
    r = under("stdio", "open('<unknown>')")
    assert killed(r) and 'needs "rpath"' in r.stderr, r.explain()


# ---- os.fork() ----

FORK = """
warnings.simplefilter('always')
go = threading.Event()
t = threading.Thread(target=go.wait); t.start()
pid = os.fork()
if pid == 0:
    os._exit(0)
print('status', os.waitpid(pid, 0)[1], flush=True)
go.set(); t.join()
"""


def test_fork_with_threads_without_rpath() -> None:
    # 3.12+ warns that forking threads may deadlock, counting the threads it knows of
    # when /proc/self/stat cannot be read (the handler answers ENOENT: nothing opens)
    r = under("stdio proc", FORK, setup="import threading, warnings")
    assert r.returncode == 0 and r.stdout == "status 0\n", r.explain()
    assert "pledge:" not in r.stderr
    warned = "is multi-threaded, use of fork() may lead to deadlocks" in r.stderr
    assert warned == (sys.version_info >= (3, 12)), r.explain()


FORK_ALONE = """
warnings.simplefilter('always')
pid = os.fork()
if pid == 0:
    os._exit(0)
print('status', os.waitpid(pid, 0)[1], flush=True)
"""


def test_fork_without_threading_without_rpath() -> None:
    # a program that never imports threading forks without reading or warning
    r = under("stdio proc", FORK_ALONE, setup="import warnings")
    assert r.returncode == 0 and r.stdout == "status 0\n", r.explain()
    assert "pledge:" not in r.stderr and "deadlock" not in r.stderr, r.explain()


def test_importing_threading_after_dropping_rpath_is_a_violation() -> None:
    # as on OpenBSD: pledge() imports nothing for the program (it used to import
    # threading), which must import its modules first; the message says so, and
    # the stack names the importing line
    r = under("stdio", "import threading\nprint('imported', flush=True)")
    assert killed(r) and r.stdout == "", r.explain()
    assert "importing a module that was not imported before pledge()" in r.stderr, r.explain()
    assert "_find_and_load" in r.stderr, r.explain()


def test_reading_proc_self_stat_from_python_stays_a_violation() -> None:
    for code in ("open('/proc/self/stat').read()",
                 "os.open('/proc/self/stat', os.O_RDONLY)"):
        r = under("stdio", code)
        assert killed(r) and 'needs "rpath"' in r.stderr, (code, r.explain())
