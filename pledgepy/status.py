"""What is in force: the value ``pledgepy.status()`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["full", "partial", "none"]


@dataclass(frozen=True)
class Gaps:
    """What a backend can and cannot enforce for one request.

    ``not_enforced`` lists weaknesses (each makes the level ``partial``, or
    ``none`` when ``nothing`` is set); ``notes`` lists harmless differences,
    such as a promise that grants nothing on this platform.
    """

    not_enforced: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    nothing: bool = False

    @property
    def level(self) -> Level:
        if self.nothing:
            return "none"
        return "partial" if self.not_enforced else "full"


@dataclass(frozen=True)
class UnveilStatus:
    """The unveil side of ``status()``."""

    rules: tuple[tuple[str, str], ...] = ()
    locked: bool = False
    in_force: bool = False
    mechanism: str = "none"
    level: Level = "none"
    not_enforced: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """What pledge() and unveil() have put in force in this process.

    ``promises``/``execpromises`` are ``None`` until pledged. ``level`` is
    ``"full"`` when everything promised is enforced, ``"partial"`` when
    ``not_enforced`` lists gaps, ``"none"`` when nothing is enforced.
    """

    platform: str
    mechanism: str
    promises: frozenset[str] | None = None
    execpromises: frozenset[str] | None = None
    level: Level = "none"
    not_enforced: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unveil: UnveilStatus = field(default_factory=UnveilStatus)
