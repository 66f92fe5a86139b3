"""execpromises on Linux: real system binaries and a static binary, real kernel.

Every case runs in a fresh child: it pledges, then starts a program through
os.execv, subprocess, os.posix_spawn or os.system. A dynamically linked
program needs the loader's "rpath" (ld.so.cache, libc.so) and "prot_exec"
(mapping libc executable). The SIGSYS handler does not survive exec, so an
exec'd program that breaks its promises is explained by the caller's explainer
(exec/explain.py) and aborted (-6; 134 from a shell), or, replacing the caller
through os.exec*, dies of SIGSYS without a message; the caller keeps its promises.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.pledged import under

SIGSYS = int(signal.SIGSYS)
SIGABRT = int(signal.SIGABRT)
DYN = "stdio rpath prot_exec"  # what /bin/true, /bin/cat and /bin/sh need to start
CALLER = "stdio rpath wpath cpath prot_exec proc exec"  # more than DYN: narrowing matters

SETUP = """
import subprocess, tempfile, warnings, json, threading, signal
warnings.simplefilter('ignore')
D = tempfile.mkdtemp()
F = os.path.join(D, 'somefile')
def stdin(data):
    r, w = os.pipe(); os.write(w, data); os.close(w); os.dup2(r, 0); os.close(r)
"""


def run(promises: str, body: str, execpromises: str | None = None, setup: str = "",
        **kw: object):
    return under(promises, body, setup=SETUP + setup, execpromises=execpromises, **kw)


def ok(r) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == 0, r.explain()


# ---- programs that stay within execpromises run ----

def test_execv_true() -> None:
    r = run(CALLER, "os.execv('/bin/true', ['true'])", DYN)
    ok(r)


def test_execv_cat_copies_stdin() -> None:
    r = run(CALLER, "stdin(b'through cat\\n')\nos.execv('/bin/cat', ['cat'])", DYN)
    ok(r)
    assert r.stdout == "through cat\n"


def test_execve_and_execvp_are_narrowed_too() -> None:
    # execvp goes through os.execve; both must narrow (the shell cannot write)
    for call in ("os.execve('/bin/sh', ['sh', '-c', 'echo x > ' + F], dict(os.environ))",
                 "os.execvp('sh', ['sh', '-c', 'echo x > ' + F])",
                 "os.execl('/bin/sh', 'sh', '-c', 'echo x > ' + F)"):
        r = run(CALLER, call, DYN)
        assert r.returncode == -SIGSYS, (call, r.explain())
        assert "pledge:" not in r.stderr


def test_subprocess_true_and_cat() -> None:
    body = """
print(subprocess.run(['/bin/true']).returncode, flush=True)
p = subprocess.run(['/bin/cat'], input=b'piped data', capture_output=True)
print(p.returncode, p.stdout.decode(), flush=True)
"""
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.split("\n")[:2] == ["0", "0 piped data"], r.explain()


def test_posix_spawn_true_and_cat_with_file_actions() -> None:
    body = """
