"""The native piece: the SIGSYS handler module (cffi API mode), loaded once.

Built at install time from ``sigsys.c`` and tables generated from the policy
(``build.py``). It is optional for enforcement: without it the filter kills
on a violation instead of trapping (see ``seccomp.install``), so the sandbox
is as strong and only the messages are missing. A module built from other
sources than the installed ones is never used: :func:`load` raises.
"""

from __future__ import annotations

import faulthandler
import os
import sys

from ....errors import NativeBuildError
from ....promises import bits

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

MISSING: str | None = None


def _memory_short() -> str:
    """The fix when a memory limit kept the handler from being mapped ("" if none is
    set): a rebuild would not help then (ulimit -v makes dlopen fail to map a segment)."""
    import resource

    for name, limit in (("ulimit -v", resource.RLIMIT_AS), ("ulimit -d", resource.RLIMIT_DATA)):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY:
            return (f"a memory limit is set ({name}: {soft >> 20} MiB), which may leave no "
                    "room to map it: raise it, or rebuild if it is not the cause "
                    "(pip install -e .)")
    return ""


try:
    __import__(__name__ + "._sigsys")  # importlib.import_module costs an import (start-up)
    _sigsys: Any = sys.modules[__name__ + "._sigsys"]
except ModuleNotFoundError:
    _sigsys = None
    MISSING = ("the native SIGSYS handler is not built (no _sigsys module in "
               f"{os.path.dirname(__file__)}); build it: pip install -e . (needs a C compiler)")
except ImportError as exc:  # built, but cannot be loaded (another machine, missing symbol)
    _sigsys = None
    MISSING = f"the native SIGSYS handler cannot be loaded ({exc}); " + (
        _memory_short() or "rebuild: pip install -e .")

REBUILD = "rebuild: pip install -e . (or reinstall pledgepy)"
_checked = False
_localtime_fd: int | None = None
_localtime_link = -1  # the same, O_NOFOLLOW (lstat)
_devnull_fd: int | None = None
_installed = False  # pledgepy's SIGSYS handler is in place


def load() -> Any | None:
    """The built module, or None when it is not built (:data:`MISSING` says why).

    Raises :class:`NativeBuildError` when it was built from other sources than
    the ones installed (its tables would explain violations wrongly).
    """
    global _checked
    if _sigsys is None:
        return None
    if not _checked:
        from . import digest

        string = _sigsys.ffi.string
        built = string(_sigsys.lib.pp_tables_digest()).decode()
        try:
            stamp = string(_sigsys.lib.pp_tables_stamp()).decode()
        except AttributeError:  # built before stamps: hash (its digest differs anyway)
            stamp = digest.UNTRUSTED
        try:
            # hashed by the module itself when it can (an older build: in Python)
            by_c = hasattr(_sigsys.lib, "pp_sources_digest")
            now = digest.current(built, stamp, lib=_sigsys.lib if by_c else None,
                                 ffi=_sigsys.ffi)
        except OSError as exc:
            raise NativeBuildError(f"cannot check the native SIGSYS handler against the "
                                   f"policy ({exc}); {REBUILD}") from exc
        if built != now:
            raise NativeBuildError(
                "the native SIGSYS handler is stale: it was built from another version of "
                f"the policy tables (built {built[:12]}, installed {now[:12]}); {REBUILD}")
        _checked = True
        set_import_dirs()  # the supervisor's messages too: its sys.path, much like its child's
    return _sigsys


def checked_lib() -> Any | None:
    """The module's C functions if :func:`load` has already accepted it, else None
    (never loads or checks it: for callers that also work without it)."""
    return _sigsys.lib if _checked and _sigsys is not None else None


class ProcessCalls:
    """prctl, the capability sets and close_range through the module, for the pledge
    command's child (:meth:`..LinuxBackend.process_calls`): ctypes would cost its start-up
    ~1.7 ms. Each returns as its ctypes counterpart in ``command/limits.py`` does."""

    def __init__(self, lib: Any, ffi: Any) -> None:
        self._lib, self._ffi = lib, ffi

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        """``prctl(option, arg2, arg3, 0, 0)``: its result, or -errno."""
        return int(self._lib.pp_prctl(option, arg2, arg3))

    def capabilities(self, new: list[int] | None = None) -> list[int]:
        """capget() (*new* None) or capset(*new*) of this process's version-3 sets (six
        u32: effective, permitted, inheritable of capabilities 0-31, then of 32-63): the
        sets read, or *new*. OSError when the call fails."""
        data = self._ffi.new("uint32_t[6]", new if new is not None else [0] * 6)
        rc = int(self._lib.pp_capget(data) if new is None else self._lib.pp_capset(data))
        if rc != 0:
            raise OSError(-rc, "cannot read the capability sets" if new is None else
                          "cannot clear the capability sets")
        return [int(data[i]) for i in range(6)]

    def cloexec_from(self, first: int) -> int:
        """close_range(*first*, ~0, CLOSE_RANGE_CLOEXEC): 0, or -errno."""
        return int(self._lib.pp_cloexec_from(first))


