"""The worker's share of :class:`.limits.Limits`: the rlimits it sets itself (a module
of its own: the worker imports only this, not the parent's side of the limits)."""

from __future__ import annotations

import math
import resource
from typing import Any

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
