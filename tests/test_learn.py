"""pledge --learn: a learned policy is sufficient, minimal, and recording changes nothing.

Each case runs a real program three ways in the same directory: plain, under
``pledge --learn``, and under the command the report suggests. The three must
agree on stdout and exit status, and the last must break no promise.
"""

from __future__ import annotations

import http.server
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.learning import ADDED, command, learn, run, violated

SCRIPT = str(Path(__file__).parent / "programs" / "learn_scripts.py")


def _tree(root: Path) -> None:
    for i in range(4):
        d = root / "src" / f"d{i}"
        d.mkdir(parents=True)
        for j in range(3):
            (d / f"f{j}.txt").write_text(f"needle {i} {j}\nhay\n" * (j + 1))
    (root / "data.json").write_text('{"a": 1, "b": 2}')


def _reset(root: Path) -> None:
    for name in ("out.tar", "copy", "log.txt", "t.db", "sorted.txt"):
        p = root / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


CASES: dict[str, Callable[[Path], list[str]]] = {
    "cat": lambda d: ["cat", str(d / "src" / "d0" / "f1.txt")],
    "ls -l": lambda d: ["ls", "-l", str(d / "src")],
    "grep -r": lambda d: ["grep", "-r", "needle 2", str(d / "src")],
    "sh pipeline": lambda d: ["sh", "-c", "cat src/*/*.txt | sort | uniq -c | sort -n"],
    "tar cf": lambda d: ["tar", "cf", "out.tar", "src"],
    "cp -r and rm": lambda d: ["sh", "-c", "cp --reflink=never -r src copy && find copy -type f | wc -l "
                                           "&& rm -r copy"],
    "sort -o": lambda d: ["sort", "-o", "sorted.txt", str(d / "src" / "d1" / "f2.txt")],
    "python read json": lambda d: [sys.executable, SCRIPT, "read_json", "data.json"],
    "python sqlite3": lambda d: [sys.executable, SCRIPT, "sqlite", str(d)],
    "python logging": lambda d: [sys.executable, SCRIPT, "logging", "log.txt"],
    "python workers": lambda d: [sys.executable, SCRIPT, "workers", "3"],
    "python http": lambda d: [sys.executable, SCRIPT, "http"],
}
MINIMAL = ("cat", "sh pipeline", "tar cf", "python sqlite3", "python workers")


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"hello\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_port
    srv.shutdown()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    _tree(tmp_path)
    return tmp_path


def _three_runs(argv: list[str], work: Path) -> list[str]:
    cwd = str(work)
    _reset(work)
    plain = run(argv, cwd)
    _reset(work)
    recorded, report = learn(argv, cwd)
    assert (recorded.stdout, recorded.returncode) == (plain.stdout, plain.returncode), \
        recorded.stderr
    assert not report["refused"], report["refused"]
    _reset(work)
    applied = run(command(report), cwd)
    assert not violated(applied), (report["command"], applied.stderr)
    assert (applied.stdout, applied.returncode) == (plain.stdout, plain.returncode), \
        (report["command"], applied.stderr)
    return list(report["promises"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_learned_policy_is_sufficient(name: str, work: Path) -> None:
    _three_runs(CASES[name](work), work)


def test_curl_to_a_local_server(work: Path, server: int) -> None:
    promises = _three_runs(["curl", "-s", f"http://127.0.0.1:{server}/"], work)
    assert "inet" in promises


@pytest.mark.parametrize("name", MINIMAL)
def test_learned_promises_are_minimal(name: str, work: Path) -> None:
    argv = CASES[name](work)
    _reset(work)
    _, report = learn(argv, str(work))
    learned = report["promises"]
    droppable = [p for p in learned if p not in ADDED]
    assert droppable, learned
    for promise in droppable:
        _reset(work)
        r = run(command(report, [p for p in learned if p != promise]), str(work))
        assert violated(r), f"{name}: dropping {promise!r} from {learned} still ran: {r.stderr}"


def test_report_names_evidence_and_paths(work: Path) -> None:
    target = str(work / "src" / "d0" / "f1.txt")
    _, report = learn(["cat", target], str(work))
    assert report["promises"] == ["stdio", "rpath"]  # not the loader's prot_exec
    opens = [e for e in report["evidence"] if e["syscall"] == "openat"
             and e["argument"].startswith(target)]
    assert opens and opens[0]["promise"] == "rpath" and opens[0]["program"] == "cat"
    assert opens[0]["count"] == 1 and opens[0]["where"] is None
    assert [target, "r"] in report["unveil"]
    assert report["command"].startswith("pledge -p 'stdio rpath' ")


def test_relative_paths_are_resolved(work: Path) -> None:
    _, report = learn(["sh", "-c", "cd src/d1 && cat f0.txt > /dev/null"], str(work))
    paths = [p for p, _ in report["unveil"]]
    assert str(work / "src" / "d1" / "f0.txt") in paths, report["unveil"]


def test_writes_are_not_widened(work: Path) -> None:
    _reset(work)
    _, report = learn(["sort", "-o", "sorted.txt", "data.json"], str(work))
    rules = dict(report["unveil"])
    assert "c" in rules[str(work)] and "w" in rules[str(work)]
    assert all("w" not in v and "c" not in v for p, v in rules.items() if p != str(work))
    assert os.path.exists(work / "sorted.txt")


def test_relative_paths_after_chdir_are_not_confused(work: Path) -> None:
    # the same relative open in two directories: two files, each counted once
    script = "cd src/d0 && cat f0.txt && cd ../d1 && cat f0.txt"
    _, report = learn(["sh", "-c", script], str(work))
    opens = {e["argument"].split()[0]: e["count"] for e in report["evidence"]
             if e["syscall"] == "openat" and e["argument"].endswith("f0.txt O_RDONLY")}
    assert opens == {str(work / "src" / "d0" / "f0.txt"): 1,
                     str(work / "src" / "d1" / "f0.txt"): 1}, opens


def test_python_chdir_then_same_relative_open(work: Path) -> None:
    code = ("import os\nfor d in ('src/d0', '../d1', '../d2'):\n    os.chdir(d)\n"
            "    for _ in range(3):\n        open('f1.txt').close()\n")
    _, report = learn([sys.executable, "-c", code], str(work))
    opens = {e["argument"].split()[0]: e["count"] for e in report["evidence"]
             if e["syscall"] == "openat" and "f1.txt" in e["argument"]}
    assert opens == {str(work / "src" / f"d{i}" / "f1.txt"): 3 for i in range(3)}, opens
