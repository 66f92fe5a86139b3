"""Round 12, real programs pledged in-process: what an OpenBSD developer's program meets.
Each test failed on main before its fix (said in each)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.pledged import killed, under

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux seccomp")

root = pytest.mark.skipif(os.geteuid() != 0, reason="drops to uid 65534 from root")


def _tsync() -> bool:
    from pledgepy.backends.linux.landlock import abi
    return abi.current().tsync


#: below Landlock ABI 8 a layer confines only the calling thread, so the allowances are
#: refused while other threads run; on ABI 8 they are granted and nothing is to explain
no_tsync = pytest.mark.skipif(not sys.platform.startswith("linux") or _tsync(),
                              reason="Landlock ABI >= 8 grants the allowances to every thread")

#: a server thread started before the pledge, as ThreadingHTTPServer.serve_forever or
#: an executor's worker would be
THREAD = """
import threading, time
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
"""


@no_tsync
@pytest.mark.parametrize("unprivileged", [False, True] if os.geteuid() == 0 else [False])
def test_a_zone_lookup_after_threads_says_why_stdios_allowance_is_missing(
        unprivileged: bool) -> None:
    """A program that starts a thread, pledges "stdio" and changes its time zone: OpenBSD
    lets stdio read zoneinfo, here the allowance cannot be granted (ABI < 8). On main the
    message said only 'newfstatat("/usr/share/zoneinfo/...") needs "rpath" ...', which
    sends the reader to widen the pledge instead of pledging before the thread."""
    # glibc's own zone lookup (time.tzset()): the interpreter's zoneinfo module may not be
    # importable for uid 65534 here, libc's reading is the same allowance
    r = under("stdio", """
os.environ["TZ"] = "Asia/Tokyo"
time.tzset()
print("NOT KILLED", time.tzname)
""", setup=THREAD, unprivileged=unprivileged)
    assert killed(r), r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert "/usr/share/zoneinfo/Asia/Tokyo" in line, line
    assert ("OpenBSD's \"stdio\" allowance for this file is not granted here: other threads "
            "were running at pledge()") in line, line
    assert "pledge() before starting threads" in line, line


@no_tsync
def test_a_name_lookup_after_threads_says_why_dns_allowance_is_missing() -> None:
    """urllib to http://localhost under "stdio dns inet" with a server thread already
    running: glibc stats /etc/nsswitch.conf, which dns's allowance covers on OpenBSD. On
    main the message named rpath/wpath/cpath/dpath only (a stat was not even matched to
    the allowances: no "or getpw" either)."""
    r = under("stdio dns inet", """
import socket
socket.getaddrinfo("localhost", 80)
print("NOT KILLED")
""", setup=THREAD + "import socket\n")
    assert killed(r), r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert '"/etc/nsswitch.conf"' in line, line
    assert 'or "getpw"' in line, line  # the other promise whose allowance covers it
    assert "OpenBSD's \"dns\" allowance for this file is not granted here" in line, line


@no_tsync
def test_status_names_the_reason_the_allowances_are_refused() -> None:
    """On main status().notes listed every possible reason (no Landlock, the domain limit,
    threads, exec without rpath); now the one that applied."""
    r = under("stdio", """
note = [n for n in pledgepy.status().notes if "path allowances" in n][0]
print(note)
""", setup=THREAD)
    assert r.returncode == 0, r.explain()
    assert "other threads were running at pledge() (Thread-" in r.stdout, r.stdout
    assert "16" not in r.stdout and "execve" not in r.stdout, r.stdout



@no_tsync
def test_an_asyncio_server_on_localhost_names_the_executor_thread() -> None:
    """asyncio.start_server("localhost") resolves the name in the loop's default executor,
    whose thread is still there at a pledge("stdio inet dns") after it; the next lookup
    of "localhost" breaks the pledge (OpenBSD: dns allows it). On main the message named
    neither the allowance nor the thread the program never started itself."""
    r = under("stdio inet dns", """
