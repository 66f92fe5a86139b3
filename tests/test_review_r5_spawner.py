"""Attacks on the spawner by a compromised caller (review r5, issue 9 item 1).

Each case runs in a fresh pledged child against the real kernel (tests/pledged.py):
the caller, after its pledge, writes hand-crafted messages on the spawner's socket
(``write``/``read`` are ``stdio``) and checks that no child gets past execpromises.
"""

from __future__ import annotations

import sys

from tests.test_spawner import BOTH, DUMPABLE, DYN, _python_for_nobody, ok, run

PY = sys.executable

#: a later "layer" from the caller: every seccomp() returns 0 without running (ERRNO
#: with errno 0), everything else is allowed. Installed first in the child, it would
#: swallow the install of the first layer (execpromises) and fake its listener (fd 0).
PRE = DUMPABLE + """
import struct
NR_SECCOMP = {'x86_64': 317, 'aarch64': 277}[os.uname().machine]
"""
SWALLOW_SECCOMP = """
def insn(code, jt, jf, k):
    return struct.pack('<HBBI', code, jt, jf, k)
prog = (insn(0x20, 0, 0, 0)                  # A = nr
        + insn(0x15, 0, 1, NR_SECCOMP)       # nr == seccomp ?
        + insn(0x06, 0, 0, 0x00050000)       # ERRNO(0): "it worked"
        + insn(0x06, 0, 0, 0x7fff0000))      # ALLOW
st = spawner._ask(struct.pack('<IIQII', spawner.MAGIC, spawner.FILTER, (1 << 64) - 1, 0, 3)
                  + prog)
print('layer', st[0], flush=True)
"""


@BOTH
def test_a_later_layer_cannot_swallow_the_first(unprivileged: bool) -> None:
    body = SWALLOW_SECCOMP + f"""
try:
    r = subprocess.run([{PY!r}, '-S', '-c',
                        'import socket; socket.socket(); print("escaped", flush=True)'],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=20)
    print('rc', r.returncode, r.stdout.decode().strip(), flush=True)
except OSError as e:
    print('refused', type(e).__name__, flush=True)
"""
    py = _python_for_nobody() if unprivileged else PY
    r = run(body.replace(repr(PY), repr(py)), unprivileged=unprivileged, setup=PRE)
    ok(r)
    assert "escaped" not in r.stdout, r.explain()
    assert "layer 0" in r.stdout, r.explain()


def test_no_child_without_proc() -> None:
    # OpenBSD: "stdio exec" may exec (replace itself) but never fork: subprocess dies
    body = """
print('active', spawner.active(), flush=True)
r = subprocess.run(['/bin/cat', F], capture_output=True)
print('cat', r.returncode, r.stdout, flush=True)
"""
    r = run(body, promises="stdio exec", setup=DUMPABLE)
    assert "cat 0" not in r.stdout, r.explain()
    assert r.stdout.startswith("active False"), r.explain()
    assert r.returncode == -6 and ("fork" in r.stderr or "clone" in r.stderr), r.explain()


