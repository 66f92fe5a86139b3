"""Install seccomp filters on every thread (TSYNC), through the native module or without it.

With the native SIGSYS handler a violation traps and the handler explains it.
Without it (not built, or no compiler) the same filter answers a violation
with ``SECCOMP_RET_KILL_PROCESS`` (ENOSYS under ``error``) and is installed
through ctypes: the sandbox is as strong, only the messages are missing.
"""

from __future__ import annotations

import errno
import os

from .. import native
from ..consts import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_SET_MODE_FILTER,
)
from ..syscalls import BY_ARCH
from .filter import ENOSYS_ERRNO, compile_plan, trap_data_bit, trap_verdict
from .plan import Plan

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
PR_SET_NO_NEW_PRIVS = 38


def arch() -> str | None:
    """This machine's architecture as the tables name it, or None if unsupported."""
    return ARCH.get(os.uname().machine.lower())


_why: tuple[str | None] | None = None  # (the answer,) once asked


def unavailable() -> str | None:
    """Why seccomp filters cannot be used here, or None when they can.

    Asked once per process: a later, narrowing pledge() may no longer read /proc.
    """
    global _why
    if _why is None:  # functools.cache would import functools (start-up)
        _why = (_ask(),)
    return _why[0]


def _ask() -> str | None:
    global _inherited
    if arch() is None:
        return f"no syscall table for {os.uname().machine}"
    try:
        with open("/proc/self/status", "rb") as f:
            modes = [line.split()[1:2] for line in f if line.startswith(b"Seccomp:")]
    except OSError as exc:
        return f"cannot read /proc/self/status: {exc}"
    if not modes:
        return "the kernel was built without seccomp"
    _inherited = modes[0] == [b"2"] and not native.handler_installed()
    return None


#: Started under filters pledgepy did not install in this process (an exec'd program of
#: a pledged parent, the pledge command): they may refuse installing a SIGSYS handler.
_inherited = False
#: An inherited process's promises once it installed the handler (adopt_handler): what
#: native.prepare() may still open.
_adopted: frozenset[str] | None = None


def inherited() -> bool:
    """True when this process was already filtered before its first pledge()."""
    unavailable()
    return _inherited


_installed = False  # pledgepy installed a filter in this process


def unfiltered() -> bool:
    """True when no seccomp filter is known to be in force here (none inherited, none
    installed by pledgepy); False when unsure."""
    return unavailable() is None and not _inherited and not _installed


def adopt_handler(held: frozenset[str]) -> None:
    """Install the SIGSYS handler in a process that inherited filters (of *held*) which
    allow it (the spawner's children, exec/hint.py): then :func:`has_handler` is True."""
    global _adopted
    unavailable()
    _adopted = held
    native.prepare(held)  # installs the handler


def has_handler() -> bool:
    """True when violations trap into the native handler (messages, emulation).

    Not in a process that inherited filters and has no handler yet: installing one
    may be refused by them, so its own filters use the kernel's penalty instead.
    """
    return native.available() and (native.handler_installed() or not inherited())


def violation_verdict(error: bool) -> int | None:
    """What the filter answers a violation with: None (trap into the handler) when
    the native handler is there; otherwise the kernel's own penalty."""
    if has_handler():
        return None
    return SECCOMP_RET_ERRNO | ENOSYS_ERRNO if error else SECCOMP_RET_KILL_PROCESS


def violation_for(plan: Plan) -> int | None:
    """The violation verdict of :func:`compile_for` (None: trap into the handler).

    Under ``error`` with ``exec`` the kernel answers ENOSYS itself: exec'd programs
    run under this filter too, without the handler, and a trap would kill them.
    """
    if plan.error and "exec" in plan.promises:
        return SECCOMP_RET_ERRNO | ENOSYS_ERRNO
    return violation_verdict(plan.error)


def compile_for(plan: Plan, below: Plan | None = None) -> bytes:
    """*plan* as a filter whose violations this process can answer.

    *below*: the plan of the filter in force under a delta, compiled by this function
    (its refusals may then share the delta's TRAP runs when both answer alike).
    """
    violation = violation_for(plan)
    under = trap_verdict(below, violation_for(below)) if below is not None else None
    return compile_plan(plan, violation=violation, below=under)


