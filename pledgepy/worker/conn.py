"""One running worker process, seen from the parent: its channel, listener and output."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from . import codec, keeper
from .errors import (
    WorkerCrashed,
    WorkerError,
    WorkerLimitExceeded,
    WorkerProtocolError,
    WorkerTimeout,
    WorkerViolation,
)

if TYPE_CHECKING:
    from ..backends.base import WorkerSupervisor

BOOT = ("import sys; sys.path[:] = sys.argv[3:]; from pledgepy.worker.child import main; "
        "main(int(sys.argv[1]), int(sys.argv[2]))")
_TICK = os.sysconf("SC_CLK_TCK")
#: A worker killed by one of these broke the limit named.
_SIGNAL_LIMITS: dict[int, str] = {signal.SIGXFSZ: "fsize", signal.SIGXCPU: "cpu"}
_TAIL = 4096


class Conn:
    """A worker process: start it, exchange frames with it, end it."""

    def __init__(self, config: dict[str, Any], env: dict[str, str], max_message: int,
                 supervisor: WorkerSupervisor | None, prog: str) -> None:
        self.max_message, self.supervisor, self.prog = max_message, supervisor, prog
        self.promises = frozenset(config["promises"].split())
        self.sock, theirs = socket.socketpair()
        paths = [os.path.abspath(p) for p in sys.path]
        cmd = [sys.executable, "-I", "-c", BOOT, str(theirs.fileno()), str(os.getpid()), *paths]
        try:
            self.proc = keeper.run(lambda: subprocess.Popen(
                cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/", env=env,
                close_fds=True))
        finally:
            theirs.close()
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.listener: int | None = None
        self.buf = bytearray()
        self.calls = 0
        self.violations: list[str] = []
        self.sock.setblocking(False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    # ---- start ----
    def handshake(self, config: dict[str, Any], timeout: float) -> Any:
        """Send *config*; wait for the worker's ready message (and its listener)."""
        self.sock.sendall(codec.encode(config))  # small: the buffer takes it at once
        deadline = time.monotonic() + timeout
        while not self.buf:
            self._wait_readable(deadline, "starting")
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 1)
            except BlockingIOError:
                continue
            if not data:
                raise self._ended("the worker ended while starting")
            self.buf += data
            if fds:
                self.listener = fds[0]
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
        """CPU seconds the worker has used (user + system)."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            return (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):
            return 0.0

    def exchange(self, frame: bytes | None, *, deadline: float | None, cpu: float | None,
                 what: str = "answering") -> Any:
        """Send *frame* (if any) and return the next message, or raise a WorkerError."""
        out, sent, need = memoryview(frame or b""), 0, None
        cpu_end = self.cpu_used() + cpu if cpu is not None else None
        poller = select.poll()
        if self.listener is not None:
            poller.register(self.listener, select.POLLIN)
        poller.register(self.out, select.POLLIN)
        while True:
            if need is None and len(self.buf) >= 4:
                try:
                    need = codec.length(bytes(self.buf[:4]), self.max_message)
                except codec.CodecError as exc:
                    self.kill()
                    raise WorkerProtocolError(f"the worker's reply: {exc}") from None
            if need is not None and len(self.buf) >= 4 + need:
                body = bytes(self.buf[4:4 + need])
                del self.buf[:4 + need]
                try:
                    return codec.decode(body)
                except codec.CodecError as exc:
                    self.kill()
                    raise WorkerProtocolError(f"the worker's reply: {exc}") from None
            poller.register(self.sock, select.POLLIN | (select.POLLOUT if sent < len(out) else 0))
            wait = self._wait_ms(deadline, cpu_end)
            for fd, ev in sorted(poller.poll(wait), key=lambda e: e[0] != self.listener):
                if fd == self.listener:
                    if ev & select.POLLIN:
                        self._violation()
                    elif ev & (select.POLLHUP | select.POLLERR):
                        poller.unregister(fd)
                elif fd == self.out:
                    if not self._drain_output():
                        poller.unregister(fd)
                elif ev & select.POLLOUT and sent < len(out):
                    try:
                        sent += self.sock.send(out[sent:sent + (1 << 20)])
                    except BlockingIOError:
                        pass
                    except OSError:
                        raise self._ended("the worker closed its channel") from None
                elif ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        chunk = self.sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if not chunk:
                        raise self._ended(f"the worker ended while {what}")
                    self.buf += chunk
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.kill()
                raise WorkerTimeout(f"the worker took longer than its timeout while {what}",
                                    "timeout")
            if cpu_end is not None and self.cpu_used() >= cpu_end:
                self.kill()
                raise WorkerTimeout(f"the call used more than its {cpu} s of CPU (Limits.cpu)",
                                    "cpu")

    @staticmethod
    def _wait_ms(deadline: float | None, cpu_end: float | None) -> int:
        waits = [1.0]  # look at the clocks at least once a second
        if deadline is not None:
            waits.append(deadline - time.monotonic())
        if cpu_end is not None:
            waits.append(0.02)  # CPU time is only polled
        return max(1, int(min(waits) * 1000))

    def _violation(self) -> None:
        assert self.supervisor is not None and self.listener is not None
        message = self.supervisor.explain(self.listener, self.promises, self.prog)
        if message is None:
            return
        self.violations.append(message)
        if "error" not in self.promises:  # under "error" the call just fails with ENOSYS
            self.kill()
            raise WorkerViolation(message)

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
        """End the worker now and release everything of it."""
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._release()

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
        self.sock.close()
        if self.listener is not None:
            os.close(self.listener)
            self.listener = None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
