"""The policy table covers CPython: every syscall the test workloads make belongs to a promise.

Each workload runs twice: once really pledged (it must finish with status 0),
and once unpledged under ``strace -f`` to list every syscall it makes. Each
name must appear in some rule of ``policy.all_rules()`` or in
``policy.ENOSYS``, except the few in :data:`STARTUP_ONLY`. The workload marks
the point where it would pledge (an ``lseek`` on fd -1); after that point
every syscall must also be allowed, at least by name, by the workload's own
promises. The table itself is checked against the syscall tables and
libseccomp's resolver.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

from pledgepy.backends.linux import policy
from pledgepy.backends.linux.seccomp import plan
from pledgepy.backends.linux.syscalls import AARCH64, BY_ARCH, MAX_KNOWN, X86_64
from pledgepy.promises import VOCABULARY
from tests.childproc import ROOT
from tests.pledged import under

#: Syscalls CPython makes that no promise allows, because they only happen
#: before any pledge() could run (strace sees the whole process). Each entry
#: must be outside the table (else it does not belong here) and must never be
#: seen after the pledge point (test_startup_only_is_honest checks both).
#: Today the table covers the whole start-up too: execve (exec), arch_prctl
#: ARCH_SET_FS (stdio), access/readlink of the loader (rpath), so the list is
#: empty. Add an entry only with a comment saying which start-up step needs it.
STARTUP_ONLY: dict[str, str] = {}

MARK = "try:\n    os.lseek(-1, 24301, 0)  # the pledge point, for strace\nexcept OSError:\n    pass\n"
MARK_RE = re.compile(r"\blseek\(-1, 24301, SEEK_SET\)")
LINE_RE = re.compile(r"^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()")

# name -> (promises, setup before the pledge point, body after it)
WORKLOADS: dict[str, tuple[str, str, str]] = {
    "stdio": ("stdio", """
import threading, queue, time, random, secrets, json, re, signal, gc, hashlib, zlib, math
import decimal, datetime, traceback, io, sys
""", """
print('hello'); print('err', file=sys.stderr)
try:
    1 / 0
except ZeroDivisionError:
    traceback.print_exc(file=io.StringIO())
q = queue.Queue(); lock = threading.Lock()
def work(i):
    with lock:
        q.put(i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
assert sorted(q.get() for _ in range(4)) == [0, 1, 2, 3]
time.time(); time.monotonic(); time.sleep(0.005); time.strftime('%c', time.localtime())
random.random(); os.urandom(16); secrets.token_hex(8)
json.loads(json.dumps({'a': [1, 2]})); re.findall(r'\\d+', 'a1b22')
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1)); os.kill(os.getpid(), signal.SIGUSR1)
signal.signal(signal.SIGALRM, lambda *a: got.append(2)); signal.setitimer(signal.ITIMER_REAL, 0.005)
deadline = time.monotonic() + 5
while len(got) < 2 and time.monotonic() < deadline:
    time.sleep(0.002)
assert got == [1, 2], got
gc.collect(); os.fstat(1); sys.stdout.isatty()
hashlib.sha256(b'x').hexdigest(); zlib.compress(b'x' * 100); math.sqrt(2)
decimal.Decimal(1) / 7; datetime.datetime.now()
"""),
    "file": ("stdio rpath wpath cpath", """
import shutil, tempfile, pathlib, glob, io
""", """
d = tempfile.mkdtemp()
p = os.path.join(d, 'a.txt')
with open(p, 'w') as f:
    f.write('data\\n' * 100)
with open(p) as f:
    assert f.read().count('data') == 100
with open(p, 'a') as f:
    f.write('more')
with open(p, 'r+b') as f:
    f.seek(0); f.write(b'D'); f.truncate(50)
os.stat(p); os.lstat(p); os.path.exists(p); os.access(p, os.R_OK); os.listdir(d)
shutil.copyfile(p, p + '.copy'); os.rename(p + '.copy', p + '.moved'); os.replace(p + '.moved', p + '.2')
os.symlink(p, p + '.link'); os.readlink(p + '.link')
os.makedirs(os.path.join(d, 'x', 'y')); list(os.walk(d)); glob.glob(d + '/*')
pathlib.Path(d, 'z.txt').write_text('z'); pathlib.Path(d, 'z.txt').read_text()
os.getcwd(); os.chdir(d); os.chdir('/')
fd = os.open(os.path.join(d, 'new'), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b'x'); os.fsync(fd); os.close(fd)
os.unlink(p)
shutil.rmtree(d)
assert not os.path.exists(d)
"""),
    "socket": ("stdio inet", """
import socket, threading, selectors
import encodings.idna  # getaddrinfo() encodes host names with it, importing it lazily
""", """
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0)); srv.listen()
port = srv.getsockname()[1]
def serve():
    conn, _ = srv.accept()
    with conn:
        conn.sendall(conn.recv(100).upper())
