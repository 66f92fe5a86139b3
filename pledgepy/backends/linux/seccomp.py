"""Install seccomp filters on every thread (TSYNC) with the SIGSYS handler ready."""

from __future__ import annotations

import errno
import faulthandler
import functools
import os
import sys
from typing import Any

from ...promises import bits
from .filter import compile_plan
from .plan import Plan

_localtime_fd: int | None = None
ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
TSYNC = 1
NEW_LISTENER = 8

try:
    from . import _sigsys  # type: ignore[attr-defined]
    NATIVE_ERROR: str | None = None
except ImportError as exc:  # not built: pledge() reports it and strict mode refuses
    _sigsys = None
    NATIVE_ERROR = f"the native SIGSYS handler is not built ({exc})"


def arch() -> str | None:
    """This machine's architecture as the tables name it, or None if unsupported."""
    return ARCH.get(os.uname().machine.lower())


@functools.lru_cache(maxsize=None)
def unavailable() -> str | None:
    """Why seccomp filters cannot be used here, or None when they can.

    Asked once per process: a later, narrowing pledge() may no longer read /proc.
    """
    if arch() is None:
        return f"no syscall table for {os.uname().machine}"
    try:
        with open("/proc/self/status", "rb") as f:
            if not any(line.startswith(b"Seccomp:") for line in f):
                return "the kernel was built without seccomp"
    except OSError as exc:
        return f"cannot read /proc/self/status: {exc}"
    if _sigsys is None:
        return NATIVE_ERROR
    return None


def _program_name() -> str:
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-c", "-m"):
        argv0 = sys.executable or "python"
    return os.path.basename(argv0) or "python"


def prepare(promises: frozenset[str]) -> None:
    """Everything the handler needs, done before the filter makes it impossible."""
    assert _sigsys is not None
    lib = _sigsys.lib
    lib.pp_set_program(_program_name().encode(errors="replace"))
    global _localtime_fd
    if _localtime_fd is None:  # see emulate() in sigsys.c; kept open for the process's life
        try:
            _localtime_fd = os.open("/etc/localtime", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            _localtime_fd = -1
        lib.pp_set_localtime_fd(_localtime_fd)
    if not faulthandler.is_enabled():
        faulthandler.enable(file=2, all_threads=False)  # fd 2, like the handler: works
        # even when sys.stderr was replaced by an object without a descriptor
    if not lib.pp_handler_installed():
        rc = lib.pp_install_handler()
        if rc != 0:
            raise OSError(-rc, f"cannot install the SIGSYS handler: {os.strerror(-rc)}")


def require() -> Any:
    """The native module's functions (raise if it is not built)."""
    if _sigsys is None:
        raise OSError(errno.ENOSYS, NATIVE_ERROR or "the native SIGSYS handler is not built")
    return _sigsys.lib


def ffi() -> Any:
    """The native module's cffi FFI object."""
    require()
    return _sigsys.ffi  # type: ignore[union-attr]


@functools.lru_cache(maxsize=None)
def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none); asked once."""
    return int(require().pp_landlock_abi()) if _sigsys is not None else 0


def enter_domain() -> None:
    """Enter a Landlock domain that hides no file (see pp_landlock_domain)."""
    rc = require().pp_landlock_domain()
    if rc < 0:
        raise OSError(-rc, f"cannot enter a Landlock domain: {os.strerror(-rc)}")


def handler_replaced() -> bool:
    """True once a filter is in and someone has replaced pledgepy's SIGSYS handler."""
    return _sigsys is not None and _localtime_fd is not None and \
        not _sigsys.lib.pp_handler_installed()


def thread_count() -> int:
    """Threads in this process (2 when it cannot tell: assume others exist)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 2


def set_held(promises: frozenset[str]) -> None:
    assert _sigsys is not None
    _sigsys.lib.pp_set_held(bits(promises))


def set_quiet(quiet: bool) -> None:
    """Turn the one-line violation messages off (True) or on."""
    if _sigsys is not None:
        _sigsys.lib.pp_set_quiet(1 if quiet else 0)


def install(program: bytes, *, all_threads: bool = True, listener: bool = False) -> int:
    """Install *program* (sock_filter bytes), on every thread unless told otherwise.

    With *listener*, return the descriptor on which the filter's USER_NOTIF
    verdicts arrive (single-threaded callers only); otherwise 0.
    """
    assert _sigsys is not None
    buf: Any = _sigsys.ffi.from_buffer(program)
    flags = NEW_LISTENER if listener else (TSYNC if all_threads else 0)
    rc = _sigsys.lib.pp_install_filter(buf, len(program), flags)
    if listener and rc >= 0:
        return int(rc)
    if rc > 0:
        raise OSError(errno.EBUSY, f"thread {rc} could not be put under the filter (TSYNC); "
                                   "nothing was changed")
    if rc < 0:
        raise OSError(-rc, f"seccomp filter not installed: {os.strerror(-rc)}")
    return 0


def apply(plan: Plan, previous: Plan | None) -> None:
    """Stack the filter for *plan* on top of *previous* (which stays in force)."""
    delta = plan.delta(previous)
    if previous is None or not delta.allows_everything():
        install(compile_plan(delta))
    set_held(plan.promises)