pid = os.posix_spawn('/bin/true', ['true'], os.environ)
print('true', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
ir, iw = os.pipe(); orr, ow = os.pipe()
os.write(iw, b'spawned cat'); os.close(iw)
pid = os.posix_spawn('/bin/cat', ['cat'], os.environ,
                     file_actions=[(os.POSIX_SPAWN_DUP2, ir, 0), (os.POSIX_SPAWN_DUP2, ow, 1),
                                   (os.POSIX_SPAWN_CLOSE, orr)])
os.close(ir); os.close(ow)
out = b''
while chunk := os.read(orr, 100):
    out += chunk
print('cat', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), out.decode(), flush=True)
pid = os.posix_spawnp('true', ['true'], os.environ)
print('truep', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.splitlines() == ["true 0", "cat 0 spawned cat", "truep 0"], r.explain()


def test_os_system_runs_commands() -> None:
    # a shell runs a command in a child (vfork + exec): execpromises need "proc exec"
    r = run(CALLER, "print(os.system('/bin/true'), os.system('echo from-sh'), flush=True)",
            DYN + " proc exec")
    ok(r)
    assert r.stdout.splitlines() == ["from-sh", "0 0"], r.explain()


def test_a_shell_without_proc_cannot_fork() -> None:
    # the same shell under "stdio rpath prot_exec": its vfork is a violation
    r = run(CALLER, "print(os.system('/bin/true'), flush=True)", DYN)
    ok(r)
    # explained by the caller's explainer (exec/explain.py), then punished: SIGABRT, or
    # SIGKILL when the shell catches or ignores SIGABRT (it was SIGSYS, unexplained)
    # os.system's wait status: the signal (+ 0x80 with a core dump); older CPythons print
    # the raw number, newer ones the Signals member
    dead = {str(signal.SIGABRT), str(signal.SIGKILL), "6", "9", str(6 | 0x80), str(9 | 0x80)}
    assert len(r.stdout.split()) == 1 and r.stdout.split()[0] in dead, r.explain()
    assert re.search(r"pledge: sh\[\d+\]: vfork needs \"proc\"", r.stderr), r.explain()


def test_execd_programs_keep_exec() -> None:
    # a documented gap (status lists it): execpromises without "exec" still allow execve
    r = run(CALLER, "os.execv('/bin/sh', ['sh', '-c', 'exec /bin/echo still-execs'])", DYN)
    ok(r)
    assert r.stdout == "still-execs\n"


# ---- programs that exceed execpromises are explained and aborted (the caller's explainer,
# exec/explain.py; os.exec* replaces the caller: SIGSYS); the caller keeps its promises ----

AFTER = """
print('exists', os.path.exists(F), flush=True)
fd = os.open(os.path.join(D, 'parent'), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'x'); os.close(fd)
print('parent wrote', flush=True)
"""


def test_subprocess_exceeding_execpromises_dies_of_sigsys() -> None:
    body = """
p = subprocess.run(['/bin/sh', '-c', 'echo x > ' + F], capture_output=True)
print('rc', p.returncode, repr(p.stderr), flush=True)
""" + AFTER
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.splitlines() == [f"rc {-SIGABRT} b''", "exists False", "parent wrote"], \
        r.explain()
    # explained by the caller's explainer, naming the program itself
    assert re.search(r'pledge: sh\[\d+\]: openat\("[^"]*somefile", '
                     r'O_WRONLY\|O_CREAT\|O_TRUNC\) needs', r.stderr)


def test_os_system_exceeding_execpromises() -> None:
    body = """
print('direct', os.system('echo x > ' + F), flush=True)
st = os.system("/bin/sh -c 'echo x > " + F + "'; exit $?")
print('nested', os.waitstatus_to_exitcode(st), flush=True)
""" + AFTER
    r = run(CALLER, body, DYN + " proc exec")
    ok(r)
    # the shell itself opens F: it is aborted (wait status 6); a shell whose child was says 134
    assert r.stdout.splitlines() == [f"direct {SIGABRT}", f"nested {128 + SIGABRT}",
                                     "exists False", "parent wrote"], r.explain()


def test_posix_spawn_exceeding_execpromises() -> None:
    body = """
pid = os.posix_spawn('/bin/sh', ['sh', '-c', 'echo x > ' + F], os.environ)
print('rc', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
""" + AFTER
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.splitlines() == [f"rc {-SIGABRT}", "exists False", "parent wrote"], \
        r.explain()


def test_execv_exceeding_execpromises() -> None:
    r = run(CALLER, "os.execv('/bin/sh', ['sh', '-c', 'echo x > ' + F + '; echo wrote'])", DYN)
    assert r.returncode == -SIGSYS, r.explain()
    assert "wrote" not in r.stdout and "pledge:" not in r.stderr


def test_execpromises_allowing_the_write_let_it_happen() -> None:
    # the control for the cases above: with wpath cpath the same shell writes F
    body = """
p = subprocess.run(['/bin/sh', '-c', 'echo x > ' + F])
print('rc', p.returncode, 'exists', os.path.exists(F), flush=True)
"""
    r = run(CALLER, body, DYN + " wpath cpath")
    ok(r)
    assert r.stdout.strip() == "rc 0 exists True", r.explain()


# ---- a static binary ----

RAW_X86_64 = r"""
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                      : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
#ifdef OPEN_FILE
    long fd = sys3(257, -100, (long)"/etc/hostname", 0);   /* openat(AT_FDCWD, ..., O_RDONLY) */
    if (fd < 0) sys3(60, 3, 0, 0);
#endif
    static const char msg[] = "static ok\n";
    sys3(1, 1, (long)msg, sizeof msg - 1);                 /* write */
    sys3(231, 0, 0, 0);                                    /* exit_group */
    for (;;) {}
}
"""

LIBC = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
#ifdef OPEN_FILE
    if (open("/etc/hostname", O_RDONLY) < 0) return 3;
#endif
    write(1, "static libc ok\n", 15);
    return 0;
}
"""


def _gcc(tmp: Path, name: str, source: str, *flags: str) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    proc = subprocess.run(["gcc", "-static", "-O2", *flags, "-o", str(out), str(src)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"gcc -static failed (no static libc?): {proc.stderr[-300:]}")
    assert b"interp" not in subprocess.run(["readelf", "-l", str(out)], capture_output=True
                                           ).stdout.lower() or shutil.which("readelf") is None
    return str(out)


@pytest.fixture(scope="module")
def static_bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("static")
    bins = {"libc": _gcc(tmp, "libc", LIBC), "libc_open": _gcc(tmp, "libc_open", LIBC,
                                                                "-DOPEN_FILE")}
    if platform.machine() == "x86_64":
        raw = ("-nostdlib", "-nostartfiles", "-fno-stack-protector", "-fno-pie", "-no-pie")
        bins["raw"] = _gcc(tmp, "raw", RAW_X86_64, *raw)
        bins["raw_open"] = _gcc(tmp, "raw_open", RAW_X86_64, *raw, "-DOPEN_FILE")
    for path in bins.values():  # they work unpledged
        assert subprocess.run([path], capture_output=True).returncode == 0
    return bins


def _spawn_static(path: str, execpromises: str) -> tuple[int, str]:
    body = f"""
