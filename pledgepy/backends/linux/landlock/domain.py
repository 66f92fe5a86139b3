"""The Landlock domain every pledge() enters when unveil has not made one.

Landlock confines ptrace-class access (ptrace, ``/proc/<pid>/mem``) to a
process's own domain and the domains nested in it, so ``rpath``/``wpath``
cannot reach the memory of processes outside. The domain hides no file: with
a scope (ABI >= 6) it handles no file access at all, so ``open()`` pays
nothing; before that it handles only EXECUTE and grants it everywhere.
"""

from __future__ import annotations

from . import abi as A
from .ruleset import Ruleset


def enter() -> None:
    """Enter a domain that hides no file; raise OSError if the kernel refuses."""
    row = A.current()
    if row.scope_only_domain:
        with Ruleset(0, A.SCOPE_ABSTRACT_UNIX_SOCKET) as ruleset:
            ruleset.restrict_self()
        return
    with Ruleset(A.ACCESS_FS_EXECUTE) as ruleset:
        ruleset.add_path("/", A.ACCESS_FS_EXECUTE)
        ruleset.restrict_self()
