"""Round 10: checkpoint advice on scripts not seen before: the file:line of a program
started after a pledge(), and what a written file's hint says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.learning import PLEDGE, run

SCRIPT = """\
import subprocess
import pledgepy

pledgepy.pledge("stdio rpath proc")
subprocess.run(["true"])  # <- exec
with open("{out}", "w") as f:  # <- write
    f.write("x")
print(open("{src}").read())
"""


def _learn(tmp_path: Path) -> tuple[dict[str, Any], str]:
    (tmp_path / "in.txt").write_text("hello\n")
    text = SCRIPT.format(out=tmp_path / "out.txt", src=tmp_path / "in.txt")
    script = tmp_path / "app.py"
    script.write_text(text)
    report_file = tmp_path / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(report_file), str(script)], str(tmp_path),
            {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout == "hello\n\n", r.stderr
    return json.loads(report_file.read_text()), text


def _line(text: str, marker: str, script: str) -> str:
    n = next(i for i, t in enumerate(text.splitlines()) if t.endswith(f"# <- {marker}"))
    return f"{script}:{n + 1}"


def test_every_exec_a_path_search_tries_points_at_the_users_line(tmp_path: Path) -> None:
    """subprocess.run(["true"]) after a pledge() without exec: each execve of the PATH
    search (/usr/local/bin/true, then /usr/bin/true) would be the violation. On main the
    recorder dropped the child's file:line just before counting its execve: "at None"."""
    report, text = _learn(tmp_path)
    (cp,) = report["checkpoints"]
    execs = [m for m in cp["missing"] if m["syscall"] == "execve"]
    assert execs and all(m["promise"] == "exec" for m in execs), cp["missing"]
    want = _line(text, "exec", str(tmp_path / "app.py"))
    assert [m["where"] for m in execs] == [want] * len(execs), execs


def test_a_file_written_after_the_pledge_is_not_called_a_read(tmp_path: Path) -> None:
    """open(PATH, "w") after pledge("stdio rpath proc") needs wpath cpath. main's hint
    said "a file read: read PATH before the pledge(), or keep rpath", which rpath,
    already held, does not fix."""
    report, text = _learn(tmp_path)
    (cp,) = report["checkpoints"]
    (write,) = [m for m in cp["missing"] if m["argument"].startswith(str(tmp_path / "out.txt"))
                and m["syscall"] == "openat"]
    assert write["promise"] == "wpath cpath"
    assert write["where"] == _line(text, "write", str(tmp_path / "app.py"))
    assert "a file read" not in write["hint"] and "keep wpath cpath" in write["hint"], write


UNVEILED = """\
import os
import pledgepy

pledgepy.unveil("{out}", "rwc")
pledgepy.unveil()
os.makedirs("{out}", exist_ok=True)
fd = os.open("{out}", os.O_TMPFILE | os.O_RDWR, 0o600)  # <- tmpfile
"""


def test_unveil_advice_on_an_existing_directory_and_an_unnamed_file(tmp_path: Path) -> None:
    """After unveil(OUT, "rwc") and the lock: os.makedirs(OUT, exist_ok=True) finds OUT
    (mkdir fails with EEXIST whatever the rules), and O_TMPFILE on OUT makes its file in
    OUT. main advised "mkdir OUT needs c on OUT's parent" and, for the O_TMPFILE, "rwc"
    on OUT's parent: both rules would be wider than needed, and neither is missing."""
    out = tmp_path / "out"
    out.mkdir()
    text = UNVEILED.format(out=out)
    script = tmp_path / "app.py"
    script.write_text(text)
    report_file = tmp_path / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(report_file), str(script)], str(tmp_path))
    assert r.returncode == 0, r.stderr
    (cp,) = json.loads(report_file.read_text())["unveil_checkpoints"]
    assert cp["kind"] == "lock"
    assert [d for d in cp["denied"] if str(out) in d["argument"]] == [], cp["denied"]
    assert cp["unused"] == [], cp


FAILED_EXEC = """\
import os
import pledgepy

pledgepy.pledge("stdio exec")
try:
    os.execv("{missing}", ["prog"])
except OSError:
    pass
print(open("{src}").read())  # <- read
"""


def test_the_users_line_survives_an_exec_that_failed(tmp_path: Path) -> None:
    """os.execv of a missing program raises, and the same program goes on. main forgot
    the process's file:line at every execve, so the read after it, which the pledge()
    refuses, was reported "at None"; it is at its line now (a program exec'd for real,
    told apart by its new auxiliary vector, gets none, as before)."""
    (tmp_path / "in.txt").write_text("hi\n")
    text = FAILED_EXEC.format(missing=tmp_path / "missing", src=tmp_path / "in.txt")
    script = tmp_path / "app.py"
    script.write_text(text)
    report_file = tmp_path / "report.json"
    r = run([*PLEDGE, "learn", "--json", "-o", str(report_file), str(script)], str(tmp_path))
    assert r.returncode == 0 and r.stdout == "hi\n\n", r.stderr
    (cp,) = json.loads(report_file.read_text())["checkpoints"]
    (read,) = [m for m in cp["missing"] if m["syscall"] == "openat"
               and m["argument"].startswith(str(tmp_path / "in.txt"))]
    assert read["promise"] == "rpath" and read["where"] == _line(text, "read", str(script)), read
