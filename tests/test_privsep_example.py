"""examples/privsep_server.py end to end (issue 9 item 6): real requests to a listener and
an executor, each under its own pledge; a CGI that breaks its execpromises is explained."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import ROOT

EXAMPLE = ROOT / "examples" / "privsep_server.py"
SCRIPTS = {
    "hello.sh": '#!/bin/sh\necho "hello from $SCRIPT_NAME, query=$QUERY_STRING"\n',
    # reading a system file is within "stdio rpath prot_exec" and the unveils (/usr)
    "version.sh": '#!/bin/sh\nread -r line </usr/lib/os-release\necho "$line"\n',
    # starting another program is not: the execpromises lack exec
    "spawn.sh": "#!/bin/sh\nexec /usr/bin/id\n",
    # writing breaks the execpromises: explained with the script's own name, then aborted
    "evil.sh": '#!/bin/sh\necho pwned > "$0.out"\necho wrote\n',
}


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, docroot: Path) -> None:
        self.proc, self.port, self.docroot = proc, port, docroot

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
        return r.status, body

    def stderr(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20)
        return err


@pytest.fixture()
def server() -> Iterator[Server]:
    docroot = Path(tempfile.mkdtemp(prefix="pledgepy-privsep-"))
    (docroot / "index.html").write_text("<h1>it works</h1>\n")
    (docroot / "notes.txt").write_text("plain notes\n")
    (docroot / "cgi-bin").mkdir()
    for name, text in SCRIPTS.items():
        (docroot / "cgi-bin" / name).write_text(text)
        (docroot / "cgi-bin" / name).chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), str(docroot)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {proc.communicate()[1]}")
    s = Server(proc, int(line.rsplit(":", 1)[1]), docroot)
    yield s
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serves_files_and_cgi_output(server: Server) -> None:
    assert server.get("/") == (200, "<h1>it works</h1>\n")
    assert server.get("/notes.txt") == (200, "plain notes\n")
    status, body = server.get("/cgi-bin/hello.sh?x=1")
    assert (status, body) == (200, "hello from /cgi-bin/hello.sh, query=x=1\n"), server.stderr()
    status, body = server.get("/cgi-bin/version.sh")
    assert status == 200 and "=" in body, server.stderr()
    assert "pledge: " not in server.stderr()


def test_listener_reaches_nothing_outside_the_docroot(server: Server) -> None:
    assert server.get("/../../etc/passwd")[0] == 400
    assert server.get("/cgi-bin/../../etc/passwd")[0] == 400
    assert server.get("/missing.txt")[0] == 404
    assert server.get("/cgi-bin/nope.sh")[0] == 404
    assert server.get("/cgi-bin/hello.sh")[0] == 200  # the executor lives on


def test_a_cgi_breaking_its_execpromises_is_explained(server: Server) -> None:
    status, body = server.get("/cgi-bin/evil.sh")
    assert status == 500 and "evil.sh failed" in body, body
    assert not (server.docroot / "cgi-bin" / "evil.sh.out").exists()
    assert server.get("/cgi-bin/hello.sh")[0] == 200  # the next request still works
    assert server.get("/cgi-bin/spawn.sh")[0] == 500
    err = server.stderr()
    # a #! script runs under its own name (the kernel's comm)
    assert "pledge: evil.sh[" in err and 'needs "wpath cpath"' in err, err
    assert 'pledge: spawn.sh[' in err and 'execve("/usr/bin/id") needs "exec"' in err, err
