"""Explain the violations of programs a pledged process starts (subprocess, posix_spawn).

A SIGSYS handler does not survive execve, so a child that breaks its
execpromises used to die of SIGSYS without a word. Instead, a small explainer
process is forked before the first filter (so it is outside every filter and
Landlock domain of the caller). Each child, just before exec, sends its pid to
the explainer, installs its execpromises filter with a listener (violations
answer SECCOMP_RET_USER_NOTIF), and waits, without a syscall, until the
explainer has taken the listener (pidfd_getfd) and said so in a page shared
since the explainer was forked. The explainer then prints the one-line message
with the child's own program name and pid and applies OpenBSD's penalty
(SIGABRT, or ENOSYS under ``error``).

Threat model (README: children's violations): the explainer runs no code from
its requests: it reads a pid, takes a seccomp listener from that pid if it
descends from the caller (a request is anyone's write on the socket; taking a
listener needs the kernel's ptrace permission over it, which root has over every
process) and answers its notifications;
it never lets a call run. The caller can kill it (``proc``) or forge the page:
then a child's violations fail with ENOSYS instead of aborting, but never run.
"""

from __future__ import annotations

import _thread  # not threading, nor contextlib: each costs the lock's import time
import errno
import os
import sys
import time

from ....promises import bits
from .. import native
from ..consts import PR_GET_DUMPABLE, SECCOMP_RET_USER_NOTIF
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import Plan

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

SLOTS = 512
#: Seconds a child waits for the explainer before it gives up (and does not exec).
WAIT = 5.0

_libc: Any = None  # the native module's functions (prctl), looked up before any filter
_page: Any = None  # mmap shared with the explainer: slot (pid % SLOTS) = pid once taken
_sock: Any = None  # a _socket.socket


def channel_fd() -> int | None:
    """The descriptor of the channel to the explainer, if it runs."""
    return _sock.fileno() if _sock is not None else None


def start() -> bool:
    """Fork the explainer (before any filter); False when it cannot work here."""
    global _page, _sock, _libc
    if _sock is not None:
        return True
    if not native.available() or not kernel.has_handler() or kernel.inherited():
        return False
    from . import stdlib

    try:
        # The explainer's own imports: once forked it must load no module from sys.path,
        # whose first directories a sandboxed caller may be able to write (stdlib.py), and
        # its first violation may come after the caller's rules hid the library. ctypes
        # and socket are not needed (~18 M instructions): prctl is the native module's.
        mmap = stdlib.load("mmap")
        _socket = stdlib.load("_socket")
        stdlib.load("select")  # _serve, and supervise below
        stdlib.load("fcntl")  # supervise, answer
        stdlib.load("_struct")  # answer (through struct)
        stdlib.load("struct")
        from . import answer, supervise  # noqa: F401 - _serve's answer, _say and punish
    except ImportError:
        return False  # unreadable now (after a change of ids): the kernel's penalty
    _libc = native.lib()

    page = mmap.mmap(-1, SLOTS * 4)
    # SEQPACKET: the explainer reads EOF once the caller and its forked children,
    # which hold the other end, have gone (exec'd programs do not: close-on-exec)
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    native.prepare()
    caller = os.getpid()
    pid = os.fork()
    if pid == 0:  # forks the explainer and ends: it is no child of the caller's to wait for
        try:
            ours.close()
            if os.fork() == 0:
                # outside every sandbox from here: it imports nothing more, and should an
                # error path try, no directory the caller may write is searched
                sys.path[:] = []
                _detach(theirs.fileno())
                _serve_requests(theirs, page, caller)
        finally:
            os._exit(0)
    theirs.close()
    os.waitpid(pid, 0)
    _page, _sock = page, ours
    return True


def _detach(keep: int) -> None:
    """Hold none of the caller's descriptors but *keep* and stderr (for messages): a
    pipe's write end held here would keep the caller's reader from ever seeing EOF."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def running() -> bool:
    return _sock is not None


def confine(plan: Plan) -> bool:
    """In a child just before exec: install *plan* with a listener the explainer takes.

    False (nothing installed) when no explainer runs or the kernel refuses a
    listener (EBUSY: one is already in the stack). Never returns if the explainer
    does not take it in time (the child exits 127 without exec).
    """
    if _sock is None or _page is None:
        return False
    if _libc.pp_prctl(PR_GET_DUMPABLE, 0, 0) != 1:
        return False  # after a change of ids: the explainer may not take its listener
    me = os.getpid()
    slot = (me % SLOTS) * 4
    _page[slot:slot + 4] = b"\0\0\0\0"
    # the request goes first: once the listener is in force only the execpromises hold
    request = (me.to_bytes(4, "little") + bits(plan.promises).to_bytes(8, "little")
               + bytes([plan.error]))
    os.write(_sock.fileno(), request)
    try:
        kernel.install(compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF),
                       all_threads=False, listener=True)
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOSYS, errno.EINVAL):
            return False  # the explainer gives up looking for it
        raise
    want = me.to_bytes(4, "little")
    deadline = time.monotonic() + WAIT  # vDSO: no syscall
    while _page[slot:slot + 4] != want:
        if time.monotonic() > deadline:
            os._exit(127)  # nobody would answer its violations: do not exec
    return True


REQUEST = 13


def _serve_requests(sock: Any, page: Any, caller: int) -> None:
    # _thread, not threading (start-up: see wrap.py); each thread's lock is its join
    running: list[Any] = []
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            data = b""
        if not data:  # the caller has gone: serve the children still running, then end
            for done in running:
                done.acquire()
            return
        if len(data) != REQUEST:
            continue  # not a request
        pid = int.from_bytes(data[:4], "little")
        held, error = int.from_bytes(data[4:12], "little"), bool(data[12])
        running[:] = [done for done in running if done.locked()]
        done = _thread.allocate_lock()
        done.acquire()
        running.append(done)
        _thread.start_new_thread(_taking, (done, pid, held, error, page, caller))


def _taking(done: Any, *args: Any) -> None:
    try:
        _take(*args)
    except BaseException:  # noqa: S110 - no traceback: printing one may import (3.13)
        pass  # the child's calls still never run: it gave up, or its listener is closed
    finally:
        done.release()


def _find(pid: int) -> int | None:
    """The number of *pid*'s seccomp listener, once it has one (None: gone, or never)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return None
        for name in names:
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}") == "anon_inode:seccomp notify":
                    return int(name)
            except OSError:
                pass
        time.sleep(0.0002)
    return None


