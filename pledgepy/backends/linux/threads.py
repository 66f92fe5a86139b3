"""How many threads this process has: Landlock below ABI 8 and TSYNC care."""

from __future__ import annotations

import os

#: /proc/self/task, kept open from the first count: procfs gives the directory
#: 2 + (number of threads) links, so fstat() (a stdio call) can count them after a
#: pledge that no longer allows reading /proc. (fd, pid it belongs to).
_task: tuple[int, int] | None = None


def count(readable: bool = True) -> int:
    """Threads in this process (2 when it cannot tell: assume others exist).

    *readable*: whether /proc may still be opened (rpath held, or unpledged).
    Without it only the descriptor opened earlier is used (fstat), never a path.
    """
    global _task
    pid = os.getpid()
    if _task is not None and _task[1] != pid:  # a forked child holds its parent's
        os.close(_task[0])
        _task = None
    if _task is None:
        if not readable:
            return 2
        try:
            _task = (os.open("/proc/self/task", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), pid)
        except OSError:
            return 2
    try:
        links = os.fstat(_task[0]).st_nlink
    except OSError:
        return 2
    return links - 2 if links > 2 else 2
