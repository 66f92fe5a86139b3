"""What is in force: the value ``pledgepy.status()`` returns."""

from __future__ import annotations

from .record import Record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    from typing import Literal

    Level = Literal["full", "partial", "none"]


class Gaps(Record):
    """What a backend can and cannot enforce for one request.

    ``not_enforced`` lists weaknesses (each makes the level ``partial``, or
    ``none`` when ``nothing`` is set); ``notes`` lists harmless differences,
    such as a promise that grants nothing on this platform.
    """

    __slots__ = ()
    _fields = ("not_enforced", "notes", "nothing")
    not_enforced: tuple[str, ...]
    notes: tuple[str, ...]
    nothing: bool

    def __new__(cls, not_enforced: tuple[str, ...] = (), notes: tuple[str, ...] = (),
                nothing: bool = False) -> Gaps:
        return tuple.__new__(cls, (not_enforced, notes, nothing))

    @property
    def level(self) -> Level:
        if self.nothing:
            return "none"
        return "partial" if self.not_enforced else "full"


class UnveilStatus(Record):
    """The unveil side of ``status()``: rules (path, letters), whether locked and in force."""

    __slots__ = ()
    _fields = ("rules", "locked", "in_force", "mechanism", "level", "not_enforced", "notes")
    rules: tuple[tuple[str, str], ...]
    locked: bool
    in_force: bool
    mechanism: str
    level: Level
    not_enforced: tuple[str, ...]
    notes: tuple[str, ...]

    def __new__(cls, rules: tuple[tuple[str, str], ...] = (), locked: bool = False,
                in_force: bool = False, mechanism: str = "none", level: Level = "none",
                not_enforced: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> UnveilStatus:
        return tuple.__new__(cls, (rules, locked, in_force, mechanism, level, not_enforced,
                                   notes))


_NO_UNVEIL = UnveilStatus()


class Status(Record):
    """What pledge() and unveil() have put in force in this process.

    ``promises``/``execpromises`` are ``None`` until pledged. ``level`` is
    ``"full"`` when everything promised is enforced, ``"partial"`` when
    ``not_enforced`` lists gaps, ``"none"`` when nothing is enforced.
    ``messages`` is True when a violation will also be explained (a pledge
    can be fully enforced without: see ``notes``). ``inherited`` is True when the
    promises came from the program that exec'd this one (its execpromises).
    """

    __slots__ = ()
    _fields = ("platform", "mechanism", "promises", "execpromises", "level", "not_enforced",
               "notes", "unveil", "messages", "inherited")
    platform: str
    mechanism: str
    promises: frozenset[str] | None
    execpromises: frozenset[str] | None
    level: Level
    not_enforced: tuple[str, ...]
    notes: tuple[str, ...]
    unveil: UnveilStatus
    messages: bool
    inherited: bool

    def __new__(cls, platform: str, mechanism: str, promises: frozenset[str] | None = None,
                execpromises: frozenset[str] | None = None, level: Level = "none",
                not_enforced: tuple[str, ...] = (), notes: tuple[str, ...] = (),
                unveil: UnveilStatus = _NO_UNVEIL, messages: bool = False,
                inherited: bool = False) -> Status:
        return tuple.__new__(cls, (platform, mechanism, promises, execpromises, level,
                                   not_enforced, notes, unveil, messages, inherited))
