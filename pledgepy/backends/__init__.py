"""Platform backends; :func:`select` picks the one for this system."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    from .base import Backend


def select(platform: str | None = None) -> Backend:
    """The strongest backend for *platform* (default: this one). Never raises."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        from .linux import LinuxBackend

        return LinuxBackend()
    if platform.startswith("openbsd"):
        try:
            from .openbsd import OpenBSDBackend
        except ImportError as exc:  # pragma: no cover - other platforms
            from .unsupported import UnsupportedBackend

            return UnsupportedBackend(platform, f"OpenBSD backend unavailable: {exc}")
        return OpenBSDBackend()
    if platform.startswith("freebsd"):
        try:
            from .freebsd import FreeBSDBackend
        except ImportError as exc:  # pragma: no cover - other platforms
            from .unsupported import UnsupportedBackend

            return UnsupportedBackend(platform, f"FreeBSD backend unavailable: {exc}")
        return FreeBSDBackend()
    from .unsupported import UnsupportedBackend

    return UnsupportedBackend(platform)