p = subprocess.run([{path!r}], capture_output=True)
print(json.dumps([p.returncode, p.stdout.decode()]), flush=True)
"""
    r = run("stdio rpath proc exec", body, execpromises)
    ok(r)
    rc, out = json.loads(r.stdout)
    return rc, out


def test_static_binary_runs_under_stdio(static_bins: dict[str, str]) -> None:
    if "raw" not in static_bins:
        pytest.skip("the raw-syscall program is written for x86_64")
    assert _spawn_static(static_bins["raw"], "stdio") == (0, "static ok\n")


def test_static_binary_opening_a_file_dies_under_stdio(static_bins: dict[str, str]) -> None:
    if "raw_open" in static_bins:
        assert _spawn_static(static_bins["raw_open"], "stdio") == (-SIGABRT, "")
        assert _spawn_static(static_bins["raw_open"], "stdio rpath") == (0, "static ok\n")
    assert _spawn_static(static_bins["libc_open"], "stdio")[0] == -SIGABRT


def test_static_glibc_binary_runs_with_rpath(static_bins: dict[str, str]) -> None:
    # glibc's static start-up reads /proc/self/exe (readlink): it needs "rpath", though
    # no loader is involved; the raw program above shows the filter itself asks no more.
    assert _spawn_static(static_bins["libc"], "stdio rpath") == (0, "static libc ok\n")
    assert _spawn_static(static_bins["libc_open"], "stdio rpath") == (0, "static libc ok\n")


def test_static_binary_via_execv(static_bins: dict[str, str]) -> None:
    if "raw" not in static_bins:
        pytest.skip("the raw-syscall program is written for x86_64")
    r = run("stdio rpath exec", f"os.execv({static_bins['raw']!r}, ['raw'])", "stdio")
    ok(r)
    assert r.stdout == "static ok\n"
    r = run("stdio rpath exec", f"os.execv({static_bins['raw_open']!r}, ['raw'])", "stdio")
    assert r.returncode == -SIGSYS and r.stdout == "", r.explain()


# ---- status(), strict and best effort ----

STATUS = """
st = pledgepy.status()
print(json.dumps({'promises': sorted(st.promises or ()), 'exec': sorted(st.execpromises or ()),
                  'level': st.level, 'gaps': list(st.not_enforced)}), flush=True)
