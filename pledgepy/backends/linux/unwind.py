"""glibc's unwinder (libgcc_s), loaded before a pledge that would refuse loading it later.

``pthread_exit()`` and thread cancellation unwind the thread's stack through
libgcc_s, which glibc dlopens the first time it unwinds: an open of
``/etc/ld.so.cache`` and of the library (``rpath``) and an executable mapping
(``prot_exec``). CPython ends each daemon thread still running when the
interpreter exits with ``pthread_exit()`` (it may not take the GIL back), so a
pledged program whose daemon threads outlived ``main`` (a threading server, a
worker loop) died of that load at exit, exit status 134 for a program that had
done its work; OpenBSD's libc needs no such load. glibc's later dlopen of the
same name finds it mapped and opens nothing.
"""

from __future__ import annotations

import os

from . import native

LIBRARY = "libgcc_s.so.1"
_loaded = False


def needed(promises: frozenset[str]) -> bool:
    """Whether *promises* would refuse glibc's own load of the unwinder."""
    return not {"rpath", "prot_exec"} <= promises


def prepare(old: frozenset[str] | None, new: frozenset[str]) -> None:
    """Load the unwinder now if *new* would refuse the load (*old*: promises in force;
    None: nothing pledged yet). A load that fails (not glibc, not installed, hidden by
    unveil already) is left for glibc to report when it unwinds."""
    global _loaded
    if _loaded or not needed(new):
        return
    if old is not None and needed(old):
        return  # the load itself would be refused now
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc "):
            return  # musl unwinds without it
    except (ValueError, OSError):
        return
    _loaded = native.keep_loaded(LIBRARY)
