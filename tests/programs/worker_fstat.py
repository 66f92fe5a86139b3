"""A worker module that stats its own descriptors, and tries the path forms fstat's
emulation must not answer (for tests/test_worker_fstat.py)."""

from __future__ import annotations

import ctypes
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)
_NEWFSTATAT = {"x86_64": 262, "aarch64": 79}.get(os.uname().machine)
AT_EMPTY_PATH = 0x1000


def fstat(fd: int) -> list[int]:
    """os.fstat(fd): glibc spells it newfstatat(fd, "", buf, AT_EMPTY_PATH)."""
    st = os.fstat(fd)
    return [st.st_mode, st.st_ino, st.st_dev, st.st_size]


def stdout_is_a_file() -> bool:
    """What print() and io do at start-up: fstat of the standard streams."""
    return os.isatty(sys.stdout.fileno()) or os.fstat(1).st_size >= 0


def path_with_empty_flag(path: str) -> int:
    """newfstatat(AT_FDCWD, path, buf, AT_EMPTY_PATH): a path lookup, not fstat."""
    buf = ctypes.create_string_buffer(256)
    rc = _libc.syscall(ctypes.c_long(_NEWFSTATAT or -1), ctypes.c_long(-100),
                       path.encode(), buf, ctypes.c_long(AT_EMPTY_PATH))
    return int(rc if rc == 0 else -ctypes.get_errno())


def fstat_into_readonly(fd: int) -> int:
    """newfstatat(fd, "", <read-only page>, AT_EMPTY_PATH): fails, writes nothing."""
    _libc.mmap.restype = ctypes.c_void_p
    _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_long]
    page = _libc.mmap(None, 4096, 1, 0x22, -1, 0)  # PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS
    rc = _libc.syscall(ctypes.c_long(_NEWFSTATAT or -1), ctypes.c_long(fd), b"",
                       ctypes.c_void_p(page), ctypes.c_long(AT_EMPTY_PATH))
    result = int(rc if rc == 0 else -ctypes.get_errno())
    return result if ctypes.string_at(page, 16) == b"\0" * 16 else 999


def getenv(name: str) -> str | None:
    return os.environ.get(name)


def parent_value(module: str, name: str) -> object:
    """A module-level value as the worker sees it (a fork sees the parent's)."""
    return getattr(sys.modules.get(module), name, None)


def c_getenv(name: str) -> bytes | None:
    """getenv(3): the C library's environment, not os.environ."""
    getenv = _libc.getenv
    getenv.restype = ctypes.c_char_p
    value: bytes | None = getenv(name.encode())
    return value
