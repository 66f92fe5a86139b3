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


def statx_target() -> int:
    """statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, buf), the other spelling: its stx_size."""
    import ctypes
    import struct

    nr = {"x86_64": 332, "aarch64": 291}[os.uname().machine]
    buf = ctypes.create_string_buffer(256)
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(_fd), b"", ctypes.c_long(0x1000),
                      ctypes.c_long(0x200), buf)
    if rc != 0:
        return -ctypes.get_errno()
    return int(struct.unpack_from("<Q", buf.raw, 40)[0])  # stx_size
