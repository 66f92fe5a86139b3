"""Round-14 attack and user tests of the pledge command as the native launcher runs it.

Each test runs the installed ``pledge`` two ways: ``python`` (PLEDGEPY_LAUNCHER=python,
always the Python command) and ``native`` (the launcher, falling back where it must:
skipped while the installed ``pledge`` is not an ELF file). Both must end alike: the
same exit status and the same stderr once pids are normalised; in native mode each run
is compared with the Python command's. PLEDGEPY_LAUNCHER=native (no fallback: exit 70
and ``pledge: launcher: <reason>``) shows which jobs take the fast path."""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import ROOT
from tests.cprogs import CC, DATA

SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ENV.pop("PLEDGEPY_LAUNCHER", None)
SETPRIV = shutil.which("setpriv")
NOBODY = [SETPRIV, "--reuid", "65534", "--regid", "65534", "--clear-groups"] if SETPRIV else []
VIOLATION = 134
INET = 'socket(AF_INET, SOCK_STREAM) needs "inet" or "dns"'
HOST = "/etc/passwd"  # a file every user can read, not unveiled by default
PROT_EXEC = 'mmap(PROT_READ|PROT_EXEC) needs "prot_exec"'


def _is_elf(path: str | None) -> bool:
    if path is None:
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


NATIVE = _is_elf(SCRIPT)
NO_LAUNCHER = "the installed pledge is not the native launcher (an ELF file) yet"


@pytest.fixture(params=["python", "native"])
def mode(request: pytest.FixtureRequest) -> str:
    if SCRIPT is None:
        pytest.skip("no installed pledge console script")
    if request.param == "native" and not NATIVE:
        pytest.skip(NO_LAUNCHER)
    return str(request.param)


def _env(mode: str, env: dict[str, str] | None) -> dict[str, str]:
    out = dict(ENV if env is None else env)
    out.pop("PLEDGEPY_LAUNCHER", None)
    if mode != "native":
        out["PLEDGEPY_LAUNCHER"] = mode
    return out


def _run(mode: str, args: tuple[str | bytes, ...], env: dict[str, str] | None,
         head: tuple[str, ...], **kw: object) -> subprocess.CompletedProcess[bytes]:
    assert SCRIPT is not None
    kw.setdefault("stdin", subprocess.DEVNULL)
    done: subprocess.CompletedProcess[bytes] = subprocess.run(  # type: ignore[call-overload]
        [*head, SCRIPT, *args], capture_output=True, env=_env(mode, env), timeout=60,
        check=False, **kw)
    return done


def normal(text: bytes) -> str:
    """stderr with pids as [PID] (each run has its own)."""
    return re.sub(r"\[\d+\]", "[PID]", text.decode(errors="replace"))


class Ran:
    def __init__(self, r: subprocess.CompletedProcess[bytes]) -> None:
        self.returncode, self.raw = r.returncode, r.stdout
        self.stdout = r.stdout.decode(errors="replace")
        self.stderr = normal(r.stderr)

    def __repr__(self) -> str:
        return f"Ran({self.returncode}, {self.stdout!r}, {self.stderr!r})"


def pledge(mode: str, *args: str | bytes, env: dict[str, str] | None = None,
           head: tuple[str, ...] = (), same_stdout: bool = True,
           ignore: str | None = None, **kw: object) -> Ran:
    """The command in *mode*; in native mode the Python command's run must match it.
    Lines holding *ignore* are left out of the stderr compared: the command's own
    interpreter prints some loader messages that the launcher, not being Python, does not;
    a timing decides some notes."""
    got = Ran(_run(mode, args, env, head, **kw))
    if mode == "native":
        ref = Ran(_run("python", args, env, head, **kw))

        def err(r: Ran) -> list[str]:
            return [line for line in r.stderr.splitlines() if ignore is None or ignore not in line]
        assert (got.returncode, err(got)) == (ref.returncode, err(ref)), (got, ref)
        if same_stdout:
            assert got.raw == ref.raw, (got, ref)
    return got


def fast(*args: str) -> Ran:
    """The job under PLEDGEPY_LAUNCHER=native: the launcher's own path or exit 70."""
    if SCRIPT is None or not NATIVE:
        pytest.skip(NO_LAUNCHER)
    return Ran(subprocess.run([SCRIPT, *args], capture_output=True, timeout=60, check=False,
                              stdin=subprocess.DEVNULL,
                              env={**_env("native", None), "PLEDGEPY_LAUNCHER": "native"}))


