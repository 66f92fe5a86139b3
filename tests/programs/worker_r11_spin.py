"""A worker module that switches off its worker's own preemption pause, so that only
the pause for a parent kept from running can stop its spin (for
tests/test_review_r11_worker.py)."""

from __future__ import annotations

from typing import Any

from pledgepy.worker import spin

spin.PREEMPTED = 10.0  # no spin iteration is ever this long: never "preempted"


def echo(value: Any) -> Any:
    return value
