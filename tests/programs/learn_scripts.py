"""Python programs learn mode is tested on (run as scripts: ``python learn_scripts.py NAME ...``)."""

from __future__ import annotations

import json
import os
import sys


def read_json(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    print(sorted(data), sum(data.values()))


def sqlite(directory: str) -> None:
    import sqlite3

    db = os.path.join(directory, "t.db")
    if os.path.exists(db):
        os.unlink(db)
    con = sqlite3.connect(db)
    con.execute("create table t (a integer)")
    con.executemany("insert into t values (?)", [(i,) for i in range(10)])
    con.commit()
    print(con.execute("select sum(a) from t").fetchone()[0])
    con.close()


def logging_to(path: str) -> None:
    import logging

    logging.basicConfig(filename=path, filemode="w", level=logging.INFO, format="%(message)s")
    for i in range(3):
        logging.info("line %d", i)
    logging.shutdown()
    with open(path, encoding="utf-8") as f:
        print(f.read(), end="")


def workers(count: str) -> None:
    pids, reads = [], []
    for i in range(int(count)):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, str(i * i).encode())
            os._exit(0)
        os.close(w)
        pids.append(pid)
        reads.append(r)
    total = sum(int(os.read(r, 64)) for r in reads)
    for pid in pids:
        os.waitpid(pid, 0)
    print(total)


def http_round_trip() -> None:
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.handle_request, daemon=True).start()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=10) as r:
        print(r.read().decode(), end="")
    server.server_close()


MAIN = {"read_json": read_json, "sqlite": sqlite, "logging": logging_to, "workers": workers,
        "http": http_round_trip}

if __name__ == "__main__":
    MAIN[sys.argv[1]](*sys.argv[2:])
