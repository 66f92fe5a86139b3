"""For unveil tests in child processes: use the real LinuxBackend, or a stand-in.

Until ``pledgepy.backends.linux.LinuxBackend`` exists, :func:`ensure` installs
a minimal backend that enforces nothing for pledge() (and says so) and
delegates unveil to ``pledgepy.backends.linux.unveil`` exactly as the real
backend is meant to. ``REAL`` tells which one is in use.
"""

from __future__ import annotations

from pledgepy import api
from pledgepy.backends.base import PledgeRequest, UnveilRule
from pledgepy.backends.linux import unveil as _unveil
from pledgepy.status import Gaps

REAL = True


class StandIn:
    """Unveil via Landlock; pledge() only locks unveil (reported as not enforced)."""

    platform = "linux"
    mechanism = "none"
    unveil_mechanism = _unveil.MECHANISM

    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        return Gaps(not_enforced=("pledge: stand-in backend enforces nothing",), nothing=True)

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        if lock_unveil:
            stdio = request.new is None or "stdio" in request.new
            _unveil.commit(unveils, stdio=stdio)

    def check_unveil(self, rule: UnveilRule) -> None:
        _unveil.check_rule(rule)

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        return _unveil.gaps(unveils, locking)

    def add_unveil(self, rule: UnveilRule) -> None:
        return None

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        _unveil.commit(unveils, stdio=True)


def ensure() -> None:
    """Make ``pledgepy.api`` use a backend that can unveil on Linux."""
    global REAL
    try:
        api.backend()
    except ImportError:
        REAL = False
        api._backend = StandIn()
