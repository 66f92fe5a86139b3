"""Frozen: the base of the worker's immutable value classes (Limits, WorkerStatus).

A plain class, not a dataclass: dataclasses imports inspect, ast and dis, ~6 ms of
CPU at the first Worker's start (and, in fork mode, a dozen more files to unveil).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


class Frozen:
    """Immutable, compared and hashed by value. A subclass lists its fields in
    ``__slots__`` in its constructor's order, sets them with :meth:`_freeze`, and
    says in ``_immutable`` what its errors call it."""

    __slots__: tuple[str, ...] = ()
    _immutable = "immutable"  # e.g. "Limits are immutable"

    def _freeze(self, values: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._immutable}: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self._immutable}: cannot delete {name}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return type(self).__name__ + "(" + ", ".join(
            f"{n}={v!r}" for n, v in zip(self.__slots__, self._values(), strict=True)) + ")"

    def __reduce__(self) -> tuple[type[Frozen], tuple[Any, ...]]:
        # made again through the constructor (copy, deepcopy, pickle): the default
        # would set each slot, which __setattr__ refuses
        return type(self), self._values()
