"""Test session set-up: this checkout on sys.path; PLEDGEPY_REQUIRE turns a missing
kernel feature into a failure (CI), never a silent skip; one temporary directory for
the session's children, removed at its end."""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


_SESSION_TMP: list[str] = []


def _children_tmpdir() -> None:
    """TMPDIR for every child: a pledged child cannot remove what it made (its
    tempfile.mkdtemp() calls left ~200 directories in /tmp per run). World-writable
    and sticky, as /tmp is, for the children that drop to uid 65534; beneath /tmp,
    so what tmppath's allowance covers stays the same."""
    d = tempfile.mkdtemp(prefix="pledgepy-tests-", dir="/tmp")
    os.chmod(d, 0o1777)
    _SESSION_TMP.append(d)
    os.environ["TMPDIR"] = d
    tempfile.tempdir = d


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A fresh directory not beneath /tmp (tmp_path is: a learned run creating files in
    it is tmppath's, as the command answers it), removed afterwards."""
    base = "/var/tmp"
    if not os.access(base, os.W_OK):
        pytest.skip(f"{base} is not writable")
    where = Path(tempfile.mkdtemp(prefix="pledgepy-tests-", dir=base))
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for d in _SESSION_TMP:
        shutil.rmtree(d, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if sys.platform.startswith("linux") and os.path.isdir("/tmp"):
        _children_tmpdir()
    required = {w.strip() for w in os.environ.get("PLEDGEPY_REQUIRE", "").split(",") if w.strip()}
    if not required or not sys.platform.startswith("linux"):
        return
    problems = []
    if "seccomp" in required:
        from pledgepy.backends.linux.seccomp import kernel as seccomp

        why = seccomp.unavailable()
        if why:
            problems.append(f"seccomp: {why}")
    if "landlock" in required:
        from pledgepy.backends.linux.landlock import abi as landlock

        if landlock.version() < 1:
            problems.append("landlock: not available on this kernel")
    if problems:
        raise pytest.UsageError("PLEDGEPY_REQUIRE not met: " + "; ".join(problems))


@pytest.fixture(scope="module")
def int80(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library whose i386_getpid() makes the call through the i386 entry (int 0x80)."""
    src = tmp_path_factory.mktemp("int80") / "int80.c"
    src.write_text("long i386_getpid(void) { long r; __asm__ volatile (\"int $0x80\" : \"=a\"(r) "
                   ": \"a\"(20) : \"memory\"); return r; }\n")
    lib = src.with_suffix(".so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return lib


@pytest.fixture
def place() -> Iterator[Path]:
    """A fresh directory every user can read (a program may run as nobody), removed after
    the test: unlike tmp_path, not beneath a directory only root may enter."""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-place-"))
    try:
        where.chmod(0o755)
        yield where
    finally:
        shutil.rmtree(where)
