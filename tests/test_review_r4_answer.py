"""Review r4: what the pledge command's supervisor answers for the program (exec/answer.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cprogs import compiled
from tests.test_review_r4_handover import pledge


@pytest.fixture(scope="module")
def threaded() -> Iterator[str]:
    with compiled(("thread_fstat", ("-pthread",))) as built:
        yield str(built["thread_fstat"])


@pytest.mark.parametrize("user", [[], ["-u", "nobody"]])
def test_fstat_from_a_thread_is_stdio(threaded: str, user: list[str]) -> None:
    """The answer copies the descriptor out of the thread's process (pidfd_open of a
    thread that leads no process fails: it was a violation, exit 134)."""
    r = pledge("-q", *user, "-p", "stdio", threaded)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "thread fstat 0\nmain fstat 0\n", r.stdout


def test_a_violation_message_stays_one_printable_line() -> None:
    """A program names itself (PR_SET_NAME, a stdio call) with a newline and an escape:
    the supervisor's message about it stays one line without control characters."""
    with compiled(("comm_escape", ())) as built:
        r = pledge("-q", "-p", "stdio", str(built["comm_escape"]))
    assert r.returncode == 134, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "socket" in lines[0], r.stderr
    assert not any(ord(c) < 32 or c == "\x7f" for c in lines[0]), repr(r.stderr)


def test_a_c_program_is_not_told_about_python_imports() -> None:
    """The rpath hint speaks of Python's imports: a message about another program's
    open drops it (as the prot_exec hint is replaced for it)."""
    r = pledge("-q", "-p", "stdio", "/bin/cat", "/etc/hostname")
    assert r.returncode == 134 and 'needs "rpath"' in r.stderr, r.stderr
    assert "importing a module" not in r.stderr and "pledge()" not in r.stderr, r.stderr