async def after():
    await asyncio.open_connection("localhost", PORT)
loop.run_until_complete(after())
print("NOT KILLED")
""", setup="""
import asyncio
loop = asyncio.new_event_loop()
srv = loop.run_until_complete(asyncio.start_server(lambda r, w: None, "localhost", 0))
PORT = srv.sockets[0].getsockname()[1]
""")
    assert killed(r), r.explain()
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("pledge: "))
    assert "OpenBSD's \"dns\" allowance for this file is not granted here" in line, line
    assert "other threads were running at pledge() (asyncio_0)" in line, line


#: a program that pledges its start-up promises, starts its threads, then narrows in its
#: main loop, as OpenBSD programs do
NARROW = """
import threading, time
pledgepy.pledge("stdio inet dns")
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
"""


@no_tsync
@pytest.mark.parametrize("unprivileged", [False, True] if os.geteuid() == 0 else [False])
def test_narrowing_with_threads_keeps_the_allowances_it_still_holds(unprivileged: bool) -> None:
    """pledge("stdio inet dns"), threads, then pledge("stdio inet"): every thread is inside
    the allowance layer of the first pledge, so stdio's zone files stay readable under it.
    On main the narrowing dropped every allowance (a new layer would confine one thread)
    and the time zone change was a violation, which OpenBSD allows. The dropped dns files
    are violations again (the handler no longer opens them)."""
    r = under("stdio inet", """
os.environ["TZ"] = "Asia/Tokyo"
time.tzset()
print("TZ", time.tzname[0], flush=True)
open("/etc/resolv.conf")
print("NOT KILLED")
""", setup=NARROW, unprivileged=unprivileged)
    assert "TZ JST" in r.stdout, r.explain()
    assert killed(r) and "NOT KILLED" not in r.stdout, r.explain()
    assert 'openat("/etc/resolv.conf", O_RDONLY) needs' in r.stderr, r.stderr


@no_tsync
def test_the_kept_layer_reports_what_it_still_grants() -> None:
    """What the kept layer still grants beyond the new allowances (dns's files) is only
    reachable by calling the handler's call site directly; it is reported (partial). On
    main there was nothing to report (the allowances were gone)."""
    r = under("stdio inet", """
st = pledgepy.status()
print(st.level)
print(st.not_enforced)
""", setup=NARROW)
    assert r.returncode == 0, r.explain()
    assert r.stdout.startswith("partial"), r.stdout
    assert "path allowances this pledge drops (" in r.stdout and "/etc/hosts" in r.stdout, r.stdout


@no_tsync
def test_a_strict_narrowing_with_threads_refuses_the_allowances_and_says_so() -> None:
    """Strict keeps full enforcement instead of the reported gap: the narrowing succeeds,
    the allowances are refused, and the violation says it is strict's choice. On main the
    message gave no reason at all."""
    r = under("stdio", """
os.environ["TZ"] = "Asia/Tokyo"
time.tzset()
print("NOT KILLED")
""", setup=NARROW.replace("stdio inet dns", "stdio getpw"),  # dns alone is partial
        env={"PLEDGEPY_STRICT": "1"})
    assert killed(r), r.explain()
    assert "strict refuses keeping the layer in force" in r.stderr, r.stderr


@no_tsync
def test_dropping_rpath_with_threads_says_when_to_drop_it() -> None:
    """pledge("stdio rpath inet dns"), threads, then pledge("stdio inet dns"): no layer
    can serve the narrowing (the first handled no reads), so name lookups break the
    pledge; the message tells the fix that works (drop rpath before the threads). On main
    it said only 'needs "rpath"'."""
    r = under("stdio inet dns", """
socket.getaddrinfo("localhost", 80)
print("NOT KILLED")
""", setup="""
import socket, threading, time
pledgepy.pledge("stdio rpath inet dns")
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
""")
    assert killed(r), r.explain()
    assert ("drop rpath/wpath/cpath/dpath in a pledge() before starting threads: later "
            "narrowings keep its allowances") in r.stderr, r.stderr
