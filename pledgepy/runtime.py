"""Keep a pledged CPython working: tracebacks and warnings without reading files.

CPython's default excepthooks open source files to print lines, and linecache
stats them; without ``rpath`` either would be a violation. After a pledge
without rpath, linecache serves only what it already holds (the main script
is loaded first) and the default hooks are replaced by ones that print
through it.

Some stdlib modules import others on first use, an import that needs rpath
once pledged: traceback imports ``ast`` to place its ``^^^`` markers under a
line it can show (3.11+: the main script's, and on 3.13 also ``-c`` code,
which CPython itself keeps in linecache), ``unicodedata`` to measure a line
that is not ASCII, and on 3.13 ``_suggestions`` for "Did you mean". A pledge
without rpath imports them first, if the module that needs them is loaded.

CPython's parser, on a SyntaxError in code compiled from a string, looks for
the offending line in the file the code claims to come from ("<unknown>" for
ast.parse, "<string>" for exec) before it takes the line from the string. 3.13's
traceback parses every statement it prints (most fail: ``raise x from e`` is no
expression), so that open() would end every traceback. While guarded, an audit
hook refuses these reads (C-level fopen for reading, which CPython tolerates
failing) before they reach the kernel; Python's own open() and os.open() are
left alone.

A pledge without rpath also puts a finder first on ``sys.meta_path`` that tells
the violation handler which module the import system is finding, so that a
late import's message names it; it finds nothing itself and decides nothing.
"""

from __future__ import annotations

import _thread
import errno
import sys
import time

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType, TracebackType
    from typing import Any

_guarded = False
_hooked = False
_original: dict[str, Any] = {}


def _lazy_imports() -> dict[str, tuple[str, ...]]:
    """Modules that a loaded stdlib module imports on first use, by that module."""
    traceback: tuple[str, ...] = ()
    if sys.version_info >= (3, 11):  # carets under the failing expression; wide characters
        traceback += ("ast", "unicodedata")
    if sys.version_info >= (3, 13):  # "Did you mean" for NameError and AttributeError
        traceback += ("_suggestions",)
    # asyncio's default executor: loop.getaddrinfo(), to_thread(), run_in_executor()
    # import it (and the _queue extension module) on first use
    executor = ("concurrent.futures.thread",)
    return {"traceback": traceback, "asyncio": executor, "concurrent.futures": executor}


def _unblockable_sigsys() -> None:
    """Keep SIGSYS unblocked from now on (this thread's mask, and signal.pthread_sigmask).

    A violation traps with SIGSYS; while it is blocked the kernel kills with it at once,
    so the handler that explains the violation never runs (exit 159, no message).
    OpenBSD's penalty cannot be blocked either. Native code that blocks it is not
    covered (README: Violations).
    """
    import _signal  # type: ignore[import-not-found]  # signal.py would import enum (start-up)

    number = getattr(_signal, "SIGSYS", None)
    if number is None or not hasattr(_signal, "pthread_sigmask"):
        return
    if "pthread_sigmask" not in _original:
        original = _signal.pthread_sigmask
        unblock = _signal.SIG_UNBLOCK

        def pthread_sigmask(how: int, mask: Any) -> Any:
            if how != unblock:
                mask = [s for s in mask if s != number]
            return original(how, mask)

        pthread_sigmask.__doc__ = original.__doc__
        _original["pthread_sigmask"] = original
        # signal.pthread_sigmask calls _signal.pthread_sigmask by name: both are covered
        _signal.pthread_sigmask = pthread_sigmask
    _original["pthread_sigmask"](_signal.SIG_UNBLOCK, [number])


#: the import system still asks find_module finders (3.12 ignores them)
_LEGACY_FINDERS: bool = sys.version_info < (3, 12)


