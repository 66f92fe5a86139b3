"""Explain violations of an exec'd program: the ``pledge`` command's supervisor.

A program's SIGSYS handler does not survive execve. So the command's child
installs the filter with a listener (violations answer SECCOMP_RET_USER_NOTIF)
and the parent, which stays unconfined, receives each violation with its
arguments, prints the same message the in-process handler would, and applies
OpenBSD's penalty: SIGABRT, or ENOSYS under the ``error`` promise.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import sys

from ....promises import bits
from .. import native, prepared
from ..consts import SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF
from ..landlock import abi, domain
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import build
from .refuse import OUTLIVING, die_with_parent, refuse, refused

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal


#: A notification as read (seccomp_notif): (nr, its six arguments, id, tid).
Notification = tuple[int, tuple[int, ...], int, int]


def confine(promises: frozenset[str], *, after: frozenset[str] | None = None,
            last: Callable[[], None] | None = None) -> int:
    """In the child, just before exec: install the filter; return the listener fd.

    *after*: what PROG holds once started (:mod:`.shim`): the filter allows only
    *after*, and the supervisor lets the rest of *promises* through while PROG starts
    (the command's own execve; the loader's calls until the start-up shim reports).
    The shim's report, a call no promise allows, reaches the supervisor as it is."""
    kernel.prepare()
    die_with_parent()
    if abi.current().available:
        domain.prepare()
        domain.enter()  # the supervisor's /proc/<pid>/mem stays out of reach
    plan = refuse(build(after if after is not None else promises, kernel.arch() or "x86_64"))
    code = compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF)
    if last is not None:
        last()
    return kernel.install(code, all_threads=False, listener=True, killable=True)


def helper_filter(promises: frozenset[str]) -> Callable[[], None]:
    """For a program the command runs to ask it something (a script host's tree): the
    filter of *promises*, compiled now (while the modules it needs can be read); the
    returned call installs it. Nobody listens: a violation kills the process."""
    kernel.prepare()
    code = compile_plan(refuse(build(promises, kernel.arch() or "x86_64")),
                        violation=SECCOMP_RET_KILL_PROCESS)

    def install() -> None:
        kernel.install(code, all_threads=False)  # single-threaded: a fork, before exec

    return install


def find_listener(pid: int, timeout: float = 10.0) -> int | None:
    """The number of child *pid*'s seccomp listener descriptor, once it has one.

    None if the child ends (or *timeout* passes) first. Looking through /proc
    needs nothing from the child, whose promises may not allow talking to us.
    """
    import time

    deadline = time.monotonic() + timeout
    pause = 0.00005  # doubling to 0.5 ms: the shim's filter follows its READY in microseconds
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
        time.sleep(pause)
        pause = min(pause * 2, 0.0005)
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
    # Each notification and answer then hands the CPU over instead of waking this
    # process on another (halted) vCPU: the loader's calls of a supervised start were
    # 100-250 us a round trip. Best effort: Linux 6.6+; older kernels only lose speed.
    lib.pp_notif_sync_wakeup(got)
    return int(got)


#: SECCOMP_IOCTL_NOTIF_ID_VALID: is the thread behind a notification still waiting?
NOTIF_ID_VALID = 0x40082102
#: Seconds a process has to die of SIGABRT: first before its pending signals are
#: looked at, then (the signal was taken: a core dump may be under way) in all.
GRACE, DYING = 0.05, 2.0
_ABRT = 1 << (signal.SIGABRT - 1)
_STOP = 1 << (signal.SIGSTOP - 1)


def _status(tid: int) -> dict[bytes, int]:
    """Tgid and the signal masks (SigPnd, SigBlk, SigIgn, SigCgt, ShdPnd) from
    /proc/<tid>/status."""
    out: dict[bytes, int] = {}
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            key, _, value = line.partition(b":")
            if key == b"Tgid":
                out[key] = int(value)
            elif key in (b"SigPnd", b"SigBlk", b"SigIgn", b"SigCgt", b"ShdPnd"):
                out[key] = int(value, 16)
    return out