"""


def _status(r) -> dict:  # type: ignore[no-untyped-def]
    ok(r)
    return json.loads(r.stdout.splitlines()[-1])


def test_status_narrower_execpromises_is_partial() -> None:
    st = _status(run(CALLER, STATUS, DYN))
    assert st["promises"] == sorted(CALLER.split()) and st["exec"] == sorted(DYN.split())
    assert st["level"] == "partial"
    gaps = " | ".join(st["gaps"])
    assert "keep 'exec'" in gaps, gaps
    # the spawner makes the children of subprocess, posix_spawn and os.system
    # (test_spawner.py); what narrows in place is listed
    for entry in ("os.exec*", "subprocess with a preexec_fn", "native code"):
        assert entry in gaps, gaps


def test_status_execpromises_with_exec_names_only_the_coverage_gap() -> None:
    st = _status(run(CALLER, STATUS, DYN + " exec"))
    assert st["level"] == "partial"
    assert not any("keep 'exec'" in g for g in st["gaps"]), st
    assert any("subprocess" in g for g in st["gaps"]), st


def test_status_equal_execpromises_is_full() -> None:
    st = _status(run(CALLER, STATUS, CALLER))
    assert st["level"] == "full" and st["gaps"] == [], st


def test_execpromises_beyond_promises_are_granted_by_the_spawner() -> None:
    # OpenBSD's semantics: exec'd programs run under execpromises, whatever the caller
    # holds (exec/spawner.py; test_spawner.py has the rest)
    body = """
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter('always')
    pledgepy.pledge('stdio rpath prot_exec proc exec',
                    'stdio rpath wpath cpath prot_exec proc exec')
print('warnings', [type(x.message).__name__ for x in w], flush=True)
p = subprocess.run(['/bin/sh', '-c', 'echo x > ' + F])
print('rc', p.returncode, 'exists', os.path.exists(F), flush=True)
""" + STATUS
    from tests.childproc import run as raw
    r = raw("import os, json, pledgepy\n" + SETUP + body)
    ok(r)
    lines = r.stdout.splitlines()
    assert lines[0] == "warnings []", r.explain()
    assert lines[1] == "rc 0 exists True", r.explain()
    st = json.loads(lines[2])
    assert st["level"] == "full" and not st["gaps"], st


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_execpromises_beyond_promises_strict_accepts(how: str) -> None:
    strict = ", strict=True" if how == "argument" else ""
    body = f"""
pledgepy.pledge('stdio rpath proc exec', 'stdio rpath wpath proc exec'{strict})
st = pledgepy.status()
print('status', sorted(st.promises), sorted(st.execpromises), st.level, flush=True)
"""
    from tests.childproc import run as raw
    env = {"PLEDGEPY_STRICT": "1"} if how == "environment" else None
    r = raw("import os, errno, json, pledgepy\n" + SETUP + body, env=env)
    ok(r)
    assert r.stdout.splitlines() == [
        "status ['exec', 'proc', 'rpath', 'stdio'] ['exec', 'proc', 'rpath', 'stdio', 'wpath'] full"
    ], r.explain()


def test_execpromises_beyond_promises_without_proc_strict_refuses() -> None:
    # without proc only os.exec* starts a program, and it narrows in place: no wpath
    body = """
try:
    pledgepy.pledge('stdio rpath exec', 'stdio rpath wpath exec', strict=True)
