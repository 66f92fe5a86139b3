"""How many threads this process has: Landlock below ABI 8 and TSYNC care."""

from __future__ import annotations

import os


def count() -> int:
    """Threads in this process (2 when it cannot tell: assume others exist)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 2