def process_calls() -> ProcessCalls | None:
    """:class:`ProcessCalls` once :func:`load` accepted the module, else None."""
    c = checked_lib()
    return ProcessCalls(c, _sigsys.ffi) if c is not None else None


def available() -> bool:
    """True when the handler is built and current (raises if stale)."""
    return load() is not None


def lib() -> Any:
    """The module's C functions (raise OSError if it is not built)."""
    mod = load()
    if mod is None:
        raise OSError(38, MISSING or "the native SIGSYS handler is not built")
    return mod.lib


def ffi() -> Any:
    """The module's cffi FFI object (raise OSError if it is not built)."""
    mod = load()
    if mod is None:
        raise OSError(38, MISSING or "the native SIGSYS handler is not built")
    return mod.ffi


#: libraries keep_loaded() opened: a handle collected would dlclose them
_kept: list[Any] = []


_RTLD_NODELETE = 0x1000  # glibc's (and musl's) value


def keep_loaded(name: str) -> bool:
    """``dlopen(name, RTLD_NOW)`` for good, so that libc's own later dlopen of *name*
    finds it mapped and opens nothing: True when it is loaded. Through the built
    module's cffi (importing ``_ctypes`` is loading an extension module, which unveil
    may hide by now), else ``_ctypes``; False when neither can, or *name* cannot be
    loaded (not installed, hidden): the caller leaves the load to libc."""
    mod = load()
    # RTLD_NODELETE: the handle kept here is released when the interpreter clears this
    # module at exit (cffi then dlclose()s it); without it libgcc_s was unloaded then,
    # and a daemon thread ending after that (pthread_exit) had glibc search for it
    # again: the load the pledge refuses, 134 at exit (seen with a thread left inside
    # OpenSSL, ~1 run in 15 under load)
    try:
        if mod is not None:
            ffi = mod.ffi
            _kept.append(ffi.dlopen(name, ffi.RTLD_NOW | _RTLD_NODELETE))
            return True
        import _ctypes  # type: ignore[import-not-found,unused-ignore]

        _kept.append(_ctypes.dlopen(name, 2 | _RTLD_NODELETE))  # RTLD_NOW | RTLD_LOCAL
        return True
    except (OSError, ImportError):
        return False


def program_name() -> str:
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-c", "-m"):
        argv0 = sys.executable or "python"
    return os.path.basename(argv0) or "python"