def _descends(pid: int, caller: int) -> bool:
    """Whether process *pid* descends from *caller* (its PPid chain reaches it)."""
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                pid = next(int(line.split()[1]) for line in f if line.startswith(b"PPid:"))
        except (OSError, ValueError, StopIteration, IndexError):
            return False
        if pid == caller:
            return True
        if pid <= 1:
            return False
    return False


def _take(pid: int, held: int, error: bool, page: Any, caller: int) -> None:
    # Only a descendant of the caller's (the children that narrow in place): a request
    # is anyone's write on the socket, and the listener of another process (a pledge
    # command's supervisor holds its program's) must never be taken and answered here.
    # The pidfd pins the process checked: if it ends, pidfd_getfd fails.
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if not _descends(pid, caller):
            return
        fd = _find(pid)
        if fd is None:
            return
        listener = native.lib().pp_pidfd_getfd(pidfd, fd)
    finally:
        os.close(pidfd)
    if listener < 0:
        return  # the child waits, then gives up without exec
    slot = (pid % SLOTS) * 4
    page[slot:slot + 4] = pid.to_bytes(4, "little")
    try:
        _serve(listener, held, error)
    finally:
        os.close(listener)


def _name_of(tid: int) -> str:
    try:
        with open(f"/proc/{tid}/comm", "rb") as f:
            raw = f.read()[:-1]  # the kernel's newline
    except OSError:
        return "?"
    # the program chooses its comm (PR_SET_NAME): a message stays one line, no escapes
    return "".join(c if c.isprintable() else "?" for c in raw.decode(errors="replace")) or "?"


def _serve(listener: int, held: int, error_mode: bool) -> None:
    """Answer one child's violations until nobody is under its filter."""
    import select

    from .supervise import _say, punish

    lib, ffi = native.lib(), native.ffi()
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    out = ffi.new("char[1024]")
    from .answer import fstat_for, sigsys_default_for  # loaded before the fork (_start)

    stdio = frozenset({"stdio"}) if held & bits(frozenset({"stdio"})) else frozenset()
    arch = kernel.arch() or ""
    lib.pp_set_resolve(1)  # forked before any filter: relative paths are shown resolved too
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    while True:
        events = poller.poll()
        if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events) and not any(
                ev & select.POLLIN for _, ev in events):
            return
        rc = lib.pp_notif_recv(listener, nr, args, ident, pid)
        if rc in (-errno.ENOENT, -errno.EINTR):
            continue
        if rc < 0:
            return
        try:
            call = [int(args[i]) for i in range(6)]
            # fstat(fd) spelled newfstatat(fd, "", AT_EMPTY_PATH): a "stdio" call, answered
            # as the command's supervisor and the in-process handler answer it
            answer = fstat_for(listener, ident[0], pid[0], nr[0], call, stdio, arch)
            if answer is None:
                answer = sigsys_default_for(pid[0], nr[0], call, stdio, arch)
        except Exception:  # a violation then: never this loop's end
            answer = None
        if answer is not None:
            lib.pp_notif_send(listener, ident[0], answer)  # no violation
            continue
        name = _name_of(pid[0])
        text = ""
        try:  # while the caller waits (its paths are readable)
            lib.pp_set_foreign(0 if lib.pp_is_python(pid[0]) else 1)  # a process of its own
            n = lib.pp_describe(nr[0], args, held, int(error_mode), pid[0],
                                name.encode(), out, 1024)
            text = ffi.string(out, n).decode(errors="replace")
        except Exception:  # the message only: the penalty below does not depend on it
            pass
        if not error_mode:
            punish(listener, ident[0], pid[0])
        lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # never runs the call
        if text:
            try:
                _say(text)
            except Exception:
                pass
