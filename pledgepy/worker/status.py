"""What a worker is, as applied: its status and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WorkerStats:
    """Counters over a Worker's life (all its processes)."""

    calls: int = 0
    failures: int = 0
    restarts: int = 0
    violations: int = 0


@dataclass(frozen=True)
class WorkerStatus:
    """The worker's confinement as applied (``running`` False: as it will be applied).

    ``violations_heard_by`` is "parent" when the parent holds the worker's
    seccomp listener (the worker cannot silence a violation), "worker" when the
    worker's own handler reports them.
    """

    running: bool
    pid: int | None
    promises: str
    unveils: tuple[tuple[str, str], ...]
    limits: tuple[str, ...]
    hardening: tuple[str, ...]
    namespaces: tuple[str, ...]
    violations_heard_by: str
    not_enforced: tuple[str, ...] = field(default=())
    #: "spawn" (a fresh interpreter) or "fork" (a copy of the parent's memory, secrets included).
    start: str = "spawn"
