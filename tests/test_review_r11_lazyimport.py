"""Round 11 (NAME = lazyimport): no untrusted child makes a trusted parent import its
code, and a worker whose thread went away is no violation. Each test failed on main
before its fix (said in each)."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.planting import PLANTING

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux")


def _call(path: bytes, stat: bool) -> tuple[int, list[int], ctypes.Array[ctypes.c_char],
                                             ctypes.Array[ctypes.c_char]]:
    """The numbers and arguments of an openat (or newfstatat) of *path* in this process."""
    from pledgepy.backends.linux.seccomp import kernel
    from pledgepy.backends.linux.syscalls import BY_ARCH

    name = ctypes.create_string_buffer(path)
    out = ctypes.create_string_buffer(256)
    table = BY_ARCH[kernel.arch() or "x86_64"]
    at = -100 & 0xFFFFFFFF
    if stat:
        return (table["newfstatat"], [at, ctypes.addressof(name), ctypes.addressof(out), 0, 0, 0],
                name, out)
    return table["openat"], [at, ctypes.addressof(name), os.O_RDONLY, 0, 0, 0], name, out


def _answer(nr: int, args: list[int]) -> object:
    from pledgepy.backends.linux import native
    from pledgepy.backends.linux.exec import stdiofiles
    from pledgepy.backends.linux.seccomp import kernel

    if native.load() is None:
        pytest.skip("the native module is not built")
    stdiofiles.prime()  # as a parent before its first worker: _cert_dirs caches what it finds
    return stdiofiles.answer_for(-1, 1, os.getpid(), nr, args, frozenset({"stdio"}),
                                 kernel.arch() or "x86_64")


@pytest.mark.skipif(not os.path.isfile("/etc/localtime"), reason="needs /etc/localtime")
@pytest.mark.parametrize("when", ["before its path was read", "after its stat",
                                  "at the descriptor's hand-over"])
def test_a_worker_thread_gone_before_its_stdio_file_was_answered_is_no_violation(
        monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """A thread of a "stdio" worker opens (or stats) /etc/localtime, one of stdio's
    files the parent serves, while another thread calls exit_group. On main
    stdiofiles.answer_for returned None ("none of stdio's files") once the notification
    had gone, so the parent called it a violation ('openat("/etc/localtime") needs
    "rpath"') and raised WorkerViolation for a worker that only exited. Now it is
    GONE: nothing to send, no violation (as the command's allowed.answer's -1). The
    kernel's side is simulated: the notification is pending until *when*."""
    from pledgepy.backends.linux.exec import stdiofiles

    pending = iter([True] if when != "before its path was read" else [])
    monkeypatch.setattr(stdiofiles, "still_pending",
                        lambda listener, ident: next(pending, False))
    if when == "at the descriptor's hand-over":
        class _Gone:
            @staticmethod
            def ioctl(*_: object) -> int:
                raise OSError(errno.ENOENT, "no such notification")
        monkeypatch.setattr(stdiofiles, "fcntl", _Gone)
    stat = when == "after its stat"
    nr, args, name, out = _call(b"/etc/localtime", stat=stat)
    assert _answer(nr, args) == stdiofiles.GONE
    del name, out


def test_a_gone_thread_s_other_file_is_still_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard of the test above (passed on main too): a path read, and none of
    stdio's files, is the violation it was whether or not its caller is still there."""
    from pledgepy.backends.linux.exec import stdiofiles

    pending = iter([True])
    monkeypatch.setattr(stdiofiles, "still_pending",
                        lambda listener, ident: next(pending, False))
    nr, args, name, out = _call(b"/etc/shadow", stat=False)
    assert _answer(nr, args) is None
    del name, out


# ---- the Worker's parent -------------------------------------------------------------

root = pytest.mark.skipif(os.geteuid() != 0, reason="the parent reads the worker's path "
                          "(CAP_SYS_PTRACE over the non-dumpable worker)")

PLANTER = '''
import os, sys, signal, time


''' + PLANTING + '''

def ok():
    return 1


def violate(how):
    if how == "open":
        os.open("/etc/passwd", os.O_RDONLY)
    elif how == "directory":
        os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    elif how == "stat":
        os.stat("/etc/ssl/certs/00000000.0")
    elif how == "exec":
        os.execv("/bin/true", ["true"])
    elif how == "kill":
        os.kill(1, 0)
    elif how == "crash":
        sys.stderr.write("a tail \\xe9\\n" * 20)
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
    elif how == "exit":
        os._exit(3)
    elif how == "raise":
        raise ValueError("remote")
    elif how == "object":
        return object()
    elif how == "garbage":
        for fd in range(3, 16):
            try:
                os.write(fd, b"\\x00\\x00\\x00\\x04\\xc1\\xc1\\xc1\\xc1")
            except OSError:
                pass
        time.sleep(5)
    elif how == "sleep":
        time.sleep(5)
    return 0
'''

PARENT = '''
import os, sys, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
loaded = set(sys.modules)
names = sorted(n for n in sys.stdlib_module_names - loaded
               if n not in sys.builtin_module_names and not n.startswith("__"))
hows = ["open", "directory", "stat", "exec", "kill", "crash", "exit", "raise", "object",
        "garbage", "sleep"]
planter = pledgepy.Worker("planter", promises="stdio wpath cpath", unveil=[(d, "rwc")],
                          timeout=2.0)
print("planted", planter.call("plant", d, names))
seen = []  # every import from now on: each must come from no file, the stdlib's or pledgepy's
sys.addaudithook(lambda event, args: seen.append(args[0]) if event == "import" else None)
for how in hows:  # the running worker's every kind of failure
    try:
        planter.call("violate", how)
    except pledgepy.WorkerError as exc:
        print(how, type(exc).__name__)
for kind in sys.argv[1:]:  # then other workers started meanwhile
    if kind == "fork":
        w = pledgepy.Worker("planter", promises="stdio", start="fork", timeout=2.0)
    elif kind == "partial":  # a warning: its display imports linecache
        w = pledgepy.Worker("planter", promises="stdio", execpromises="stdio", timeout=2.0)
    else:
        w = pledgepy.Worker("planter", promises="stdio", user=kind, timeout=2.0)
    w.call("ok")
    for how in hows:
        try:
            w.call("violate", how)
        except pledgepy.WorkerError as exc:
            print(kind, how, type(exc).__name__)
    w.close()
planter.close()
ran = sorted(n for n in os.listdir(d) if n.startswith("RAN-") and n.endswith(f"-{os.getpid()}"))
top = os.path.dirname(os.__file__)
ours = os.path.dirname(pledgepy.__file__)
outside = sorted({n for n in seen if n not in sys.builtin_module_names and not any(
    getattr(sys.modules.get(n), "__file__", None) is None
    or os.path.realpath(sys.modules[n].__file__).startswith(os.path.realpath(p) + os.sep)
    for p in (top, ours))})
print("imported from elsewhere:", outside)
print("RAN", ran if ran else "none")
'''


def _run_parent(tmp_path: Path, *kinds: str) -> str:
    """parent.py in app/ (its sys.path[0], the planter's to write), planter.py in lib/
    (elsewhere: no warning of an overlapping unveil loads linecache first)."""
    app, lib = tmp_path / "app", tmp_path / "lib"
    app.mkdir()
    lib.mkdir()
    (lib / "planter.py").write_text(PLANTER)
    (app / "parent.py").write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(lib), str(Path(__file__).resolve().parent.parent)]))
    r = subprocess.run([sys.executable, "-W", "always", str(app / "parent.py"), *kinds],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "planted" in r.stdout and (app / "traceback.py").exists(), r.stdout
    return r.stdout


@root
@pytest.mark.parametrize("kinds", [[], ["fork"], ["partial"], ["fork", "partial"]])
def test_no_worker_makes_its_parent_import_a_module_it_planted(
        tmp_path: Path, kinds: list[str]) -> None:
    """A "stdio wpath cpath" worker unveiled the parent's script directory (sys.path[0])
    writes a module for every standard name the parent has not loaded, then fails in
    every way (violations of each kind, crash with a stderr tail, exit, RemoteError,
    a malformed reply, timeout); meanwhile the parent starts other workers. On main the
    parent ran the planted modules when it started a fork-mode worker (its warm-up:
    traceback, linecache, tokenize, token, textwrap, ctypes, ast, unicodedata) or
    warned of a worker enforced in part (linecache, tokenize, token: the warning's
    source line). Now, once a worker has run, what pledgepy imports in the parent comes
    from the standard library's directories alone (fence.py): RAN none. (kinds=[]:
    the running worker's failures alone imported nothing, on main too: the guard.)"""
    out = _run_parent(tmp_path, *kinds)
    assert "imported from elsewhere: []" in out, out
    assert out.strip().endswith("RAN none"), out


# ---- the pledge command's supervisor --------------------------------------------------

#: Runs the command with an audit hook: every import once PROG may run (the supervisor's
#: "go" write to the waiting child) is written to LOG, as "pid name".
WRAP = '''
import os, sys
LOG = os.environ.pop("LAZYIMPORT_LOG")
state = {"go": False}
_write = os.write


def write(fd, data):
    if data == b"x":  # supervise.watch's go: PROG's own code runs from here on
        state["go"] = True
    return _write(fd, data)


os.write = write


def hook(event, args):
    if event == "import" and state["go"] and args[0] not in sys.builtin_module_names:
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _write(fd, f"{os.getpid()} {args[0]}\\n".encode())
        os.close(fd)


sys.addaudithook(hook)
sys.argv = ["pledge", *sys.argv[1:]]
import runpy
runpy.run_module("pledgepy", run_name="__main__", alter_sys=True)
'''

PROG = '''
import os, signal, socket, sys, threading
how = sys.argv[1]
if how == "open":
    os.open("/etc/shadow", os.O_RDONLY)
elif how == "write":
    os.open(os.path.join(sys.argv[2], "new"), os.O_WRONLY | os.O_CREAT)
elif how == "socket":
    socket.socket()
elif how == "exec":
    os.execv("/bin/true", ["true"])
elif how == "kill":
    os.kill(1, 0)
elif how == "tty":
    os.open("/dev/tty", os.O_RDWR)
elif how == "chmod":
    os.chmod(sys.argv[2], 0o777)
elif how == "abort":
    os.abort()
elif how == "stderr":
    sys.stderr.write("x\\xff" * 5000)
    sys.exit(3)
elif how == "threads":  # allowance stats of threads an exit_group ends
    for _ in range(4):
        threading.Thread(target=os.stat, args=("/etc/localtime",)).start()
    os._exit(0)
elif how == "spin":
    while True:
        pass
'''

HOWS = ["open", "write", "socket", "exec", "kill", "tty", "chmod", "abort", "stderr",
        "threads", "spin"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs /usr/bin/python3")
@pytest.mark.parametrize("user", [None, "nobody"])
def test_the_supervisor_imports_nothing_once_prog_runs(tmp_path: Path, user: str | None) -> None:
    """The command's supervisor, for a PROG (python3) that breaks each kind of promise,
    aborts, leaves a long stderr, exits from threads mid-allowance or runs out of CPU
    time (-C 1), with and without -u: no module is imported, but built-in ones, once
    PROG runs (so nothing PROG could have written into a sys.path directory is). This
    passed on main too (round 7 loads the supervisor's answers before PROG runs): the
    guard that no answer, note or explanation added since imports lazily."""
    if user is not None and os.geteuid() != 0:
        pytest.skip("-u is root's")
    os.chmod(tmp_path, 0o755)
    (tmp_path / "wrap.py").write_text(WRAP)
    (tmp_path / "prog.py").write_text(PROG)
    log = tmp_path / "log"
    env = dict(os.environ, LAZYIMPORT_LOG=str(log),
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    ran = []
    for how in HOWS:
        cmd = [sys.executable, str(tmp_path / "wrap.py"), "-C", "1", "-p", "stdio",
               *(["-u", user] if user else []), "--", "/usr/bin/python3", "-I",
               str(tmp_path / "prog.py"), how, str(tmp_path)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        ran.append((how, r.returncode))
        assert r.returncode != 0 or how == "threads", (how, r.stderr)
        if how in ("open", "socket", "exec", "kill"):
            assert "pledge: " in r.stderr, (how, r.stderr)  # explained: the path ran
    imported = log.read_text() if log.exists() else ""
    assert imported == "", (imported, ran)


DIES = '''
import os, sys, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
w = pledgepy.Worker("json", promises="stdio")
# socket is loaded here already; the worker's start-up imports it afresh and dies of it
with open(os.path.join(d, "socket.py"), "w") as f:
    f.write("import os\\nos._exit(7)\\n")
try:
    w.start()
except pledgepy.WorkerError as exc:
    print(type(exc).__name__, exc.returncode if hasattr(exc, "returncode") else "")
'''


def test_a_worker_that_dies_before_reading_its_config_is_a_worker_error(tmp_path: Path) -> None:
    """A worker whose start-up dies before it reads its config (here a module of the
    parent's sys.path that exits 7; in the planting test above, a restarted worker
    meeting a planted module) left the config the parent had sent early unread: the
    parent's read got ECONNRESET, and on main Worker.start() raised a bare
    ConnectionResetError, no WorkerError. Now it is WorkerCrashed, status 7."""
    (tmp_path / "dies.py").write_text(DIES)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    r = subprocess.run([sys.executable, str(tmp_path / "dies.py")], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "WorkerCrashed 7", r.stdout + r.stderr


# ---- the explainer of a pledged process's children ------------------------------------

CALLER = '''
import os, subprocess, sys
import pledgepy
LOG = sys.argv[1]
me = os.getpid()
_open, _write, _close = os.open, os.write, os.close


def hook(event, args):  # the explainer's imports (a fork of this process: not me)
    if event == "import" and os.getpid() != me and args[0] not in sys.builtin_module_names:
        fd = _open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _write(fd, f"{os.getpid()} {args[0]}\\n".encode())
        _close(fd)


sys.addaudithook(hook)
pledgepy.pledge("stdio rpath proc exec prot_exec", "stdio rpath prot_exec")
for argv in (["/bin/sh", "-c", ": > " + os.path.join(sys.argv[2], "no")],
             ["/usr/bin/python3", "-c", "import socket; socket.socket()"],
             ["/usr/bin/python3", "-c", "import os; os.kill(1, 0)"],
             ["/usr/bin/python3", "-c", "import os; os.abort()"]):
    r = subprocess.run(argv, capture_output=True, text=True)
    print(r.returncode)
'''


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs /usr/bin/python3")
def test_the_explainer_imports_nothing_once_a_child_runs(tmp_path: Path) -> None:
    """The explainer (forked at a pledge holding exec, outside every sandbox) explains
    its children's violations of each kind: it imports no module but built-in ones
    (its sys.path is emptied, its answers loaded before the fork). This passed on
    main too: the guard."""
    (tmp_path / "caller.py").write_text(CALLER)
    log = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    r = subprocess.run([sys.executable, "-W", "ignore", str(tmp_path / "caller.py"), str(log),
                        str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["-6"] * 4, r.stdout + r.stderr
    for needs in ('needs "wpath cpath"', 'needs "inet"', 'kill(1) needs "proc"'):
        assert needs in r.stderr, r.stderr  # the explainer's: each path ran
    assert not log.exists(), log.read_text()
