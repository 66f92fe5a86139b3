"""execpromises independent of promises (exec/spawner.py, native/spawner.c), real kernel.

A caller holding only ``stdio proc exec`` starts dynamically linked programs under
``stdio rpath prot_exec``: the spawner makes them outside the caller's filter and
Landlock domain, under exactly the execpromises and the unveil rules in force.
Each case runs in a fresh child (tests/pledged.py), as root and, where ids change
outcomes, as uid 65534.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.childproc import run as raw
from tests.pledged import under

DYN = "stdio rpath prot_exec"
CALLER = "stdio proc exec"
SETUP = """
import subprocess, tempfile, warnings, json, socket, signal
warnings.simplefilter('ignore')
D = tempfile.mkdtemp()
os.chmod(D, 0o755)
F = os.path.join(D, 'file')
with open(F, 'w') as f:
    f.write('content of the file\\n')
os.chmod(F, 0o644)
from pledgepy.backends.linux.exec import spawner
"""
PY = sys.executable
BOTH = pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
#: tests/childproc drops to uid 65534 with setuid(), which leaves the process not
#: dumpable (the spawner could not take its descriptors); a program started as
#: nobody is dumpable, which this restores
DUMPABLE = """
import ctypes
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
"""


def run(body: str, execpromises: str | None = DYN, promises: str = CALLER,
        setup: str = "", **kw: object):
    return under(promises, body, setup=SETUP + setup, execpromises=execpromises, **kw)


def ok(r) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == 0, r.explain()


def _python_for_nobody() -> str:
    """An interpreter uid 65534 can run (the test one may sit in root's home)."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3", PY):
        if cand and os.path.exists(cand) and subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", cand, "-S", "-c", "pass"],
                capture_output=True).returncode == 0:
            return cand
    pytest.skip("no python3 that uid 65534 can run")


# ---- programs beyond the caller's promises run ----

@BOTH
def test_subprocess_cat_and_python_beyond_promises(unprivileged: bool) -> None:
    py = _python_for_nobody() if unprivileged else PY
    body = f"""
assert spawner.active(), spawner.WHY
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('cat', r.returncode, r.stdout.decode().strip(), flush=True)
r = subprocess.run([{py!r}, '-S', '-c', 'print(6 * 7)'], capture_output=True)
print('python', r.returncode, r.stdout.decode().strip(), r.stderr.decode()[-300:], flush=True)
"""
    r = run(body, unprivileged=unprivileged, setup=DUMPABLE)
    ok(r)
    lines = r.stdout.splitlines()
    assert lines[0] == "cat 0 content of the file", r.explain()
    assert lines[1].startswith("python 0 42"), r.explain()