class _NamingFinder:
    """First on ``sys.meta_path``: names the module being found to *note* (the violation
    handler's import hint), asks the finders after it, and gives back what they find."""

    def __init__(self, note: Callable[[str | None], None]) -> None:
        self.note = note
        self.current: str | None = None
        self._finding: set[str] = set()

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name in self._finding:
            # a finder of the program asking the meta path again (for f in sys.meta_path:
            # f.find_spec(...)): we would ask it back, forever (RecursionError)
            return None
        finders = list(sys.meta_path)
        # only those after this one, in order: one put before it was asked already
        after = finders[finders.index(self) + 1:] if self in finders else finders
        previous, self.current = self.current, name
        self._finding.add(name)
        self.note(name)
        try:
            for finder in after:
                find = getattr(finder, "find_spec", None)
                if find is None:
                    if _LEGACY_FINDERS:
                        # a legacy finder (find_module): the import system asks it, in
                        # its place, before the ones after it; skipping it would change
                        # what is imported
                        return None
                    continue  # 3.12+ ignores it as well
                spec: ModuleSpec | None = find(name, path, target)
                if spec is not None:
                    return spec
            return None  # the import system asks them again (and legacy finders): as ever
        finally:
            self._finding.discard(name)
            self.current = previous
            self.note(previous)


