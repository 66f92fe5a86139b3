"""OpenBSD: the kernel's own pledge(2) and unveil(2), called through libc by symbol.

The libc functions are bound lazily with cffi in ABI mode (``dlopen(NULL)``),
never as raw syscalls. ``None`` becomes ``NULL`` ("leave unchanged") and is
kept apart from ``""``. OpenBSD 6.4 or newer is required (unveil and the
current two-argument pledge).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from ..promises import format_promises
from ..status import Gaps
from .base import BackendBase, PledgeRequest, UnveilRule

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

CDEF = """
int pledge(const char *promises, const char *execpromises);
int unveil(const char *path, const char *permissions);
"""

MINIMUM = (6, 4)


def parse_release(release: str) -> tuple[int, int] | None:
    """``"7.5"`` → ``(7, 5)``; ``None`` if the release string is not ``N.N...``."""
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or "x")
    except (IndexError, ValueError):
        return None


def load(library: str | None = None) -> tuple[Any, Any]:
    """``(ffi, lib)`` bound to *library* (default: this process's libc)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(library)


def _error(err: int, call: str, detail: str = "") -> OSError | ValueError:
    """The exception for *err* from *call*, as the Linux backend raises it."""
    where = f"{call}: {detail}" if detail else call
    if err == errno.EINVAL:
        return ValueError(f"{where}: the kernel rejected the arguments (EINVAL)")
    if err == errno.EPERM:
        if call == "pledge":
            return PermissionError(errno.EPERM, "promises can only be narrowed "
                                   "(the kernel refused to grow them)")
        return PermissionError(errno.EPERM, f"{where}: unveil is locked or would "
                               "grow permissions (EPERM)")
    if err == errno.E2BIG:
        return OSError(errno.E2BIG, f"{where}: too many unveiled paths "
                       "(the kernel's per-process limit)")
    if err == errno.ENOENT:
        return FileNotFoundError(errno.ENOENT, f"{where}: a directory in the path "
                                 "does not exist")
    return OSError(err, f"{where}: {os.strerror(err)}")


class OpenBSDBackend(BackendBase):
    """Passes pledge/unveil straight to the kernel; everything is enforced."""

    platform = "openbsd"
    mechanism = "pledge"
    unveil_mechanism = "unveil"

    def __init__(self, ffi: Any = None, lib: Any = None,
                 uname: Callable[[], Any] = os.uname) -> None:
        self._ffi, self._lib = ffi, lib
        self.reason: str | None = None
        release = uname().release
        version = parse_release(release)
        if version is None or version < MINIMUM:
            self.reason = (f"OpenBSD {release} is too old: pledgepy needs OpenBSD 6.4 "
                           "or newer (unveil(2) and pledge's execpromises argument)")

    def _binding(self) -> tuple[Any, Any]:
        if self._lib is None:
            self._ffi, self._lib = load()
        return self._ffi, self._lib

    def _unusable(self) -> str | None:
        if self.reason is None:
            try:
                _, lib = self._binding()
                lib.pledge, lib.unveil  # noqa: B018 - probe the symbols
            except (OSError, AttributeError, ImportError) as exc:
                self.reason = f"libc pledge/unveil unavailable: {exc}"
        return self.reason

    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        reason = self._unusable()
        if reason:
            return Gaps(not_enforced=(f"pledge: {reason}",), nothing=True)
        return Gaps()

    def _str(self, value: str | None) -> Any:
        ffi, _ = self._binding()
        return ffi.NULL if value is None else value.encode("ascii")

    def _call(self, name: str, a: Any, b: Any, detail: str = "") -> None:
        ffi, lib = self._binding()
        if getattr(lib, name)(a, b) == -1:
            raise _error(ffi.errno, name, detail)

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        """pledge(promises, execpromises); an unchanged set is passed as NULL.

        The kernel itself locks unveil when ``unveil`` is not promised.
        """
        if self._unusable():
            return
        new = None if request.new == request.old else format_promises(request.new)
        new_exec = (None if request.new_exec == request.old_exec
                    else format_promises(request.new_exec))
        if new is None and new_exec is None:
            return
        self._call("pledge", self._str(new), self._str(new_exec))

    def check_unveil(self, rule: UnveilRule) -> None:
        os.fsencode(rule.path)  # raises UnicodeEncodeError for unencodable paths

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        reason = self._unusable()
        if reason:
            return Gaps(not_enforced=(f"unveil: {reason}",), nothing=True)
        return Gaps()

    def add_unveil(self, rule: UnveilRule) -> None:
        if self._unusable():
            return
        self._call("unveil", os.fsencode(rule.path), rule.permissions.encode("ascii"),
                   rule.path)

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        if self._unusable():
            return
        ffi, _ = self._binding()
        self._call("unveil", ffi.NULL, ffi.NULL)
