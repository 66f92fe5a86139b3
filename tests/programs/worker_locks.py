"""A worker module that opens, before its pledge, a file its parent holds a POSIX lock
on, and fstats it afterwards (for tests/test_review_r6_attack.py)."""

from __future__ import annotations

import os

_fd = -1


def open_target() -> None:
    """Setup (before the pledge): open the file named by PLEDGEPY_TEST_LOCKED."""
    global _fd
    _fd = os.open(os.environ["PLEDGEPY_TEST_LOCKED"], os.O_RDONLY)


def fstat_target() -> int:
    """os.fstat of it: newfstatat(fd, "", buf, AT_EMPTY_PATH), answered by the parent."""
    return os.fstat(_fd).st_size
