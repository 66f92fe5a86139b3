"""The backend for platforms with no sandbox pledgepy can drive."""

from __future__ import annotations

import sys

from ..status import Gaps
from .base import BackendBase, PledgeRequest, UnveilRule


class UnsupportedBackend(BackendBase):
    """Enforces nothing and says so: strict callers get UnsupportedError."""

    mechanism = "none"
    unveil_mechanism = "none"

    def __init__(self, platform: str | None = None, reason: str | None = None) -> None:
        self.platform = platform or sys.platform
        self.reason = reason or f"no pledge mechanism on {self.platform}"

    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        return Gaps(not_enforced=(f"pledge: {self.reason}",), nothing=True)

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        return None

    def check_unveil(self, rule: UnveilRule) -> None:
        return None

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        return Gaps(not_enforced=(f"unveil: {self.reason}",), nothing=True)

    def add_unveil(self, rule: UnveilRule) -> None:
        return None

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        return None
