"""How many threads this process has: Landlock below ABI 8 and TSYNC care."""

from __future__ import annotations

import _thread
import os
import sys

#: /proc/self/task, kept open from the first count: procfs gives the directory
#: 2 + (number of threads) links, so fstat() (a stdio call) can count them after a
#: pledge that no longer allows reading /proc. (fd, pid it belongs to, st_dev, st_ino:
#: a number the program closed or dup2()'d over since is not counted from).
_task: tuple[int, int, int, int] | None = None


def count(readable: bool = True) -> int:
    """Threads in this process (2 when it cannot tell: assume others exist).

    *readable*: whether /proc may still be opened (rpath held, or unpledged).
    Without it only the descriptor opened earlier is used (fstat), never a path.
    """
    global _task
    pid = os.getpid()
    if _task is not None:
        try:
            st = os.fstat(_task[0])
        except OSError:
            st = None
        ours = st is not None and (st.st_dev, st.st_ino) == _task[2:]
        if st is not None and ours and _task[1] == pid:
            return st.st_nlink - 2 if st.st_nlink > 2 else 2
        if ours:  # a forked child holds its parent's
            os.close(_task[0])
        _task = None  # else another file has the number now: not ours to close
    if not readable:
        return 2
    try:
        fd = os.open("/proc/self/task", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        st = os.fstat(fd)
    except OSError:
        return 2
    _task = (fd, pid, st.st_dev, st.st_ino)
    return st.st_nlink - 2 if st.st_nlink > 2 else 2


def blocking(signo: int) -> list[int]:
    """Threads of this process other than the calling one that have *signo* blocked
    (from /proc/self/task/*/status; [] when it cannot be read)."""
    me = _thread.get_native_id()
    out = []
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return []
    for tid in tids:
        if tid == str(me):
            continue
        try:
            with open(f"/proc/self/task/{tid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"SigBlk:"):
                        if int(line.split()[1], 16) >> (signo - 1) & 1:
                            out.append(int(tid))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out)


def others_named(most: int = 3) -> str:
    """The other threads threading knows, as a message names them ("asyncio_0,
    ThreadPoolExecutor-0_0"; "" if none): a program that never started one itself
    (asyncio's default executor, a pool used before the pledge) learns which it was.
    Never imports threading: without it no thread of its kind exists."""
    threading = sys.modules.get("threading")
    if threading is None:
        return ""
    me = _thread.get_ident()
    names = [t.name for t in threading.enumerate() if t.ident != me]
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
