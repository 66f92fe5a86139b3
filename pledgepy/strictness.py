"""Strict versus best-effort: how a call decides which applies."""

from __future__ import annotations

import os
import sys

from .errors import PledgeWarning, UnsupportedError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from types import FrameType

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


#: This package's directory: a warning is told at the first frame outside it.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _outside() -> int:
    """The warnings stacklevel of the program's own frame that called into pledgepy
    (1: _warn's caller's caller...): counted, not fixed, since wrappers such as
    stdlibonly.after_workers add frames (a fixed 4 told the wrapper's line)."""
    level = 1  # _warn's frame
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


def _warn(message: str) -> None:
    """Warn (PledgeWarning) at the program's pledge() or unveil() call.

    The warnings module is imported here, not at start-up (most pledges warn of
    nothing); a pledge without rpath imports it first (runtime.prepare). If unveil
    has hidden it since, the message is written as the default filter would, without
    the source line: no filter can have been set without importing it.
    """
    if "warnings" not in sys.modules:
        try:
            import warnings  # noqa: F401
        except (ImportError, OSError):
            frame = sys._getframe(_outside() - 1)
            sys.stderr.write(f"{frame.f_code.co_filename}:{frame.f_lineno}: "
                             f"{PledgeWarning.__name__}: {message}\n")
            return
    sys.modules["warnings"].warn(message, PledgeWarning, stacklevel=_outside())


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