def test_dropping_proc_seals_the_spawner() -> None:
    # a copy of the socket kept from before (a forked child's, say) is refused too
    body = """
keep = os.dup(spawner.fileno())
pledgepy.pledge('stdio exec', 'stdio rpath prot_exec')
print('active', spawner.active(), flush=True)
spawner._sock, spawner._owner = keep, os.getpid()
print('spawn', spawner.spawn(['/bin/cat'], ['cat', F], [], [(1, 1)]), flush=True)
"""
    r = run(body, setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["active False", "spawn (0, 1, 1)"], r.explain()


def test_a_refused_narrowing_seals_the_spawner() -> None:
    # it holds 8 layers: the 9th narrowing is refused; the spawner must not go on
    # serving the wider ones to a copy of its socket (a forked child's, say)
    drops = "wpath cpath dpath fattr chown flock unix inet dns".split()
    body = f"""
keep = os.dup(spawner.fileno())
ex = set('stdio rpath prot_exec proc exec'.split()) | set({drops!r})
for p in {drops!r}:
    ex.discard(p)
    pledgepy.pledge('stdio proc exec', ' '.join(sorted(ex)))
print('active', spawner.active(), flush=True)
spawner._sock, spawner._owner = keep, os.getpid()
print('spawn', spawner.spawn(['/bin/cat'], ['cat', F], [], [(1, 1)]), flush=True)
"""
    r = run(body, execpromises="stdio rpath prot_exec proc exec " + " ".join(drops),
            setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["active False", "spawn (0, 1, 1)"], r.explain()


def test_more_children_than_listeners_does_not_hang() -> None:
    # the spawner explains up to 256 children at once: the 257th must not wait forever
    # in its execve for a listener nobody reads (and the spawner with it)
    body = """
signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError()))
kids = [subprocess.Popen(['/bin/sleep', '60']) for _ in range(256)]
signal.alarm(20)
try:
    r = subprocess.run(['/bin/cat', F], capture_output=True)
    print('cat', r.returncode, r.stdout.decode().strip(), flush=True)
except TimeoutError:
    print('hung', flush=True)
finally:
    signal.alarm(0)
    for k in kids:
        k.kill()
        k.wait()
"""
    r = run(body, execpromises=DYN, timeout=120)
    assert "hung" not in r.stdout, r.explain()
    assert r.stdout.splitlines()[-1].startswith("cat "), r.explain()


def test_a_forked_child_does_not_keep_the_socket() -> None:
    # a forked child that dropped its ids must not reach the spawner, which serves
    # requests as the caller (its ids, descriptors, cwd): here a request blob that sits
    # in the caller's memory (data an attacker sent, say) at an address the fork knows
    body = """
import struct
ffi = native.ffi()
blob = (struct.pack('<IIiiiiiiQQIIII', spawner.JOB, 0, 0, -1, -1, -1, -1, 1, 0, 0, 1, 2, 0, 0)
        + struct.pack('<ii', 1, 1) + b'/usr/bin/id\\0' + b'id\\0-u\\0')
buf = ffi.from_buffer(blob)
addr = int(ffi.cast('uintptr_t', buf))
sock = spawner.fileno()
child = os.fork()
if child == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    try:
        os.write(sock, struct.pack('<IIQQ', spawner.MAGIC, spawner.SPAWN, addr, len(blob)))
        print('reply', struct.unpack('<Iiii', os.read(sock, 16))[1:], flush=True)
    except OSError as e:
        print('refused', errno.errorcode[e.errno], flush=True)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.5)
"""
    setup = "import time\nfrom pledgepy.backends.linux import native\n"
    r = run(body, promises="stdio proc exec id", setup=setup + DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["refused EBADF"], r.explain()


def test_the_socket_is_never_passed_to_a_child() -> None:
    # its holder's requests are served as the caller: never handed on (pass_fds)
    body = """
s = spawner.fileno()
r = subprocess.run(['/bin/ls', '-l', f'/proc/self/fd/{s}'], pass_fds=[s], capture_output=True)
print('socket' if b'socket:' in r.stdout else 'closed', flush=True)
"""
    r = run(body, setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["closed"], r.explain()


def test_the_callers_process_limit_holds() -> None:
    # RLIMIT_NPROC lowered after the pledge (proc): the spawner makes the child, so it
    # must count against the caller's limit, not its own (copied at the first pledge)
    body = """
class RL(ctypes.Structure):
    _fields_ = [('cur', ctypes.c_ulong), ('max', ctypes.c_ulong)]
libc = ctypes.CDLL(None, use_errno=True)
print('setrlimit', libc.setrlimit(6, ctypes.byref(RL(1, 1))), flush=True)  # RLIMIT_NPROC
try:
    r = subprocess.run(['/bin/cat', F], capture_output=True)
    print('cat', r.returncode, flush=True)
except OSError as e:
    print('refused', errno.errorcode[e.errno], flush=True)
"""
    r = run(body, unprivileged=True, setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["setrlimit 0", "refused EAGAIN"], r.explain()


def test_a_preexec_fn_does_not_hold_the_socket() -> None:
    # _posixsubprocess forks without os.fork's hooks; ids may change before preexec_fn
    body = """
s = spawner.fileno()
def pre():
    try:
        os.fstat(s)
        os.write(1, b'open\\n')
    except OSError:
        os.write(1, b'closed\\n')
r = subprocess.run(['/bin/true'], preexec_fn=pre, capture_output=True)
print(r.stdout.decode().strip(), flush=True)
"""
    r = run(body, setup=DUMPABLE)
    ok(r)
    assert r.stdout.splitlines() == ["closed"], r.explain()