def nobody(program: str) -> tuple[str, ...]:
    """setpriv's prefix that runs the whole command as uid 65534, or a skip."""
    if os.geteuid() != 0 or SETPRIV is None:
        pytest.skip("needs root and setpriv to run the command as nobody")
    r = subprocess.run([*NOBODY, program, "--version"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL, timeout=60, env=_env("python", None))
    if r.returncode != 0:
        pytest.skip(f"{program} cannot start as nobody here")
    return tuple(str(word) for word in NOBODY)


@pytest.fixture(scope="module")
def bins() -> Iterator[dict[str, str]]:
    """tests/data/lattack.c, dynamic and static, in a directory every user can read."""
    if CC is None:
        pytest.skip("no C compiler for the attack programs")
    where = Path(tempfile.mkdtemp(prefix="lattack-"))
    try:
        where.chmod(0o755)
        src = str(DATA / "lattack.c")
        out = {"dyn": str(where / "lattack"), "static": str(where / "lattack-static")}
        subprocess.run([CC, "-O1", "-pthread", "-o", out["dyn"], src], check=True)
        r = subprocess.run([CC, "-O1", "-pthread", "-static", "-o", out["static"], src],
                           check=False, capture_output=True)
        if r.returncode != 0:
            del out["static"]  # no static libc here
        yield out
    finally:
        shutil.rmtree(where)


# ---- what the fast path must take (PLEDGEPY_LAUNCHER=native) ----

@pytest.mark.parametrize("args", [
    ("-p", "stdio rpath", "/bin/true"),
    ("-q", "cat", HOST),
    ("-q", "ls", "-l", "/etc/default"),
    ("-q", "-v", HOST, "cat", HOST),
    ("-q", "-v", "r:/etc", "cat", HOST),
    ("-q", "--strict", "-p", "stdio rpath", "true"),
    ("-q", "-p", "stdio", "-p", "rpath", "true"),
], ids=["true", "cat", "ls-l", "v", "v-perms", "strict", "p-twice"])
def test_the_common_path_is_the_launchers(args: tuple[str, ...]) -> None:
    r = fast(*args)
    assert "pledge: launcher:" not in r.stderr and r.returncode != 70, r


def test_forced_native_refuses_what_it_cannot_do() -> None:
    """Off the common path PLEDGEPY_LAUNCHER=native says why instead of falling back."""
    for args in (("-u", "nobody", "true"), ("-V", "true"), ("--learn", "true"),
                 ("-v", "rwc:/tmp", "true")):
        r = fast(*args)
        assert r.returncode == 70 and r.stderr.startswith("pledge: launcher: "), (args, r)


# ---- promises and the default unveil ----

def test_shadow_needs_rpath(mode: str) -> None:
    r = pledge(mode, "-p", "stdio", "cat", "/etc/shadow")
    assert r.returncode == VIOLATION and r.stdout == "", r
    assert 'openat("/etc/shadow", O_RDONLY) needs "rpath"' in r.stderr, r


def test_shadow_is_hidden_by_the_default_unveil(mode: str) -> None:
    r = pledge(mode, "-p", "stdio rpath", "cat", "/etc/shadow")
    assert r.returncode == 1 and r.stdout == "", r
    assert "cat: /etc/shadow: Permission denied" in r.stderr, r
    assert "give them with -v PATH" in r.stderr, r  # the hidden-path note


def test_writes_are_refused(mode: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = pledge(mode, "-q", "-p", "stdio rpath", "tee", str(out))
    assert r.returncode == VIOLATION and not out.exists(), r
    assert f'openat("{out}", O_WRONLY|O_CREAT|O_TRUNC) needs "wpath cpath"' in r.stderr, r


def test_a_violation_after_the_loader(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-p", "stdio", bins["dyn"], "violate")
    assert r.returncode == VIOLATION and "socket" not in r.stdout, r
    assert INET in r.stderr, r


def test_the_loaders_promises_end_before_main(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "map-exec")
    assert r.returncode == VIOLATION and "mapped" not in r.stdout, r
    assert PROT_EXEC in r.stderr, r


# ---- the loader phase ----

def test_a_fork_before_ready_is_narrowed_too(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio proc", bins["dyn"], "pre-fork")
    assert r.returncode == 0 and r.stdout == "main done\n", r
    assert PROT_EXEC in r.stderr, r


def test_a_fork_before_ready_needs_proc(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "pre-fork")
    assert r.returncode == VIOLATION and 'clone(fork) needs "proc"' in r.stderr, r


def test_a_forged_ready_only_ends_the_loader_sooner(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "pre-ready")
    assert r.returncode == VIOLATION and "mapped" not in r.stdout, r
    assert PROT_EXEC in r.stderr, r


def test_a_forged_failure_kills(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "pre-failed")
    assert r.returncode == 128 + signal.SIGKILL and r.stdout == "", r
    assert "its start-up shim failed (Operation not permitted); killed" in r.stderr, r


def test_exec_after_its_own_is_a_violation(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "exec")
    assert r.returncode == VIOLATION and "exec " not in r.stdout, r
    assert 'execve("/bin/true") needs "exec"' in r.stderr, r


def test_a_setuid_program_gains_nothing(mode: str, tmp_path: Path) -> None:
    """no_new_privs: a setuid-root copy of id runs as the caller (nobody)."""
    ident = shutil.which("id")
    assert ident is not None
    where = Path(tempfile.mkdtemp(prefix="lattack-suid-"))
    try:
        where.chmod(0o755)
        suid = where / "id"
        shutil.copy(ident, suid)
        os.chown(suid, 0, 0)
        suid.chmod(0o4755)
        r = pledge(mode, "-q", "-p", "stdio rpath", str(suid), "-u", head=nobody(SCRIPT or ""))
        assert r.returncode == 0 and r.stdout.strip() == "65534", r
    finally:
        shutil.rmtree(where)


def test_a_static_program(mode: str, bins: dict[str, str]) -> None:
    if "static" not in bins:
        pytest.skip("no static libc")
    r = pledge(mode, "-q", "-p", "stdio rpath", bins["static"], "violate")
    assert r.returncode == VIOLATION and INET in r.stderr, r
    r = pledge(mode, "-q", "-p", "stdio rpath", bins["static"], "map-exec")
    assert r.returncode == VIOLATION and PROT_EXEC in r.stderr, r


@pytest.mark.parametrize("var", ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES"])
def test_the_callers_loader_variables(mode: str, bins: dict[str, str], var: str,
                                      tmp_path: Path) -> None:
    """The caller's loader variables reach PROG as the Python command passes them, and
    win PROG nothing: a library they name is loaded (under Landlock, unveiled or not)
    with the loader's promises, which still end before main."""
    value = {"LD_PRELOAD": "libm.so.6", "LD_LIBRARY_PATH": str(tmp_path),
             "LD_AUDIT": "libnosuch-lattack.so", "GLIBC_TUNABLES": "glibc.malloc.check=3"}[var]
    env = {**ENV, var: value}
    # an audit library that cannot load: every process the loader starts says so once,
    # and the Python command's interpreter is one more of them than the launcher
    ignore = (f"ERROR: ld.so: object '{value}' cannot be loaded as audit interface: "
              "cannot open shared object file; ignored." if var == "LD_AUDIT" else None)
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "map-exec", env=env, ignore=ignore)
    assert r.returncode == VIOLATION and "mapped" not in r.stdout, r
    r = pledge(mode, "-q", "-p", "stdio rpath", "printenv", var, env=env, ignore=ignore)
    assert r.returncode == 0 and r.stdout == value + "\n", r
    if ignore is not None:  # PROG's loader still read the variable and said so
        assert ignore in r.stderr.splitlines(), r


# ---- processes and signals ----

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT])
def test_prog_killed_by_itself(mode: str, bins: dict[str, str], sig: int) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "signal", str(int(sig)))
    assert r.returncode == 128 + sig and r.stderr == "" and "reached" not in r.stdout, r


def test_ignoring_sigabrt_is_still_134(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-p", "stdio", bins["dyn"], "ignabrt")
    assert r.returncode == VIOLATION and "socket" not in r.stdout, r
    assert INET in r.stderr and "killed with SIGKILL for breaking a promise" in r.stderr, r


def test_a_violation_from_a_thread(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "thread")
    assert r.returncode == VIOLATION and "thread socket" not in r.stdout and INET in r.stderr, r


@pytest.mark.parametrize("after_ms", ["20", "100"])
def test_another_thread_exiting_does_not_void_a_violation(mode: str, bins: dict[str, str],
                                                          after_ms: str) -> None:
    """A thread's violation, then main's exit_group(0) before the penalty: on main the
    launcher read the call and the takeover judged it ~30 ms later, when the process had
    gone (exit 0, no message, 10 runs in 10). The launcher stops the process until then.
    (Whether SIGABRT, blocked in every thread, had to become SIGKILL is timing: the note
    that says so is not compared.) An exit within about a millisecond of the call, before
    any supervisor reads it, withdraws it: README, the command's threat model."""
    for _ in range(3):
        r = pledge(mode, "-p", "stdio", bins["dyn"], "race-exit", after_ms,
                   ignore="killed with SIGKILL for breaking a promise")
        assert r.returncode == VIOLATION and INET in r.stderr, r
        assert "thread socket" not in r.stdout, r


def test_no_instruction_after_a_violation_while_main_sits_in_vfork(
        mode: str, bins: dict[str, str]) -> None:
    """The penalty sent to the process marked its main thread, asleep in vfork's killable
    wait, and the call refused at once let the violating thread run on ~50 ms (its "ran
    after" lines printed) until SIGKILL. The penalty goes through the violating thread.
    (Under proc the launcher hands the run to the Python command: both run its code.)"""
    for _ in range(3):
        r = pledge(mode, "-q", "-p", "stdio proc", bins["dyn"], "vfork-thread",
                   ignore="killed with SIGKILL for breaking a promise")
        assert r.returncode == VIOLATION and INET in r.stderr, r
        assert "ran after" not in r.stdout and "main done" not in r.stdout, r


def test_a_signal_does_not_end_a_violating_call(mode: str, bins: dict[str, str]) -> None:
    """A caught signal (no SA_RESTART) to the thread whose call waits for its verdict: on
    main the call returned EINTR natively and PROG ran on, exit 0, no message. The filter
    makes read calls wait killably (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)."""
    for _ in range(3):
        r = pledge(mode, "-p", "stdio", bins["dyn"], "eintr")
        assert r.returncode == VIOLATION and INET in r.stderr, r
        assert "thread socket" not in r.stdout and "main done" not in r.stdout, r


def test_a_program_that_defines_syscall_cannot_swallow_the_shims_report(
        mode: str, tmp_path: Path) -> None:
    """PROG's executable comes first in symbol lookup: one that defines syscall() took
    the shim's READY (made through libc's) and kept rpath and prot_exec into main, exit 0
    on both commands. The shim reports with an inline syscall (x86-64)."""
    if CC is None:
        pytest.skip("no C compiler")
    if platform.machine() != "x86_64":
        pytest.skip("the inline report is x86-64's (elsewhere libc's syscall())")
    prog = tmp_path / "lnoready"
    subprocess.run([CC, "-O1", "-Wl,--export-dynamic-symbol=syscall", "-o", str(prog),
                    str(DATA / "lnoready.c")], check=True)
    r = pledge(mode, "-q", "-p", "stdio", "-v", "/etc/hostname", str(prog), "/etc/hostname",
               ignore="killed with SIGKILL for breaking a promise")
    assert r.returncode == VIOLATION and "reached" not in r.stdout, r
    assert '"/etc/hostname", O_RDONLY) needs "rpath"' in r.stderr, r


@pytest.mark.parametrize("limit", [8, 12, 31])
def test_a_low_descriptor_limit(mode: str, bins: dict[str, str], limit: int) -> None:
    """RLIMIT_NOFILE too low for the takeover: on main the launcher ran PROG and then
    failed it (exit 70 after PROG's effects) where the Python command refused before PROG
    ran. Below 32 the launcher hands the job to the Python command up front."""
    def low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    r = pledge(mode, "-p", "stdio", bins["dyn"], "violate", preexec_fn=low)
    if r.returncode == 70:
        assert "socket" not in r.stdout and "Too many open files" in r.stderr, r
    else:
        assert r.returncode == VIOLATION and INET in r.stderr and "socket" not in r.stdout, r


def test_a_violation_from_a_grandchild(mode: str, bins: dict[str, str]) -> None:
    r = pledge(mode, "-q", "-p", "stdio proc", bins["dyn"], "grandchild")
    assert r.returncode == 0 and r.stdout == "main done\n" and INET in r.stderr, r


def test_a_served_call_pending_at_exit_is_no_violation(mode: str, bins: dict[str, str]) -> None:
    """Threads keep a call the supervisor answers (stdio's /etc/localtime) in flight while
    the program exits 0: a call its caller left unjudged is no violation."""
    for _ in range(60):
        r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "pending")
        assert r.returncode == 0 and r.stdout == "exiting\n" and r.stderr == "", r


def test_stopped_and_continued(mode: str, bins: dict[str, str]) -> None:
    assert SCRIPT is not None
    p = subprocess.Popen([SCRIPT, "-q", "-p", "stdio", bins["dyn"], "stop"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=_env(mode, None))
    try:
        assert p.stdout is not None
        pid = int(p.stdout.readline())
        for _ in range(500):  # until it has stopped itself
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            time.sleep(0.01)
        os.kill(pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0 and out == b"continued\n" and err == b"", (p.returncode, out, err)


def test_the_parent_dying_takes_prog_along(mode: str) -> None:
    """The caller of pledge goes (SIGKILL to a sh that runs it): the command (its
    supervisor) and PROG run on to PROG's own end, and then the command ends too."""
    r = subprocess.run(["sh", "-c", f'"{SCRIPT}" -q -p stdio sleep 0.5 & echo $!; kill -9 $$'],
                       capture_output=True, text=True, env=_env(mode, None), timeout=60,
                       check=False)
    assert r.returncode == -signal.SIGKILL, r
    pid = int(r.stdout.split()[0])
    assert os.path.exists(f"/proc/{pid}")  # not killed with its caller
    for _ in range(3000):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_a_closed_standard_descriptor(mode: str, bins: dict[str, str], closed: int) -> None:
    """A standard descriptor the caller closed stays closed for PROG (nothing of the
    command's, its listener or a pipe, takes its number), and a violation is still one."""
    assert SCRIPT is not None

    def run(*args: str) -> int:
        return subprocess.run(["sh", "-c", f'exec {closed}>&-; exec "$@"', "sh", SCRIPT,
                               *args], capture_output=True, env=_env(mode, None), timeout=60,
                              check=False).returncode

    assert run("-q", "-p", "stdio", bins["dyn"], "std") == 7 & ~(1 << closed)
    assert run("-p", "stdio", bins["dyn"], "violate") == VIOLATION


def test_sigpipe(mode: str) -> None:
    """PROG writing to a pipe closed early dies of SIGPIPE (the Python command ignores
    it itself: PROG gets it back at its default)."""
    r = subprocess.run(["/bin/bash", "-c", f'"{SCRIPT}" -q -p stdio yes | head -c1 >/dev/null;'
                        ' echo "${PIPESTATUS[0]}"'], capture_output=True, text=True,
                       env=_env(mode, None), timeout=60, check=False)
    assert r.stdout.strip() == str(128 + signal.SIGPIPE), r


def test_inherited_descriptors_are_closed(mode: str, bins: dict[str, str]) -> None:
    r_, w_ = os.pipe()
    try:
        r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "fds", pass_fds=(r_, w_))
    finally:
        os.close(r_)
        os.close(w_)
    assert r.returncode == 0 and r.stdout == "end\n", r  # no listener, no caller's fd
    r = pledge(mode, "-q", "-N", "-p", "stdio", bins["dyn"], "fds")
    assert r.returncode == 0 and r.stdout == "end\n", r


def test_capabilities_are_dropped_as_root(mode: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("root's capabilities")
    r = pledge(mode, "-q", "-p", "stdio rpath", "-v", "/proc", "grep", "^Cap[EPI]",
               "/proc/self/status")
    assert r.returncode == 0, r
    caps = dict(line.split(":\t") for line in r.stdout.splitlines())
    assert set(caps.values()) == {"0000000000000000"}, caps


def test_as_nobody(mode: str, bins: dict[str, str]) -> None:
    head = nobody(SCRIPT or "")
    r = pledge(mode, "-q", "-p", "stdio", "cat", "/etc/shadow", head=head)
    assert r.returncode == VIOLATION and "rpath" in r.stderr, r
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "violate", head=head)
    assert r.returncode == VIOLATION and INET in r.stderr, r
    r = pledge(mode, "-q", "-p", "stdio rpath", "-v", HOST, "cat", HOST, head=head)
    assert r.returncode == 0 and r.stdout, r


# ---- the command line ----

@pytest.mark.parametrize("args,status", [
    (("-p", "stdio", "-p", "rpath", "-v", HOST, "cat", HOST), 0),
    (("-pstdio rpath", f"-v{HOST}", "cat", HOST), 0),
    (("-qp", "stdio rpath", "-v", HOST, "cat", HOST), 0),
    (("--stri", "-q", "-v", HOST, "cat", HOST), 0),
    (("--s", "cat", HOST), 64),
    (("-q", "-v", HOST, "--", "cat", HOST), 0),
    (("-q", "-p", "stdio", "-v", HOST, "--", "cat", HOST), VIOLATION),
    (("-q", "-v", HOST, "/bin/cat", HOST), 0),
    (("-q", "cat", HOST), 1),
    (("-q", "nosuch-lattack"), 127),
    (("-q", "/nonexistent/lattack"), 127),
    (("-q", "/etc"), 126),
    (("-v", "/nonexistent-lattack", "true"), 64),
    (("-v", "rq:/etc", "true"), 64),
    (("-p", "stdio bogus", "true"), 64),
    (("-p", "", "true"), 64),
    ((), 64),
])
def test_command_lines(mode: str, args: tuple[str, ...], status: int) -> None:
    r = pledge(mode, *args)
    assert r.returncode == status, r
    if status == 0:
        assert r.stdout.strip(), r


def test_options_after_prog_are_progs(mode: str) -> None:
    r = pledge(mode, "-p", "stdio", "echo", "-q", "-p", "x")
    assert r.returncode == 0 and r.stdout == "-q -p x\n", r


def test_an_empty_v_path_is_refused(mode: str) -> None:
    """``-v ""`` (an empty shell variable) must not unveil the working directory."""
    for spec in ("", "r:", "rwc:"):
        r = pledge(mode, "-v", spec, "true")
        said = f"-v {spec}: no PATH given" if spec else "-v : No such file or directory"
        assert r.returncode == 64 and said in r.stderr, (spec, r)


def test_a_non_executable_file(mode: str, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\necho ran\n")
    r = pledge(mode, "-q", str(plain))
    assert r.returncode == 126 and "ran" not in r.stdout, r
    assert r.stderr == f"pledge: {plain}: Permission denied\n", r


def test_a_directory_as_prog_says_only_why(mode: str) -> None:
    r = pledge(mode, "/etc")
    assert r.returncode == 126 and r.stderr == "pledge: /etc: Permission denied\n", r


def _fill(n: int) -> list[str]:
    chunk = 100_000  # under MAX_ARG_STRLEN (128 KiB)
    return ["x" * chunk] * (n // chunk) + (["y" * (n % chunk)] if n % chunk else [])


def _fits(extra: int, argv: list[str]) -> bool:
    """Whether the Python command starts PROG with *extra* bytes of arguments more (its
    execve of PROG carries the start-up shim's variables besides the caller's)."""
    try:
        r = subprocess.run([*argv, *_fill(extra)], env=_env("python", None),
                           capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        if exc.errno == 7:  # E2BIG: not even the command starts
            return False
        raise
    return "Argument list too long" not in r.stderr


def test_argv_near_arg_max_is_no_e2big(mode: str, bins: dict[str, str]) -> None:
    """The takeover's execve carries STATE besides the caller's argv: at the largest
    argv the Python command can start PROG with, a violation is still reported."""
    assert SCRIPT is not None
    base = [SCRIPT, "-p", "stdio", bins["dyn"], "violate"]
    lo, hi = 0, os.sysconf("SC_ARG_MAX")
    while hi - lo > 32:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(mid, base) else (lo, mid)
    r = subprocess.run([*base, *_fill(lo)], env=_env(mode, None), capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == VIOLATION and INET in r.stderr, (r.returncode, r.stderr[:500])


def test_non_utf8_argv_and_environment(mode: str, tmp_path: Path) -> None:
    odd = os.fsencode(tmp_path) + b"/\xff\xfe-lattack"
    with open(odd, "wb") as f:
        f.write(b"odd\n")
    os.chmod(tmp_path, 0o755)
    r = pledge(mode, "-q", "-v", odd, "cat", odd)
    assert r.returncode == 0 and r.raw == b"odd\n", r
    r = pledge(mode, "-q", "printf", "%s", b"\xff\xfe")
    assert r.returncode == 0 and r.raw == b"\xff\xfe", r
    env = {**ENV, "LATTACK": os.fsdecode(b"\xff\xfe")}
    r = pledge(mode, "-q", "printenv", "LATTACK", env=env)
    assert r.returncode == 0 and r.raw == b"\xff\xfe\n", r


@pytest.mark.parametrize("locale", [{}, {"LANG": "C"}, {"LC_ALL": "C"}, {"LANG": "C.UTF-8"},
                                    {"LC_CTYPE": "C.UTF-8"}, {"LC_ALL": "C.UTF-8"}],
                         ids=["none", "LANG=C", "LC_ALL=C", "LANG=C.UTF-8", "LC_CTYPE",
                              "LC_ALL=C.UTF-8"])
def test_prog_sees_the_callers_locale(mode: str, locale: dict[str, str]) -> None:
    """Not Python's coerced one (PEP 538 sets LC_CTYPE=C.UTF-8 in its own environment
    when the caller's LC_CTYPE is C): PROG's environment is the caller's."""
    env = {k: v for k, v in ENV.items() if not k.startswith(("LC_", "LANG"))}
    env.update(locale)
    env.pop("PYTHONCOERCECLOCALE", None)
    r = pledge(mode, "-q", "env", env=env, same_stdout=False)
    assert r.returncode == 0, r
    seen = {k: v for k, _, v in (line.partition("=") for line in r.stdout.splitlines())
            if k.startswith(("LC_", "LANG"))}
    assert seen == locale, r.stdout


# ---- the files the command's start reads ----

def test_what_the_command_reads_is_not_the_programs_to_write(mode: str,
                                                              bins: dict[str, str]) -> None:
    import pledgepy
    from pledgepy.backends.linux.exec import shim

    files = [shim.library(), "/etc/ld.so.cache", "/etc/nsswitch.conf",
             os.path.join(os.path.dirname(pledgepy.__file__), "cli.py"),
             os.path.join(os.path.dirname(pledgepy.__file__), "command", "takeover.py"),
             str(SCRIPT), sys.executable]
    files = [f for f in files if os.path.exists(f)]
    heads: list[tuple[str, ...]] = [()]
    if os.geteuid() == 0:
        try:  # the run as root counts where nobody cannot start the command (CI)
            heads.append(nobody(SCRIPT or ""))
        except pytest.skip.Exception:
            pass
    for head in heads:
        # same_stdout=False: the launcher is PROG's supervisor in native mode, so its own
        # file is busy (ETXTBSY) there and not after the hand-over (EACCES): either is
        # "not writable", the point here
        r = pledge(mode, "-q", "-p", "stdio rpath wpath cpath", bins["dyn"], "writes", *files,
                   head=head, same_stdout=False)
        assert r.returncode == 0 and "WRITABLE" not in r.stdout, r
        assert all(line.endswith((" EACCES", " ETXTBSY", " EROFS"))
                   for line in r.stdout.splitlines()), r
        assert len(r.stdout.splitlines()) == len(files), r


# ---- a hostile or odd caller ----

def _ignoring_sigchld() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)


def test_a_caller_that_ignores_sigchld(mode: str, bins: dict[str, str]) -> None:
    """SIGCHLD ignored is inherited through exec: the kernel would reap PROG itself and
    the supervisor's wait fail (on main: "killed: the supervisor failed
    (ChildProcessError)", and no violation's 134). PROG still inherits it, as if called."""
    r = pledge(mode, "-p", "stdio", bins["dyn"], "violate", preexec_fn=_ignoring_sigchld)
    assert r.returncode == VIOLATION and INET in r.stderr, r
    assert "supervisor failed" not in r.stderr, r
    r = pledge(mode, "-q", "-p", "stdio rpath", "-v", "/proc", "grep", "^SigIgn",
               "/proc/self/status", preexec_fn=_ignoring_sigchld)
    assert r.returncode == 0, r
    assert int(r.stdout.split()[1], 16) & (1 << (signal.SIGCHLD - 1)), r


def _blocking_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGABRT])


def test_a_callers_signal_mask_passes_through(mode: str, bins: dict[str, str]) -> None:
    """PROG gets the caller's blocked signals, as if called directly; a blocked SIGABRT
    does not save a violator (SIGKILL, 134 all the same)."""
    r = pledge(mode, "-q", "-p", "stdio", bins["dyn"], "signal", str(int(signal.SIGTERM)),
               preexec_fn=_blocking_sigterm)
    assert r.returncode == 0 and r.stdout == "reached\n", r
    r = pledge(mode, "-p", "stdio", bins["dyn"], "violate", preexec_fn=_blocking_sigterm)
    assert r.returncode == VIOLATION and "killed with SIGKILL for breaking a promise" in r.stderr


@pytest.mark.parametrize("args", [
    ("true",),
    ("echo", "hi"),  # discover.plan made PROG's arguments absolute: it raised here
])
def test_a_removed_working_directory(mode: str, args: tuple[str, ...]) -> None:
    """PROG runs in a working directory that was removed, as if called directly (on
    main: the command's traceback, FileNotFoundError from os.getcwd, exit 1)."""
    gone = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    where = Path(tempfile.mkdtemp(prefix="lattack-gone-"))
    direct = subprocess.run(["sh", "-c", gone, "sh", str(where), *args], capture_output=True,
                            timeout=60, check=False)
    where.mkdir()
    assert SCRIPT is not None
    r = Ran(subprocess.run(["sh", "-c", gone, "sh", str(where), SCRIPT, "-q", "-p", "stdio",
                            *args], capture_output=True, timeout=60, check=False,
                           env=_env(mode, None)))
    assert r.returncode == direct.returncode == 0, r
    assert r.raw == direct.stdout and r.stderr == "", r


def test_a_relative_v_path_with_no_working_directory(mode: str) -> None:
    where = Path(tempfile.mkdtemp(prefix="lattack-gone-"))
    assert SCRIPT is not None
    r = Ran(subprocess.run(["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh",
                            str(where), SCRIPT, "-v", "here", "true"],
                           capture_output=True, timeout=60, check=False, env=_env(mode, None)))
    assert r.returncode == 64 and r.stderr == "pledge: -v here: No such file or directory\n", r


def test_a_stale_shim_is_the_commands_error(tmp_path: Path) -> None:
    """A shim older than its sources: the Python command's NativeBuildError (70), PROG
    never run. Only the Python command, on a copy of the package (the native launcher
    finds its package through its own build, which this test must not change)."""
    import pledgepy
    from pledgepy.backends.linux.exec import shim

    src = Path(pledgepy.__file__).parent
    copy = tmp_path / "pkg"
    shutil.copytree(src, copy / "pledgepy", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pledgepy" / "backends" / "linux" / "native" / "shim.c").write_text(
        (src / "backends" / "linux" / "native" / "shim.c").read_text() + "/* newer */\n")
    script = tmp_path / "pledge"
    script.write_text(f"import sys\nsys.path.insert(0, {str(copy)!r})\n"
                      "from pledgepy.cli import main\nsys.exit(main())\n")
    env = {**_env("python", None), "PYTHONPATH": str(copy)}
    marker = tmp_path / "ran"
    r = subprocess.run([sys.executable, "-I", str(script), "-p", "stdio", "sh", "-c",
                        f"echo > {marker}"], capture_output=True, text=True, env=env,
                       timeout=60, check=False)
    assert r.returncode == 70 and not marker.exists(), (r.returncode, r.stderr)
    assert "start-up shim" in r.stderr and "rebuild" in r.stderr, r.stderr
    assert shim.library()  # the real one is untouched
    for built in (copy / "pledgepy" / "backends" / "linux" / "native").glob("_shim.*.so"):
        built.unlink()  # every interpreter's (an editable checkout holds one per Python)
    r = subprocess.run([sys.executable, "-I", str(script), "-p", "stdio", "true"],
                       capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 70 and "is not built" in r.stderr, r.stderr


def test_no_argv_at_all(mode: str, bins: dict[str, str]) -> None:
    """argc 0 (pkexec's CVE-2021-4034: argv[1] is then envp[0]): no PROG, 64, whatever
    the environment holds."""
    env = {**ENV, "LATTACK": "x"}
    r = pledge(mode, *(), head=(bins["dyn"], "argc0"), env=env)
    assert r.returncode == 64 and "no PROG given" in r.stderr, r


def test_through_a_link(mode: str, tmp_path: Path) -> None:
    assert SCRIPT is not None
    link = tmp_path / "pledge-link"
    link.symlink_to(SCRIPT)
    r = Ran(subprocess.run([str(link), "-q", "-v", HOST, "cat", HOST], capture_output=True,
                           timeout=60, check=False, env=_env(mode, None)))
    assert r.returncode == 0 and r.stdout, r


def test_many_v_paths(mode: str, tmp_path: Path) -> None:
    paths = []
    for i in range(300):
        f = tmp_path / f"f{i}"
        f.write_text(f"{i}\n")
        paths += ["-v", str(f)]
    r = pledge(mode, "-q", *paths, "cat", str(tmp_path / "f299"))
    assert r.returncode == 0 and r.stdout == "299\n", r


def test_a_prog_path_longer_than_path_max(mode: str, tmp_path: Path) -> None:
    """Past PATH_MAX PROG names nothing the kernel will open (127), whatever a prefix of
    it names: no truncation to another program."""
    true = shutil.which("true")
    assert true is not None
    shutil.copy(true, tmp_path / "t")
    pad = "/" + "/".join(["."] * 2100)  # 4200 characters of /./././
    prog = f"{tmp_path}{pad}/t"
    assert len(prog) > 4096
    r = pledge(mode, "-q", prog)
    assert r.returncode == 127 and "command not found" in r.stderr, r


def test_a_long_promise_text(mode: str) -> None:
    r = pledge(mode, "-q", "-p", " ".join(["stdio"] * 3000 + ["rpath"]), "-v", HOST,
               "cat", HOST)
    assert r.returncode == 0 and r.stdout, r
    r = pledge(mode, "-q", "-p", "stdio " + "x" * 5000, "true")
    assert r.returncode == 64, r


@pytest.mark.parametrize("megabytes", [20, 100])
def test_a_low_memory_limit(mode: str, bins: dict[str, str], megabytes: int) -> None:
    """RLIMIT_AS too low for the takeover (round 16's review): on main the launcher ran
    PROG and then its takeover could not start Python (exit 1 with a MemoryError, or 70
    with the violation unnamed), where the Python command refused before PROG ran. Below
    256 MB (RLIMIT_AS or RLIMIT_DATA) the launcher hands the job over up front."""
    def low() -> None:
        limit = megabytes << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    r = pledge(mode, "-p", "stdio", bins["dyn"], "violate", preexec_fn=low)
    assert "socket" not in r.stdout, r
    assert r.returncode == 70 or (r.returncode == VIOLATION and INET in r.stderr), r
