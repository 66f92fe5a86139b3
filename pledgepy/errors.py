"""Exceptions and warnings raised by pledgepy.

Every exception subclasses a standard one, so callers can catch ``ValueError``,
``PermissionError`` or ``OSError`` without importing pledgepy.
"""

from __future__ import annotations

import errno


class UnsupportedError(OSError):
    """The platform cannot enforce what was asked (errno ENOSYS); nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSYS, message)


class PledgeWarning(RuntimeWarning):
    """Best-effort mode enforced less than was asked; ``status()`` says what."""


def not_held(kind: str, words: list[str]) -> PermissionError:
    """The EPERM raised when a call asks for more than is held."""
    quoted = " ".join(sorted(words))
    return PermissionError(
        errno.EPERM, f"{kind} can only be narrowed: {quoted!r} is not held"
    )


class NativeBuildError(ImportError):
    """pledgepy's native piece does not match its installed sources: rebuild it."""