def name_imports(note: Callable[[str | None], None] | None) -> None:
    """Put a :class:`_NamingFinder` first on ``sys.meta_path`` (once; None: nothing)."""
    if note is None or any(isinstance(f, _NamingFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _NamingFinder(note))


def prepare(promises: frozenset[str],
            note_import: Callable[[str | None], None] | None = None) -> None:
    """Work a pledge must do before it may forbid files: time zone, lazy stdlib imports;
    without rpath, *note_import* learns which module each later import is finding."""
    time.localtime()  # glibc reads /etc/localtime once and caches it
    _unblockable_sigsys()
    if promises & {"inet", "dns"}:
        # socket.getaddrinfo() encodes host names with it: the first lookup imports the
        # codec, and on 3.13 getcwd()s too (the codec has no getaliases(): a failed
        # module attribute lookup checks whether the module shadows the stdlib)
        import codecs

        try:
            codecs.lookup("idna")
        except (LookupError, OSError):  # hidden by unveil already: lookups fail as they would
            pass
    if "rpath" not in promises:
        # pledgepy's own warnings (strictness) import it on first use; no other module:
        # a program importing one after dropping rpath gets IMPORT_HINT (as on OpenBSD)
        try:
            import warnings  # noqa: F401
        except (ImportError, OSError):  # hidden by unveil already: no one can load it
            pass
    if "rpath" not in promises:
        _load_locale()
    if "tmppath" in promises and not promises & {"rpath", "wpath", "cpath"}:
        _choose_tempdir()
    if "rpath" not in promises or "prot_exec" not in promises:  # files or extension modules
        import_lazily()
    if "rpath" not in promises:
        name_imports(note_import)


def before_hiding() -> None:
    """Read now what a loaded stdlib module reads from system files on first use, before
    unveil rules hide them: ``mimetypes``' tables (``http.server`` guesses a type for
    every file it serves). Linux lets ``stat()`` see a hidden file, so mimetypes finds
    ``/etc/mime.types`` and its ``open()`` fails with EACCES; OpenBSD hides the file from
    ``stat()`` too, and mimetypes goes on with its own table."""
    mimetypes = sys.modules.get("mimetypes")
    if mimetypes is not None and not getattr(mimetypes, "inited", True):
        try:
            mimetypes.init()
        except OSError:
            # unreadable already (another user's file): the program's first guess meets
            # the same error it would have met without pledgepy
            pass


def _load_locale() -> None:
    """Have glibc load the locale the environment names, then return to the one in force.

    ``locale.setlocale(LC_ALL, "")`` opens the locale's files (CPython set only LC_CTYPE
    at start-up); glibc keeps what it loaded, so after this a pledge without rpath lets
    it switch without opening anything (the pledge command's shim does the same before
    ``main``). setlocale() is process-wide and not thread-safe: only while no other
    thread runs.
    """
    import _locale  # locale.py imports re (start-up)

    if _thread._count() or not hasattr(_locale, "LC_ALL"):
        return
    current = _locale.setlocale(_locale.LC_ALL, None)
    try:
        _locale.setlocale(_locale.LC_ALL, "")
    except _locale.Error:  # type: ignore[attr-defined]  # (the stubs lack it)
        return  # not installed: left for the program's own call to find out
    finally:
        _locale.setlocale(_locale.LC_ALL, current)


def _choose_tempdir() -> None:
    """Let a loaded ``tempfile`` choose its directory now (it keeps the choice).

    Its first use lists the candidates, the current directory last, through getcwd(),
    which needs rpath, wpath or cpath: under ``stdio tmppath``, the promise made for
    mkstemp(3), ``tempfile.mkstemp()`` died before it reached /tmp. The choice is what
    the first use would make (it writes and removes a file in the directory it picks).
    """
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None and getattr(tempfile, "tempdir", "") is None:
        try:
            tempfile.gettempdir()
        except OSError:
            # no usable directory (FileNotFoundError): the program's first use raises
            # the same, if the promises let it get that far
            pass


#: What import_lazily() could not import: never looked for again, as a later pledge
#: without rpath would make the search a violation (a module missing from this Python)
_missing: set[str] = set()


def import_lazily() -> None:
    """Import now what loaded stdlib modules would import on first use (a fork-mode
    worker's parent does it before forking: the worker then inherits them)."""
    for user, needs in _lazy_imports().items():
        if user in sys.modules:
            for name in needs:
                if name in _missing:
                    continue
                try:
                    __import__(name)
                except (ImportError, OSError):  # the user handles its absence
                    _missing.add(name)


def _cached_lines(filename: str, module_globals: Any = None) -> list[str]:
    entry = sys.modules["linecache"].cache.get(filename)
    return list(entry[2]) if entry and len(entry) > 2 else []


def _print_exception(kind: type[BaseException], value: BaseException,
                     tb: TracebackType | None) -> None:
    """Like traceback.print_exception; uses the traceback module only if already loaded."""
    full = sys.modules.get("traceback")
    if full is not None:
        full.print_exception(kind, value, tb, file=sys.stderr)
        return
    for line in _format(kind, value, tb, set()):
        sys.stderr.write(line)


def _format(kind: type[BaseException], value: BaseException, tb: TracebackType | None,
            seen: set[int]) -> list[str]:
    """The default traceback format: chained exceptions, frames, cached source lines."""
    linecache = sys.modules["linecache"]
    seen.add(id(value))
    out: list[str] = []
    cause, context = value.__cause__, value.__context__
    if cause is not None and id(cause) not in seen:
        out += _format(type(cause), cause, cause.__traceback__, seen)
        out.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif context is not None and not value.__suppress_context__ and id(context) not in seen:
        out += _format(type(context), context, context.__traceback__, seen)
        out.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if tb is not None:
        out.append("Traceback (most recent call last):\n")
    while tb is not None:
        code = tb.tb_frame.f_code
        out.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
        entry = linecache.cache.get(code.co_filename)
        lines = entry[2] if entry and len(entry) > 2 else []
        if 0 < tb.tb_lineno <= len(lines):
            out.append(f"    {lines[tb.tb_lineno - 1].strip()}\n")
        tb = tb.tb_next
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    text = str(value)
    out.append(f"{name}: {text}\n" if text else f"{name}\n")
    return out


def _excepthook(kind: type[BaseException], value: BaseException,
                tb: TracebackType | None) -> None:
    _print_exception(kind, value, tb)


def _thread_excepthook(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    import _thread

    name = args.thread.name if args.thread is not None else _thread.get_ident()
    print(f"Exception in thread {name}:", file=sys.stderr)
    _print_exception(args.exc_type, args.exc_value, args.exc_traceback)


def _unraisablehook(unraisable: Any) -> None:
    print(f"Exception ignored in: {unraisable.object!r}", file=sys.stderr)
    _print_exception(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)


def _cache_file(cache: dict[str, Any], path: str) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return
    cache[path] = (sum(map(len, lines)), None, lines, path)


def _cache_only_linecache() -> Any:
    """A stand-in for linecache that only serves what it holds (nothing reads files)."""
    mod = type(sys)("linecache", "pledgepy's cache-only linecache (no rpath held)")
    cache: dict[str, Any] = {}

    def getlines(filename: str, module_globals: Any = None) -> list[str]:
        entry = cache.get(filename)
        return list(entry[2]) if entry else []

    def getline(filename: str, lineno: int, module_globals: Any = None) -> str:
        lines = getlines(filename)
        return lines[lineno - 1] if 0 < lineno <= len(lines) else ""

    mod.cache = cache  # type: ignore[attr-defined]
    mod.getlines = getlines  # type: ignore[attr-defined]
    mod.getline = getline  # type: ignore[attr-defined]
    mod.updatecache = getlines  # type: ignore[attr-defined]
    mod.checkcache = lambda filename=None: None  # type: ignore[attr-defined]
    mod.clearcache = cache.clear  # type: ignore[attr-defined]
    mod.lazycache = lambda filename, module_globals: False  # type: ignore[attr-defined]
    return mod


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Refuse CPython's C-level source reads (fopen: flags 0; open() and os.open() always
    pass O_CLOEXEC) while guarded: the caller falls back to what it already holds."""
    if event == "open" and _guarded and len(args) == 3 and args[2] == 0 \
            and isinstance(args[1], str) and args[1].startswith("r") and "+" not in args[1]:
        raise PermissionError(errno.EPERM, 'pledgepy: reading a file needs "rpath"', args[0])


def guard_files() -> bool:
    """Stop linecache and the default excepthooks from touching the filesystem.

    Returns True if this call did it (False: already guarded), so a pledge
    that then fails can :func:`unguard_files`.
    """
    global _guarded, _hooked
    if _guarded:
        return False
    if not _hooked:  # an audit hook cannot be removed: it does nothing once unguarded
        sys.addaudithook(_audit)
        _hooked = True
    linecache = sys.modules.get("linecache")
    if linecache is None:  # warnings import it on use: give them a cache-only one
        linecache = _cache_only_linecache()
        sys.modules["linecache"] = linecache
        _original["stand-in"] = linecache
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path not in linecache.cache:
        _cache_file(linecache.cache, path)  # the main script's lines stay printable
    _original["updatecache"] = linecache.updatecache
    _original["checkcache"] = linecache.checkcache
    setattr(linecache, "updatecache", _cached_lines)  # noqa: B010 - a module we replace
    setattr(linecache, "checkcache", lambda filename=None: None)  # noqa: B010
    hooks = [(sys, "excepthook", sys.__excepthook__, _excepthook),
             (sys, "unraisablehook", sys.__unraisablehook__, _unraisablehook)]
    # prepare() loaded it, unless unveil hid it: then no one can load it without
    # rpath, and the audit hook covers its default hook
    threading = sys.modules.get("threading")
    if threading is not None:
        hooks.append((threading, "excepthook", threading.__excepthook__, _thread_excepthook))
    for owner, name, default, ours in hooks:
        if getattr(owner, name) is default:
            setattr(owner, name, ours)
            _original[f"{owner.__name__}.{name}"] = default
    _guarded = True
    return True


def unguard_files() -> None:
    """Undo :func:`guard_files` (the pledge that needed it did not take effect)."""
    global _guarded
    if not _guarded:
        return
    linecache = sys.modules["linecache"]
    if _original.pop("stand-in", None) is linecache:
        del sys.modules["linecache"]
    else:
        linecache.updatecache = _original["updatecache"]  # type: ignore[attr-defined]
        linecache.checkcache = _original["checkcache"]  # type: ignore[attr-defined]
    for owner in (sys, sys.modules.get("threading")):
        for name in ("excepthook", "unraisablehook"):
            default = _original.pop(f"{getattr(owner, '__name__', '')}.{name}", None)
            if default is not None:
                setattr(owner, name, default)
    _guarded = False
