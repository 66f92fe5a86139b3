"""r10 library review: real programs hardened with one pledge() line.

glibc's NSS modules: a lookup the promises allow (services under ``dns``, users under
``rpath``) must not die of the module glibc dlopens for it the first time (an open of
/etc/ld.so.cache and of the library, an executable mapping)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pledgepy.backends.linux import nss
from tests.childproc import run
from tests.pledged import under

_BUILT_IN = nss.BUILT_IN


def _lines() -> dict[str, list[str]]:
    try:
        with open(nss.NSSWITCH, encoding="utf-8") as f:
            return nss.services(f.read())
    except OSError:
        return {}


def _installed(module: str) -> bool:
    return any(os.path.exists(f"{d}/libnss_{module}.so.2")
               for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                         "/usr/lib64", "/lib", "/usr/lib"))


def _modules(database: str, *, installed: bool) -> list[str]:
    return [m for m in _lines().get(database, []) if m not in _BUILT_IN
            and _installed(m) == installed]


def test_nsswitch_lines_are_read_without_their_actions() -> None:
    text = ("# comment\npasswd:  files systemd\nhosts: files mdns4_minimal [NOTFOUND=return]"
            " dns # trailing\n\nservices:\tdb files\nnonsense\n")
    assert nss.services(text) == {"passwd": ["files", "systemd"],
                                  "hosts": ["files", "mdns4_minimal", "dns"],
                                  "services": ["db", "files"]}


def test_only_promises_that_look_up_without_loading_need_it() -> None:
    assert nss.needed(frozenset({"stdio", "dns"}))
    assert nss.needed(frozenset({"stdio", "rpath"}))
    assert not nss.needed(frozenset({"stdio", "rpath", "prot_exec", "getpw"}))
    assert not nss.needed(frozenset({"stdio", "inet"}))


@pytest.mark.skipif(not _modules("services", installed=False),
                    reason="nsswitch.conf names no missing module for services here")
@pytest.mark.parametrize("promises", ["stdio dns", "stdio inet dns"])
def test_a_service_name_lookup_under_dns(promises: str) -> None:
    """Debian's stock ``services: db files`` (libnss_db not installed): on main glibc's
    first try of libnss_db opened /etc/ld.so.cache, a violation (``needs "rpath"``)
    under dns, which OpenBSD lets read /etc/services."""
    r = under(promises, """
import socket
print(socket.getaddrinfo("127.0.0.1", "http", type=socket.SOCK_STREAM)[0][4][1])
print(socket.getservbyname("https"), socket.getprotobyname("udp"))
""", setup="import socket, encodings.idna")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["80", "443", "17"], r.explain()


@pytest.mark.skipif(not _modules("passwd", installed=True),
                    reason="nsswitch.conf names no installed module for passwd here")
@pytest.mark.parametrize("unprivileged", [False, True])
def test_a_missing_user_under_rpath(unprivileged: bool) -> None:
    """``passwd: files systemd``: a name /etc/passwd lacks reaches libnss_systemd, which
    glibc mapped executable on main (``mmap(PROT_READ|PROT_EXEC) needs "prot_exec"``);
    OpenBSD answers a missing user under rpath with NULL (KeyError)."""
    r = under("stdio rpath", """
import pwd
for name in ("pledgepy-no-such-user", "pledgepy-nor-this-one"):
    try:
        pwd.getpwnam(name)
    except KeyError:
        print("KeyError")
print(pwd.getpwuid(0).pw_name)
""", setup="import pwd", unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["KeyError", "KeyError", "root"], r.explain()


_SERVE = """
import functools, http.server, socket, socketserver, threading
docroot = sys.argv[1]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=docroot)
handler.log_message = lambda *a: None
server = socketserver.TCPServer(("127.0.0.1", 0), handler)
pledgepy.unveil_imports()
pledgepy.unveil(docroot, "r")
pledgepy.pledge("stdio rpath inet")
threading.Thread(target=server.serve_forever, daemon=True).start()
for name in ("index.html", "../outside.txt"):
    s = socket.create_connection(server.server_address, timeout=10)
    s.sendall(b"GET /" + name.encode() + b" HTTP/1.0\\r\\n\\r\\n")
    reply = b""
    while chunk := s.recv(4096):
        reply += chunk
    head, _, body = reply.partition(b"\\r\\n\\r\\n")
    kind = [h for h in head.split(b"\\r\\n") if h.lower().startswith(b"content-type")]
    print(head.split()[1].decode(), *(k.split()[1].decode() for k in kind), body.decode()[:20])
