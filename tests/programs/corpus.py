"""Real programs and stdlib idioms, each under the promises its OpenBSD equivalent pledges.

Each function is one child program (tests/test_corpus.py runs it in a fresh
process): it loads what it needs, pledges, does its work and prints what the
test checks. ``sys.argv[1]`` is a scratch directory when the test passes one.
"""

from __future__ import annotations

import warnings

import pledgepy
from pledgepy.errors import PledgeWarning

warnings.simplefilter("ignore", PledgeWarning)


def http_server_docroot() -> None:
    """http.server serving a docroot under "stdio rpath inet" + unveil, fetched by http.client."""
    import functools
    import http.client
    import http.server
    import mimetypes
    import sys
    import threading

    mimetypes.init()  # reads /etc/mime.types lazily, which the unveil hides
    root = sys.argv[1]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    pledgepy.unveil(root, "r")
    pledgepy.pledge("stdio rpath inet")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", "/index.html")
    resp = conn.getresponse()
    print(resp.status, resp.read().decode().strip())
    conn.request("GET", "/../../etc/passwd")
    resp = conn.getresponse()
    print(resp.status)
    resp.read()
    server.shutdown()


def sqlite_wal() -> None:
    """sqlite3 in WAL mode under "stdio rpath wpath cpath flock" + unveil (as root SQLite
    also fchown()s its journal to the database owner: fattr, to oneself only)."""
    import os
    import sqlite3
    import sys

    path = os.path.join(sys.argv[1], "db.sqlite")
    pledgepy.unveil(sys.argv[1], "rwc")
    pledgepy.pledge("stdio rpath wpath cpath flock" + (" fattr" if os.geteuid() == 0 else ""))
    db = sqlite3.connect(path)
    print(db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
    db.execute("CREATE TABLE t (x INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    db.commit()
    print(db.execute("SELECT sum(x) FROM t").fetchone()[0])
    db.close()


def asyncio_echo() -> None:
    """An asyncio echo server and client under "stdio inet"."""
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        print((await reader.readline()).decode().strip())
        writer.close()
        server.close()
        await server.wait_closed()

    loop = asyncio.new_event_loop()
    pledgepy.pledge("stdio inet")
    loop.run_until_complete(main())
    loop.close()


def thread_pool_hashing() -> None:
    """ThreadPoolExecutor(16) hashing under stdio (malloc's arenas read the CPU count)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    pledgepy.pledge("stdio")
    with ThreadPoolExecutor(16) as pool:
        digests = list(pool.map(lambda i: hashlib.sha256(b"x" * 4096 * i).hexdigest(),
                                range(200)))
    print(len(set(digests)))


def thread_pool_default() -> None:
    """ThreadPoolExecutor() with its default size (os.cpu_count) under stdio."""
    from concurrent.futures import ThreadPoolExecutor

    pledgepy.pledge("stdio")
    with ThreadPoolExecutor() as pool:
        print(sum(pool.map(abs, range(-10, 0))))


def logging_traceback() -> None:
    """logging.exception() prints its traceback under stdio."""
    import logging
    import traceback  # noqa: F401  (logging formats with it)

    logging.basicConfig(format="%(levelname)s %(message)s")
    pledgepy.pledge("stdio")
    try:
        {}["missing"]
    except KeyError:
        logging.exception("lookup failed")
    print("logged")


def getaddrinfo_localhost() -> None:
    """getaddrinfo("localhost") under "stdio dns"."""
    import socket

    pledgepy.pledge("stdio dns")
    print(sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, socket.AF_INET)}))


def getpwuid_root() -> None:
    """pwd.getpwuid(0) and grp.getgrgid(0) under "stdio getpw"."""
    import grp
    import pwd

    pledgepy.pledge("stdio getpw")
    print(pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name, pwd.getpwnam("root").pw_uid)


def tempfile_tmppath() -> None:
    """tempfile under "stdio tmppath": a named file in /tmp, written, read, removed."""
    import os
    import tempfile

    pledgepy.pledge("stdio tmppath")
    with tempfile.NamedTemporaryFile("w+", dir="/tmp", prefix="pledgepy-corpus-") as f:
        f.write("temporary")
        f.flush()
        f.seek(0)
        print(f.read(), os.path.dirname(f.name))
    print(os.path.exists(f.name) if False else "removed")


def zoneinfo_stdio() -> None:
    """zoneinfo.ZoneInfo and datetime arithmetic under stdio."""
    import datetime
    import zoneinfo

    pledgepy.pledge("stdio")
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    summer = datetime.datetime(2024, 7, 1, 12, tzinfo=paris)
    print(summer.utcoffset(), summer.astimezone(zoneinfo.ZoneInfo("America/New_York")).hour)


def json_round_trip() -> None:
    """json encode/decode under stdio."""
    import json

    pledgepy.pledge("stdio")
    print(json.loads(json.dumps({"a": [1, 2, {"b": None}]}))["a"][2])


def compress_stdio() -> None:
    """zlib, bz2 and lzma round trips under stdio."""
    import bz2
    import lzma
    import zlib

    data = b"pledge " * 1000
    pledgepy.pledge("stdio")
    print(all(m.decompress(m.compress(data)) == data for m in (zlib, bz2, lzma)))


def strftime_localtime() -> None:
    """time.localtime/strftime and mktime under stdio (glibc re-reads /etc/localtime)."""
    import time

    pledgepy.pledge("stdio")
    t = time.mktime(time.localtime())
    print(time.strftime("%Y", time.localtime(t)) >= "2024")


def read_unveiled_file() -> None:
    """Reading a file under "stdio rpath" with only its directory unveiled."""
    import os
    import sys

    pledgepy.unveil(sys.argv[1], "r")
    pledgepy.pledge("stdio rpath")
    with open(os.path.join(sys.argv[1], "index.html")) as f:
        print(f.read().strip())
    try:
        open("/etc/hostname")
    except PermissionError:
        print("hidden")


def csv_write() -> None:
    """csv written and read back under "stdio rpath wpath cpath" + unveil."""
    import csv
    import os
    import sys

    path = os.path.join(sys.argv[1], "out.csv")
    pledgepy.unveil(sys.argv[1], "rwc")
    pledgepy.pledge("stdio rpath wpath cpath")
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["a", 1], ["b", 2]])
    with open(path, newline="") as f:
        print(list(csv.reader(f)))


def walk_tree() -> None:
    """os.walk over an unveiled tree under "stdio rpath"."""
    import os
    import sys

    pledgepy.unveil(sys.argv[1], "r")
    pledgepy.pledge("stdio rpath")
    print(sorted(name for _, _, files in os.walk(sys.argv[1]) for name in files))


def shutil_copy() -> None:
    """shutil.copyfile (sendfile/copy_file_range) under "stdio rpath wpath cpath"."""
    import os
    import shutil
    import sys

    src, dst = os.path.join(sys.argv[1], "index.html"), os.path.join(sys.argv[1], "copy.html")
    pledgepy.unveil(sys.argv[1], "rwc")
    pledgepy.pledge("stdio rpath wpath cpath")
    shutil.copyfile(src, dst)
    with open(dst) as f:
        print(f.read().strip())


def socketpair_threads() -> None:
    """A socketpair between two threads under stdio."""
    import socket
    import threading

    a, b = socket.socketpair()
    pledgepy.pledge("stdio")
    t = threading.Thread(target=lambda: b.sendall(b.recv(16).upper()))
    t.start()
    a.sendall(b"hello")
    t.join()
    print(a.recv(16).decode())


def secrets_random() -> None:
    """secrets and random under stdio (getrandom)."""
    import random
    import secrets

    pledgepy.pledge("stdio")
    print(len(secrets.token_hex(16)), 0 <= random.SystemRandom().random() < 1)


def devnull_redirect() -> None:
    """Writing to os.devnull, as daemons and subprocess users do, under stdio."""
    import contextlib
    import os

    pledgepy.pledge("stdio")
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        print("swallowed")
    fd = os.open(os.devnull, os.O_RDWR)
    print(os.read(fd, 10), os.write(fd, b"xyz"))


def cpu_count_stdio() -> None:
    """os.cpu_count() and len(os.sched_getaffinity(0)) under stdio."""
    import os

    pledgepy.pledge("stdio")
    count = os.cpu_count() or 0
    print(count >= len(os.sched_getaffinity(0)) > 0)
