"""What a worker is, as applied: its status and its counters.

Plain classes, not dataclasses: dataclasses imports inspect, ast and dis, ~6 ms of
CPU at the first Worker's start (and, in fork mode, a dozen more files to unveil).
"""

from __future__ import annotations

from typing import Any


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


class WorkerStatus:
    """The worker's confinement as applied (``running`` False: as it will be applied).

    ``violations_heard_by`` is "parent" when the parent holds the worker's
    seccomp listener (the worker cannot silence a violation), "worker" when the
    worker's own handler reports them. ``start`` is "spawn" (a fresh interpreter)
    or "fork" (a copy of the parent's memory, secrets included). Immutable.
    """

    __slots__ = _STATUS
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
        values = (running, pid, promises, unveils, limits, hardening, namespaces,
                  violations_heard_by, not_enforced, start)
        for name, value in zip(_STATUS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a WorkerStatus is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a WorkerStatus is immutable: cannot delete {name}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _STATUS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkerStatus):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "WorkerStatus(" + ", ".join(f"{n}={v!r}" for n, v in zip(
            _STATUS, self._values(), strict=True)) + ")"