t = threading.Thread(target=serve); t.start()
c = socket.create_connection(('127.0.0.1', port), timeout=5)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.sendall(b'ping'); assert c.recv(100) == b'PING'
c.getpeername(); c.close(); t.join(); srv.close()
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(('127.0.0.1', 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2.sendto(b'dgram', u1.getsockname())
sel = selectors.DefaultSelector(); sel.register(u1, selectors.EVENT_READ); sel.select(5)
assert u1.recvfrom(100)[0] == b'dgram'
u1.close(); u2.close()
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s6.close()
"""),
    "subprocess": ("stdio rpath prot_exec proc exec", """
import subprocess
""", """
assert subprocess.run(['/bin/true']).returncode == 0
p = subprocess.run(['/bin/cat'], input=b'through cat', capture_output=True)
assert p.stdout == b'through cat', p
pid = os.posix_spawn('/bin/true', ['true'], os.environ)
assert os.waitpid(pid, 0)[1] == 0
assert os.system('/bin/true; /bin/true') == 0
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
"""),
}


#: What pledge() does to CPython before the filter goes in (runtime.py: lazy imports
#: done early, file reads of tracebacks and warnings guarded without rpath). The
#: unpledged run does it too, before the pledge point, so that the trace after the
#: point is the pledged run's, less the filter.
PREPARE = """import pledgepy.runtime
pledgepy.runtime.prepare(frozenset({promises!r}.split()))
if 'rpath' not in {promises!r}.split():
    pledgepy.runtime.guard_files()
"""


def _code(name: str, pledged: bool) -> str:
    promises, setup, body = WORKLOADS[name]
    setup = "import os\n" + textwrap.dedent(setup)
    if pledged:
        pledge = f"import pledgepy\npledgepy.pledge({promises!r})\n"
        return setup + MARK + pledge + textwrap.dedent(body) + "\nprint('WORKLOAD DONE', flush=True)\n"
    return (setup + PREPARE.format(promises=promises) + MARK + textwrap.dedent(body)
            + "\nprint('WORKLOAD DONE', flush=True)\n")


def _parse(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(every syscall name, the names after the pledge point) in strace -f output."""
    every: set[str] = set()
    after: set[str] = set()
    marked = False
    for line in text.splitlines():
        if MARK_RE.search(line):
            marked = True
            continue
        m = LINE_RE.match(line)
        if m:
            every.add(m.group(1) or m.group(2))
            if marked:
                after.add(m.group(1) or m.group(2))
    assert marked, "the pledge point was not seen in the trace"
    return frozenset(every), frozenset(after)


@cache
def _trace(name: str, tmp: str) -> tuple[frozenset[str], frozenset[str]]:
    """(every syscall name, the names seen after the pledge point) of an unpledged run."""
    out = Path(tmp) / f"{name}.strace"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=all", "-o", str(out),
                           sys.executable, "-c", _code(name, pledged=False)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "WORKLOAD DONE" in proc.stdout, proc.stderr[-2000:]
    return _parse(out.read_text())


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if shutil.which("strace") is None:
        pytest.skip("strace is missing (CI installs it: apt-get install strace)")
    probe = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.strip()[:200]}")
    tmp = str(tmp_path_factory.mktemp("strace"))
    return lambda name: _trace(name, tmp)


def _table_names() -> set[str]:
    return {r.syscall for r in policy.all_rules()} | set(policy.ENOSYS)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_runs_pledged(name: str) -> None:
    """The workloads are honest: each runs to the end under its promises."""
    promises, setup, body = WORKLOADS[name]
    r = under(promises, textwrap.dedent(body) + "\nprint('WORKLOAD DONE', flush=True)\n",
              setup=textwrap.dedent(setup))
    assert r.returncode == 0 and "WORKLOAD DONE" in r.stdout, r.explain()
    assert "pledge:" not in r.stderr, r.explain()


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_syscall_belongs_to_some_promise(name: str, traces) -> None:  # type: ignore[no-untyped-def]
    every, _ = traces(name)
    assert len(every) > 20, sorted(every)  # strace saw a real run
    missing = every - _table_names() - set(STARTUP_ONLY)
    assert not missing, f"syscalls in no rule of the policy table: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_after_the_pledge_point_the_workloads_promises_allow_each_syscall(
        name: str, traces) -> None:  # type: ignore[no-untyped-def]
    _, after = traces(name)
    promises = frozenset(WORKLOADS[name][0].split())
    p = plan.build(promises, "x86_64")
    trapped = sorted(n for n in after if n in X86_64 and p.action(X86_64[n]).kind == "trap")
    assert not trapped, f"{name}: no rule under {sorted(promises)} allows {trapped}"
    unknown = sorted(n for n in after if n not in X86_64)
    assert not unknown, unknown


def test_startup_only_is_honest(traces) -> None:  # type: ignore[no-untyped-def]
    table = _table_names()
    seen_before = set()
    for name in WORKLOADS:
        every, after = traces(name)
        seen_before |= every - after
        for syscall in STARTUP_ONLY:
            assert syscall not in after, f"{syscall} happens after the pledge point in {name}"
    for syscall, why in STARTUP_ONLY.items():
        assert why, f"{syscall} needs a justification"
        assert syscall not in table, f"{syscall} is in the table: drop it from STARTUP_ONLY"
        assert syscall in seen_before, f"{syscall} is never made: drop it from STARTUP_ONLY"


