"""Limits as users mean them, and how the worker applies its share of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .rlimits import RLIMITS, apply, cpu_backstop

__all__ = ["RLIMITS", "Limits", "apply", "cpu_backstop"]


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