except pledgepy.UnsupportedError as e:
    print('refused', 'without proc' in str(e), flush=True)
"""
    from tests.childproc import run as raw
    r = raw("import os, errno, json, pledgepy\n" + SETUP + body)
    ok(r)
    assert r.stdout.splitlines() == ["refused True"], r.explain()


def test_execpromises_beyond_promises_without_a_spawner_strict_refuses() -> None:
    # unveil locked before the first pledge: pledgepy is in a Landlock domain already,
    # so no spawner can be made outside it; strict refuses, nothing changes
    body = """
pledgepy.unveil('/', 'rwxc')
pledgepy.unveil(None, None)
try:
    pledgepy.pledge('stdio rpath exec', 'stdio rpath wpath exec', strict=True)
except pledgepy.UnsupportedError as e:
    print('refused', isinstance(e, OSError), errno.errorcode[e.errno], flush=True)
st = pledgepy.status()
print('status', st.promises, st.execpromises, flush=True)
fd = os.open(os.path.join(D, 'still'), os.O_WRONLY | os.O_CREAT, 0o644); os.close(fd)
print('unconfined', open('/proc/self/status').read().split('Seccomp:')[1].split()[0], flush=True)
"""
    from tests.childproc import run as raw
    r = raw("import os, errno, json, pledgepy\n" + SETUP + body)
    ok(r)
    assert r.stdout.splitlines() == ["refused True ENOSYS", "status None None",
                                     "unconfined 0"], r.explain()


# ---- execpromises None: the exec'd program inherits the caller's promises ----

def test_no_execpromises_cat_runs_under_promises() -> None:
    r = run("stdio rpath prot_exec exec", "stdin(b'inherited\\n')\nos.execv('/bin/cat', ['cat'])")
    ok(r)
    assert r.stdout == "inherited\n"


def test_no_execpromises_cat_without_the_loaders_needs_dies() -> None:
    r = run("stdio exec", "stdin(b'never\\n')\nos.execv('/bin/cat', ['cat'])")
    assert r.returncode == -SIGSYS, r.explain()
    assert r.stdout == "" and "pledge:" not in r.stderr


def test_no_execpromises_program_cannot_exceed_promises() -> None:
    r = run("stdio rpath prot_exec exec",
            "os.execv('/bin/sh', ['sh', '-c', 'echo x > ' + F + '; echo wrote'])")
    assert r.returncode == -SIGSYS and "wrote" not in r.stdout, r.explain()


# ---- subprocess details ----

def test_user_preexec_fn_still_runs() -> None:
    body = """
r, w = os.pipe()
def mark():
    os.write(w, b'preexec ran in ' + str(os.getpid()).encode())
p = subprocess.Popen(['/bin/sh', '-c', 'echo x > ' + F], preexec_fn=mark)
p.wait()
print(os.read(r, 100).decode() == 'preexec ran in ' + str(p.pid), p.returncode, flush=True)
p = subprocess.Popen(['/bin/true'], preexec_fn=mark)
p.wait()
print('true', p.returncode, os.read(r, 100).decode() == 'preexec ran in ' + str(p.pid), flush=True)
"""
    r = run(CALLER, body, DYN)
    ok(r)
    # the user's function ran in the child, and the child was still narrowed afterwards
    assert r.stdout.splitlines() == [f"True {-SIGABRT}", "true 0 True"], r.explain()


def test_preexec_fn_exception_is_reported() -> None:
    body = """
def boom():
    raise ValueError('no')
try:
    subprocess.run(['/bin/true'], preexec_fn=boom)
except subprocess.SubprocessError as e:
    print('raised', type(e).__name__, flush=True)
"""
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.strip() == "raised SubprocessError", r.explain()


def test_subprocess_missing_program_raises_in_parent() -> None:
    body = """
try:
    subprocess.run(['/nonexistent/prog'])
except FileNotFoundError as e:
    print('ENOENT', e.errno == errno.ENOENT, flush=True)
