"""A privilege-separated server in the style of gmid (seed 004): two processes, two pledges.

- The *listener* accepts connections on 127.0.0.1 and serves files from the docroot:
  ``unveil(docroot, "r")`` then ``pledge("stdio recvfd rpath inet")``. It cannot start
  programs, write files or reach anything outside the docroot.
- The *executor* runs the CGI scripts of ``docroot/cgi-bin``:
  ``pledge("stdio sendfd proc exec", "stdio rpath prot_exec")``. It holds no file access
  and no network; each script runs under exactly its execpromises (read files, map
  libraries) with the unveils in force, and a script that breaks them is explained and
  aborted. The executor hands the listener the read end of the script's output (a pipe,
  over SCM_RIGHTS): the listener relays it to the client.

Run: python examples/privsep_server.py DOCROOT [PORT]   (PORT 0, the default: any free port)
It prints "listening on 127.0.0.1:PORT" and serves until it is killed. Try:
    curl http://127.0.0.1:PORT/  and  curl http://127.0.0.1:PORT/cgi-bin/hello.sh
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pledgepy

#: What the CGIs' interpreters (#! /bin/sh) and their libraries live in, read and exec.
SYSTEM = ("/usr", "/bin", "/lib", "/lib64")
MAX_REQUEST = 4096


def executor(chan: socket.socket, cgi_bin: str) -> None:
    """Run each CGI the listener names; hand it the script's output."""
    for path in (*SYSTEM, cgi_bin):
        if os.path.isdir(path):
            pledgepy.unveil(path, "rx")
    pledgepy.pledge("stdio sendfd proc exec", "stdio rpath prot_exec")
    while True:
        request = chan.recv(MAX_REQUEST)
        if not request:
            return  # the listener has gone
        name, _, query = request.decode("utf-8", "replace").partition("\0")
        if not name or "/" in name or name.startswith("."):
            chan.send(b"404")
            continue
        out_r, out_w = os.pipe()
        in_r, in_w = os.pipe()
        os.close(in_w)  # the script's stdin: empty
        env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "QUERY_STRING": query,
               "SCRIPT_NAME": f"/cgi-bin/{name}", "REQUEST_METHOD": "GET"}
        try:
            # no stat() first: the executor holds no rpath; execve itself finds the script
            child = subprocess.Popen([os.path.join(cgi_bin, name)], stdin=in_r, stdout=out_w,
                                     env=env)
        except OSError as e:
            os.close(out_r)
            chan.send(b"404" if isinstance(e, (FileNotFoundError, PermissionError))
                      else f"500 {e.strerror}".encode())
            continue
        finally:
            os.close(in_r)
            os.close(out_w)
        socket.send_fds(chan, [b"run"], [out_r])
        os.close(out_r)
        chan.send(f"exit {child.wait()}".encode())


def respond(conn: socket.socket, status: str, body: bytes, kind: str = "text/plain") -> None:
    head = (f"HTTP/1.0 {status}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    conn.sendall(head.encode() + body)


def run_cgi(chan: socket.socket, name: str, query: str) -> tuple[str, bytes]:
    chan.send(f"{name}\0{query}".encode())
    message, fds, _, _ = socket.recv_fds(chan, 64, 1)
    if not fds:
        return ("404 Not Found" if message == b"404" else "500 Internal Server Error"), message
    chunks = []
    with os.fdopen(fds[0], "rb") as out:
        while chunk := out.read(65536):
            chunks.append(chunk)
    verdict = chan.recv(64).decode()
    if verdict != "exit 0":
        return "500 Internal Server Error", f"CGI {name} failed ({verdict})\n".encode()
    return "200 OK", b"".join(chunks)


def serve_one(conn: socket.socket, docroot: str, chan: socket.socket) -> None:
    request = conn.recv(MAX_REQUEST).decode("latin-1")
    method, target, *_ = (request.split("\r\n", 1)[0].split(" ") + ["", ""])
    path, _, query = target.partition("?")
    parts = [p for p in path.split("/") if p]
    if method != "GET" or not path.startswith("/") or any(p in (".", "..") for p in parts):
        respond(conn, "400 Bad Request", b"bad request\n")
    elif len(parts) == 2 and parts[0] == "cgi-bin":
        respond(conn, *run_cgi(chan, parts[1], query))
    else:
        file = os.path.join(docroot, *parts) if parts else os.path.join(docroot, "index.html")
        try:
            with pledgepy.open(file, "rb") as f:  # FreeBSD: through the unveiled dir's fd
                body = f.read()
        except OSError:
            respond(conn, "404 Not Found", b"not found\n")
        else:
            kind = "text/html" if file.endswith(".html") else "text/plain"
            respond(conn, "200 OK", body, kind)


def listener(server: socket.socket, docroot: str, chan: socket.socket) -> None:
    pledgepy.unveil(docroot, "r")
    pledgepy.pledge("stdio recvfd rpath inet")
    host, port = server.getsockname()
    print(f"listening on {host}:{port}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                serve_one(conn, docroot, chan)
            except OSError as e:  # a client that went away
                print(f"privsep: {e}", file=sys.stderr)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: privsep_server.py DOCROOT [PORT]")
    docroot = os.path.realpath(sys.argv[1])
    port = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    server = socket.create_server(("127.0.0.1", port))
    to_executor, to_listener = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        server.close()
        to_executor.close()
        executor(to_listener, os.path.join(docroot, "cgi-bin"))
        os._exit(0)
    to_listener.close()
    listener(server, docroot, to_executor)


if __name__ == "__main__":
    main()