"""


def test_http_server_serves_an_unveiled_docroot(tmp_path: Path) -> None:
    """http.server guesses each file's type with mimetypes, whose first use reads
    /etc/mime.types: Linux's stat() sees the hidden file, the open fails with EACCES, and
    on main every request died with PermissionError (OpenBSD hides it from stat() too:
    mimetypes goes on with its own table)."""
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "index.html").write_text("<p>hello</p>")
    (tmp_path / "outside.txt").write_text("secret")
    r = run("import sys, pledgepy\n" + _SERVE, args=[str(docroot)])
    assert r.returncode == 0, r.explain()
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["200", "text/html", "<p>hello</p>"], r.explain()
    assert lines[1].split()[0] == "404" and "secret" not in r.stdout, r.explain()


@pytest.mark.parametrize("lock", ["unveil()", "pledge()"])
def test_mimetypes_after_the_unveil_lock(lock: str) -> None:
    """On main: PermissionError: '/etc/mime.types' at the first guess_type()."""
    locking = "pledgepy.unveil()\n" if lock == "unveil()" else "pledgepy.pledge('stdio rpath')\n"
    r = run("import mimetypes, pledgepy\npledgepy.unveil('/etc/hostname', 'r')\n" + locking
            + "print(mimetypes.guess_type('a.html')[0], mimetypes.guess_type('b.json')[0])\n")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["text/html", "application/json"], r.explain()


@pytest.mark.skipif(not os.path.isdir("/usr/lib/locale/C.utf8"), reason="no C.UTF-8 locale")
@pytest.mark.parametrize("unprivileged", [False, True])
def test_setlocale_from_the_environment_under_stdio(unprivileged: bool) -> None:
    """``locale.setlocale(LC_ALL, "")`` opened the locale's files on main
    (``openat("/usr/lib/locale/C.utf8/LC_IDENTIFICATION") needs "rpath"``); the pledge
    command's shim loads them before main, and now pledge() does too."""
    if unprivileged and run("import locale", unprivileged=True).returncode != 0:
        # a pyenv build under a 0700 /root: the child drops its ids before its imports
        pytest.skip("uid 65534 cannot import locale from this interpreter's library")
    r = under("stdio", """
import locale, time
print(locale.setlocale(locale.LC_ALL, ""), locale.localeconv()["decimal_point"])
print(locale.setlocale(locale.LC_ALL, "C"), locale.setlocale(locale.LC_ALL, ""))
print(len(time.strftime("%c")) > 0)
""", setup="import locale", env={"LC_ALL": "C.UTF-8"}, unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["C.UTF-8", ".", "C", "C.UTF-8", "True"], r.explain()


def test_setlocale_is_left_alone_while_threads_run() -> None:
    """setlocale() is not thread-safe: with another thread running pledge() does not
    switch, and the program's own switch stays the violation it is without rpath (it
    passes on main too: it fails if the fix ever switches beside another thread)."""
    r = under("stdio", """
import locale
locale.setlocale(locale.LC_ALL, "")
""", setup="""
import locale, threading
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
""", env={"LC_ALL": "C.UTF-8"})
    assert r.returncode == -6 and 'needs "rpath"' in r.stderr, r.explain()


@pytest.mark.parametrize("unprivileged", [False, True])
def test_tempfile_under_tmppath_alone(unprivileged: bool) -> None:
    """tmppath is the promise for mkstemp(3); tempfile's first use lists the current
    directory among its candidates through getcwd(), which on main died (``getcwd needs
    "rpath" or "wpath" or "cpath"``) before /tmp was tried. A directory stays cpath's."""
    r = under("stdio tmppath", """
import tempfile
fd, name = tempfile.mkstemp()
os.write(fd, b"x"); os.close(fd); os.unlink(name)
with tempfile.NamedTemporaryFile() as f:
    f.write(b"hi"); f.flush()
    print(name.startswith("/tmp/"), open(f.name).read())
tempfile.mkdtemp()
""", setup="import tempfile", unprivileged=unprivileged)
    assert r.stdout.split() == ["True", "hi"], r.explain()
    assert r.returncode == -6 and 'mkdir("/tmp/' in r.stderr and 'needs "cpath"' in r.stderr, \
        r.explain()


@pytest.mark.parametrize("unprivileged", [False, True])
@pytest.mark.parametrize("promises", ["stdio", "stdio rpath", "stdio rpath inet"])
def test_daemon_threads_still_running_at_exit(promises: str, unprivileged: bool) -> None:
    """CPython ends daemon threads that outlive main with pthread_exit(), whose first
    unwind has glibc dlopen libgcc_s: on main the program died at exit, every run here
    (``openat("/etc/ld.so.cache", O_RDONLY) needs "rpath"``, or the executable mapping
    under rpath), exit 134 after doing its work."""
    r = under(promises, """
def spin():
    while True:
        time.sleep(0.001)
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(0.05)
print("done", flush=True)
""", setup="import threading, time", unprivileged=unprivileged)
    assert r.stdout.split() == ["done"], r.explain()
    assert r.returncode == 0 and "pledge:" not in r.stderr, r.explain()


@pytest.mark.parametrize("unprivileged", [False, True])
def test_threads_started_before_the_pledge_free_memory(unprivileged: bool) -> None:
    """glibc's malloc opens /proc/sys/vm/overcommit_memory before it first shrinks a
    thread's heap; with threads running at the pledge on Landlock ABI < 8 stdio's
    allowances are not granted, and on main that open killed the program (``needs
    "rpath"``) the first time a thread freed enough memory. Opening the file from
    Python then fails (ENOENT, as without /proc) and still gives nothing."""
    r = under("stdio", """
go.set()
for t in pre:
    t.join()
print("freed")
try:
    open("/proc/sys/vm/overcommit_memory").read()
except OSError as e:
    print(errno.errorcode[e.errno])
""", setup="""
import threading
go = threading.Event()
def work():
    go.wait()
    for _ in range(200):
        chunks = [bytearray(200000) for _ in range(20)]
        del chunks
pre = [threading.Thread(target=work) for _ in range(3)]
for t in pre:
    t.start()
""", unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    granted = "ENOENT" not in r.stdout  # a kernel whose Landlock confines every thread
    assert r.stdout.split() == (["freed"] if granted else ["freed", "ENOENT"]), r.explain()


@pytest.mark.parametrize("unprivileged", [False, True])
def test_cpu_count_with_threads_started_before_the_pledge(unprivileged: bool) -> None:
    """The same for glibc's CPU count: on main os.cpu_count() (and so a
    ThreadPoolExecutor's default size) killed the program (``openat(
    "/sys/devices/system/cpu/online") needs "rpath"``); now glibc counts the CPUs the
    process may run on."""
    r = under("stdio", """
print(os.cpu_count() == len(os.sched_getaffinity(0)))
t.join()
""", setup="""
import threading, time
t = threading.Thread(target=time.sleep, args=(0.3,))
t.start()
""", unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout.split() == ["True"], r.explain()


def test_proc_stat_stays_a_violation_where_the_allowances_hold() -> None:
    """Only where the allowance layer is not in force do glibc's CPU-count files fail
    with ENOENT (passes on main too: it fails if that ever reaches further)."""
    r = under("stdio", 'open("/proc/stat")\n')
    assert r.returncode == -6 and 'openat("/proc/stat", O_RDONLY) needs "rpath"' in r.stderr, \
        r.explain()


@pytest.mark.parametrize("level,option,value", [
    ("IPPROTO_TCP", "TCP_NODELAY", 1), ("IPPROTO_IP", "IP_TOS", 0x10),
    ("IPPROTO_IPV6", "IPV6_TCLASS", 0x10)])
def test_stdio_sockopts_openbsd_allows(level: str, option: str, value: int) -> None:
    """pledge_sockopt lets stdio alone set and read TCP_NODELAY, IP_TOS and IPV6_TCLASS
    on a socket held from before (asyncio sets TCP_NODELAY on each TCP transport): on
    main each was a violation (``setsockopt(IPPROTO_TCP, TCP_NODELAY) needs "inet"``).
    Other options of those levels stay inet's."""
    family = "AF_INET6" if level == "IPPROTO_IPV6" else "AF_INET"
    r = under("stdio", f"""
s.setsockopt(socket.{level}, socket.{option}, {value})
print(s.getsockopt(socket.{level}, socket.{option}))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
""", setup=f"import socket\ns = socket.socket(socket.{family})\n")
    assert r.stdout.split() == [str(value)], r.explain()
    assert r.returncode == -6 and "setsockopt(IPPROTO_TCP, TCP_CORK) needs" in r.stderr, \
        r.explain()
