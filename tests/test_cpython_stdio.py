"""A pledged CPython keeps working under "stdio" (real kernel, one child per case).

Modules are imported before pledge() (importing a new one needs rpath); after
it, each workload must run to the end with exit status 0 and the expected
output, and no pledge message on stderr.
"""

from __future__ import annotations

import pytest

from tests.pledged import under

IMPORTS = """
import threading, queue, time, random, secrets, json, re, signal, gc, hashlib, zlib, math
import decimal, datetime, traceback, io, sys, os, mmap, weakref, stat
"""

WORKLOADS: dict[str, tuple[str, str]] = {
    "print": ("""
print('hello', 42, [1, 2], {'a': 1})
print('to stderr', file=sys.stderr)
sys.stdout.write('written\\n')
print('é ü ✓')
""", "hello 42 [1, 2] {'a': 1}\nwritten\né ü ✓\n"),
    "exceptions": ("""
try:
    {}['missing']
except KeyError as e:
    print('caught', repr(e))
try:
    try:
        1 / 0
    except ZeroDivisionError as e:
        raise ValueError('chained') from e
except ValueError:
    buf = io.StringIO()
    traceback.print_exc(file=buf)
    text = buf.getvalue()
    print('traceback', 'ZeroDivisionError' in text, 'direct cause' in text, '<string>' in text)
traceback.print_stack(file=sys.stderr)
print(''.join(traceback.format_exception(TypeError('t'))).strip())
""", "caught KeyError('missing')\ntraceback True True True\nTypeError: t\n"),
    "threads": ("""
lock = threading.Lock()
q = queue.Queue()
total = [0]
def work(n):
    for _ in range(1000):
        with lock:
            total[0] += 1
    q.put(n * n)
ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
for t in ts: t.start()
for t in ts: t.join()
print(total[0], sorted(q.get() for _ in range(6)))
ev = threading.Event(); cond = threading.Condition()
t = threading.Timer(0.01, ev.set); t.start(); print('event', ev.wait(5)); t.join()
sem = threading.Semaphore(2)
with sem: print('sem')
print('local', threading.local() is not None, threading.active_count())
""", "6000 [0, 1, 4, 9, 16, 25]\nevent True\nsem\nlocal True 1\n"),
    "time": ("""
t0, m0, p0 = time.time(), time.monotonic(), time.perf_counter()
time.sleep(0.02)
print('slept', time.monotonic() - m0 >= 0.015, time.perf_counter() > p0, time.time() >= t0)
lt = time.localtime(); gm = time.gmtime(0)
print(time.strftime('%Y', gm), len(time.strftime('%Y-%m-%d %H:%M:%S', lt)), lt.tm_year > 2000)
print(time.process_time() >= 0, time.thread_time() >= 0, time.time_ns() > 0)
print(time.asctime(gm), time.ctime(0)[:3])
""", "slept True True True\n1970 19 True\nTrue True True\nThu Jan  1 00:00:00 1970 Thu\n"),
    "random": ("""
r = random.random(); random.seed(1); a = random.randint(0, 10**6); random.seed(1)
print(0 <= r < 1, a == random.randint(0, 10**6))
print(len(os.urandom(32)), len(secrets.token_hex(16)), len(secrets.token_bytes(8)))
print(isinstance(random.SystemRandom().random(), float), len(random.sample(range(100), 5)))
""", "True True\n32 32 8\nTrue 5\n"),
    "json_re": ("""
doc = json.loads('{"a": [1, 2, {"b": null}], "c": "\\\\u00e9"}')
print(json.dumps(doc, sort_keys=True))
print(re.findall(r'(\\w+)=(\\d+)', 'x=1 y=22 z=333'), re.sub('[aeiou]', '_', 'pledge'))
print(bool(re.compile(r'^\\d{4}-\\d{2}$').match('2024-05')))
""", '{"a": [1, 2, {"b": null}], "c": "\\u00e9"}\n[(\'x\', \'1\'), (\'y\', \'22\'), '
         "('z', '333')] pl_dg_\nTrue\n"),
    "signals": ("""
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
signal.raise_signal(signal.SIGUSR1)
print('usr1', got == [signal.SIGUSR1] * 2)
signal.signal(signal.SIGALRM, lambda s, f: got.append('alarm'))
signal.alarm(1); signal.alarm(0)
signal.setitimer(signal.ITIMER_REAL, 0.01)
deadline = time.monotonic() + 5
while 'alarm' not in got and time.monotonic() < deadline:
    time.sleep(0.005)
print('itimer', 'alarm' in got)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
signal.pthread_kill(threading.get_ident(), signal.SIGUSR2)  # tgkill to self
print('pending', signal.SIGUSR2 in signal.sigpending())
print('waited', signal.sigwait([signal.SIGUSR2]) == signal.SIGUSR2)
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    os.kill(os.getpid(), signal.SIGINT); time.sleep(1)
except KeyboardInterrupt:
    print('keyboard interrupt')
""", "usr1 True\nitimer True\npending True\nwaited True\nkeyboard interrupt\n"),
    "gc": ("""
class Node:
    pass
gc.disable()
for _ in range(1000):
    a, b = Node(), Node(); a.b, b.a = b, a
del a, b
print('collected', gc.collect() >= 2000, gc.isenabled()); gc.enable()
n = Node(); w = weakref.ref(n); del n; gc.collect(); print('weakref', w() is None)
""", "collected True False\nweakref True\n"),
    "fstat": ("""
st = os.fstat(1)
print('fstat', st.st_mode != 0, os.fstat(0).st_ino >= 0)
print('isatty', sys.stdout.isatty(), os.isatty(2))
r, w = os.pipe(); print('pipe', os.fstat(r).st_size == 0)
print('fifo', stat.S_ISFIFO(os.fstat(w).st_mode))
""", "fstat True True\nisatty False False\npipe True\nfifo True\n"),
    "hash_zlib_math_decimal": ("""
print(hashlib.sha256(b'pledge').hexdigest()[:16], hashlib.md5(b'x').hexdigest()[:8])
data = b'abc' * 1000; z = zlib.compress(data)
print(len(z) < len(data), zlib.decompress(z) == data, zlib.crc32(b'x'))
print(math.sqrt(2.0), math.factorial(20), math.gcd(12, 18), round(math.pi, 5))
decimal.getcontext().prec = 30
print(decimal.Decimal(1) / decimal.Decimal(7))
""", "9dd7dd2209298bf5 9dd4e461\nTrue True 2363233923\n"
     "1.4142135623730951 2432902008176640000 6 3.14159\n0.142857142857142857142857142857\n"),
    "datetime": ("""
now = datetime.datetime.now(); utc = datetime.datetime.now(datetime.timezone.utc)
print(now.year > 2000, utc.tzinfo is datetime.timezone.utc, datetime.date.today().year > 2000)
d = datetime.datetime(2024, 2, 28) + datetime.timedelta(days=1)
print(d.isoformat(), d.strftime('%A'))
""", "True True True\n2024-02-29T00:00:00 Thursday\n"),
    "memory": ("""
big = bytearray(64 * 1024 * 1024); big[-1] = 1
lst = [str(i) for i in range(200000)]
del big, lst
m = mmap.mmap(-1, 1 << 20); m[:5] = b'hello'; print(m[:5]); m.close()
""", "b'hello'\n"),
}


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_under_stdio(name: str) -> None:
    body, expected = WORKLOADS[name]
    r = under("stdio", body + "\nsys.stdout.flush()\n", setup=IMPORTS)
    assert r.returncode == 0, r.explain()
    assert r.stdout == expected, r.explain()
    assert "pledge:" not in r.stderr, r.explain()


