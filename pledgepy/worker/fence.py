"""Once a worker has run, its parent imports nothing through ``sys.path``.

A worker allowed to write where the parent's ``sys.path`` leads first (its script's
directory, the working directory under ``-m`` or ``-c``) can plant a module with a
standard name there (``traceback.py``); the unconfined parent would run it at its next
import of that name. What pledgepy itself imports in the parent after a worker started
(a fork-mode worker's warm-up, a warning's source line) comes, while :class:`Fence` is
held, from the standard library's own directories or pledgepy's package alone
(``stdlibonly``); the program's own later imports are its business (README).
"""

from __future__ import annotations

import sys

from .. import stdlibonly

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from types import TracebackType

#: A worker has been started in this process: untrusted code may have written files since.
ran = False


def mark() -> None:
    """Called as a worker is started (before it exists: no window)."""
    global ran
    ran = True


class Fence:
    """``with Fence():`` -- this thread's top-level imports come from the standard
    library's directories alone (built-in and frozen ones as ever; submodules from their
    package's ``__path__``: pledgepy's own), once a worker has run; nothing before."""

    def __init__(self) -> None:
        self._only: stdlibonly.OnlyThere | None = None

    def __enter__(self) -> None:
        if ran:
            self._only = stdlibonly.OnlyThere(stdlibonly.directories())
            sys.meta_path.insert(0, self._only)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        only, self._only = self._only, None
        if only is not None:
            sys.meta_path[:] = [f for f in sys.meta_path if f is not only]