@BOTH
def test_posix_spawn_and_system_beyond_promises(unprivileged: bool) -> None:
    body = """
pid = os.posix_spawn('/bin/cat', ['cat', F], os.environ)
print('posix_spawn', os.waitpid(pid, 0)[1], flush=True)
pid = os.posix_spawnp('cat', ['cat', F], os.environ)
print('posix_spawnp', os.waitpid(pid, 0)[1], flush=True)
print('system', os.system('cat ' + F + ' && /bin/cat ' + F), flush=True)
"""
    r = run(body, execpromises=DYN + " proc exec", unprivileged=unprivileged, setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == [
        "content of the file", "posix_spawn 0", "content of the file", "posix_spawnp 0",
        "content of the file", "content of the file", "system 0"], r.explain()


def test_not_dumpable_falls_back_and_says_so() -> None:
    # after setuid() (no PR_SET_DUMPABLE): the in-place narrowing, and status says why
    body = """
st = pledgepy.status()
print(st.level, any('not dumpable' in g for g in st.not_enforced), spawner.active(), flush=True)
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('cat', r.returncode, flush=True)
"""
    r = run(body, unprivileged=True)
    ok(r)
    assert r.stdout.splitlines() == ["partial True False", f"cat {-signal.SIGSYS}"], r.explain()


def test_without_the_spawner_it_would_not_run() -> None:
    # the same under the in-place narrowing (a preexec_fn): the loader dies
    body = """
r = subprocess.run(['/bin/cat', F], capture_output=True, preexec_fn=lambda: None)
print('cat', r.returncode, flush=True)
"""
    r = run(body)
    ok(r)
    assert r.stdout.strip() == f"cat {-signal.SIGSYS}", r.explain()


def test_status_says_the_spawner_makes_them() -> None:
    body = """
st = pledgepy.status()
print(json.dumps({'level': st.level, 'gaps': list(st.not_enforced), 'notes': list(st.notes)}))
"""
    r = run(body)
    ok(r)
    import json

    st = json.loads(r.stdout)
    assert not any("exceed promises" in g for g in st["gaps"]), st
    assert any("spawner" in n for n in st["notes"]), st


# ---- violations of the child are explained with its own name ----

@BOTH
def test_child_violation_is_explained_with_its_name(unprivileged: bool) -> None:
    py = _python_for_nobody() if unprivileged else PY
    body = f"""
p = subprocess.Popen([{py!r}, '-S', '-c', 'import socket; socket.socket()'])
p.wait()
print('pid', p.pid, 'rc', p.returncode, flush=True)
r = subprocess.run(['/bin/sh', '-c', {py!r} + ' -S -c "import socket; socket.socket()"'])
print('sh', r.returncode, flush=True)
"""
    r = run(body, execpromises=DYN + " proc exec", unprivileged=unprivileged, setup=DUMPABLE)
    ok(r)
    first, second = r.stdout.splitlines()
    pid = int(first.split()[1])
    assert first.endswith(f"rc {-signal.SIGABRT}"), r.explain()
    assert second == "sh 134", r.explain()
    name = os.path.basename(py)[:15]
    assert f"{name}[{pid}]: socket(AF_INET" in r.stderr, r.explain()
    assert r.stderr.count("needs \"inet\"") == 2, r.explain()


def test_error_gives_enosys_in_python() -> None:
    body = f"""
code = ('import socket, errno\\ntry:\\n socket.socket()\\n'
        'except OSError as e:\\n print(errno.errorcode[e.errno])')
r = subprocess.run([{PY!r}, '-S', '-c', code], capture_output=True)
print(r.returncode, r.stdout.decode().strip(), flush=True)
"""
    r = run(body, execpromises=DYN + " error")
    ok(r)
    assert r.stdout.strip() == "0 ENOSYS", r.explain()


def test_error_gives_enosys_in_a_c_program(tmp_path: Path) -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    src = tmp_path / "sock.c"
    src.write_text('#include <errno.h>\n#include <stdio.h>\n#include <string.h>\n'
                   '#include <sys/socket.h>\nint main(void) { int fd = socket(AF_INET, '
                   'SOCK_STREAM, 0); printf("%d %s\\n", fd, strerror(errno)); return 0; }\n')
    prog = tmp_path / "sock"
    subprocess.run(["cc", "-o", str(prog), str(src)], check=True)
    body = f"""
r = subprocess.run([{str(prog)!r}], capture_output=True)
print(r.returncode, r.stdout.decode().strip(), flush=True)
"""
    r = run(body, execpromises=DYN + " error")
    ok(r)
    assert r.stdout.strip() == f"0 -1 {os.strerror(38)}", r.explain()


# ---- wait semantics are the caller's ----

def test_wait_semantics_unchanged() -> None:
    body = """
try:
    os.wait()
    print('a child is there', flush=True)
except ChildProcessError:
    print('no children', flush=True)
p = subprocess.Popen(['/bin/cat'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
print('poll', p.poll(), flush=True)
p.stdin.close()
print('wait', p.wait(), flush=True)
r = subprocess.run(['/bin/sh', '-c', 'exit 3'])
print('rc', r.returncode, flush=True)
try:
    subprocess.run(['/nonexistent/prog'])
except FileNotFoundError as e:
    print('missing', e.filename, flush=True)
try:
    subprocess.run(['/bin/true'], cwd='/nonexistent')
except FileNotFoundError as e:
    print('no cwd', e.filename, flush=True)
try:
    os.posix_spawn('/nonexistent/prog', ['x'], os.environ)
except FileNotFoundError:
    print('posix_spawn missing', flush=True)
try:
    os.waitpid(-1, os.WNOHANG)
    print('a child is left', flush=True)
except ChildProcessError:
    print('no children', flush=True)
"""
    r = run(body)
    ok(r)
    assert r.stdout.splitlines() == [
        "no children", "poll None", "wait 0", "rc 3", "missing /nonexistent/prog",
        "no cwd /nonexistent", "posix_spawn missing", "no children"], r.explain()


# ---- the unveil rules in force apply to the child ----

def test_unveil_rules_apply_to_the_child() -> None:
    setup = """
H = tempfile.mkdtemp()
os.chmod(H, 0o755)
with open(os.path.join(H, 'secret'), 'w') as f:
    f.write('secret\\n')
os.chmod(os.path.join(H, 'secret'), 0o644)
pledgepy.unveil('/usr', 'rx')
pledgepy.unveil('/lib', 'rx')
pledgepy.unveil('/lib64', 'rx')
pledgepy.unveil('/bin', 'rx')
pledgepy.unveil('/etc', 'r')
pledgepy.unveil(D, 'r')
"""
    body = """
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('visible', r.returncode, flush=True)
r = subprocess.run(['/bin/cat', os.path.join(H, 'secret')], capture_output=True)
print('hidden', r.returncode, b'Permission denied' in r.stderr or b'No such' in r.stderr,
      flush=True)
"""
    r = run(body, setup=setup)
    ok(r)
    assert r.stdout.splitlines() == ["visible 0", "hidden 1 True"], r.explain()


# ---- a compromised caller cannot widen ----

WIDEN = """
import struct
fd = spawner.fileno()
allow_all = struct.pack('<HBBI', 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K ALLOW
hdr = struct.pack('<IIQII', spawner.MAGIC, spawner.FILTER, (1 << 63) - 1, 0, 0)
os.write(fd, hdr + allow_all)
print('filter reply', struct.unpack('<Iiii', os.read(fd, 16))[1], flush=True)
os.write(fd, struct.pack('<IIi', spawner.MAGIC, spawner.RULESET, 1))  # stdout: no ruleset
print('ruleset reply', struct.unpack('<Iiii', os.read(fd, 16))[1], flush=True)
os.write(fd, struct.pack('<IIi', spawner.MAGIC, spawner.RULESET, WIDE.fd))
print('wide ruleset reply', struct.unpack('<Iiii', os.read(fd, 16))[1], flush=True)
os.write(fd, struct.pack('<IIQQ', spawner.MAGIC, spawner.SPAWN, 0, 12))
print('spawn reply', struct.unpack('<Iiii', os.read(fd, 16))[1:], flush=True)
os.write(fd, b'garbage')
r = subprocess.run([PYTHON, '-S', '-c', 'import socket; socket.socket(); print(1)'],
                   capture_output=True)
print('child', r.returncode, flush=True)
r = subprocess.run(['/bin/cat', os.path.join(H, 'secret')], capture_output=True)
print('hidden', r.returncode, flush=True)
"""


def test_hand_crafted_requests_cannot_widen() -> None:
    setup = f"""
PYTHON = {PY!r}
H = tempfile.mkdtemp()
with open(os.path.join(H, 'secret'), 'w') as f:
    f.write('secret\\n')
from pledgepy.backends.linux.landlock.ruleset import Ruleset
WIDE = Ruleset(1 << 2)  # READ_FILE handled, "/" granted: a ruleset of the attacker's
WIDE.add_path('/', 1 << 2)
for p in ('/usr', '/lib', '/lib64', '/bin', '/etc', sys.prefix, sys.base_prefix,
          os.path.dirname(os.path.realpath(PYTHON))):
    if os.path.exists(p):
        pledgepy.unveil(p, 'rx')
"""
    r = run(WIDEN, setup=setup)
    ok(r)
    lines = r.stdout.splitlines()
    # a filter is taken only as one more layer under the first: it cannot widen
    assert lines[0] == "filter reply 0", r.explain()
    assert lines[1] == "ruleset reply -22", r.explain()
    # a ruleset is taken, as one more domain: it can only narrow
    assert lines[2] == "wide ruleset reply 0", r.explain()
    assert lines[3] == "spawn reply (0, 14, 1)", r.explain()  # EFAULT: nothing made
    assert lines[4] == f"child {-signal.SIGABRT}", r.explain()
    assert lines[5] == "hidden 1", r.explain()


def test_spawner_memory_out_of_reach() -> None:
    body = """
import ctypes
pid = spawner.pid()
try:
    open(f'/proc/{pid}/mem', 'rb').read(1)
    print('mem opened', flush=True)
except OSError as e:
    print('mem', errno.errorcode[e.errno], flush=True)
libc = ctypes.CDLL(None, use_errno=True)
class IOV(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
local, remote = IOV(ctypes.addressof(buf), 8), IOV(0x400000, 8)
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print('vm_readv', n, errno.errorcode.get(ctypes.get_errno()), flush=True)
"""
    # process_vm_readv is no promise's: under error it fails at the filter
    r = run(body, promises="stdio rpath proc exec error", setup="import ctypes\n")
    ok(r)
    assert r.stdout.splitlines() == ["mem EACCES", "vm_readv -1 ENOSYS"], r.explain()


def test_killing_the_spawner_does_not_widen() -> None:
    # the caller holds proc and may kill it: exec'd programs then fall back to the
    # in-place narrowing (under promises too), never to more
    body = """
os.kill(spawner.pid(), signal.SIGKILL)
time.sleep(0.2)
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('cat', r.returncode, spawner.active(), flush=True)
"""
    r = run(body, setup="import time\n")
    ok(r)
    assert r.stdout.strip() == f"cat {-signal.SIGSYS} False", r.explain()


def test_spawner_ends_with_the_caller() -> None:
    r = raw("import os\n" + SETUP + "import pledgepy\npledgepy.pledge('stdio proc exec', 'stdio')\n"
            "print(spawner.pid(), flush=True)\n")
    ok(r)
    pid = int(r.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    pytest.fail(f"spawner {pid} outlived its caller")


# ---- later narrowing reaches the spawner ----

def test_later_pledge_narrows_the_children() -> None:
    body = """
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('before', r.returncode, flush=True)
pledgepy.pledge('stdio proc exec', 'stdio rpath')  # prot_exec dropped: no loader
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('after', r.returncode, flush=True)
"""
    r = run(body)
    ok(r)
    assert r.stdout.splitlines() == ["before 0", f"after {-signal.SIGSYS}"], r.explain()


def test_unveil_locked_after_the_pledge_reaches_the_children() -> None:
    setup = """
H = tempfile.mkdtemp()
with open(os.path.join(H, 'secret'), 'w') as f:
    f.write('secret\\n')
SYSTEM = [p for p in ('/usr', '/lib', '/lib64', '/bin', '/etc') if os.path.exists(p)]
"""
    body = """
r = subprocess.run(['/bin/cat', os.path.join(H, 'secret')], capture_output=True)
print('open', r.returncode, flush=True)
for p in SYSTEM:
    pledgepy.unveil(p, 'rx')
pledgepy.unveil(D, 'r')
pledgepy.unveil(None, None)
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('visible', r.returncode, flush=True)
r = subprocess.run(['/bin/cat', os.path.join(H, 'secret')], capture_output=True)
print('hidden', r.returncode, flush=True)
"""
    r = run(body, promises=CALLER + " rpath unveil", setup=setup)
    ok(r)
    assert r.stdout.splitlines() == ["open 0", "visible 0", "hidden 1"], r.explain()


def test_dropping_exec_seals_the_spawner() -> None:
    body = """
import struct
fd = os.dup(spawner.fileno())  # kept by a caller that is compromised already
pledgepy.pledge('stdio', 'stdio rpath prot_exec')  # exec dropped: no more programs
print('active', spawner.active(), flush=True)
blob = b'x' * 16
os.write(fd, struct.pack('<IIQQ', spawner.MAGIC, spawner.SPAWN, id(blob), 16))
print('spawn reply', struct.unpack('<Iiii', os.read(fd, 16))[1:], flush=True)
"""
    r = run(body)
    ok(r)
    assert r.stdout.splitlines() == ["active False", "spawn reply (0, 1, 1)"], r.explain()


def test_descriptors_pass_as_subprocess_says() -> None:
    body = """
r, w = os.pipe()
os.dup2(w, 7)  # dash redirects single-digit descriptors only
os.close(w)
w = 7
p = subprocess.run(['/bin/sh', '-c', 'echo passed >&%d; cat' % w], pass_fds=[w],
                   input=b'through stdin', capture_output=True)
os.close(w)
print(p.returncode, p.stdout.decode(), os.read(r, 100).decode().strip(), flush=True)
keep = os.dup(0)  # inheritable, not passed: closed in the child
os.set_inheritable(keep, True)
p = subprocess.run(['/bin/sh', '-c', 'test -e /proc/self/fd/%d && echo open || echo closed'
                    % keep], capture_output=True)
q = subprocess.run(['/bin/sh', '-c', 'test -e /proc/self/fd/%d && echo open || echo closed'
                    % keep], capture_output=True, close_fds=False)
print(p.stdout.decode().strip(), q.stdout.decode().strip(), flush=True)
"""
    r = run(body, execpromises=DYN + " proc exec", setup="")
    ok(r)
    assert r.stdout.splitlines() == ["0 through stdin passed", "closed open"], r.explain()


def test_a_spawned_child_may_signal_itself_not_its_parent() -> None:
    # "this process" in the child's filter is the child (kill(self), abort(), raise())
    r = run("""
r = subprocess.run(['sh', '-c', 'trap "echo trapped" USR1; kill -USR1 $$; echo survived'],
                   capture_output=True, text=True)
print('self', r.returncode, r.stdout.split())
r = subprocess.run(['sh', '-c', 'kill -USR1 $PPID; echo not-here'], capture_output=True,
                   text=True)
print('parent', r.returncode, r.stdout)
""", execpromises=DYN)
    ok(r)
    assert "self 0 ['trapped', 'survived']" in r.stdout, r.explain()
    assert "parent -6 \n" in r.stdout, r.explain()
    # the spawner explains on the caller's stderr, naming the child
    assert "pledge: sh[" in r.stderr and 'needs "proc"' in r.stderr, r.explain()


@pytest.mark.parametrize("error", [False, True], ids=["abort", "error"])
def test_a_spawned_pledgepy_child_explains_its_own_narrowing(error: bool) -> None:
    child = ("import os, pledgepy, warnings; warnings.simplefilter('ignore'); "
             "pledgepy.pledge('stdio rpath' + (' error' if 'error' in "
             "pledgepy.status().promises else '')); "
             "print(pledgepy.status().messages, flush=True); "
             "os.open('/etc/x-pledgepy', os.O_WRONLY | os.O_CREAT)")
    r = run(f"""
r = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True)
print('rc', r.returncode, r.stdout.split())
print('msg', 'openat("/etc/x-pledgepy", O_WRONLY|O_CREAT) needs "wpath cpath"' in r.stderr)
""", execpromises=DYN + (" error" if error else ""), setup="import sys")
    ok(r)
    if error:  # narrowing keeps error: the call fails, the child goes on (FileExistsError..)
        assert "msg True" in r.stdout and "rc 1 ['True']" in r.stdout, r.explain()
    else:  # OpenBSD's penalty, with the message, not the kernel's silent SIGSYS
        assert "rc -6 ['True']" in r.stdout and "msg True" in r.stdout, r.explain()


def test_a_spawned_shell_writes_to_dev_null() -> None:
    # OpenBSD's /dev/null allowance: the spawner answers exactly that path with its own
    r = run("""
for cmd in ('echo hidden >/dev/null; echo ok', 'exec 3<>/dev/null; echo rw',
            'echo x >/dev/zero; echo no', 'echo x >/dev/../dev/null; echo no'):
    r = subprocess.run(['sh', '-c', cmd], capture_output=True, text=True)
    print(r.returncode, r.stdout.split())
""", execpromises=DYN)
    ok(r)
    assert r.stdout.splitlines() == ["0 ['ok']", "0 ['rw']", "-6 []", "-6 []"], r.explain()
    assert 'openat("/dev/zero", O_WRONLY|O_CREAT|O_TRUNC) needs "wpath cpath"' in r.stderr