SAMPLE = """\
100 execve("/usr/bin/python3", ["python3"], 0x7ffd /* 20 vars */) = 0
100 arch_prctl(ARCH_SET_FS, 0x7f00) = 0
100 lseek(-1, 24301, SEEK_SET)        = -1 EBADF (Bad file descriptor)
101 futex(0x7f00, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>
100 ptrace(PTRACE_TRACEME)            = 0
101 <... futex resumed>)              = 0
101 --- SIGCHLD {si_signo=SIGCHLD} ---
101 +++ exited with 0 +++
"""


def test_the_coverage_check_can_fail() -> None:
    every, after = _parse(SAMPLE)
    assert every == {"execve", "arch_prctl", "futex", "ptrace"}
    assert after == {"futex", "ptrace"}
    assert every - _table_names() - set(STARTUP_ONLY) == {"ptrace"}
    with pytest.raises(AssertionError, match="pledge point"):
        _parse(SAMPLE.replace("24301", "1"))


# ---- the table against the syscall tables and libseccomp ----

def test_every_syscall_in_the_table_exists() -> None:
    names = {r.syscall for r in policy.all_rules()} | set(policy.ENOSYS) | set(policy.NEVER)
    missing = sorted(n for n in names if n not in X86_64 and n not in AARCH64)
    assert not missing, f"not a syscall on x86_64 or aarch64: {missing}"
    for table in (X86_64, AARCH64):
        assert max(table.values()) <= MAX_KNOWN
        assert len(set(table.values())) == len(table), "two names share a number"


def test_key_syscalls_exist_on_both_architectures() -> None:
    for name in ("read", "write", "openat", "newfstatat", "mmap", "clone", "clone3",
                 "execve", "exit_group", "futex", "seccomp", "rt_sigreturn"):
        assert name in X86_64 and name in AARCH64, name


def test_never_is_in_no_rule() -> None:
    ruled = {r.syscall for r in policy.all_rules()}
    assert not ruled & set(policy.NEVER), sorted(ruled & set(policy.NEVER))
    everything = frozenset(VOCABULARY)
    for arch, table in BY_ARCH.items():
        p = plan.build(everything, arch)
        for name in policy.NEVER:
            if name in table:
                assert p.action(table[name]).kind in ("trap", "enosys"), (arch, name)


def _libseccomp():  # type: ignore[no-untyped-def]
    sc = pytest.importorskip("pyseccomp", reason="pip install pyseccomp (test extras)")
    try:
        sc.resolve_syscall(sc.Arch.X86_64, "read")
    except Exception as exc:  # noqa: BLE001 - libseccomp.so missing or unusable
        pytest.skip(f"libseccomp is missing: {exc}")
    return sc


def test_numbers_match_libseccomp() -> None:
    sc = _libseccomp()
    resolved = 0
    for arch, table in (("X86_64", X86_64), ("AARCH64", AARCH64)):
        for name, nr in table.items():
            got = sc.resolve_syscall(getattr(sc.Arch, arch), name)
            if got < 0:
                continue  # newer than this libseccomp
            resolved += 1
            assert got == nr, f"{arch} {name}: table {nr}, libseccomp {got}"
    assert resolved > 600


def test_policy_names_resolve_in_libseccomp() -> None:
    sc = _libseccomp()
    for name in sorted({r.syscall for r in policy.all_rules()} | set(policy.ENOSYS)):
        nrs = {arch: sc.resolve_syscall(getattr(sc.Arch, arch), name)
               for arch in ("X86_64", "AARCH64")}
        if all(v < 0 for v in nrs.values()):
            continue  # newer than this libseccomp (the tables are checked above)
        for arch, table in (("X86_64", X86_64), ("AARCH64", AARCH64)):
            if nrs[arch] >= 0:
                assert table.get(name) == nrs[arch], (arch, name)


#: Numbers libseccomp knows that the tables leave out on purpose, and why (none now:
#: map_shadow_stack, 453, is in both tables since arm64 wired it in Linux 6.13).
OMITTED: dict[tuple[str, int], str] = {}


def test_tables_hold_every_number_libseccomp_knows() -> None:
    sc = _libseccomp()
    for arch, table in (("X86_64", X86_64), ("AARCH64", AARCH64)):
        by_nr = {nr: name for name, nr in table.items()}
        for nr in range(MAX_KNOWN + 1):
            try:
                name = sc.resolve_syscall(getattr(sc.Arch, arch), nr)
            except Exception:  # noqa: BLE001 - unknown number
                continue
            name = name.decode() if isinstance(name, bytes) else name
            if not name or (arch, nr) in OMITTED:
                continue
            assert by_nr.get(nr) == name, f"{arch} {nr}: libseccomp {name}, table {by_nr.get(nr)}"
