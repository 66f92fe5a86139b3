"""Progressive narrowing, the front end's state, status and strictness (child processes)."""

from __future__ import annotations

from tests.childproc import run, run_program
from tests.pledged import killed, under


def test_later_pledge_drops_promises() -> None:
    body = """
open('/etc/hostname').read()
pledgepy.pledge('stdio')
print(sorted(pledgepy.status().promises), flush=True)
open('/etc/hostname')
"""
    r = under("stdio rpath", body)
    assert "['stdio']" in r.stdout and killed(r), r.explain()
    assert 'openat("/etc/hostname", O_RDONLY) needs "rpath"' in r.stderr


def test_gaining_a_promise_is_eperm_and_changes_nothing() -> None:
    body = """
try:
    pledgepy.pledge('stdio rpath inet')
except PermissionError as e:
    print('EPERM' if e.errno == errno.EPERM else e.errno, e, flush=True)
print(sorted(pledgepy.status().promises), flush=True)
open('/etc/hostname').read()
print('still reads', flush=True)
"""
    r = under("stdio rpath", body)
    assert r.returncode == 0, r.explain()
    assert "EPERM" in r.stdout and "'inet' is not held" in r.stdout
    assert "['rpath', 'stdio']" in r.stdout and "still reads" in r.stdout


def test_gaining_while_error_is_held_is_ignored() -> None:
    body = """
pledgepy.pledge('stdio rpath error')
print(sorted(pledgepy.status().promises), flush=True)
attempt(os.open, '/etc/hostname', os.O_RDONLY)
"""
    r = under("stdio error", body)
    assert r.returncode == 0, r.explain()
    assert "['error', 'stdio']" in r.stdout and "ERR ENOSYS" in r.stdout


def test_dropping_error_restores_the_kill() -> None:
    body = """
attempt(os.getcwd)
pledgepy.pledge('stdio')
os.getcwd()
"""
    r = under("stdio error", body)
    assert "ERR ENOSYS" in r.stdout and killed(r), r.explain()


def test_none_leaves_promises_unchanged() -> None:
    body = """
pledgepy.pledge(None, 'stdio')
st = pledgepy.status()
print(sorted(st.promises), sorted(st.execpromises), flush=True)
open('/etc/hostname').read()
print('reads', flush=True)
"""
    r = under("stdio rpath", body)
    assert "['rpath', 'stdio'] ['stdio']" in r.stdout and "reads" in r.stdout, r.explain()


def test_ten_narrowings_stack_small_filters() -> None:
    body = """
promises = 'stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc'.split()
while len(promises) > 2:
    promises.pop()
    pledgepy.pledge(' '.join(promises))
print(open('/proc/self/status').read().split('Seccomp_filters:')[1].split()[0], flush=True)
try:
    os.mkdir('/tmp/never')
except OSError:
    pass
"""
    r = under("stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc", body)
    assert r.stdout.split()[0] == "11", r.explain()
    assert killed(r) and 'mkdir("/tmp/never", 0777) needs "cpath"' in r.stderr


def test_status_before_and_after() -> None:
    body = """
st = pledgepy.status()
print(st.level, st.mechanism, st.promises, st.not_enforced, flush=True)
"""
    r = run("import pledgepy\n" + body + "pledgepy.pledge('stdio audio')\n" + body)
    lines = r.stdout.splitlines()
    assert lines[0] == "none seccomp-bpf None ()", r.explain()
    assert lines[1].startswith("full seccomp-bpf frozenset(") and "()" in lines[1]
    r = run("import pledgepy\npledgepy.pledge('stdio audio')\n"
            "print(pledgepy.status().notes)")
    assert "'audio' grants nothing on Linux" in r.stdout, r.explain()


def test_strict_refuses_what_linux_cannot_enforce_before_changing_anything() -> None:
    body = """
try:
    pledgepy.pledge('stdio proc exec', 'stdio inet', strict=True)
except pledgepy.UnsupportedError as e:
    print('ENOSYS' if e.errno == errno.ENOSYS else e.errno, flush=True)
print(pledgepy.status().promises, flush=True)
open('/etc/hostname').read()
print('unchanged', flush=True)
"""
    r = run("import errno, pledgepy\n" + body)
    assert r.stdout.split("\n")[:3] == ["ENOSYS", "None", "unchanged"], r.explain()
    r = run("import errno, pledgepy\n" + body, env={"PLEDGEPY_STRICT": "1"})
    assert r.stdout.startswith("ENOSYS"), r.explain()


def test_best_effort_warns_and_reports_partial() -> None:
    code = """
import warnings, pledgepy
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter('always')
    pledgepy.pledge('stdio rpath proc exec', 'stdio inet')
print(len(w), w[0].category.__name__, flush=True)
st = pledgepy.status()
print(st.level, flush=True)
# inet beyond promises is the spawner's to give (test_spawner.py); what it does not
# cover (os.exec*, native code) runs under promises: partial
print(any('native code' in g for g in st.not_enforced), flush=True)
"""
    r = run(code)
    assert r.stdout.split() == ["1", "PledgeWarning", "partial", "True"], r.explain()


def test_threads_started_before_pledge_are_confined() -> None:
    setup = """
import threading, queue
jobs, done = queue.Queue(), queue.Queue()
def worker():
    while True:
        fn = jobs.get()
        done.put(fn())
t = threading.Thread(target=worker, daemon=True); t.start()
"""
    body = """
jobs.put(lambda: os.getppid()); print('ok', done.get() > 0, flush=True)
jobs.put(lambda: os.listdir('/')); done.get(timeout=10)
"""
    r = under("stdio", body, setup=setup)
    assert "ok True" in r.stdout and killed(r), r.explain()
    assert "in <lambda>" in r.stderr


def test_status_reads_no_files_under_any_pledge() -> None:
    body = """
import tempfile
d = tempfile.mkdtemp()
pledgepy.unveil(d, 'r')
pledgepy.pledge('stdio rpath')
pledgepy.pledge('stdio')
st = pledgepy.status()
print(st.level, st.unveil.level, st.unveil.locked, st.unveil.rules[0][1], flush=True)
"""
    r = run("import pledgepy\n" + body)
    assert r.returncode == 0 and r.stdout.split() == ["full", "full", "True", "r"], r.explain()


def test_thread_that_cannot_be_synchronized_makes_pledge_fail_unchanged() -> None:
    # A thread with a filter of its own cannot join the process-wide filter (TSYNC):
    # pledge() must fail and change nothing, never confine only some threads.
    r = run_program("tsync:pledge_with_a_loner_thread")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split("\n")[:3] == ["refused EBUSY", "None", "unchanged"], r.explain()


def test_violation_message_when_stderr_has_no_descriptor() -> None:
    body = """
import io
sys.stderr = io.StringIO()
pledgepy.pledge('stdio')
os.listdir('/')
"""
    r = run("import os, sys, pledgepy\n" + body)
    assert r.returncode == -6 and 'needs "rpath"' in r.stderr, r.explain()
