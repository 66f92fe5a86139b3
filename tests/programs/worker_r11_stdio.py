"""A worker module doing what OpenBSD's promises allow with files and threads
(tests/test_review_r11_libattack.py). Everything it needs is imported here, before
the worker pledges."""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import socket
import threading
import time


def cpu_count() -> int | None:
    return os.cpu_count()


def threads_freeing(n: int = 8) -> int:
    """Threads that allocate and free (glibc's malloc reads the overcommit mode
    before it first shrinks a thread's heap)."""
    done: list[int] = []

    def run(i: int) -> None:
        blocks = [bytearray(1 << 20) for _ in range(8)]
        del blocks
        done.append(i)

    started = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return len(done)


def local_time() -> list[object]:
    """glibc stats /etc/localtime at every localtime() and mktime() (TZ unset)."""
    now = time.localtime()
    return [time.strftime("%Z", now), time.mktime(now) > 0, now.tm_gmtoff]


def read_localtime() -> bytes:
    with open("/etc/localtime", "rb") as f:
        return f.read(4)


def dev_null() -> list[object]:
    """Write and read /dev/null the ways Python and glibc open it."""
    with open(os.devnull, "w") as f:  # O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC
        f.write("dropped")
    with open(os.devnull, "rb") as f:
        got = f.read()
    fd = os.open("/dev/null", os.O_RDWR | os.O_APPEND)
    try:
        os.write(fd, b"x")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        cloexec = bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    finally:
        os.close(fd)
    inheritable = os.open("/dev/null", os.O_WRONLY)  # Python adds O_CLOEXEC: cleared
    os.set_inheritable(inheritable, True)
    os.close(inheritable)
    return [got, flags == os.O_RDWR, cloexec]


def open_path(path: str, flags: int) -> int:
    """open(*path*, *flags*); its errno (0: opened)."""
    try:
        os.close(os.open(path, flags))
    except OSError as exc:
        return exc.errno or -1
    return 0


def stat_path(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        return -(exc.errno or errno.EIO)



def lookups() -> list[object]:
    """What "dns" and "getpw" look up in the files OpenBSD lets them read."""
    out: list[object] = []
    try:
        out.append(socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][1])
        out.append(socket.getservbyname("http", "tcp"))
    except OSError as exc:
        out.append(type(exc).__name__)
    try:
        out.append(pwd.getpwuid(0).pw_name)
        out.append(pwd.getpwnam("root").pw_uid)
    except (KeyError, OSError) as exc:
        out.append(type(exc).__name__)
    return out


def users() -> list[object]:
    return [pwd.getpwuid(0).pw_name, pwd.getpwnam("root").pw_uid]


def echo(value: object) -> object:
    return value


def open_when_full(path: str) -> list[int]:
    """Fill the descriptor table (dup, a stdio call), then open *path*: its errno."""
    held = []
    try:
        while True:
            held.append(os.dup(0))
    except OSError as exc:
        full = exc.errno or -1
    got = open_path(path, os.O_RDONLY)
    for fd in held:
        os.close(fd)
    return [full, got, open_path(path, os.O_RDONLY)]


def served_flags(path: str, flags: int) -> list[object]:
    """The access mode and O_NONBLOCK of *path* opened with *flags*."""
    fd = os.open(path, flags)
    try:
        got = fcntl.fcntl(fd, fcntl.F_GETFL)
    finally:
        os.close(fd)
    return [got & os.O_ACCMODE, bool(got & os.O_NONBLOCK)]
