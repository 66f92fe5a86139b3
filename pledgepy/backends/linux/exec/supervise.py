"""Explain violations of an exec'd program: the ``pledge`` command's supervisor.

A program's SIGSYS handler does not survive execve. So the command's child
installs the filter with a listener (violations answer SECCOMP_RET_USER_NOTIF)
and the parent, which stays unconfined, receives each violation with its
arguments, prints the same message the in-process handler would, and applies
OpenBSD's penalty: SIGABRT, or ENOSYS under the ``error`` promise.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import sys

from ....promises import bits
from .. import native
from ..consts import SECCOMP_RET_USER_NOTIF
from ..landlock import abi, domain
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import build


def confine(promises: frozenset[str]) -> int:
    """In the child, just before exec: install the filter; return the listener fd."""
    kernel.prepare()
    if abi.current().available:
        domain.prepare()
        domain.enter()  # the supervisor's /proc/<pid>/mem stays out of reach
    plan = build(promises, kernel.arch() or "x86_64")
    return kernel.install(compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF),
                           all_threads=False, listener=True)


def find_listener(pid: int, timeout: float = 10.0) -> int | None:
    """The number of child *pid*'s seccomp listener descriptor, once it has one.

    None if the child ends (or *timeout* passes) first. Looking through /proc
    needs nothing from the child, whose promises may not allow talking to us.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for name in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{name}") == "anon_inode:seccomp notify":
                        return int(name)
                except OSError:
                    continue
        except OSError:
            return None
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return None  # it ended (left unreaped for the caller)
        time.sleep(0.0005)
    return None


def take_listener(pid: int, fd: int) -> int:
    """In the parent: a copy of the child's listener descriptor *fd*."""
    lib = native.lib()
    pidfd = os.pidfd_open(pid)
    try:
        got = lib.pp_pidfd_getfd(pidfd, fd)
    finally:
        os.close(pidfd)
    if got < 0:
        raise OSError(-got, f"cannot take the child's seccomp listener: {os.strerror(-got)}")
    return int(got)


def _abort(pid: int) -> None:
    """OpenBSD's penalty: SIGABRT, or SIGKILL if the program catches or ignores SIGABRT."""
    sig = signal.SIGABRT
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"SigIgn:", b"SigCgt:")) and \
                        int(line.split()[1], 16) & (1 << (signal.SIGABRT - 1)):
                    sig = signal.SIGKILL
    except OSError:
        sig = signal.SIGKILL  # cannot tell: make sure
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def serve(listener: int, promises: frozenset[str], prog: str) -> None:
    """Answer violations until every process under the filter has gone."""
    lib, ffi = native.lib(), native.ffi()
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    out = ffi.new("char[1024]")
    held, error_mode = bits(promises), "error" in promises
    name = prog.encode(errors="replace")
    reported: set[int] = set()
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    while True:
        events = poller.poll()
        if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events) and not any(
                ev & select.POLLIN for _, ev in events):
            return  # nobody is left under the filter
        rc = lib.pp_notif_recv(listener, nr, args, ident, pid)
        if rc == -errno.ENOENT or rc == -errno.EINTR:
            continue  # the caller went away before we read it
        if rc < 0:
            raise OSError(-rc, f"reading a violation: {os.strerror(-rc)}")
        if not error_mode or nr[0] not in reported:
            reported.add(nr[0])
            n = lib.pp_describe(nr[0], args, held, int(error_mode), pid[0], name, out, 1024)
            sys.stderr.write(ffi.string(out, n).decode(errors="replace"))
            sys.stderr.flush()
        if not error_mode:
            _abort(pid[0])
        lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # never runs the call


class Supervisor:
    """The pledge command's halves on Linux (see :class:`..base.ExecSupervisor`)."""

    def confine(self, promises: frozenset[str]) -> None:
        confine(promises)

    def watch(self, pid: int, promises: frozenset[str], prog: str, go: int) -> None:
        try:
            fd = find_listener(pid)
            if fd is None:
                return  # the child ended before confining itself: its status says why
            listener = take_listener(pid, fd)
            os.write(go, b"x")
        finally:
            os.close(go)
        try:
            serve(listener, promises, prog)
        finally:
            os.close(listener)
