"""Limits as users mean them, and how the worker applies its share of them."""

from __future__ import annotations

import math
import resource
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """What one worker may use. ``None`` leaves a limit as inherited.

    ``cpu`` is CPU seconds **per call** (the parent kills an overrunning worker;
    RLIMIT_CPU is only a backstop that grows with the call count); ``memory`` is
    the address space in bytes (RLIMIT_AS); ``files`` open descriptors;
    ``fsize`` the largest file it may write, in bytes; ``nproc`` processes of
    its user (RLIMIT_NPROC: root ignores it, so forking is left to the promises).
    """

    memory: int | None = None
    cpu: float | None = None
    files: int | None = None
    fsize: int | None = None
    nproc: int | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0):
                raise ValueError(f"Limits.{name} must be a number >= 0 or None, not {value!r}")
            if name != "cpu" and value is not None and not isinstance(value, int):
                raise ValueError(f"Limits.{name} must be an int")

    def wire(self) -> dict[str, Any]:
        """As plain data for the worker."""
        return asdict(self)


#: Limit name -> the rlimit the worker sets itself.
RLIMITS = {
    "memory": resource.RLIMIT_AS,
    "files": resource.RLIMIT_NOFILE,
    "fsize": resource.RLIMIT_FSIZE,
    "nproc": resource.RLIMIT_NPROC,
}


def apply(wire: dict[str, Any]) -> list[str]:
    """In the worker: set soft and hard rlimits; return what was set, as text."""
    done = []
    for name, which in RLIMITS.items():
        value = wire.get(name)
        if value is not None:
            resource.setrlimit(which, (value, value))
            done.append(f"{name}={value}")
    return done


def cpu_backstop(used: float, cpu: float) -> int:
    """The RLIMIT_CPU soft limit for the next call, *used* seconds spent so far."""
    return math.ceil(used + cpu) + 1
