"""Explain violations of an exec'd program: the ``pledge`` command's supervisor.

A program's SIGSYS handler does not survive execve. So the command's child
installs the filter with a listener (violations answer SECCOMP_RET_USER_NOTIF)
and the parent, which stays unconfined, receives each violation with its
arguments, prints the same message the in-process handler would, and applies
OpenBSD's penalty: SIGABRT, or ENOSYS under the ``error`` promise.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import sys

from ....promises import bits
from .. import native
from ..consts import SECCOMP_RET_USER_NOTIF
from ..landlock import abi, domain
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import build
from .refuse import OUTLIVING, die_with_parent, refuse, refused


def confine(promises: frozenset[str]) -> int:
    """In the child, just before exec: install the filter; return the listener fd."""
    kernel.prepare()
    die_with_parent()
    if abi.current().available:
        domain.prepare()
        domain.enter()  # the supervisor's /proc/<pid>/mem stays out of reach
    plan = refuse(build(promises, kernel.arch() or "x86_64"))
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


#: SECCOMP_IOCTL_NOTIF_ID_VALID: is the thread behind a notification still waiting?
NOTIF_ID_VALID = 0x40082102
#: Seconds a process has to die of SIGABRT: first before its pending signals are
#: looked at, then (the signal was taken: a core dump may be under way) in all.
GRACE, DYING = 0.05, 2.0
_ABRT = 1 << (signal.SIGABRT - 1)


def _status(tid: int) -> dict[bytes, int]:
    """Tgid and the signal masks (SigIgn, SigCgt, ShdPnd) from /proc/<tid>/status."""
    out: dict[bytes, int] = {}
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            key, _, value = line.partition(b":")
            if key == b"Tgid":
                out[key] = int(value)
            elif key in (b"SigIgn", b"SigCgt", b"ShdPnd"):
                out[key] = int(value, 16)
    return out


def _exits(pidfd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def _waiting(listener: int, ident: int) -> bool:
    try:
        fcntl.ioctl(listener, NOTIF_ID_VALID, struct.pack("Q", ident))
    except OSError:
        return False
    return True


def punish(listener: int, ident: int, tid: int) -> None:
    """OpenBSD's penalty for the process whose thread *tid* waits on violation *ident*.

    SIGABRT, which a process that blocks it in every thread, catches or ignores
    does not die of: so SIGKILL at once if it catches or ignores SIGABRT, and
    after :data:`GRACE` if the signal is still pending (or after :data:`DYING`
    if it is alive all the same).
    """
    try:
        masks = _status(tid)
        pidfd = os.pidfd_open(masks[b"Tgid"])
    except (OSError, KeyError):
        if _waiting(listener, ident):  # still that thread: cannot tell, so make sure
            with contextlib.suppress(OSError):
                os.kill(tid, signal.SIGKILL)
        return
    try:
        if not _waiting(listener, ident):
            return  # it died already, and its pid may name another process by now
        dodges = (masks.get(b"SigIgn", 0) | masks.get(b"SigCgt", 0)) & _ABRT
        signal.pidfd_send_signal(pidfd, signal.SIGKILL if dodges else signal.SIGABRT)
        if dodges or _exits(pidfd, GRACE):
            return
        try:
            pending = _status(masks[b"Tgid"]).get(b"ShdPnd", _ABRT) & _ABRT
        except OSError:
            pending = _ABRT
        if pending or not _exits(pidfd, DYING):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def _say(text: str) -> None:
    """Write *text* to stderr, never failing: the penalty does not depend on it."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(text)
        sys.stderr.flush()


def serve(listener: int, promises: frozenset[str], prog: str) -> None:
    """Answer violations until every process under the filter has gone.

    The penalty comes before the message, which may not get through.
    """
    lib, ffi = native.lib(), native.ffi()
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    out = ffi.new("char[1024]")
    held, error_mode = bits(promises), "error" in promises
    name = prog.encode(errors="replace")
    arch = kernel.arch() or "x86_64"
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
        text = None
        if not error_mode or nr[0] not in reported:
            reported.add(nr[0])
            why = refused(nr[0], tuple(args[i] for i in range(6)), arch)
            if why is not None:
                tail = 'returning ENOSYS ("error" promise)' if error_mode else "aborting"
                text = f"pledge: {prog}[{pid[0]}]: {why}; {tail}\n"
            else:  # while the caller waits: its path arguments are still in its memory
                n = lib.pp_describe(nr[0], args, held, int(error_mode), pid[0], name, out, 1024)
                text = ffi.string(out, n).decode(errors="replace")
        if not error_mode:
            punish(listener, ident[0], pid[0])
        lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # never runs the call
        if text is not None:
            _say(text)


class Supervisor:
    """The pledge command's halves on Linux (see :class:`..base.ExecSupervisor`)."""

    def confine(self, promises: frozenset[str]) -> None:
        confine(promises)

    def gaps(self, promises: frozenset[str]) -> tuple[str, ...]:
        return tuple(text for promise, text in OUTLIVING.items() if promise in promises)

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
        except BaseException:
            # nobody would punish its violations now (they would answer ENOSYS)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            raise
        finally:
            os.close(listener)
