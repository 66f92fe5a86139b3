"""Record: a tuple with named fields, as collections.namedtuple makes, without its cost.

namedtuple imports ``collections`` (and with it keyword, operator, reprlib:
about 2 ms at start-up) and compiles a ``__new__`` with ``eval`` for every
class (~40 µs each). A subclass of :class:`Record` lists its ``_fields`` and
writes its own ``__new__``; it behaves as the namedtuple did: a tuple (equal
to a tuple of the same values, unpacks, indexes, pickles), field attributes,
the namedtuple ``repr``, ``_replace``, ``_asdict``, ``_fields`` and
``__match_args__``.
"""

from __future__ import annotations

try:
    from _collections import (  # type: ignore[import-not-found]  # C, what namedtuple uses
        _tuplegetter,
    )
except ImportError:  # pragma: no cover - an interpreter without it
    def _tuplegetter(index: int, doc: str | None) -> property:
        return property(lambda self: self[index], doc=doc)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any, TypeVar

    R = TypeVar("R", bound="Record")


class Record(tuple):  # type: ignore[type-arg]
    """A tuple whose items are also the attributes named in ``_fields``."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        setattr(cls, "__match_args__", cls._fields)  # noqa: B010 (mypy: tuple has none)
        for i, name in enumerate(cls._fields):
            setattr(cls, name, _tuplegetter(i, f"Alias for field number {i}"))

    def __repr__(self) -> str:
        return (type(self).__name__ + "("
                + ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self, strict=True)) + ")")

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    def _replace(self: R, **changes: Any) -> R:
        """A copy with the fields named in *changes* replaced."""
        values = [changes.pop(n, v) for n, v in zip(self._fields, self, strict=True)]
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return type(self)(*values)

    def _asdict(self) -> dict[str, Any]:
        """The fields, by name."""
        return dict(zip(self._fields, self, strict=True))
