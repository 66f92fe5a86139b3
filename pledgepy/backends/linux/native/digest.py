"""A digest of the sources the native handler's tables are generated from.

The build embeds it in the module; the loader recomputes it from the files
installed beside it, so a policy edited without a rebuild is caught.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_LINUX = os.path.dirname(_HERE)
_PACKAGE = os.path.dirname(os.path.dirname(_LINUX))

#: Every file whose content reaches the compiled module (relative to the package).
SOURCES: tuple[str, ...] = (
    "promises.py",
    "backends/linux/policy.py",
    "backends/linux/rules.py",
    "backends/linux/consts.py",
    "backends/linux/syscalls.py",
    "backends/linux/native/tables.py",
    "backends/linux/native/sigsys.c",
    "backends/linux/native/learn.c",
)


def _sha256() -> Any:
    """SHA-256 from CPython's built-in module: hashlib would load OpenSSL (~4 ms)."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # a build without them
            from hashlib import sha256
    return sha256()


def compute(root: str = _PACKAGE) -> str:
    """Hex SHA-256 over the names and bytes of :data:`SOURCES` under *root*.

    Raises OSError if one cannot be read.
    """
    h = _sha256()
    for name in SOURCES:
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return str(h.hexdigest())
