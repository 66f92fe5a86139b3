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
