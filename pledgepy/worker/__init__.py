"""Run a dangerous library in a pledged, limited child process: :class:`Worker`.

Names load on first use: the worker's own interpreter imports this package
(for :mod:`.child`) and should not load what only the parent needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..stdlibonly import after_workers

#: Public name -> the submodule defining it.
_WHERE = {
    "Worker": "worker", "Limits": "limits", "WorkerStats": "status", "WorkerStatus": "status",
    "WorkerPool": "pool", "isolated": "pool",
    **{name: "errors" for name in (
        "WorkerError", "WorkerViolation", "WorkerCrashed", "WorkerTimeout",
        "WorkerLimitExceeded", "RemoteError", "WorkerProtocolError")},
}
__all__ = sorted(_WHERE)


@after_workers  # pool.py imports concurrent.futures: see stdlibonly.after_workers
def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
