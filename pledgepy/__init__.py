"""OpenBSD's pledge(2) and unveil(2) for Python, on every system that can enforce them.

>>> import pledgepy
>>> pledgepy.unveil("/var/www", "r")          # doctest: +SKIP
>>> pledgepy.pledge("stdio rpath inet")       # doctest: +SKIP
"""

from __future__ import annotations

from .api import pledge, set_violation_messages, status, unveil, unveil_many
from .bsdpaths import open, opener
from .errors import PledgeWarning, UnsupportedError
from .promises import VOCABULARY
from .status import Status, UnveilStatus
from .stdlibonly import after_workers

__all__ = [
    "pledge", "unveil", "unveil_many", "status", "set_violation_messages", "Status", "UnveilStatus",
    "UnsupportedError", "PledgeWarning", "VOCABULARY", "unveil_imports", "open", "opener",
    "Worker", "WorkerPool", "isolated", "Limits", "WorkerError", "WorkerViolation",
    "WorkerCrashed", "WorkerTimeout", "WorkerLimitExceeded", "RemoteError",
    "WorkerProtocolError", "WorkerStatus", "WorkerStats",
]
__version__ = "0.1.0"


@after_workers  # sysconfig, site, ctypes: see stdlibonly.after_workers
def unveil_imports(*, strict: bool | None = None) -> list[tuple[str, str]]:
    """Unveil, read-only, what this interpreter imports from; return the rules.

    Also maps the standard library's extension modules now, so a later
    ``import json`` needs ``rpath`` but not ``prot_exec``. See
    :func:`pledgepy.imports.unveil_imports`.
    """
    from .imports import unveil_imports as unveil_them  # lazy: sysconfig and site cost start-up

    return unveil_them(strict=strict)


def __getattr__(name: str) -> object:
    """The worker's names (pledgepy.Worker, ...), loaded on first use."""
    if name in __all__:
        from . import worker

        return getattr(worker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