def prepare(held: frozenset[str] | None = None) -> None:
    """Everything the handler needs, done before the filter makes it impossible.

    *held*: the promises of filters already in force (an exec'd program's inherited
    ones): only the descriptors they let be opened are opened; without them the
    handler reports those calls instead of answering them.
    """
    c = lib()
    c.pp_set_program(program_name().encode(errors="replace"))
    set_import_dirs()
    set_cert_dirs()
    global _localtime_fd, _localtime_link
    if held is not None and "rpath" not in held:
        pass  # opening /etc/localtime would be a violation itself
    elif _localtime_fd is None:  # see emulate() in sigsys.c; kept open for the process's life
        try:
            _localtime_fd = os.open("/etc/localtime", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            _localtime_fd = -1
        try:  # the link itself, for lstat(): a symlink must read as one
            _localtime_link = os.open("/etc/localtime",
                                      os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            _localtime_link = -1
        c.pp_set_localtime_fd(_localtime_fd, _localtime_link)
    global _devnull_fd
    if held is not None and not {"rpath", "wpath"} <= held:
        pass  # so would opening /dev/null read-write
    elif _devnull_fd is None:  # stdio's /dev/null: opens of it are answered with copies
        try:
            _devnull_fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            _devnull_fd = -1
        c.pp_set_devnull_fd(_devnull_fd)
    if not faulthandler.is_enabled():
        faulthandler.enable(file=2, all_threads=False)  # fd 2, like the handler: works
        # even when sys.stderr was replaced by an object without a descriptor
    global _installed
    if not handler_installed():
        rc = c.pp_install_handler()
        if rc != 0:
            raise OSError(-rc, f"cannot install the SIGSYS handler: {os.strerror(-rc)}")
        _installed = True


def set_import_dirs(dirs: list[str] | None = None) -> None:
    """Tell the handler sys.path's absolute directories (*dirs*, default sys.path): the
    import hint is given for a .so or a directory only under one of them, and for
    getcwd() only when an entry is relative ("" under -c: the import system asks)."""
    if _sigsys is not None:
        given = sys.path if dirs is None else dirs
        entries = [d for d in given if os.path.isabs(d)]
        entries += ["."] if any(not os.path.isabs(d) for d in given) else []
        blob = b"".join(os.fsencode(os.path.normpath(d)) + b"\0" for d in entries)
        _sigsys.lib.pp_set_import_dirs(blob, len(blob))


def set_cert_dirs() -> None:
    """Tell the handler OpenSSL's certificate directories, when ssl is loaded (it is
    not imported here): the default one and $SSL_CERT_DIR's, whose lookups by hash
    name fail as for a missing file under a pledge that allows no stat (sigsys.c:
    cert_lookup). A context given a directory of its own is not covered."""
    ssl = sys.modules.get("_ssl")
    if _sigsys is None or ssl is None:
        return
    _, _, env, capath = ssl.get_default_verify_paths()
    key = (capath, os.environ.get(env, ""))
    if key == _cert_dirs[0]:
        return  # the handler has them: realpath's lstat()s would be refused by now (a
        # narrowing from "stdio inet" to "stdio" with ssl loaded was killed here)
    dirs = [capath, *key[1].split(":")]
    dirs += [os.path.realpath(d) for d in dirs if d]  # as it may be reached too
    entries = dict.fromkeys(os.path.normpath(d) for d in dirs if d and os.path.isabs(d))
    blob = b"".join(os.fsencode(d) + b"\0" for d in entries)
    _sigsys.lib.pp_set_cert_dirs(blob, len(blob))
    _cert_dirs[0] = key


#: The (capath, $SSL_CERT_DIR) the handler was last told of (set_cert_dirs).
_cert_dirs: list[tuple[str, str] | None] = [None]


def set_importing(name: str | None) -> None:
    """Tell the handler the module the import system is finding (None: none): its
    import hint names it. A memory write only: callable under any filter."""
    if _sigsys is not None:
        _sigsys.lib.pp_set_importing(b"" if name is None else
                                     name.encode("utf-8", "replace")[:127])


def localtime_fds() -> tuple[int, ...]:
    """The O_PATH descriptors of /etc/localtime the handler answers stat() and lstat()
    from, those open."""
    return tuple(fd for fd in (_localtime_fd, _localtime_link) if fd is not None and fd >= 0)


def handler_installed() -> bool:
    """True when pledgepy's SIGSYS handler is this process's.

    Asked of the kernel only until pledgepy installs it: once a pledge is in
    force, the filter refuses replacing the SIGSYS handler, so it stays ours
    (and asking could be a violation under promises without stdio).
    """
    global _installed
    if not _installed and _sigsys is not None:
        _installed = bool(_sigsys.lib.pp_handler_installed())
    return _installed


def set_held(promises: frozenset[str]) -> None:
    """Tell the handler which promises are in force (it names the missing ones)."""
    if _sigsys is not None:
        _sigsys.lib.pp_set_held(bits(promises))


def set_trap_data(mask: int) -> None:
    """Tell the handler which SECCOMP_RET_DATA values pledgepy's filters in force
    return with a trap (bit d: data d); other data marks a filter pledgepy did not
    install. Only the message uses it: the penalty follows :func:`set_held`."""
    if _sigsys is not None:
        _sigsys.lib.pp_set_trap_data(mask)


def set_quiet(quiet: bool) -> None:
    """Turn the one-line violation messages off (True) or on."""
    if _sigsys is not None:
        _sigsys.lib.pp_set_quiet(1 if quiet else 0)


def set_paths(on: bool, root_fd: int = -1, paths: tuple[tuple[str, bool], ...] = ()) -> None:
    """Tell the handler whether the path allowances' Landlock layer is in force (it then
    makes their calls again from its own call site, and answers stat() by a read-only
    open; of "/" from *root_fd*), and which (path, is a directory) are allowances: a
    failure there is the call's error, not a violation."""
    if _sigsys is not None:
        blob = b"".join(p.rstrip("/").encode() + (b"/\0" if d else b"\0") for p, d in paths)
        _sigsys.lib.pp_set_paths(1 if on else 0, root_fd, blob, len(blob))


def set_paths_off(why: str) -> None:
    """Tell the handler why the path allowances are not granted ("": they are, or none
    is held): a violation on a file a held promise's allowance covers then says so."""
    if _sigsys is not None:
        text = why.encode(errors="replace")
        _sigsys.lib.pp_set_paths_off(text, len(text))


def handler_ip() -> int:
    """Where the handler's own syscall returns to (0 without the handler): the filter
    lets the path allowances' opens through from there only (policy.PATHS_RULES)."""
    return int(_sigsys.lib.pp_blessed_ip()) if _sigsys is not None else 0
