"""The real-programs corpus (issue 10, item 6): everyday programs under OpenBSD-like promises.

Each runs in a fresh process against the real kernel and must finish with the
right output and no violation. In-process idioms are in tests/programs/corpus.py;
the programs run through the ``pledge`` command are the system's own.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import ROOT, run_program

VIOLATION = "pledge: "

#: program -> what its output must be (stdout split into words)
IN_PROCESS: dict[str, list[str]] = {
    "http_server_docroot": ["200", "corpus", "index", "404"],
    "sqlite_wal": ["wal", "4950"],
    "asyncio_echo": ["ping"],
    "thread_pool_hashing": ["200"],
    "thread_pool_default": ["55"],
    "logging_traceback": ["logged"],
    "getaddrinfo_localhost": ["['127.0.0.1']"],
    "getpwuid_root": ["root", "root", "0"],
    "tempfile_tmppath": ["temporary", "/tmp", "removed"],
    "zoneinfo_stdio": ["2:00:00", "6"],
    "json_round_trip": ["{'b':", "None}"],
    "compress_stdio": ["True"],
    "strftime_localtime": ["True"],
    "read_unveiled_file": ["corpus", "index", "hidden"],
    "csv_write": ["[['a',", "'1'],", "['b',", "'2']]"],
    "walk_tree": ["['index.html',", "'note.txt']"],
    "shutil_copy": ["corpus", "index"],
    "socketpair_threads": ["HELLO"],
    "secrets_random": ["32", "True"],
    "devnull_redirect": ["b''", "3"],
    "cpu_count_stdio": ["True"],
}


def docroot(tmp_path: Path) -> str:
    (tmp_path / "index.html").write_text("corpus index\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "note.txt").write_text("a note\n")
    return str(tmp_path)


@pytest.mark.parametrize("program", sorted(IN_PROCESS))
def test_in_process(program: str, tmp_path: Path) -> None:
    r = run_program(f"corpus:{program}", docroot(tmp_path))
    assert r.returncode == 0 and VIOLATION not in r.stderr, r.explain()
    assert r.stdout.split() == IN_PROCESS[program], r.explain()


def test_logging_prints_the_traceback(tmp_path: Path) -> None:
    r = run_program("corpus:logging_traceback", docroot(tmp_path))
    assert r.returncode == 0, r.explain()
    assert "ERROR lookup failed" in r.stderr and "KeyError: 'missing'" in r.stderr, r.explain()


# ---- through the pledge command ----

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def pledge(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pledgepy", "-q", *args], input=stdin,
                          capture_output=True, text=True, env=ENV, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("docroot")
    (root / "index.html").write_text("served by the corpus\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def test_cat(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("one\ntwo\n")
    r = pledge("-p", "stdio rpath", "-v", str(tmp_path), "cat", str(tmp_path / "f"))
    assert r.returncode == 0 and r.stdout == "one\ntwo\n", r.stderr


def test_grep(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("alpha\nbeta\ngamma\n")
    r = pledge("-p", "stdio rpath", "-v", str(tmp_path), "grep", "-n", "a$", str(tmp_path / "f"))
    assert r.returncode == 0 and r.stdout == "1:alpha\n2:beta\n3:gamma\n", r.stderr


def test_ls_long(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = pledge("-p", "stdio rpath getpw", "-v", str(tmp_path), "ls", "-l", str(tmp_path))
    assert r.returncode == 0 and VIOLATION not in r.stderr, r.stderr
    assert " root root " in r.stdout and r.stdout.rstrip().endswith(" f"), r.stdout


def test_sh_pipeline() -> None:
    r = pledge("-p", "stdio rpath proc exec", "sh", "-c", "echo pledged | tr a-z A-Z")
    assert r.returncode == 0 and r.stdout == "PLEDGED\n", r.stderr


def test_curl_local_server(server: str) -> None:
    # curl's progress meter asks the terminal size (TIOCGWINSZ: tty)
    r = pledge("-p", "stdio rpath inet dns tty", "curl", "-sS", server)
    assert r.returncode == 0 and r.stdout == "served by the corpus\n", r.stderr


def test_wget_local_server(server: str) -> None:
    r = pledge("-p", "stdio rpath inet dns", "wget", "-q", "-O", "-", server)
    assert r.returncode == 0 and r.stdout == "served by the corpus\n", r.stderr


def test_sqlite3_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    # as root, SQLite fchown()s its journal to the database owner (fattr: to oneself only)
    r = pledge("-p", "stdio rpath wpath cpath flock getpw fattr", "-v", f"rwc:{tmp_path}", "sqlite3", db,
               stdin="PRAGMA journal_mode=WAL;\nCREATE TABLE t(x);\nINSERT INTO t VALUES (41);\n"
                     "SELECT x + 1 FROM t;\n")
    assert r.returncode == 0 and r.stdout.split() == ["wal", "42"], r.stderr
