"""Limits as users mean them, and how the worker applies its share of them."""

from __future__ import annotations

from typing import Any

from .rlimits import RLIMITS, apply, cpu_backstop

__all__ = ["RLIMITS", "Limits", "apply", "cpu_backstop"]

_NAMES = ("memory", "cpu", "files", "fsize", "nproc")


class Limits:
    """What one worker may use. ``None`` leaves a limit as inherited.

    ``cpu`` is CPU seconds **per call** (the parent kills an overrunning worker;
    RLIMIT_CPU is only a backstop that grows with the call count); ``memory`` is
    the address space in bytes (RLIMIT_AS); ``files`` open descriptors;
    ``fsize`` the largest file it may write, in bytes; ``nproc`` processes of
    its user (RLIMIT_NPROC: root ignores it, so forking is left to the promises).

    Immutable, compared and hashed by value (a plain class, not a dataclass: that
    would import inspect and dis, ~6 ms of the first Worker's start).
    """

    __slots__ = _NAMES
    memory: int | None
    cpu: float | None
    files: int | None
    fsize: int | None
    nproc: int | None

    def __init__(self, memory: int | None = None, cpu: float | None = None,
                 files: int | None = None, fsize: int | None = None,
                 nproc: int | None = None) -> None:
        for name, value in zip(_NAMES, (memory, cpu, files, fsize, nproc), strict=True):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0):
                raise ValueError(f"Limits.{name} must be a number >= 0 or None, not {value!r}")
            if name != "cpu" and value is not None and not isinstance(value, int):
                raise ValueError(f"Limits.{name} must be an int")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Limits are immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Limits are immutable: cannot delete {name}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _NAMES)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Limits)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Limits(" + ", ".join(f"{n}={v!r}" for n, v in zip(_NAMES, self._values(),
                                                                   strict=True)) + ")"

    def wire(self) -> dict[str, Any]:
        """As plain data for the worker."""
        return dict(zip(_NAMES, self._values(), strict=True))
