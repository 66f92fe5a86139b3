"""End every process a worker left behind: the members of its session.

A worker starts a session of its own (setsid: its pid is the session id) and
its filters refuse setsid() to it and to everything it forks, so every process
it makes stays a member. The number cannot be reused while any member lives
(the kernel keeps a session's id until its last member is gone), so a process
whose session is that id is one of the worker's, whoever its parent is now
(orphans are reparented to init). Each is opened as a pidfd before its session
is read and signalled through it: a pid that ended and was reused between the
read and the kill is never signalled.
"""

from __future__ import annotations

import os
import signal

#: Passes over /proc before giving up: each kills every member it has not killed
#: yet, and a member being killed cannot fork, so a few passes end a fork bomb.
MAX_PASSES = 64


def _member(pid: str, sid: int) -> int | None:
    """The start time of process *pid* if it is a live member of session *sid*."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None  # gone
    fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": comm may hold ") "
    if len(fields) < 20 or fields[0] in (b"Z", b"X") or int(fields[3]) != sid:
        return None  # a zombie is dead already
    return int(fields[19])  # its start time: with the pid, a process that never recurs


def _kill_members(sid: int, killed: set[tuple[int, int]]) -> int:
    """One pass: SIGKILL each live member of session *sid* not in *killed* (added)."""
    new = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or _member(name, sid) is None:
            continue
        try:
            fd = os.pidfd_open(int(name))
        except OSError:
            continue  # gone already
        try:
            # read again with the pidfd held: the pidfd is this member's, or (if it ended
            # between the reads and its pid was reused) a dead one's, which no signal reaches
            started = _member(name, sid)
            if started is not None and (int(name), started) not in killed:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                killed.add((int(name), started))
                new += 1
        except ProcessLookupError:
            pass
        finally:
            os.close(fd)
    return new


def sweep(sid: int) -> int:
    """Kill every process of session *sid*; how many were killed.

    Raises RuntimeError if new members still appear after MAX_PASSES passes."""
    killed: set[tuple[int, int]] = set()
    for _ in range(MAX_PASSES):
        if not _kill_members(sid, killed):
            return len(killed)
    raise RuntimeError(f"the worker's processes (session {sid}) outlast {MAX_PASSES} passes")
