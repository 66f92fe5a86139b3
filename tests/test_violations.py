"""What a violation looks like: the message, the traceback, the penalty, the error promise."""

from __future__ import annotations

import re
import sys

from tests.childproc import run
from tests.pledged import killed, under


def test_message_names_program_pid_syscall_argument_and_promises() -> None:
    r = under("stdio rpath", "os.open('/tmp/x-pledgepy', os.O_WRONLY | os.O_CREAT, 0o600)")
    assert killed(r), r.explain()
    first = r.stderr.splitlines()[0]
    assert re.fullmatch(r'pledge: python3?[\d.]*\[\d+\]: openat\("/tmp/x-pledgepy", '
                        r'O_WRONLY\|O_CREAT\) needs "wpath cpath" or "tmppath"', first), first


def test_default_penalty_is_sigabrt_with_python_traceback() -> None:
    body = """
def offender():
    os.listdir('/')
offender()
"""
    r = under("stdio", body)
    assert r.returncode == -6, r.explain()
    assert 'File "<string>"' in r.stderr and "in offender" in r.stderr
    assert r.stderr.index("pledge: ") < r.stderr.index("in offender")


def test_exit_status_from_a_shell_is_134() -> None:
    r = run("import subprocess, sys\n"
            "subprocess.run(['/bin/sh', '-c', sys.executable + ' -c \"import pledgepy, os; '"
            "'pledgepy.pledge(\\'stdio\\'); os.listdir()\"; echo rc=$?'])")
    assert "rc=134" in r.stdout, r.explain()


def test_pledgepy_in_a_program_exec_d_under_a_pledge_enforces_without_messages() -> None:
    # It inherits filters that refuse replacing SIGSYS's handler, so its own filters use
    # the kernel's penalty; it says so (the processes work explains such children).
    r = under("stdio proc exec rpath prot_exec",
              "os.execv('/bin/sh', ['sh', '-c', sys.executable + ' -c \"' "
              "'import pledgepy, os; pledgepy.pledge(\\'stdio\\'); "
              "print(pledgepy.status().messages, flush=True); os.listdir()\"; echo rc=$?'])")
    assert r.stdout.split() == ["False", "rc=159"], r.explain()
    assert "will not be explained" in r.stderr and "inherited" in r.stderr, r.explain()


def test_traceback_names_the_offending_thread() -> None:
    body = """
import threading
def worker():
    os.getcwd()
t = threading.Thread(target=worker, name='offender'); t.start(); t.join()
"""
    r = under("stdio", body, setup="import threading")
    assert killed(r), r.explain()
    assert "in worker" in r.stderr


def test_error_promise_returns_enosys_and_goes_on() -> None:
    body = """
attempt(os.open, '/etc/hostname', os.O_RDONLY)
attempt(os.open, '/etc/hostname', os.O_RDONLY)
attempt(os.listdir, '/')
print('alive', flush=True)
"""
    r = under("stdio error", body)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["ERR", "ENOSYS", "ERR", "ENOSYS", "ERR", "ENOSYS", "alive"]
    lines = [l for l in r.stderr.splitlines() if l.startswith("pledge: ")]
    # printed once per syscall: openat once, then the listing's own syscall
    assert sum("openat(" in l for l in lines) == 1, r.stderr
    assert all('returning ENOSYS ("error" promise)' in l for l in lines)


def test_error_messages_can_be_turned_off() -> None:
    r = under("stdio error", "pledgepy.set_violation_messages(False)\n"
                             "attempt(os.open, '/etc/hostname', os.O_RDONLY)")
    assert r.returncode == 0 and r.stdout.split() == ["ERR", "ENOSYS"], r.explain()
    assert "pledge: " not in r.stderr


def test_empty_promises_allow_only_exit() -> None:
    r = under("", "os._exit(7)")
    assert r.returncode == 7, r.explain()
    r = under("", "os.getppid()")
    assert killed(r) and 'getppid needs "stdio"' in r.stderr, r.explain()


def test_call_no_promise_allows_names_none() -> None:
    r = under("stdio", "libc.syscall(101, 0, 0, 0, 0)",
              setup="import ctypes; libc = ctypes.CDLL(None, use_errno=True)")
    assert killed(r) and "ptrace is not allowed by any promise" in r.stderr, r.explain()


def test_hint_for_imports() -> None:
    r = under("stdio", "import csv")
    assert killed(r), r.explain()
    assert "importing a module that was not imported before pledge() needs" in r.stderr


def test_import_hint_names_the_module() -> None:
    r = under("stdio", "import xml.dom.minidom")
    assert killed(r), r.explain()
    assert "(xml: importing a module that was not imported before pledge() needs" \
        in r.stderr, r.explain()


def test_import_hint_names_no_module_once_the_import_is_over() -> None:
    """A module found without files (built in) leaves no name behind: the next
    import-like violation, not an import, names none."""
    r = under("stdio", "import _symtable\nopen('no_such_module.py')")
    assert killed(r), r.explain()
    assert '("no_such_module.py", O_RDONLY) needs "rpath" (importing a module' in r.stderr, \
        r.explain()


def test_imports_after_pledge_still_find_what_they_found() -> None:
    """The naming finder gives back what the others find: built-in and frozen modules,
    and modules of packages whose directories were listed before the pledge."""
    body = """
import _symtable, _tracemalloc
import importlib.util
print(importlib.util.find_spec('_symtable').origin, type(sys.meta_path[0]).__name__,
      flush=True)
"""
    r = under("stdio", body, setup="import sys")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["built-in", "_NamingFinder"], r.explain()


def test_tracebacks_and_warnings_work_without_rpath() -> None:
    body = """
import warnings, traceback
try:
    {}['missing']
except KeyError:
    traceback.print_exc()
warnings.warn('careful')
raise ValueError('uncaught')
"""
    r = under("stdio", body, setup="import warnings, traceback")
    assert r.returncode == 1, r.explain()
    assert "KeyError: 'missing'" in r.stderr and "ValueError: uncaught" in r.stderr
    assert "UserWarning: careful" in r.stderr
    assert "pledge: " not in r.stderr


def test_uncaught_exception_chain_without_the_traceback_module() -> None:
    code = """
import sys, pledgepy
pledgepy.pledge('stdio')
assert 'traceback' not in sys.modules
def inner():
    raise KeyError('k')
try:
    inner()
except KeyError as e:
    raise RuntimeError('outer') from e
"""
    from tests.childproc import run

    r = run(code)
    assert r.returncode == 1 and "pledge: " not in r.stderr, r.explain()
    err = r.stderr
    assert err.index("KeyError: 'k'") < err.index("direct cause") < err.index("RuntimeError: outer")
    # -c source is in linecache only where CPython puts it there itself (3.13+), before
    # the pledge; the handler prints what linecache holds and reads nothing
    cached = sys.version_info >= (3, 13)
    assert "in inner" in err and ("raise KeyError('k')" in err) == cached, err