""" + AFTER
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.splitlines()[0] == "ENOENT True" and "parent wrote" in r.stdout, r.explain()


# ---- posix_spawn error reporting ----

@pytest.mark.parametrize("execpromises", [DYN, None], ids=["narrowing", "no-execpromises"])
def test_posix_spawn_missing_path_raises_in_parent(execpromises: str | None) -> None:
    body = """
for fn, name in ((os.posix_spawn, '/nonexistent/prog'), (os.posix_spawnp, 'no-such-prog-xyz')):
    try:
        fn(name, ['x'], os.environ)
        print('spawned?!', flush=True)
    except FileNotFoundError as e:
        print(fn.__name__.lstrip('_'), errno.errorcode[e.errno], flush=True)
NX = os.path.join(D, 'not-executable'); open(NX, 'w').close()
try:
    os.posix_spawn(NX, ['x'], os.environ)
except PermissionError as e:
    print('noexec', errno.errorcode[e.errno], flush=True)
""" + AFTER
    r = run(CALLER, body, execpromises)
    ok(r)
    assert r.stdout.splitlines()[:3] == ["posix_spawn ENOENT", "posix_spawnp ENOENT",
                                         "noexec EACCES"], r.explain()
    assert "parent wrote" in r.stdout


def test_posix_spawn_leaves_no_zombie_on_error() -> None:
    body = """
try:
    os.posix_spawn('/nonexistent/prog', ['x'], os.environ)
except FileNotFoundError:
    pass
try:
    os.waitpid(-1, os.WNOHANG)
    print('a child is left', flush=True)
except ChildProcessError:
    print('no children', flush=True)
"""
    r = run(CALLER, body, DYN)
    ok(r)
    assert r.stdout.strip() == "no children", r.explain()


# ---- found by these tests, fixed in execwrap ----

def test_failed_execv_leaves_the_caller_its_promises() -> None:
    # the execve runs on a helper thread that narrows only itself
    body = """
try:
    os.execv('/nonexistent/prog', ['x'])
except FileNotFoundError:
    print('exec failed', flush=True)
""" + AFTER
    r = run(CALLER, body, DYN)
    assert r.returncode == 0 and "parent wrote" in r.stdout, r.explain()


def test_exec_from_another_thread_after_a_failed_exec_is_still_narrowed() -> None:
    body = """
def t():
    try:
        os.execv('/nonexistent/prog', ['x'])
    except OSError:
        pass
th = threading.Thread(target=t); th.start(); th.join()
os.execv('/bin/sh', ['sh', '-c', 'echo x > ' + F + ' && echo wrote'])
"""
    r = run(CALLER, body, DYN)
    assert r.returncode == -SIGSYS and "wrote" not in r.stdout, r.explain()


def test_gcc_is_available_for_ci() -> None:
    # the static-binary tests skip without gcc; say so loudly in CI instead of silently
    if os.environ.get("CI") and shutil.which("gcc") is None:
        pytest.fail("CI must install gcc (and a static libc) for the static-binary tests")


def test_execpromises_before_any_pledge_narrow_only_the_children() -> None:
    # OpenBSD: pledge(NULL, "...") leaves the caller unpledged and pledges what it execs
    code = """
import os, subprocess, pledgepy
pledgepy.pledge(None, 'stdio rpath prot_exec')
print(pledgepy.status().level, flush=True)
print(subprocess.run(['cat', '/etc/hostname'], capture_output=True).returncode, flush=True)
print(subprocess.run(['sh', '-c', 'echo x > ' + F]).returncode, os.path.exists(F), flush=True)
with open(F, 'w') as f:
    f.write('parent')
print('parent unrestricted', flush=True)
"""
    import tempfile

    target = os.path.join(tempfile.mkdtemp(), "f")
    from tests.childproc import run as run_code

    r = run_code(f"F = {target!r}\n" + code)
    assert r.stdout.split("\n")[:4] == ["partial", "0", "-6 False", "parent unrestricted"], \
        r.explain()
