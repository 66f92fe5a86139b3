"""The command's start-up path: the quick option reader agrees with argparse, and a run
imports none of what it does not need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from pledgepy.command import limits, options
from tests.childproc import ROOT

LINES = [
    ["true"], ["-q", "true"], ["-p", "stdio", "-p", "rpath", "cat", "/etc/hostname"],
    ["-p", "", "true"], ["-v", "rw:/tmp", "-v", "/etc", "-V", "ls", "-l"],
    ["-u", "nobody", "-g", "65534", "-c", "/", "-n", "5", "-N", "-D", "true"],
    ["-C", "5", "-M", "256M", "-O", "64", "-P", "8", "-F", "1mb", "sh", "-c", "x"],
    ["-M", "1024k", "-F", "3G", "true"], ["--strict", "--", "ls", "-a"], ["--", "true", "--"],
    ["--learn", "--json", "-o", "out", "--save", "x", "true"], ["--profile", "p", "true"],
    ["--every-call", "--learn", "ls"], ["-q"], [], ["ls", "-q", "-p", "x"], ["-", "x"],
]
#: Forms the quick reader leaves to argparse (it must return None for them).
DEFERRED = [["-qV", "true"], ["--strict=1"], ["-pstdio", "true"], ["-n", "-5", "true"],
            ["-h"], ["--help"], ["--version"], ["-T", "pledge"], ["--str", "true"],
            ["-M", "lots", "true"], ["-C", "-1", "true"], ["-p"], ["-x", "true"],
            ["--", "-true"], ["-O", "٣", "true"]]


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_quick_reads_as_argparse_does(argv: list[str]) -> None:
    quick = options.quick(argv)
    assert quick is not None
    assert vars(quick) == vars(options.parser().parse_args(argv))


@pytest.mark.parametrize("argv", DEFERRED, ids=" ".join)
def test_everything_else_goes_to_argparse(argv: list[str]) -> None:
    assert options.quick(argv) is None


def test_sizes_and_counts() -> None:
    assert [options.size(t) for t in ("1", "1k", "2M", "1G", "1t", "1mb", " 3K ")] == \
        [1, 1024, 2 << 20, 1 << 30, 1 << 40, 1 << 20, 3072]
    for bad in ("", "k", "1x", "-1", "1.5M", "١"):
        with pytest.raises(ValueError):
            options.size(bad)


#: Modules a plain run must not import in the command's own process (cost, and nothing
#: it needs): argparse, subprocess, re (the console script itself imports re), typing, ...
AVOIDED = ("argparse", "subprocess", "typing", "shutil", "json", "dataclasses", "pathlib",
           "re", "enum", "signal", "contextlib", "collections", "functools",
           # the build checks hash in the native module (round 10; on main the shim's
           # check loaded _sha256, and an installed copy's check _blake2)
           "hashlib", "_sha2", "_sha256", "_blake2")


#: Code that has the console script's exit run the expression given (cli.leave skips the
#: teardown, so no code after the script runs; it runs what atexit holds, as sys.exit).
_AT_LEAVE = "import atexit\natexit.register(lambda: {})\n"


def test_a_run_imports_nothing_it_does_not_need() -> None:
    # -S: site's .pth files (an editable install's finder) import what the command does not
    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = (f"import sys\nsys.path[:0] = {paths!r}\nfrom pledgepy import cli\n"
            "rc = cli.main(['-q', '-p', 'stdio rpath', '/bin/true'])\n"
            f"print(sorted(m for m in {AVOIDED!r} if m in sys.modules)); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


#: The supervisor's answers to calls that may be violations: the child never needs them;
#: the supervisor loads them after the fork but before the program runs, even when it
#: breaks no promise (imported later, a module the program wrote into a directory of
#: sys.path would run in the supervisor: tests/test_review_r7_attack.py).
NOT_WITHOUT_VIOLATIONS = ("pledgepy.backends.linux.exec.answer",
                          "pledgepy.backends.linux.exec.ttyopen")
#: Loaded by neither process: the answers make their calls through the native module
#: (round 10; ctypes and the types module it imports were ~8 M instructions of the run).
NOWHERE = ("ctypes", "types")


def test_a_run_without_violations_loads_its_answers_in_the_supervisor_only() -> None:
    """Fails on main before round 10: the supervisor's answers imported ctypes there."""
    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = (f"import os, sys\nsys.path[:0] = {paths!r}\nfrom pledgepy import cli\n"
            "r, w = os.pipe()\n"
            "os.register_at_fork(after_in_child=lambda: sys.addaudithook("
            "lambda ev, args: ev == 'import' and args[0] in "
            f"{NOT_WITHOUT_VIOLATIONS + NOWHERE!r} and os.write(w, b'c')))\n"
            "rc = cli.main(['-q', '-p', 'stdio rpath', '/bin/true'])\nos.close(w)\n"
            f"print(os.read(r, 10), sorted(m for m in {NOT_WITHOUT_VIOLATIONS + NOWHERE!r} "
            "if m in sys.modules))\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    # the child's imports, then the parent's
    assert r.stdout.strip() == f"b'' {sorted(NOT_WITHOUT_VIOLATIONS)}", r.stdout


def test_the_supervisor_explains_and_punishes_a_violation() -> None:
    # with its answers loaded before the program ran
    script = shutil.which("pledge", path=os.path.dirname(sys.executable))
    assert script is not None
    r = subprocess.run([script, "-p", "stdio rpath", "sh", "-c", "echo x > /dev/null/x; :"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 134, (r.returncode, r.stderr)
    assert "sh[" in r.stderr and "wpath" in r.stderr, r.stderr


def test_the_console_script_imports_nothing_it_does_not_need() -> None:
    # the installed script itself (pip's generated ones import re, and re enum)
    script = shutil.which("pledge-python", path=os.path.dirname(sys.executable))
    assert script is not None
    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = (f"import sys\nsys.path[:0] = {paths!r}\nsys.argv = [{script!r}, '-q', '-p', 'stdio rpath', "
            f"'/bin/true']\n" + _AT_LEAVE.format(
                f"print(sorted(m for m in {AVOIDED!r} if m in sys.modules))") +
            f"exec(compile(open({script!r}).read(), {script!r}, 'exec'), {{'__name__': '__main__'}})")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


def _every_entry(path: str) -> dict[str, list[str]]:
    """The loader cache read in full (the reference for the lazy reader)."""
    import struct

    data = open(path, "rb").read()
    start = data.find(b"glibc-ld.so.cache1.1")
    nlibs, = struct.unpack_from("<I", data, start + 20)
    out: dict[str, list[str]] = {}

    def string(at: int) -> str:
        return data[start + at:data.index(b"\0", start + at)].decode()
    for i in range(nlibs):
        _, key, value = struct.unpack_from("<iII", data, start + 48 + 24 * i)
        out.setdefault(string(key), []).append(string(value))
    return out


def test_the_loader_cache_is_read_lazily_and_completely() -> None:
    from pledgepy.command import elf

    if not os.path.exists(elf.CACHE):
        pytest.skip("no glibc loader cache")
    every = _every_entry(elf.CACHE)
    got = elf.cache()
    assert every and all(sorted(got.get(k)) == sorted(v) for k, v in every.items())
    assert got.get("libnot-a-library-pledgepy.so") == ()
    assert elf.cache("/nonexistent-pledgepy").get("libc.so.6") == ()


def test_remembered_reads_give_the_same_plans() -> None:
    # elf.remember(): the command's child reuses what its parent read (a fresh process:
    # the memo lasts for the rest of it)
    code = """
import sys
from pledgepy.command import discover, elf, loader
P = frozenset({"stdio", "rpath", "prot_exec", "exec"})
progs = ["/bin/true", "/bin/ls", "/bin/sh", sys.executable]
before = [discover.plan(p, [p], P).rules for p in progs], loader.nss_modules()
elf.remember()
assert elf.cache() is elf.cache()
after = [discover.plan(p, [p], P).rules for p in progs], loader.nss_modules()
again = [discover.plan(p, [p], P).rules for p in progs], loader.nss_modules()
elf.forget()
print(before == after == again, elf.read("/bin/true") is not elf.read("/bin/true"))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60, check=False)
    assert r.stdout.strip() == "True True", r.stderr


def test_the_command_does_not_collect_garbage_before_the_fork() -> None:
    # start-up makes no garbage cycles; its collections cost milliseconds (and copied
    # pages in the child). The supervisor collects again after the fork.
    script = shutil.which("pledge-python", path=os.path.dirname(sys.executable))
    assert script is not None
    code = (f"import gc, os, sys\nsys.argv = [{script!r}, '-q', '-p', 'stdio rpath', '/bin/true']\n"
            f"body = compile(open({script!r}).read(), {script!r}, 'exec')\n"
            "n, forked = [0], [False]\n"
            "os.register_at_fork(before=lambda: forked.__setitem__(0, True))\n"
            "gc.callbacks.append(lambda phase, info: phase == 'start' and not forked[0]"
            " and n.__setitem__(0, n[0] + 1))\n"
            + _AT_LEAVE.format("print(n[0], gc.isenabled())") +
            "gc.collect()\n"  # the counters start at zero, as the script's own would
            "exec(body, {'__name__': '__main__'})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "True"], r.stdout  # 1: the gc.collect() above


def _leaving(body: str, **kw: object) -> subprocess.CompletedProcess[str]:
    code = f"import sys\nfrom pledgepy.cli import leave\n{body}\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffers to flush
    r: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-c", code], text=True, cwd=ROOT, timeout=60, check=False, env=env,
        **kw)
    return r


def test_leaving_flushes_runs_atexit_and_keeps_the_status() -> None:
    # cli.leave skips the teardown: what it must still do is what sys.exit's does first
    r = _leaving("import atexit\natexit.register(lambda: print('at exit', file=sys.stderr))\n"
                 "print('x' * 100000, end='')\nleave(5)\nprint('never')", capture_output=True)
    assert (r.returncode, len(r.stdout), r.stderr) == (5, 100000, "at exit\n")


def test_leaving_waits_for_threads_and_lets_a_failed_flush_fail() -> None:
    r = _leaving("import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), "
                 "print('thread done'))).start()\nleave(3)", capture_output=True)
    assert (r.returncode, r.stdout) == (3, "thread done\n")
    rd, wr = os.pipe()
    os.close(rd)  # stdout's reader is gone: the flush fails with EPIPE
    try:
        r = _leaving("import signal\nsignal.signal(signal.SIGPIPE, signal.SIG_IGN)\n"
                     "print('lost')\nleave(0)", stdout=wr, stderr=subprocess.PIPE)
    finally:
        os.close(wr)
    assert r.returncode == 120 and "BrokenPipeError" in r.stderr, r.stderr


@pytest.mark.parametrize("how", ["native", "ctypes"])
def test_the_child_drops_capabilities_and_closes_fds_either_way(how: str) -> None:
    # the command's child makes these calls through the native module; through ctypes
    # when the backend has none: both must leave the same (root: capabilities to drop)
    if os.geteuid() != 0:
        pytest.skip("needs root (capabilities to drop)")
    code = f"""
import os
from pledgepy import api
from pledgepy.command import limits
calls = api.backend().process_calls()
assert calls is not None  # built and loaded
if {how!r} == "ctypes":
    calls = limits.calls(None)
fd = os.open("/dev/null", os.O_RDONLY)
os.set_inheritable(fd, True)
limits.close_inherited(calls)
limits.drop_capabilities(calls)
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
              if ":\\t" in line)
print(type(calls).__name__, os.get_inheritable(fd), calls.prctl(27), int(status["CapPrm"], 16),
      int(status["CapEff"], 16), int(status["CapBnd"], 16), int(status["CapAmb"], 16))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    name = "ProcessCalls" if how == "native" else "_Ctypes"
    # PR_GET_SECUREBITS (27): limits.SECUREBITS, locked; every capability set empty
    assert r.stdout.split() == [name, "False", str(limits.SECUREBITS), "0", "0", "0", "0"], \
        r.stdout