def test_all_workloads_together() -> None:
    bodies = [WORKLOADS[n][0] for n in sorted(WORKLOADS)]
    expected = "".join(WORKLOADS[n][1] for n in sorted(WORKLOADS))
    # a thread started before the pledge keeps running all along
    setup = IMPORTS + """
stop = threading.Event()
bg = threading.Thread(target=lambda: [time.sleep(0.001) for _ in iter(lambda: stop.is_set(), True)])
bg.start()
"""
    body = "\n".join(bodies) + "\nstop.set(); bg.join()\nprint('status', pledgepy.status().promises)\n"
    body = body.replace("threading.active_count())", "threading.active_count() - 1)")
    r = under("stdio", body, setup=setup)
    assert r.returncode == 0, r.explain()
    assert r.stdout == expected + "status frozenset({'stdio'})\n", r.explain()
    assert "pledge:" not in r.stderr


def test_uncaught_exception_exits_1_with_traceback() -> None:
    body = """
def inner():
    raise RuntimeError('boom under stdio')
print('before', flush=True)
inner()
"""
    r = under("stdio", body, setup=IMPORTS)
    assert r.returncode == 1, r.explain()
    assert r.stdout == "before\n"
    assert "Traceback (most recent call last):" in r.stderr
    assert "in inner" in r.stderr and "RuntimeError: boom under stdio" in r.stderr
    assert "pledge:" not in r.stderr and "Fatal Python error" not in r.stderr


def test_uncaught_exception_in_a_thread() -> None:
    body = """
def bad():
    raise KeyError('in thread')
t = threading.Thread(target=bad); t.start(); t.join()
print('main goes on', flush=True)
"""
    r = under("stdio", body, setup=IMPORTS)
    assert r.returncode == 0, r.explain()
    assert r.stdout == "main goes on\n"
    assert "KeyError: 'in thread'" in r.stderr and "pledge:" not in r.stderr


@pytest.mark.parametrize("code,status", [("pass", 0), ("sys.exit(3)", 3), ("os._exit(7)", 7),
                                         ("raise SystemExit('bye')", 1)])
def test_exit_codes(code: str, status: int) -> None:
    r = under("stdio", code, setup=IMPORTS)
    assert r.returncode == status, r.explain()
    assert "pledge:" not in r.stderr


def test_atexit_and_finalizers_run() -> None:
    body = """
import atexit
atexit.register(lambda: print('atexit ran', flush=True))
class D:
    def __del__(self): print('finalized', flush=True)
keep = D()
"""
    r = under("stdio", body, setup=IMPORTS + "import atexit")
    assert r.returncode == 0, r.explain()
    assert r.stdout.splitlines() == ["atexit ran", "finalized"], r.explain()


def test_importing_a_new_module_needs_rpath() -> None:
    # the control: the workloads above pass because their modules were imported first
    r = under("stdio", "import csv", setup="")
    assert r.returncode == -6, r.explain()
    assert '"rpath"' in r.stderr and "import" in r.stderr


# glibc's mktime() re-stats /etc/localtime on every call (TZ unset); the handler
# answers that stat from a descriptor opened before the pledge.
def test_mktime_under_stdio() -> None:
    body = """
print(all(time.mktime(time.localtime(t)) == t for t in (0, 86400, 10**9)), flush=True)
os.stat('/etc/hostname')
"""
    r = under("stdio", body, setup=IMPORTS)
    assert r.stdout == "True\n", r.explain()
    assert r.returncode == -6 and "newfstatat" in r.stderr, r.explain()  # other paths: refused
