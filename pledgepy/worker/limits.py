"""Limits as users mean them, and how the worker applies its share of them."""

from __future__ import annotations

from .frozen import Frozen
from .rlimits import RLIMITS, apply, cpu_backstop

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RLIMITS", "Limits", "apply", "cpu_backstop"]

_NAMES = ("memory", "cpu", "files", "fsize", "nproc")


class Limits(Frozen):
    """What one worker may use. ``None`` leaves a limit as inherited.

    ``cpu`` is CPU seconds **per call** (the parent kills an overrunning worker;
    RLIMIT_CPU is only a backstop that grows with the call count); ``memory`` is
    the address space in bytes (RLIMIT_AS); ``files`` open descriptors;
    ``fsize`` the largest file it may write, in bytes; ``nproc`` processes of
    its user (RLIMIT_NPROC: root ignores it, so forking is left to the promises).

    Immutable, compared and hashed by value (:class:`.frozen.Frozen`).
    """

    __slots__ = _NAMES
    _immutable = "Limits are immutable"
    memory: int | None
    cpu: float | None
    files: int | None
    fsize: int | None
    nproc: int | None

    def __init__(self, memory: int | None = None, cpu: float | None = None,
                 files: int | None = None, fsize: int | None = None,
                 nproc: int | None = None) -> None:
        values = (memory, cpu, files, fsize, nproc)
        for name, value in zip(_NAMES, values, strict=True):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0):
                raise ValueError(f"Limits.{name} must be a number >= 0 or None, not {value!r}")
            if name != "cpu" and value is not None and not isinstance(value, int):
                raise ValueError(f"Limits.{name} must be an int")
        self._freeze(values)

    def wire(self) -> dict[str, Any]:
        """As plain data for the worker."""
        return dict(zip(_NAMES, self._values(), strict=True))
