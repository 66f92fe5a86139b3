"""Keep a pledged CPython working: tracebacks and warnings without reading files.

CPython's default excepthooks open source files to print lines, and linecache
stats them; without ``rpath`` either would be a violation. After a pledge
without rpath, linecache serves only what it already holds (the main script
is loaded first) and the default hooks are replaced by ones that print
through it.
"""

from __future__ import annotations

import linecache
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

_guarded = False
_original: dict[str, Any] = {}


def prepare() -> None:
    """Work a pledge must do before it may forbid files: the time zone."""
    time.localtime()  # glibc reads /etc/localtime once and caches it


def _cached_lines(filename: str, module_globals: Any = None) -> list[str]:
    entry = linecache.cache.get(filename)
    return list(entry[2]) if entry and len(entry) > 2 else []


def _excepthook(kind: type[BaseException], value: BaseException,
                tb: TracebackType | None) -> None:
    import traceback  # imported by guard_files() before any pledge

    traceback.print_exception(kind, value, tb, file=sys.stderr)


def _thread_excepthook(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else threading.get_ident()
    print(f"Exception in thread {name}:", file=sys.stderr)
    import traceback

    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=sys.stderr)


def _unraisablehook(unraisable: Any) -> None:
    print(f"Exception ignored in: {unraisable.object!r}", file=sys.stderr)
    import traceback

    traceback.print_exception(unraisable.exc_type, unraisable.exc_value,
                              unraisable.exc_traceback, file=sys.stderr)


def guard_files() -> None:
    """Stop linecache and the default excepthooks from touching the filesystem."""
    global _guarded
    if _guarded:
        return
    import traceback  # noqa: F401 - loaded now, while files may still be read

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if isinstance(path, str):
        linecache.getlines(path)  # the main script's lines stay printable
    _original["updatecache"] = linecache.updatecache
    _original["checkcache"] = linecache.checkcache
    linecache.updatecache = _cached_lines  # type: ignore[assignment]
    linecache.checkcache = lambda filename=None: None  # type: ignore[assignment]
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _thread_excepthook
    if sys.unraisablehook is sys.__unraisablehook__:
        sys.unraisablehook = _unraisablehook
    _guarded = True
