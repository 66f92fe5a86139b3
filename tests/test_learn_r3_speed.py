"""pledge --learn's C receiving loop: merged calls keep exact counts, and the cached
working directories never name a file the program did not use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.learning import learn

THREADS = """
import os, sys, threading
n = int(sys.argv[1])
moved = threading.Event()
def walk():
    os.chdir("d0")
    moved.set()
    for i in range(n):
        os.chdir("../d1" if i % 2 == 0 else "../d0")
t = threading.Thread(target=walk)
t.start()
moved.wait()
opened = 0
while t.is_alive() or opened < 50:
    open("f.txt").close()
    opened += 1
t.join()
print(opened)
"""

REPEATS = """
import sys
n = int(sys.argv[1])
for i in range(n):
    open("same.txt").close()
for i in range(n):
    try:
        open("missing-%d" % i).close()
    except FileNotFoundError:
        pass
"""


def _opens(report: dict[str, Any], name: str) -> dict[str, int]:
    return {e["argument"].split()[0]: e["count"]
            for e in report["evidence"]
            if e["syscall"] == "openat" and e["argument"].split()[0].endswith(name)}


def test_merged_calls_are_counted_exactly(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_text("x")
    (tmp_path / "repeats.py").write_text(REPEATS)
    r, report = learn([sys.executable, "repeats.py", "3000"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert _opens(report, "same.txt") == {str(tmp_path / "same.txt"): 3000}
    missing = {p: c for p, c in _opens(report, "").items() if "/missing-" in p}
    assert len(missing) == 3000 and set(missing.values()) == {1}


def test_a_thread_changing_directory_never_leaves_a_stale_one(tmp_path: Path) -> None:
    # f.txt exists in d0 and d1, not where the program starts: a working directory
    # cached across another thread's chdir would record a path nobody opened
    for d in ("d0", "d1"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "f.txt").write_text(d)
    (tmp_path / "threads.py").write_text(THREADS)
    r, report = learn([sys.executable, "threads.py", "400"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    opens = _opens(report, "f.txt")
    assert opens and set(opens) <= {str(tmp_path / "d0" / "f.txt"),
                                    str(tmp_path / "d1" / "f.txt")}, opens
    assert sum(opens.values()) == int(r.stdout)
