"""What a call into a worker can end in: every failure is a :class:`WorkerError`."""

from __future__ import annotations


class WorkerError(RuntimeError):
    """A call into a worker failed; the next call gets a fresh worker (``restart=True``)."""


class WorkerViolation(WorkerError):
    """The worker broke its promises; ``message`` is the one-line pledge message."""

    def __init__(self, message: str) -> None:
        super().__init__(f"worker broke its promises: {message}")
        self.message = message


class WorkerCrashed(WorkerError):
    """The worker died: ``signal`` (or None) and ``returncode``, ``stderr`` its last output."""

    def __init__(self, message: str, *, signal: int | None, returncode: int | None,
                 stderr: str = "") -> None:
        super().__init__(message + (f"; its stderr ends:\n{stderr}" if stderr else ""))
        self.signal, self.returncode, self.stderr = signal, returncode, stderr


class WorkerTimeout(WorkerError, TimeoutError):
    """The call ran out of time: ``limit`` is "cpu" (Limits.cpu) or "timeout" (wall clock)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class WorkerLimitExceeded(WorkerError):
    """The worker hit one of its :class:`Limits`: ``limit`` names it (memory, files, fsize, nproc)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class RemoteError(WorkerError):
    """The target raised: ``type_name``, ``message`` and ``traceback`` are text, never objects."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name, self.message, self.traceback = type_name, message, traceback


class WorkerProtocolError(WorkerError):
    """The worker's reply was malformed, of a type the wire does not carry, or too large."""