def tgid(tid: int) -> int | None:
    """The process of thread *tid*, None if it is gone."""
    try:
        return _status(tid).get(b"Tgid")
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether process *pid* still runs (not a zombie, not gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _exits(pidfd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def _waiting(listener: int, ident: int) -> bool:
    try:
        fcntl.ioctl(listener, NOTIF_ID_VALID, ident.to_bytes(8, sys.byteorder))
    except OSError:
        return False
    return True


def _resume(tid: int) -> int:
    """SIGCONT to the process of *tid* (the native launcher stopped it at the hand-over);
    0, as nothing is stopped any more."""
    try:
        os.kill(tid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    return 0


def punish(listener: int, ident: int, tid: int, *, resume: bool = False) -> tuple[int, int] | None:
    """OpenBSD's penalty for the process whose thread *tid* waits on violation *ident*.

    SIGABRT, which a process that blocks it in every thread, catches or ignores
    does not die of: so SIGKILL at once if it catches or ignores SIGABRT, and
    after :data:`GRACE` if the signal is still pending (or after :data:`DYING`
    if it is alive all the same). *resume*: the process is stopped (the native
    launcher's hand-over): continued once the penalty is sent, so no other thread of
    it runs before. Returns (process id, the last signal sent), or None when nothing
    was sent.
    """
    try:
        masks = _status(tid)
        tgid = masks[b"Tgid"]
        pidfd = os.pidfd_open(tgid)
    except (OSError, KeyError):
        if resume:
            _resume(tid)
        if _waiting(listener, ident):  # still that thread: cannot tell, so make sure
            try:
                os.kill(tid, signal.SIGKILL)
            except OSError:
                return None
            return tid, signal.SIGKILL
        return None
    sent = None
    try:
        if not _waiting(listener, ident):
            return None  # it died already, and its pid may name another process by now
        dodges = (masks.get(b"SigIgn", 0) | masks.get(b"SigCgt", 0)) & _ABRT
        sent = signal.SIGKILL if dodges else signal.SIGABRT
        # its call waits killably (the listener's WAIT_KILLABLE_RECV), and SIGABRT, a
        # core-dumping signal, is no fatal one to that wait: it can only be taken once the
        # call returns. Where the waiting thread would take it (not blocked, nothing else
        # pending there), the signal is sent through it (kill() of a thread id marks that
        # thread first; the process's pidfd would mark its main thread, which may sleep in
        # vfork's killable wait while this one runs on) and the call refused at once: the
        # thread takes it on its way back, before a user instruction runs.
        # (the native launcher's SIGSTOP may be pending there: taken first or flushed by
        # the SIGCONT below, and SIGABRT comes next all the same, before user code)
        early = (sent == signal.SIGABRT and not masks.get(b"SigBlk", 0) & _ABRT
                 and not masks.get(b"SigPnd", 0) & ~_STOP)
        if early:
            os.kill(tid, sent)  # still waiting (checked above): the id is still that thread's
            native.lib().pp_notif_send(listener, ident, -errno.ENOSYS)
        else:
            signal.pidfd_send_signal(pidfd, sent)
        if resume:
            signal.pidfd_send_signal(pidfd, signal.SIGCONT)
            resume = False
        if dodges or _exits(pidfd, GRACE):
            return tgid, sent
        try:
            pending = _status(tgid).get(b"ShdPnd", _ABRT) & _ABRT
        except OSError:
            pending = _ABRT
        if pending or not _exits(pidfd, DYING):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            sent = signal.SIGKILL
    except ProcessLookupError:
        pass
    finally:
        if resume:  # nothing sent: on as it was
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGCONT)
            except ProcessLookupError:
                pass
        os.close(pidfd)
    return None if sent is None else (tgid, sent)


def _say(text: str) -> None:
    """Write *text* to stderr, never failing: the penalty does not depend on it."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _name(tid: int, child: int, prog: str) -> str:
    """What a message calls the process of thread *tid*: *prog* for the command's child
    while it runs PROG, else the process's own name (its comm: what OpenBSD prints)."""
    try:
        with open(f"/proc/{tid}/comm", "rb") as f:
            raw = f.read()[:-1]  # the kernel's newline
        tgid = _status(tid).get(b"Tgid")
    except (OSError, ValueError):
        return prog
    # the program chooses its comm (PR_SET_NAME): a message stays one line, no escapes
    comm = "".join(c if c.isprintable() else "?" for c in raw.decode(errors="replace"))
    return prog if tgid == child and comm == prog[:15] else comm or prog


#: What a message about a call whose path could not be read adds when the caller's
#: memory is closed to this process: a program that made itself non-dumpable (GNU timeout,
#: ssh-agent: prctl(PR_SET_DUMPABLE, 0), a stdio call) under a supervisor without
#: CAP_SYS_PTRACE over it. Its path was not "<unreadable>" to the program: nothing here
#: can tell whether it named a file OpenBSD's promises let it read (/dev/null,
#: /etc/localtime, dns's and getpw's files), so such an open stays a violation.
UNREADABLE_NOTE = (" (its memory is closed to the pledge command: it made itself "
                   "non-dumpable (PR_SET_DUMPABLE 0), so no path it names can be read, and "
                   "the files OpenBSD's promises let it open without rpath (/dev/null, "
                   "/etc/localtime, dns's and getpw's) cannot be served; run pledge as root, "
                   "or unveil and promise what it reads)")


def _memory_closed(tid: int) -> bool:
    from .answer import memory_closed  # only for such a message: not at start-up

    return memory_closed(tid)


def _is_python(tid: int) -> bool:
    try:
        return os.path.basename(os.readlink(f"/proc/{tid}/exe")).startswith("python")
    except OSError:
        return False


#: What replaces the hint for Python programs in a message about another program.
LOADER_HINT = ("mapping executable memory needs it: a dynamically linked program's loader, "
               "dlopen, a JIT; the pledge command grants it to a dynamically linked "
               "PROG's loader before main (for its whole run to interpreters), not to "
               "what PROG executes")


class _Ended:
    """Whether PROG (*child*) has ended, asked through its pidfd: one poll(0), cheap
    enough to ask before every notification is read."""

    __slots__ = ("fd", "poller")

    def __init__(self, child: int) -> None:
        self.fd: int | None = None
        self.poller = select.poll()
        if child:
            try:
                self.fd = os.pidfd_open(child)
                self.poller.register(self.fd, select.POLLIN)
            except OSError:  # gone already (or no pidfds): as if it had ended
                self.fd = None

    def now(self) -> bool:
        return self.fd is None or bool(self.poller.poll(0))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def serve(listener: int, promises: frozenset[str], prog: str, child: int = 0,
          penalties: dict[int, int] | None = None, *,
          intercept: Callable[[int, tuple[int, ...], int, int], bool] | None = None,
          tick: Callable[[], int | None] | None = None, tmp: bool = False,
          first: Notification | None = None) -> None:
    """Answer violations until every process under the filter has gone.

    The penalty comes before the message, which may not get through. Each
    process's penalty (its last signal) goes into *penalties*, by pid. Hooks (the
    start-up shim's phase): *intercept* sees each notification first and returns
    True when it answered it (no violation); *tick* runs whenever the milliseconds
    it returned pass without one. *tmp*: ``tmppath``'s creates and unlinks under
    /tmp may run (:func:`.tmpcreate.refusal` found nothing against it). *first*: a
    notification already read from *listener* and not answered (the native launcher's,
    handed over: PROTOCOL.md), answered before any other as if read here.
    """
    lib, ffi = native.lib(), native.ffi()
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    out = ffi.new("char[1024]")
    held, error_mode = bits(promises), "error" in promises
    arch = kernel.arch() or "x86_64"
    hints = prepared.data()["hints"]
    reported: set[int] = set()
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    timeout = tick() if tick is not None else None
    ended = _Ended(child)
    stopped = 0  # the process of the launcher's notification, stopped until it is answered
    try:
        while True:
            if stopped:
                stopped = _resume(stopped)
            if first is not None:
                nr[0], ident[0], pid[0] = first[0], first[2], first[3]
                for i in range(6):
                    args[i] = first[1][i]
                # the launcher stopped the caller's process when it read this (so no other
                # thread can end it first) and the caller waits killably: it goes on once
                # the call is answered or its penalty sent (_resume, punish)
                stopped = first[3]
                first = None
                # read by the launcher while PROG ran, as far as anyone here can tell: a
                # thread gone since is PROG's (the stricter reading: its penalty stands)
                prog_ended = False
            else:
                events = poller.poll(timeout)
                if not events and tick is not None:
                    timeout = tick()
                    continue
                if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events) and not any(
                        ev & select.POLLIN for _, ev in events):
                    return  # nobody is left under the filter
                # read before the notification: a call read after PROG ended is not PROG's
                # (its threads' waiting calls go with them), whatever its tid says once gone
                prog_ended = bool(child) and ended.now()
                rc = lib.pp_notif_recv(listener, nr, args, ident, pid)
                if rc == -errno.ENOENT or rc == -errno.EINTR:
                    continue  # the caller went away before we read it
                if rc < 0:
                    raise OSError(-rc, f"reading a violation: {os.strerror(-rc)}")
            values = tuple(int(args[i]) for i in range(6))
            if intercept is not None and intercept(nr[0], values, ident[0], pid[0]):
                continue  # the loader's call before main, or the shim's report
            # bound here; the command's ExecSupervisor.watch imported them before the
            # program ran (never after: see there)
            from . import allowed, tmpcreate, ttyopen
            from .answer import (
                fstat_for,
                inotify_for,
                numa_for,
                proc_stat_for,
                reflink_for,
                sigsys_default_for,
                xattr_write_for,
            )

            # whose call it is, read first: another thread's exit_group can end the process
            # at any moment now, and its status must still say it broke a promise
            owner = tgid(pid[0])
            if owner is None and (pid[0] == child or (child and not prog_ended
                                                      and not _alive(child))):
                # its process ended while the call waited (a thread can only go with its
                # whole process then): the program's, unless the program still runs or
                # had ended before the call was read (a descendant's call, then)
                owner = child
            if ttyopen.answer(listener, ident[0], pid[0], nr[0], values, promises, arch,
                              lambda e: lib.pp_notif_send(listener, ident[0], -e)):
                continue  # OpenBSD's /dev/tty allowance: not a violation
            # OpenBSD's read allowances (stdio's time zones, dns, getpw): not violations
            given = allowed.answer(listener, ident[0], pid[0], nr[0], values, promises, arch)
            if given is not None:
                if given != -1:  # -1: answered with a descriptor already
                    lib.pp_notif_send(listener, ident[0], given)
                continue
            if tmp and "tmppath" in promises and tmpcreate.answer(
                    listener, ident[0], pid[0], nr[0], values, arch, promises):
                continue  # OpenBSD's tmppath: a create or unlink under /tmp/
            # fstat(fd) spelled newfstatat(fd, "", AT_EMPTY_PATH) is a "stdio" call: answered
            # as the in-process handler emulates it (a program without rpath needs it)
            call = list(values)
            answer = fstat_for(listener, ident[0], pid[0], nr[0], call, promises, arch)
            if answer is None:
                answer = proc_stat_for(pid[0], nr[0], call, promises, arch)
            if answer is None:
                answer = sigsys_default_for(pid[0], nr[0], call, promises, arch)
            if answer is None:
                answer = xattr_write_for(nr[0], promises, arch)
            if answer is None:
                answer = numa_for(nr[0], promises, arch)
            if answer is None:
                answer = reflink_for(nr[0], call, promises, arch)
            if answer is None:
                answer = inotify_for(nr[0], promises, arch)
            if answer is not None:
                lib.pp_notif_send(listener, ident[0], answer)
                continue
            who = _name(pid[0], child, prog)  # read while the thread still waits
            python = _is_python(pid[0])
            text = None
            if not error_mode or nr[0] not in reported:
                reported.add(nr[0])
                why = refused(nr[0], values, arch)
                if why is not None:
                    tail = 'returning ENOSYS ("error" promise)' if error_mode else "aborting"
                    text = f"pledge: {who}[{pid[0]}]: {why}; {tail}\n"
                else:  # while the caller waits: its path arguments are still in its memory
                    # outside every filter: relative paths shown resolved too (only around
                    # this call: this process's own handler, were it pledged later, may not)
                    lib.pp_set_resolve(1)
                    try:
                        n = lib.pp_describe(nr[0], args, held, int(error_mode), pid[0],
                                            who.encode(errors="replace"), out, 1024)
                    finally:
                        lib.pp_set_resolve(0)
                    text = ffi.string(out, n).decode(errors="replace")
                    if "<unreadable>" in text and _memory_closed(pid[0]):
                        text = text.rstrip("\n") + UNREADABLE_NOTE + "\n"
                    if xattr_write_for(nr[0], frozenset({"fattr"}), arch) is not None:
                        # what would answer it (EOPNOTSUPP), as a promise to hold
                        text = text.replace(" is not allowed by any promise", ' needs "fattr"')
                    if not python:  # Python's hints say nothing true about another program
                        text = text.replace(hints["extension"], LOADER_HINT).replace(
                            f" ({hints['import']})", "")
            if not error_mode:
                got = punish(listener, ident[0], pid[0], resume=bool(stopped))
                stopped = 0
                if got is not None and penalties is not None:
                    penalties[got[0]] = got[1]
                elif owner is not None and penalties is not None:
                    # it ended (another thread's exit) before the penalty: it broke a promise
                    # all the same, and its status must not say otherwise
                    penalties.setdefault(owner, signal.SIGABRT)
            lib.pp_notif_send(listener, ident[0], -errno.ENOSYS)  # never runs the call
            if text is not None:
                _say(text)
    finally:
        if stopped:
            _resume(stopped)
        ended.close()


def told_listener(pid: int, told: int, timeout: float = 10.0, *, want: bool = True) -> int | None:
    """The number of child *pid*'s listener as the child wrote it to *told* (the read end
    of a pipe whose other end only the child holds), once it is checked to be one; with
    *want* False, 0 once the child wrote anything (it is about to have one).

    None when the child ends or execs (the pipe closes) or *timeout* passes first."""
    poller = select.poll()
    poller.register(told, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return None
    try:
        said = os.read(told, 16)
        if not want:
            return 0 if said else None
        fd = int(said or b"-1")
        if fd >= 0 and os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:seccomp notify":
            return fd
    except (OSError, ValueError):
        pass
    return None


class Supervisor:
    """The pledge command's halves on Linux (see :class:`..base.ExecSupervisor`).

    Made in the parent before it forks: the child's :meth:`confine` tells :meth:`watch`
    its listener through a pipe made here (both ends close at exec: PROG holds neither),
    instead of the parent polling the child's descriptors while it sets itself up."""

    def __init__(self) -> None:
        self.penalties: dict[int, int] = {}
        self.phase: object = None  # the start-up shim's phase (shim._Opening), when used
        self._told: tuple[int, int] | None = os.pipe()

    def penalty(self, pid: int) -> int | None:
        return self.penalties.get(pid)

    def confine(self, promises: frozenset[str], after: frozenset[str] | None = None,
                last: Callable[[], None] | None = None) -> None:
        listener = confine(promises, after=after, last=last)
        if self._told is not None:  # stdio (every command's promises) allows the write
            os.write(self._told[1], b"%d" % listener)

    def helper_filter(self, promises: frozenset[str]) -> Callable[[], None]:
        return helper_filter(promises)

    def narrowing(self, after: frozenset[str], load: tuple[str, ...] = ()) -> None:
        from . import shim

        os.environ.update(shim.environment(shim.library(), dict(os.environ), load))

    def start_up_shim(self) -> str:
        from . import shim

        return shim.library()

    def tmppath(self, promises: frozenset[str], no_unveil: bool,
                unveils: tuple[tuple[str, str], ...], chroot: bool) -> str | None:
        from . import tmpcreate

        return tmpcreate.refusal(promises, no_unveil, unveils, abi.version(), chroot)

    def gaps(self, promises: frozenset[str]) -> tuple[str, ...]:
        return tuple(text for promise, text in OUTLIVING.items() if promise in promises)

    def adopt(self, pid: int, listener: int, promises: frozenset[str], prog: str,
              after: frozenset[str], shim: str | None, *,
              ids: tuple[int, tuple[int, ...]] | None = None,
              phase: tuple[bool, bool, bool, float | None] | None = None,
              first: Notification | None = None, tmp: bool = False) -> None:
        if self._told is not None:  # nobody tells: the listener is here already
            for fd in self._told:
                os.close(fd)
            self._told = None
        # every module serve() and the phase need, before the first answer lets PROG on
        from ..rules import Identity
        from . import allowed, answer, tmpcreate, ttyopen  # noqa: F401
        from . import shim as start

        try:
            who = Identity(pid, ids[0], tuple(sorted(set(ids[1]))), 0) \
                if ids is not None and shim is not None else None
            begun = start.Start(*phase) if phase is not None else None
            self.phase = start.watch(pid, listener, promises, after, prog, shim, who,
                                     self.penalties, tmp=tmp, start=begun, first=first)
        finally:
            os.close(listener)

    def watch(self, pid: int, promises: frozenset[str], prog: str, go: int,
              after: frozenset[str] | None = None, shim: str | None = None,
              ready: Callable[[], None] | None = None, tmp: bool = False) -> None:
        who = None  # the child's ids, for the loader's rules (the shim's phase)
        # serve()'s answers (and ctypes), now, while the child sets itself up: never
        # once PROG runs, which may write a module into a directory of sys.path (its
        # first: the script's or the working directory) that this unconfined process
        # would then import and run
        from . import allowed, answer, tmpcreate, ttyopen  # noqa: F401

        guess = plan = None
        try:
            if after is not None and shim is not None:
                from . import shim as start

                # the loader's plan needs the child's ids, known once it has confined
                # itself: built for the likely ones now, while it sets itself up, and
                # used only if they are its ids
                guess = start.guessed_identity(pid)
                plan = start.loader_plan(promises, guess)
            if self._told is not None:
                told, mine = self._told
                self._told = None
                os.close(mine)  # else the pipe would not close when the child ends
                try:
                    fd = told_listener(pid, told)
                finally:
                    os.close(told)
            else:
                fd = find_listener(pid)
            if fd is None:
                return  # the child ended before confining itself: its status says why
            listener = take_listener(pid, fd)
            if after is not None:  # before PROG runs: nothing of its can have changed them
                from . import shim as start

                who = start.identity_of(pid) if shim is not None else None
                if who != guess:
                    plan = None  # built at the loader's first call, for its real ids
            if ready is not None:  # the child waits on *go*: nothing of PROG's runs yet
                ready()
            os.write(go, b"x")
        finally:
            os.close(go)
        if after is not None:
            from . import shim as start

            try:
                self.phase = start.watch(pid, listener, promises, after, prog, shim, who,
                                         self.penalties, tmp=tmp, plan=plan)
            finally:
                os.close(listener)
            return
        try:
            serve(listener, promises, prog, pid, self.penalties, tmp=tmp)
        except BaseException:
            # nobody would punish its violations now (they would answer ENOSYS)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            raise
        finally:
            os.close(listener)