class _Plain:
    """prctl and seccomp through ctypes, for a process without the native module."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.libc.prctl.restype = ctypes.c_int

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        self.fprog = SockFprog
        self.nr = BY_ARCH[arch() or "x86_64"]["seccomp"]

    def install(self, program: bytes, flags: int) -> int:
        c = self.ctypes
        buf = c.create_string_buffer(program, len(program))
        prog = self.fprog(len(program) // 8, c.addressof(buf))
        long = c.c_long
        if self.libc.prctl(PR_SET_NO_NEW_PRIVS, long(1), long(0), long(0), long(0)) != 0:
            return -int(c.get_errno())
        rc = int(self.libc.syscall(long(self.nr), long(SECCOMP_SET_MODE_FILTER), long(flags),
                                   c.byref(prog)))
        return -int(c.get_errno()) if rc < 0 else rc


_plain_one: _Plain | None = None


def _plain() -> _Plain:
    global _plain_one
    if _plain_one is None:
        _plain_one = _Plain()
    return _plain_one


def prepare() -> None:
    """What installing needs, loaded before any filter can forbid loading it."""
    if has_handler():
        native.prepare(_adopted)
    else:
        _plain()


def install(program: bytes, *, all_threads: bool = True, listener: bool = False,
            killable: bool = False) -> int:
    """Install *program* (sock_filter bytes), on every thread unless told otherwise.

    With *listener*, return the descriptor on which the filter's USER_NOTIF
    verdicts arrive (single-threaded callers only; needs the native module);
    otherwise 0. *killable*: its callers wait killably once their call is read
    (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), where this process is under no filter yet.
    """
    global _installed
    flags = (SECCOMP_FILTER_FLAG_NEW_LISTENER if listener
             else (SECCOMP_FILTER_FLAG_TSYNC if all_threads else 0))
    if listener and killable and not _installed and not _inherited:
        # a violation's caller cannot return from it on a signal of its own before its
        # penalty. Not under a filter already: that one's rules (a pledged parent's, an
        # older pledgepy's) may refuse a flag they do not know with a kill, not EINVAL.
        # Kernels before 5.19 answer EINVAL: without it there, as the native launcher.
        flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    if has_handler():
        lib: Any = native.lib()
        code = native.ffi().from_buffer(program)
        rc = int(lib.pp_install_filter(code, len(program), flags))
        if flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and rc == -errno.EINVAL:
            flags &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            rc = int(lib.pp_install_filter(code, len(program), flags))
    elif listener:
        raise OSError(errno.ENOSYS, native.MISSING or "the native module is not built")
    else:
        rc = _plain().install(program, flags)
    if rc >= 0:
        _installed = True  # also when TSYNC refused (rc > 0): unsure counts as filtered
    if listener and rc >= 0:
        return rc
    if rc > 0:
        raise OSError(errno.EBUSY, f"thread {rc} could not be put under the filter (TSYNC); "
                                   "nothing was changed")
    if rc < 0:
        raise OSError(-rc, f"seccomp filter not installed: {os.strerror(-rc)}")
    return 0


def apply(plan: Plan, previous: Plan | None) -> None:
    """Stack the filter for *plan* on top of *previous* (which stays in force)."""
    delta = plan.delta(previous)
    old_bits = trap_data_bit(previous) if previous is not None else 0
    # The handler's penalty follows the held promises: narrow them before the
    # filter goes in, so it is never more lenient than the filters in force.
    native.set_held(plan.promises)
    if previous is None or not delta.allows_everything():
        native.set_trap_data(old_bits | trap_data_bit(plan))  # both may trap meanwhile
        try:
            install(compile_for(delta, previous))
        except BaseException:
            native.set_held(previous.promises if previous is not None else frozenset())
            native.set_trap_data(old_bits)
            raise
    native.set_trap_data(trap_data_bit(plan))  # the newest filter restates every trap
