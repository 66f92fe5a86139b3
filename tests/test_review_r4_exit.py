"""Review r4: the command's exit status after a violation is 134, whatever the program
does meanwhile."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.test_review_r4_handover import CC, pledge

SOURCE = Path(__file__).parent / "data" / "violate_and_exit.c"


def test_exiting_before_the_penalty_still_exits_134() -> None:
    """The supervisor reported the violation, so the status must say so, even when the
    program exited 0 (another thread) before SIGABRT could be sent."""
    if CC is None:
        pytest.skip("no C compiler for the test program")
    where = Path(tempfile.mkdtemp(prefix="pledgepy-r4-"))
    try:
        where.chmod(0o755)
        out = where / "violate_and_exit"
        subprocess.run([str(CC), "-O1", "-pthread", "-o", str(out), str(SOURCE)], check=True)
        runs = [pledge("-q", "-p", "stdio", str(out)) for _ in range(12)]
    finally:
        shutil.rmtree(where)
    reported = [r for r in runs if 'needs "inet"' in r.stderr]
    if not reported:
        pytest.skip("the program always exited before the supervisor heard of it")
    assert [r.returncode for r in reported] == [134] * len(reported), \
        [(r.returncode, r.stderr) for r in reported]
