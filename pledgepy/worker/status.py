"""What a worker is, as applied: its status and its counters.

Plain classes, not dataclasses (see :mod:`.frozen`).
"""

from __future__ import annotations

from .frozen import Frozen


class WorkerStats:
    """Counters over a Worker's life (all its processes)."""

    __slots__ = ("calls", "failures", "restarts", "violations")

    def __init__(self, calls: int = 0, failures: int = 0, restarts: int = 0,
                 violations: int = 0) -> None:
        self.calls, self.failures, self.restarts = calls, failures, restarts
        self.violations = violations

    def _values(self) -> tuple[int, ...]:
        return self.calls, self.failures, self.restarts, self.violations

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkerStats):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass

    def __repr__(self) -> str:
        return (f"WorkerStats(calls={self.calls}, failures={self.failures}, "
                f"restarts={self.restarts}, violations={self.violations})")


_STATUS = ("running", "pid", "promises", "unveils", "limits", "hardening", "namespaces",
           "violations_heard_by", "not_enforced", "start")


class WorkerStatus(Frozen):
    """The worker's confinement as applied (``running`` False: as it will be applied).

    ``violations_heard_by`` is "parent" when the parent holds the worker's
    seccomp listener (the worker cannot silence a violation), "worker" when the
    worker's own handler reports them. ``start`` is "spawn" (a fresh interpreter)
    or "fork" (a copy of the parent's memory, secrets included). Immutable.
    """

    __slots__ = _STATUS
    _immutable = "a WorkerStatus is immutable"
    running: bool
    pid: int | None
    promises: str
    unveils: tuple[tuple[str, str], ...]
    limits: tuple[str, ...]
    hardening: tuple[str, ...]
    namespaces: tuple[str, ...]
    violations_heard_by: str
    not_enforced: tuple[str, ...]
    start: str

    def __init__(self, running: bool, pid: int | None, promises: str,
                 unveils: tuple[tuple[str, str], ...], limits: tuple[str, ...],
                 hardening: tuple[str, ...], namespaces: tuple[str, ...],
                 violations_heard_by: str, not_enforced: tuple[str, ...] = (),
                 start: str = "spawn") -> None:
        self._freeze((running, pid, promises, unveils, limits, hardening, namespaces,
                      violations_heard_by, not_enforced, start))
