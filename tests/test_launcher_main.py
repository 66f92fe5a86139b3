"""The native launcher's main.c and supervise.c: which path runs (the fast one, the
Python command's fallback, the takeover), the command line read as the Python command
reads it, PROG's end passed through, the takeover's argv and STATE.

Built here from launcher/*.c with tests/data/lmain_stubs.c for the parts that are not
in yet (their filter routes only execve, mkdir and executable mappings to the listener);
beside it a ``pledge-python`` whose ``#!`` interpreter records what it was given."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledgepy import cli
from pledgepy.command import options

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "pledgepy" / "backends" / "linux" / "native" / "launcher"
STUBS = Path(__file__).parent / "data" / "lmain_stubs.c"
CC = shutil.which("cc") or shutil.which("gcc")
SHIMS = list((ROOT / "pledgepy" / "backends" / "linux" / "native").glob("_shim.*.so"))
CODE = "from pledgepy.command.takeover import main; main()"
#: What the fake interpreter does: its arguments to $LMAIN_OUT, one a line; PROG killed.
FAKE = """#!/bin/sh
printf '%s\\n' "$@" > "$LMAIN_OUT"
pid=$(printf '%s' "$4" | tr ',' '\\n' | sed -n 's/^pid=//p')
[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
exit 99
"""


def _build(where: Path) -> Path:
    out = where / "pledge"
    # main.c and supervise.c over the stubs of every other part (the real parts: their own tests)
    sources = [str(LAUNCHER / n) for n in ("main.c", "supervise.c")] + [str(STUBS)]
    subprocess.run([CC or "cc", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{LAUNCHER}",
                    f'-DPL_PACKAGE_DIR="{ROOT / "pledgepy"}"', *sources, "-o", str(out)],
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def fake() -> Iterator[Path]:
    """A launcher whose pledge-python's interpreter records its argv."""
    if CC is None:
        pytest.skip("no C compiler")
    if not SHIMS:
        pytest.skip("the start-up shim is not built")
    where = Path(tempfile.mkdtemp(prefix="lmain-test-"))
    try:
        _build(where)
        interp = where / "interp"
        interp.write_text(FAKE)
        interp.chmod(0o755)
        (where / "pledge-python").write_text(f"#!{interp}\n")
        (where / "pledge-python").chmod(0o755)
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def real() -> Iterator[Path]:
    """A launcher whose pledge-python is the Python command."""
    if CC is None:
        pytest.skip("no C compiler")
    where = Path(tempfile.mkdtemp(prefix="lmain-test-"))
    try:
        _build(where)
        (where / "pledge-python").write_text(
            f"#!{sys.executable}\nfrom pledgepy.cli import leave, main\nleave(main())\n")
        (where / "pledge-python").chmod(0o755)
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def run(where: Path, *args: str, out: Path | None = None, **env: str
        ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C", **env}
    full.pop("LANG", None)
    full.pop("PLEDGEPY_LAUNCHER", None)
    full.update(env)
    if out is not None:
        full["LMAIN_OUT"] = str(out)
    return subprocess.run([str(where / "pledge"), *args], capture_output=True, text=True,
                          env=full, stdin=subprocess.DEVNULL, timeout=60, check=False)


def state_of(lines: list[str]) -> dict[str, str]:
    assert lines[:3] == ["-I", "-c", CODE]
    return dict(kv.partition("=")[::2] for kv in lines[3].split(","))


OFF_PATH = [
    ["-V", "true"], ["-u", "nobody", "true"], ["-g", "0", "true"], ["-c", "/", "true"],
    ["-n", "1", "true"], ["-N", "true"], ["-D", "true"], ["-C", "5", "true"],
    ["-M", "1G", "true"], ["-O", "64", "true"], ["-P", "9", "true"], ["-F", "1M", "true"],
    ["-T", "pledge"], ["--learn", "true"], ["--profile", "x", "true"], ["--help"], ["-h"],
    ["--version"], ["--json", "true"], ["-o", "/dev/null", "true"], ["--save", "x", "true"],
    ["--every-call", "true"], ["-qV", "true"], ["-pstdio", "-Vq", "true"],
    ["--s", "true"], ["--strict=1", "true"], ["--stricter", "true"], ["-p=stdio", "true"],
    ["-p", "-q", "true"], ["-p"], [], ["-q"], ["--", "-q", "true"], ["-v", "w:/tmp", "true"],
    ["-v", "c:/tmp/new", "true"], ["-v", "rw:/tmp", "true"], ["-v", ":/tmp", "true"],
    ["-v", "/nonexistent-lmain", "true"], ["-v", "/etc/../etc", "true"], ["-v", "/etc/", "true"],
    ["-v", "", "true"], ["-v", "//etc", "true"], ["-p", "stdio nosuch", "true"],
    ["-p", "rpath", "true"], ["-x", "true"], ["-p", "stdio", "-1"],
]


@pytest.mark.parametrize("args", OFF_PATH, ids=lambda a: " ".join(a) or "(none)")
def test_off_the_path_falls_back_with_argv_unchanged(fake: Path, tmp_path: Path,
                                                     args: list[str]) -> None:
    out = tmp_path / "argv"
    got = run(fake, *args, out=out)
    # the kernel runs `interp pledge-python ARGS...`: the script, then our argv after argv[0]
    assert out.read_text().splitlines() == [str(fake / "pledge-python"), *args]
    assert got.returncode == 99, got.stderr
    native = run(fake, *args, PLEDGEPY_LAUNCHER="native")
    assert native.returncode == 70
    assert native.stderr.startswith("pledge: launcher: ") and native.stderr.count("\n") == 1


def test_launcher_python_always_falls_back(fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "argv"
    got = run(fake, "-p", "stdio", "true", out=out, PLEDGEPY_LAUNCHER="python")
    assert got.returncode == 99
    assert out.read_text().splitlines() == [str(fake / "pledge-python"), "-p", "stdio", "true"]


def test_fallback_runs_the_python_command(real: Path) -> None:
    got = run(real, "-V", "sh", "-c", "exit 5")
    assert got.returncode == 5, got.stderr
    got = run(real, "-p", "stdio rpath", "sh", "-c", "exit 6", PLEDGEPY_LAUNCHER="python")
    assert got.returncode == 6, got.stderr


def test_unrunnable_pledge_python_is_one_line_and_70(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("no C compiler")
    _build(tmp_path)
    got = run(tmp_path, "-V", "true")
    assert got.returncode == 70
    assert got.stderr == f"pledge: cannot run {tmp_path / 'pledge-python'}: " \
                         "No such file or directory\n"


READS = [
    ["true"], ["-q", "true"], ["--strict", "true"], ["--st", "true"], ["--stri", "true"],
    ["-p", "stdio", "true"], ["-pstdio", "true"], ["-p", "stdio", "-p", "rpath", "true"],
    ["-qp", "stdio", "true"], ["-qpstdio rpath", "true"], ["-qq", "true"],
    ["-v", "/etc", "true"], ["-v/etc", "true"], ["-qv", "x:/usr", "true"],
    ["-v", "rx:/usr", "-v", "/a:b:c" if os.path.exists("/a:b:c") else "/tmp", "true"],
    ["-v", "etc", "true"], ["--", "true", "-p", "x"], ["true", "-q", "--", "-V"],
    ["-p", "stdio", "--", "sh", "-c", "--"], ["-q", "-", "x"], ["-p", "stdio rpath", "cat"],
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_the_line_is_read_as_the_python_command_reads_it(fake: Path, args: list[str]) -> None:
    if "etc" in args:
        cwd = "/"
    else:
        cwd = os.getcwd()
    full = {**os.environ, "LMAIN_STUB_SHOW": "1", "PLEDGEPY_LAUNCHER": "native"}
    got = subprocess.run([str(fake / "pledge"), *args], capture_output=True, text=True,
                         env=full, cwd=cwd, timeout=60, check=False)
    line = got.stderr.splitlines()[0]
    assert line.startswith("JOB "), got.stderr
    fields = line[4:].split(" ")
    promises = line.split(" promises=", 1)[1].split(" quiet=", 1)[0]
    seen = {"unveil": [f[7:] for f in fields if f.startswith("unveil=")],
            "arg": [f[4:] for f in fields if f.startswith("arg=")]}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        opts = options.parse(list(args))
        want_unveil = [f"{p}:{w}" for w, p in (cli._unveil_spec(s) for s in opts.unveil)]
    finally:
        os.chdir(old)
    assert promises == options.promise_text(opts)
    assert f"quiet={int(opts.quiet)} strict={int(opts.strict)}" in line
    assert seen["unveil"] == want_unveil
    if " " not in "".join([opts.prog, *opts.args]):  # the stub's line splits on spaces
        assert seen["arg"] == [opts.prog, *opts.args]
    # argparse itself, where quick did not read it, agrees too
    parsed = options.parser().parse_args(list(args))
    assert (parsed.prog, parsed.args) == (opts.prog, opts.args)


def test_clean_end_runs_no_python(fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "argv"
    got = run(fake, "-p", "stdio", "true", out=out)
    assert (got.returncode, got.stderr) == (0, "")
    assert not out.exists()  # neither the fallback nor the takeover ran


@pytest.mark.parametrize(("script", "status"), [("exit 3", 3 << 8), ("kill -TERM $$", 15)])
def test_unclean_end_is_taken_over_with_its_status(fake: Path, tmp_path: Path, script: str,
                                                   status: int) -> None:
    out = tmp_path / "argv"
    got = run(fake, "-q", "-p", "stdio", "sh", "-c", script, out=out)
    assert got.returncode == 99, got.stderr
    lines = out.read_text().splitlines()
    state = state_of(lines)
    assert lines[4:] == ["--", "-q", "-p", "stdio", "sh", "-c", script]
    assert int(state["status"]) == status and "notif" not in state
    assert int(state["cpu_us"]) >= 0
    assert (state["shim"], state["execed"], state["opening"]) == ("1", "1", "0")
    assert int(state["held"], 16) == 0b11 | 1 << 19 | 1 << 20  # stdio, rpath, exec, prot_exec
    assert int(state["after"], 16) == 1
    assert state["uid"] == str(os.getuid())
    assert state["gids"].split(":") == [str(g) for g in sorted({os.getgid(), *os.getgroups()})]
    assert int(state["listener"]) > 2 and int(state["err"]) > 2


def test_violation_is_taken_over_with_its_notification(fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "argv"
    made = tmp_path / "made"
    run(fake, "-p", "stdio rpath", "mkdir", str(made), out=out)
    state = state_of(out.read_text().splitlines())
    ident, tid, nr, a0, *_ = state["notif"].split(":")
    assert int(nr, 16) == 83  # x86_64 mkdir, not let through
    assert int(tid, 16) == int(state["pid"])
    assert (state["execed"], state["opening"]) == ("1", "0")
    assert "status" not in state
    assert not made.exists()


def test_second_execve_is_not_the_commands(fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "argv"
    run(fake, "-p", "stdio rpath", "sh", "-c", "exec true", out=out)
    state = state_of(out.read_text().splitlines())
    assert int(state["notif"].split(":")[2], 16) == 59  # execve


def test_takeover_that_cannot_exec_falls_back_before_the_fork(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("no C compiler")
    _build(tmp_path)
    (tmp_path / "pledge-python").write_text("#!/nonexistent/python3\n")
    (tmp_path / "pledge-python").chmod(0o755)
    got = run(tmp_path, "-p", "stdio", "true", PLEDGEPY_LAUNCHER="native")
    assert got.returncode == 70
    assert got.stderr.startswith("pledge: launcher: ") and "#!" in got.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become uid 65534")
def test_as_another_user(fake: Path) -> None:
    """As uid 65534 (no capabilities): the listener is still taken (pidfd_getfd needs
    ptrace rights over the child), a clean end still needs no Python."""
    fake.chmod(0o755)
    drop = fake / "nobody"
    drop.mkdir(exist_ok=True)
    drop.chmod(0o777)
    out = drop / "argv"

    def become() -> None:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C", "LMAIN_OUT": str(out)}
    env.pop("PLEDGEPY_LAUNCHER", None)
    got = subprocess.run([str(fake / "pledge"), "-p", "stdio", "true"], capture_output=True,
                         text=True, env=env, cwd="/", preexec_fn=become, timeout=60, check=False)
    assert (got.returncode, got.stderr, out.exists()) == (0, "", False)
    subprocess.run([str(fake / "pledge"), "-p", "stdio rpath", "mkdir", str(drop / "made")],
                   capture_output=True, text=True, env=env, cwd="/", preexec_fn=become,
                   timeout=60, check=False)
    state = state_of(out.read_text().splitlines())
    assert (state["uid"], state["gids"]) == ("65534", "65534")
    assert int(state["notif"].split(":")[2], 16) == 83
    assert not (drop / "made").exists()


def test_violation_while_opening_hands_over_the_phase(fake: Path, tmp_path: Path) -> None:
    """A preloaded library's constructor runs before the shim's READY: its call is not the
    loader's, and the takeover gets the phase as it stands (the deadline still running)."""
    early = tmp_path / "early.c"
    early.write_text('#include <sys/stat.h>\n__attribute__((constructor)) static void early'
                     '(void) { mkdir("/nonexistent-lmain/x", 0700); }\n')
    subprocess.run([CC or "cc", "-shared", "-fPIC", "-o", str(tmp_path / "early.so"),
                    str(early)], check=True)
    out = tmp_path / "argv"
    run(fake, "-p", "stdio", "true", out=out, LD_PRELOAD=str(tmp_path / "early.so"))
    state = state_of(out.read_text().splitlines())
    assert (state["execed"], state["opening"], state["shim"]) == ("1", "1", "1")
    assert 0 <= int(state["deadline_ms"]) <= 10000
    assert int(state["notif"].split(":")[2], 16) == 83


def test_confine_falling_back_in_the_child_falls_back_whole(fake: Path, tmp_path: Path) -> None:
    """pl_confine's PL_FALLBACK comes in the child, before it changed or said anything:
    the launcher reaps it and execs the Python command with its argv unchanged."""
    out = tmp_path / "argv"
    got = run(fake, "-p", "stdio", "true", out=out, LMAIN_STUB_CONFINE="fallback")
    assert got.returncode == 99 and got.stderr == ""
    assert out.read_text().splitlines() == [str(fake / "pledge-python"), "-p", "stdio", "true"]
    native = run(fake, "-p", "stdio", "true", LMAIN_STUB_CONFINE="fallback",
                 PLEDGEPY_LAUNCHER="native")
    assert (native.returncode, native.stderr) == (70, "pledge: launcher: confine: off the "
                                                      "common path\n")


def test_launcher_killed_takes_prog_with_it(fake: Path, tmp_path: Path) -> None:
    """A SIGKILL of the launcher leaves no PROG running unsupervised (die-with-parent)."""
    import signal
    import time

    pidfile = tmp_path / "pid"
    full = {**os.environ, "PYTHONPATH": str(ROOT), "LMAIN_OUT": str(tmp_path / "argv")}
    full.pop("PLEDGEPY_LAUNCHER", None)
    launcher = subprocess.Popen([str(fake / "pledge"), "-p", "stdio rpath", "sh", "-c",
                                 f"echo $$ > {pidfile}; while :; do :; done"],  # no exec: no takeover
                                env=full, stdin=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.01)
        prog = int(pidfile.read_text())
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    for _ in range(500):
        try:
            with open(f"/proc/{prog}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        os.kill(prog, signal.SIGKILL)
        pytest.fail("PROG outlived its launcher")
    assert not (tmp_path / "argv").exists()  # it was the launcher's child, not a takeover's


LIBRARY_NAMES = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/libcap.so.2.66", "/opt/x.so",
                 "/etc/ld.so.cache", "/lib64/ld-linux-x86-64.so.2", "libc.so.6", "/a/.so",
                 "/a/libx.so.", "/a/libx.so.1a", "/a/libx.so.1.so", "/a/libx.sox", "/a/x.so.so.3",
                 "/usr/lib/locale/locale-archive", "/a/libpython3.11.so.1.0", "/a/.so.1"]


def test_what_counts_as_a_library_in_the_maps(tmp_path: Path) -> None:
    """supervise.c's is_library is shim._is_library: /etc/ld.so.cache, which the loader
    maps before the shim under LD_AUDIT, is none (the phase was failed and PROG killed)."""
    from pledgepy.backends.linux.exec import shim

    driver = tmp_path / "islib.c"
    driver.write_text('#include "supervise.c"\n#include <stdio.h>\n'
                      "int main(int argc, char **argv)\n{\n"
                      "    for (int i = 1; i < argc; i++)\n"
                      '        printf("%d\\n", is_library(argv[i]));\n    return 0;\n}\n')
    out = tmp_path / "islib"
    subprocess.run([CC or "cc", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                    f"-I{LAUNCHER}", f'-DPL_PACKAGE_DIR="{ROOT / "pledgepy"}"', str(driver),
                    str(STUBS), "-o", str(out)], check=True, capture_output=True, text=True)
    got = subprocess.run([str(out), *LIBRARY_NAMES], capture_output=True, text=True,
                         check=True).stdout.split()
    want = [str(int(shim._is_library(n))) for n in LIBRARY_NAMES]
    assert got == want
    assert want[:4] == ["1", "1", "1", "0"] and want[4] == "0"
