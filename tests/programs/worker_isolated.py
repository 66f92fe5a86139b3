"""Module-level @isolated functions, for tests/test_worker_api.py."""

from __future__ import annotations

import pledgepy


@pledgepy.isolated("stdio", timeout=10.0)
def double(x: int) -> int:
    return x * 2


@pledgepy.isolated("stdio")
def peek(path: str) -> str:
    with open(path) as f:
        return f.read()
