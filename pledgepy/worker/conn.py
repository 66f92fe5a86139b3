"""One running worker process, seen from the parent: its channel, listener and output."""

from __future__ import annotations

import math
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from . import codec, fence, forked, frames, keeper, limits, pledged
from . import spin as _spin
from .errors import (
    WorkerCrashed,
    WorkerError,
    WorkerLimitExceeded,
    WorkerProtocolError,
    WorkerTimeout,
    WorkerViolation,
)
from .sweep import sweep

if TYPE_CHECKING:
    from ..backends.base import WorkerSupervisor

BOOT = ("import sys; sys.path[:] = sys.argv[3:]; from pledgepy.worker.child import main; "
        "main(int(sys.argv[1]), int(sys.argv[2]))")
#: At most this many CPUs spend the worker's CPU budget at once.
_CPUS = os.cpu_count() or 1
#: A worker killed by one of these broke the limit named.
_SIGNAL_LIMITS: dict[int, str] = {signal.SIGXFSZ: "fsize", signal.SIGXCPU: "cpu"}
_TAIL = 4096
#: The largest config sent before the worker runs: far below any socket buffer's size.
_EARLY = 16384


class _InFlight:
    """How many calls of this process's workers are running: a call spins only while it
    is the only one (more spinners than CPUs would take them from the workers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def enter(self) -> bool:
        """Count one more call; True if it is the only one."""
        with self._lock:
            self.count += 1
            return self.count == 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


#: Calls of this process's workers running now.
IN_FLIGHT = _InFlight()


class _Watch:
    """Once a second, kill every worker whose CPU is a second past its RLIMIT_CPU
    backstop: the soft limit only sends SIGXCPU, which a worker may ignore or block,
    and the parent's own clocks run only during a call (a thread a worker left
    spinning after its call burnt CPU for as long as the parent made none). The hard
    limit cannot be the backstop: without CAP_SYS_RESOURCE the parent could never
    raise it again for the next call."""

    PERIOD = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet[Conn] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def add(self, conn: Conn) -> None:
        with self._lock:
            self._conns.add(conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="pledgepy-worker-cpu-watch")
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.PERIOD)
            # no lock taken by a released Conn (it only says so): a collection while
            # this thread holds the lock runs Worker finalizers, which release theirs
            with self._lock:
                conns = list(self._conns)
            for conn in conns:
                if conn.released:
                    with self._lock:
                        self._conns.discard(conn)
                else:
                    conn.check_backstop()
            del conns
            with self._lock:
                # none left to watch: the thread ends (a process that forks later is
                # single-threaded again); add() under this lock starts another
                if not self._conns:
                    self._thread = None
                    return


WATCH = _Watch()


class _Chunk:
    """Frames joined for one send, and how many of all frames have been sent whole."""

    def __init__(self) -> None:
        self.view = self.rest = memoryview(b"")
        self.ends: deque[int] = deque()  # end offsets in view of frames not yet sent whole
        self.whole = 0

    @property
    def done(self) -> bool:
        return not self.rest

    def fill(self, todo: deque[bytes], n: int) -> None:
        taken = [todo.popleft() for _ in range(min(n, len(todo)))]
        end = 0
        for frame in taken:
            end += len(frame)
            self.ends.append(end)
        self.view = self.rest = memoryview(b"".join(taken))

    def sent(self, rest: memoryview | None) -> None:
        self.rest = rest if rest is not None else memoryview(b"")
        gone = len(self.view) - len(self.rest)
        while self.ends and self.ends[0] <= gone:
            self.ends.popleft()
            self.whole += 1


class Conn:
    """A worker process: start it, exchange frames with it, end it."""

    def __init__(self, config: dict[str, Any], env: dict[str, str], max_message: int,
                 supervisor: WorkerSupervisor | None, prog: str, start: str = "spawn",
                 spin: float = 0.0, max_items: int = codec.MAX_ITEMS) -> None:
        self.max_message, self.supervisor, self.prog = max_message, supervisor, prog
        self.promises = frozenset(config["promises"].split())
        self.sock, theirs = socket.socketpair()
        # a small config is sent before the worker exists (the buffer takes it at once),
        # so it is there when the worker first reads; a larger one once it runs
        self._config: bytes | None = codec.encode(config)
        if len(self._config) <= _EARLY:
            self.sock.sendall(self._config)
            self._config = None
        if supervisor is not None:  # before the worker exists: see before_start
            supervisor.before_start()
        fence.mark()  # from here on the parent imports nothing through sys.path (fence.py)
        paths = [os.path.abspath(p) for p in sys.path]
        cmd = [sys.executable, "-I", "-c", BOOT, str(theirs.fileno()), str(os.getpid()), *paths]
        try:
            if start == "fork":
                self.proc: subprocess.Popen[bytes] | forked.Forked = keeper.run(
                    lambda: forked.start(theirs.fileno(), env, supervisor,
                                         self.promises))
            else:
                self.proc = keeper.run(lambda: subprocess.Popen(
                    cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/", env=env,
                    close_fds=True, start_new_session=True))  # its session: see sweep.py
        finally:
            theirs.close()
        assert self.proc.stdout is not None
        # ours, opened before anything can reap it: interrupt() signals through it from
        # another thread, never a pid that may have been reaped and reused meanwhile
        self._pidfd: int | None = os.pidfd_open(self.proc.pid)
        self._pidfd_lock = threading.Lock()
        #: Set by interrupt(): the channel's end is Worker.close()'s doing.
        self.interrupted = False
        #: Set by check_backstop(): killed past its RLIMIT_CPU backstop (SIGXCPU ignored).
        self.overran = False
        self.released = False
        self.out = self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.listener: int | None = None
        self.reader = frames.FrameReader(self.sock, max_message, items=max_items)
        self.poller = select.poll()
        self._cpu_clock = ((~self.proc.pid) << 3) | 2  # the kernel's CPU clock of a process
        self._backstop = -1
        #: How long exchange() may poll for a reply before it blocks, and what it learnt.
        self.spin = _spin.Spin(spin)
        self.calls = 0
        #: Violations heard, and the last one's message: a count, not a list (under
        #: "error" a worker goes on after each, and a list grew by one message each,
        #: without bound, in the parent: ~15 MB for 100,000).
        self.violations = 0
        self.last_violation: str | None = None
        self.counted = 0  # of them, added to the Worker's stats (Worker._count)
        self.sock.setblocking(False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    # ---- start ----
    def handshake(self, config: dict[str, Any], timeout: float) -> Any:
        """Send *config* (unless sent already); wait for the worker's ready message
        (and its listener)."""
        deadline = time.monotonic() + timeout
        try:
            if self._config is not None:
                self.sock.sendall(self._config)
                self._config = None
        except ConnectionError:  # it ended before reading its config: its exit says why
            raise self._ended("the worker ended while starting") from None
        while True:  # the listener comes with the first bytes of the ready message
            self._wait_readable(deadline, "starting")
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, frames.SCRATCH, 4)
            except BlockingIOError:
                continue
            except ConnectionError:
                # ECONNRESET: it ended with the config sent early unread (a module of
                # its start-up that would not load): a WorkerError as any other end
                raise self._ended("the worker ended while starting") from None
            if not data:
                raise self._ended("the worker ended while starting")
            for extra in fds[1:]:
                os.close(extra)
            if fds:
                self.listener = fds[0]
            self.reader.feed(data)
            break
        self.poller = select.poll()
        if self.listener is not None:
            self.poller.register(self.listener, select.POLLIN)
        self.poller.register(self.out, select.POLLIN)
        self.poller.register(self.sock, select.POLLIN)
        reply = self.exchange(None, deadline=deadline, cpu=None, what="starting")
        if self.supervisor is not None and self.listener is None and reply[:1] == ["ready"]:
            raise WorkerProtocolError("the worker did not hand over its seccomp listener")
        return reply

    def _wait_readable(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            self.kill()
            raise WorkerTimeout(f"the worker took too long {what}", "timeout")
        select.select([self.sock.fileno(), self.out], [], [], left)
        self._drain_output()

    # ---- calls ----
    def cpu_used(self) -> float:
        """CPU seconds the worker has used (user + system, all its threads)."""
        try:
            return time.clock_gettime(self._cpu_clock)
        except OSError:
            return 0.0  # it has ended: its channel says so next

    def backstop(self, used: float, cpu: float) -> None:
        """RLIMIT_CPU for the worker: this call's share on top of what it has used.

        Set only when it changes (whole seconds), so most calls pay nothing for it.
        """
        soft = limits.cpu_backstop(used, cpu)
        if soft == self._backstop or not pledged.may_signal():
            return  # pledged without "proc": prlimit64 of another process is refused
        try:
            _, hard = resource.prlimit(self.pid, resource.RLIMIT_CPU)
            resource.prlimit(self.pid, resource.RLIMIT_CPU,
                             (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
            if self._backstop < 0:
                WATCH.add(self)
            self._backstop = soft
        except OSError:
            pass  # the parent's own clock still holds

    def exchange(self, frame: bytes | None, *, deadline: float | None, cpu: float | None,
                 what: str = "answering", spin: bool = False) -> Any:
        """Send *frame* (if any) and return the next message, or raise a WorkerError.

        ``cpu`` is this exchange's CPU budget: the worker's CPU clock is read when
        the exchange starts and again only when, even running on every CPU, it could
        have spent the budget (so a quick call reads it once).

        With *spin* (and a ``self.spin`` window) the wait polls without blocking for
        up to that long before it blocks, if the last such exchange was answered
        within it (see :mod:`.spin`): the same descriptors, events and clocks as a
        blocking wait, only the poll's timeout is 0, so this CPU does not halt
        before a quick reply.
        """
        message = self._take(what, recv=False)
        if message is not frames.MORE:
            if frame:
                self._unasked()
            return message
        pending = self._send(memoryview(frame)) if frame else None
        cpu_end = look = None
        if cpu is not None:
            used = self.cpu_used()
            self.backstop(used, cpu)
            cpu_end, look = used + cpu, time.monotonic() + cpu / _CPUS
        sock = self.sock.fileno()
        spin = spin and self.spin.window > 0
        began = last = spin_end = peer = 0.0
        if spin:
            began = last = time.monotonic()
            spin_end = self.spin.until(began)
            if spin_end:  # the worker's CPU clock: was it running while this side spun?
                peer = self.cpu_used() if cpu is None else used
        while True:
            if spin_end:
                events = self.poller.poll(0)
                if not events:
                    now = time.monotonic()
                    if now - last > _spin.PREEMPTED:  # this CPU is wanted by another task
                        self.spin.preempted(now)
                        spin_end = 0.0
                    elif now >= spin_end or IN_FLIGHT.count != 1:
                        spin_end = 0.0
                    else:
                        last = now
                        os.sched_yield()  # whatever else wants this CPU runs first
            else:
                events = self.poller.poll(self._wait_ms(deadline, look))
            if len(events) > 1:  # a violation first: its reply must not be taken
                events.sort(key=lambda e: e[0] != self.listener)
            for fd, ev in events:
                if fd == sock:
                    if pending is not None and ev & select.POLLOUT:
                        pending = self._send(pending)
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        message = self._take(what, recv=True)
                        if message is not frames.MORE:
                            if pending is not None:
                                self._unasked()
                            if spin:
                                now = time.monotonic()
                                self.spin.ended(now - began)
                                if spin_end and _spin.starved(now - began,
                                                              self.cpu_used() - peer):
                                    self.spin.preempted(now)  # it waited for a CPU
                            return message
                elif fd == self.listener:
                    if ev & select.POLLIN:
                        self._violation()
                    else:
                        self.poller.unregister(fd)
                elif not self._drain_output():
                    self.poller.unregister(fd)
            if deadline is None and look is None:
                continue
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.kill()
                raise WorkerTimeout(f"the worker took longer than its timeout while {what}",
                                    "timeout")
            if cpu_end is not None and look is not None and now >= look:
                left = cpu_end - self.cpu_used()
                if left <= 0:
                    self.kill()
                    raise WorkerTimeout(f"the call used more than its {cpu} s of CPU "
                                        "(Limits.cpu)", "cpu")
                look = now + left / _CPUS

    def pipeline(self, frames_out: list[bytes], *, window: int, timeout: float | None,
                 cpu: float | None) -> list[Any]:
        """Send *frames_out* keeping up to *window* calls queued in the worker; the replies.

        The worker never waits for its next call, so it neither sleeps nor wakes
        between calls (on a VM a wake-up and the caches it cools cost more than the
        call's own transport). Each call keeps its own budget: its ``timeout`` and
        ``cpu`` clocks start when the reply before it arrives (the worker answers in
        order, so that is when it can have started it, at the earliest).
        """
        if self._take("answering", recv=False) is not frames.MORE:
            self._unasked()
        replies: list[Any] = []
        todo = deque(frames_out)
        sock = self.sock.fileno()
        chunk = _Chunk()
        deadline, cpu_end, look = self._budget(timeout, cpu)
        while len(replies) < len(frames_out):
            message = self._take("answering", recv=False)  # before sending more: see _unasked
            # refill when half the window has been answered: one send for many calls,
            # and the parent wakes less often than once a call
            if message is frames.MORE and chunk.done and todo \
                    and chunk.whole - len(replies) <= window // 2:
                chunk.fill(todo, window - (chunk.whole - len(replies)))
                chunk.sent(self._send(chunk.view))
            if message is frames.MORE:
                events = self.poller.poll(self._wait_ms(deadline, look))
                if len(events) > 1:  # a violation first: its reply must not be taken
                    events.sort(key=lambda e: e[0] != self.listener)
                for fd, ev in events:
                    if fd == sock:
                        if not chunk.done and ev & select.POLLOUT:
                            chunk.sent(self._send(chunk.rest))
                        if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                            message = self._take("answering", recv=True)
                    elif fd == self.listener:
                        if ev & select.POLLIN:
                            self._violation()
                        else:
                            self.poller.unregister(fd)
                    elif not self._drain_output():
                        self.poller.unregister(fd)
            if message is not frames.MORE:
                if len(replies) >= chunk.whole:
                    self._unasked()
                replies.append(message)
                if not (type(message) is list and message and message[0] == "ok"):
                    return replies  # the caller raises it; the calls after it are dropped
                if timeout is not None or cpu is not None:
                    deadline, cpu_end, look = self._budget(timeout, cpu)
                continue
            self._check_clocks(deadline, cpu_end, look, cpu, "answering")
            if cpu_end is not None and look is not None and time.monotonic() >= look:
                look = time.monotonic() + max(0.0, cpu_end - self.cpu_used()) / _CPUS
        if self._take("answering", recv=False) is not frames.MORE:
            self._unasked()
        return replies

    def _unasked(self) -> None:
        """A reply to no call sent (a worker answering ahead would answer the next call)."""
        self.kill()
        raise WorkerProtocolError("the worker answered a call it had not yet received")

    def _budget(self, timeout: float | None, cpu: float | None
                ) -> tuple[float | None, float | None, float | None]:
        """(deadline, CPU clock end, when to read the CPU clock) for a call starting now."""
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        if cpu is None:
            return deadline, None, None
        used = self.cpu_used()
        self.backstop(used, cpu)
        return deadline, used + cpu, now + cpu / _CPUS

    def _check_clocks(self, deadline: float | None, cpu_end: float | None,
                      look: float | None, cpu: float | None, what: str) -> None:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            self.kill()
            raise WorkerTimeout(f"the worker took longer than its timeout while {what}",
                                "timeout")
        if cpu_end is not None and look is not None and now >= look \
                and cpu_end - self.cpu_used() <= 0:
            self.kill()
            raise WorkerTimeout(f"the call used more than its {cpu} s of CPU (Limits.cpu)",
                                "cpu")

    def _send(self, out: memoryview) -> memoryview | None:
        """Send what the socket takes now; the rest (polled for POLLOUT), or None."""
        try:
            sent = self.sock.send(out[:1 << 20])
        except BlockingIOError:
            sent = 0
        except OSError:
            raise self._ended("the worker closed its channel") from None
        rest = out[sent:]
        self.poller.modify(self.sock, select.POLLIN | (select.POLLOUT if rest else 0))
        return rest if rest else None

    def _take(self, what: str, *, recv: bool) -> Any:
        """The next message (receiving once first if *recv*), or frames.MORE."""
        try:
            return self.reader.read() if recv else self.reader.next()
        except BlockingIOError:
            return frames.MORE
        except (EOFError, ConnectionError):
            raise self._ended(f"the worker ended while {what}") from None
        except codec.CodecError as exc:
            self.kill()
            raise WorkerProtocolError(f"the worker's reply: {exc}") from None

    @staticmethod
    def _wait_ms(deadline: float | None, look: float | None) -> int:
        if deadline is None and look is None:
            return -1
        now = time.monotonic()
        wait = min(t for t in (deadline, look) if t is not None) - now
        return max(0, math.ceil(wait * 1000))

    def _violation(self) -> None:
        assert self.supervisor is not None and self.listener is not None
        if not pledged.hears():
            self._unheard()
        message = self.supervisor.explain(self.listener, self.promises, self.prog)
        if message is None:
            return
        self.violations += 1
        self.last_violation = message
        if "error" not in self.promises:  # under "error" the call just fails with ENOSYS
            self.kill()
            raise WorkerViolation(message)

    def _unheard(self) -> None:
        """A violation this process, pledged, cannot read: the worker is ended (or,
        without "proc", its listener closed: its violations then fail with ENOSYS,
        never running) and the call raises, instead of this process dying of the ioctl
        that would read it."""
        self.violations += 1
        self.last_violation = f"{self.prog}[{self.pid}]: a violation ({pledged.PLEDGED})"
        self.kill()
        raise WorkerViolation(self.last_violation)

    def _drain_output(self) -> bool:
        """Keep the tail of the worker's output; False at its end."""
        while True:
            try:
                data = os.read(self.out, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self.tail.append(data)
            self.tail_len += len(data)
            while self.tail_len - len(self.tail[0]) >= _TAIL:
                self.tail_len -= len(self.tail.popleft())

    def stderr_tail(self) -> str:
        return b"".join(self.tail)[-_TAIL:].decode(errors="replace").strip()

    def _ended(self, what: str) -> WorkerError:
        """Why the worker's channel closed: its exit, as the right WorkerError."""
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            return WorkerProtocolError(f"{what}: it closed its channel but did not exit")
        if self.overran:
            return WorkerTimeout(f"{what}: killed a second past its RLIMIT_CPU backstop of "
                                 f"{self._backstop} s, whose SIGXCPU it ignored or blocked "
                                 "(Limits.cpu; also spent between calls)", "cpu")
        if self.interrupted:
            return WorkerError(f"{what}: the worker was ended by Worker.close()")
        self._drain_output()
        tail = self.stderr_tail()
        if code < 0:
            sig = -code
            if sig == signal.SIGSYS and self.supervisor is not None:
                return WorkerViolation(self.supervisor.killed_by_seal())
            if sig in _SIGNAL_LIMITS:
                limit = _SIGNAL_LIMITS[sig]
                text = f"{what}: killed by {signal.Signals(sig).name} (Limits.{limit})"
                if limit == "cpu":
                    return WorkerTimeout(text, "cpu")
                return WorkerLimitExceeded(text, limit)
            name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() else sig
            return WorkerCrashed(f"{what}: killed by {name}", signal=sig, returncode=code,
                                 stderr=tail)
        return WorkerCrashed(f"{what}: exited with status {code}", signal=None,
                             returncode=code, stderr=tail)

    # ---- end ----
    def kill(self) -> None:
        """End the worker now, and every process it made, and release everything of it.

        In a process pledged without "proc" it cannot be signalled: its channel and
        listener are closed instead (it ends at its channel's end; its violations fail
        with ENOSYS until then) and it is not waited for; its session is swept only
        where /proc may be read too."""
        if not pledged.may_signal():
            self._release()
            return
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
        try:
            # it could fork: its session's other members
            if "proc" in self.promises and pledged.may_sweep():
                sweep(self.proc.pid)
        finally:
            self._release()

    def check_backstop(self) -> None:
        """From the watch thread: kill the worker if it is a second past its backstop
        (not in a process pledged without "proc", which cannot signal it)."""
        if self._backstop > 0 and self.cpu_used() > self._backstop + 1 \
                and pledged.may_signal():
            self.interrupt(overran=True)

    def interrupt(self, *, overran: bool = False) -> None:
        """From another thread than the one exchanging: kill the worker now (that
        thread's exchange then raises, and ends what is left of it)."""
        with self._pidfd_lock:
            if self._pidfd is not None:
                if overran:
                    self.overran = True
                else:
                    self.interrupted = True
                if not pledged.may_signal():  # pledged without "proc": its channel ends
                    try:
                        self.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                try:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass  # it has ended already: its channel says so

    def close(self, grace: float = 1.0) -> None:
        """Let the worker end (its channel closes), or kill it after *grace*."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _release(self) -> None:
        self.released = True  # the watch forgets it (see _Watch._run)
        with self._pidfd_lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        self.sock.close()
        if self.listener is not None:
            os.close(self.listener)
            self.listener = None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
