"""Strict versus best-effort: how a call decides which applies."""

from __future__ import annotations

import os
import sys

from .errors import PledgeWarning, UnsupportedError

_TRUE = {"1", "true", "yes", "on"}


def resolve(strict: bool | None) -> bool:
    """An explicit argument wins; otherwise ``PLEDGEPY_STRICT`` in the environment."""
    if strict is not None:
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be a bool or None, not {type(strict).__name__}")
        return strict
    return os.environ.get("PLEDGEPY_STRICT", "").strip().lower() in _TRUE


def refuse_or_warn(strict: bool, what: str, gaps: list[str]) -> None:
    """Raise ``UnsupportedError`` (strict) or plan to warn (best effort) about *gaps*.

    In best-effort mode this returns; the caller warns with :func:`warn` after
    the sandbox is applied, so the warning describes what really happened.
    """
    if strict and gaps:
        raise UnsupportedError(
            f"{what}: this platform cannot enforce: " + "; ".join(gaps)
        )


def _warn(message: str) -> None:
    """Warn (PledgeWarning) at the program's pledge() or unveil() call, two frames up.

    The warnings module is imported here, not at start-up (most pledges warn of
    nothing); a pledge without rpath imports it first (runtime.prepare). If unveil
    has hidden it since, the message is written as the default filter would, without
    the source line: no filter can have been set without importing it.
    """
    if "warnings" not in sys.modules:
        try:
            import warnings  # noqa: F401
        except (ImportError, OSError):
            frame = sys._getframe(3)
            sys.stderr.write(f"{frame.f_code.co_filename}:{frame.f_lineno}: "
                             f"{PledgeWarning.__name__}: {message}\n")
            return
    sys.modules["warnings"].warn(message, PledgeWarning, stacklevel=4)


def warn(what: str, gaps: list[str]) -> None:
    """Emit the visible best-effort warning for *gaps* (nothing if empty)."""
    if gaps:
        _warn(f"{what} enforced only in part: " + "; ".join(gaps) + " (see pledgepy.status())")


_told_messages = False


def warn_messages(why: str) -> None:
    """Say once per process that violations are enforced but will not be explained.

    Not a gap (strict mode accepts it): the sandbox is as strong, only the
    one-line message and traceback are missing.
    """
    global _told_messages
    if not _told_messages:
        _told_messages = True
        _warn(f"pledge enforced, but violations will not be explained: {why}; a "
              "violation kills the process without a message")
