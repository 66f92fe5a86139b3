"""Review r4: the command's exit status after a violation is 134, whatever the program
does meanwhile."""

from __future__ import annotations

import pytest

from tests.cprogs import compiled
from tests.test_review_r4_handover import pledge


def test_exiting_before_the_penalty_still_exits_134() -> None:
    """The supervisor reported the violation, so the status must say so, even when the
    program exited 0 (another thread) before SIGABRT could be sent."""
    with compiled(("violate_and_exit", ("-pthread",))) as built:
        runs = [pledge("-q", "-p", "stdio", str(built["violate_and_exit"])) for _ in range(12)]
    reported = [r for r in runs if 'needs "inet"' in r.stderr]
    if not reported:
        pytest.skip("the program always exited before the supervisor heard of it")
    assert [r.returncode for r in reported] == [134] * len(reported), \
        [(r.returncode, r.stderr) for r in reported]
