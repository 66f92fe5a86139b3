"""The interface every platform backend implements.

The front end (``pledgepy.api``) parses, checks narrowing and strictness, and
keeps the state; a backend only says what it can enforce and applies it.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Protocol

    from ..status import Gaps

    Promises = frozenset[str]
else:
    Protocol = object  # typing is not imported at run time: start-up cost


class PledgeRequest(namedtuple("PledgeRequest", "old new old_exec new_exec")):
    """Promises in force before and after a pledge() call (``None``: unpledged)."""

    __slots__ = ()
    old: Promises | None
    new: Promises | None
    old_exec: Promises | None
    new_exec: Promises | None


class UnveilRule(namedtuple("UnveilRule", "path permissions")):
    """One unveil(): an absolute path and a subset of ``"rwxc"`` (may be empty)."""

    __slots__ = ()
    path: str
    permissions: str


class Backend(Protocol):
    """What a platform module provides."""

    platform: str
    mechanism: str
    unveil_mechanism: str

    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        """What the request would leave unenforced; no side effects."""
        ...

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        """Enforce ``request.new``; commit *unveils* first when *lock_unveil*."""
        ...

    def check_unveil(self, rule: UnveilRule) -> None:
        """Reject a rule this backend cannot take (raise); no side effects."""
        ...

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        """What these rules would leave unenforced once committed."""
        ...

    def add_unveil(self, rule: UnveilRule) -> None:
        """Record (or, where the kernel does so at once, apply) one rule."""
        ...

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        """Put every recorded rule in force and forbid further ones."""
        ...
