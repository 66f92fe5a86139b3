"""What a worker's parent may still do once it has pledged itself.

The parent hears a worker's violations through the seccomp listener (its
``SECCOMP_IOCTL_NOTIF_*`` ioctls) and reads their arguments with
``process_vm_readv``: calls no promise allows. So a parent that pledged after
starting a worker died of the worker's first violation, or of the first fstat()
it answers (``ioctl(0xc0502100) is not allowed by any promise``, reported as the
parent's own violation): a compromised library could end its parent. Ending a
worker takes ``kill`` of another process (``proc``), sweeping its session also
``/proc`` (``rpath``), and the CPU backstop ``prlimit64`` of another process
(``proc``). This module says which of these the parent's promises still allow;
:class:`.conn.Conn` does only those, and refuses to start a worker once pledged.
"""

from __future__ import annotations

import sys

PLEDGED = ("this process has pledged: it can no longer hear a worker's violations "
           "(the seccomp listener's ioctls and process_vm_readv are no promise's)")


def promises() -> frozenset[str] | None:
    """This process's promises, or None if it has not pledged (or pledgepy's API was
    never loaded, so nothing was pledged through it)."""
    api = sys.modules.get("pledgepy.api")
    if api is None:
        return None
    held: frozenset[str] | None = api.held()
    return held


def may_signal() -> bool:
    """kill() and pidfd_send_signal() of a worker are allowed here."""
    held = promises()
    return held is None or "proc" in held


def may_sweep() -> bool:
    """A worker's session can be swept (/proc read, each member's pidfd opened)."""
    held = promises()
    return held is None or {"proc", "rpath"} <= held


def hears() -> bool:
    """A worker's violations can be read and answered here."""
    return promises() is None
