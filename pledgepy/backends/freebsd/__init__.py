"""FreeBSD: Capsicum capability mode where the promises allow it.

The policy lives in :mod:`.decision` (pure); this module applies a plan:
pre-open the unveiled directories, limit every other inherited fd, enter
capability mode and verify it. cffi and libc are loaded only when first
needed, so importing this module works anywhere.
"""

from __future__ import annotations

import errno
import os
import stat

from ... import bsdpaths
from ...status import Gaps
from ..base import BackendBase, PledgeRequest, UnveilRule
from . import binding
from . import rights as R
from .decision import Action, Entry, Options, Plan, decide, fd_grant, unveil_gaps

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

NO_CAPSICUM = "no capability mode in this kernel (cap_getmode: ENOSYS)"
UNVEIL_ALONE = ("unveil alone is not enforced on FreeBSD: only pledge() enters "
                "capability mode (pledge without the 'unveil' promise to lock and enter)")


def _prepare() -> str:
    """Finish what would fail in capability mode; return the current directory."""
    import encodings.ascii  # noqa: F401
    import encodings.latin_1  # noqa: F401
    import encodings.utf_8  # noqa: F401
    import tempfile
    import time

    time.tzset()
    time.localtime()
    tempfile.gettempdir()
    return os.getcwd()


class SystemOps:
    """The filesystem and fd operations the backend needs (replaceable in tests)."""

    def open_dir(self, path: str) -> int:
        """An ``O_DIRECTORY|O_RDONLY|O_CLOEXEC`` fd for *path*."""
        return os.open(path, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        """Close *fd*."""
        os.close(fd)

    def is_dir(self, path: str) -> bool:
        """Whether *path* names a directory now."""
        return os.path.isdir(path)

    def fds(self) -> list[int]:
        """Every open fd of this process."""
        import fcntl

        limit = os.sysconf("SC_OPEN_MAX")
        if limit <= 0 or limit > 1 << 20:
            limit = 1 << 20
        out = []
        for fd in range(limit):
            try:
                fcntl.fcntl(fd, fcntl.F_GETFD)
            except OSError:
                continue
            out.append(fd)
        return out

    def describe(self, fd: int) -> tuple[str, int]:
        """``(kind, access mode)`` of *fd*; kind is ``dir``, ``socket`` or ``other``."""
        import fcntl

        mode = os.fstat(fd).st_mode
        acc = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        kind = "dir" if stat.S_ISDIR(mode) else "socket" if stat.S_ISSOCK(mode) else "other"
        return kind, acc

    def prepare(self) -> str:
        """Run the pre-``cap_enter`` preparation; return the cwd."""
        return _prepare()


class FreeBSDBackend(BackendBase):
    """Capsicum: pre-opened directory fds, limited fds, ``cap_enter``."""

    platform = "freebsd"
    mechanism = "capsicum"
    unveil_mechanism = "capsicum"

    def __init__(self, ffi: Any = None, lib: Any = None, ops: Any = None,
                 options: Options | None = None) -> None:
        self._ffi, self._lib = ffi, lib
        self.ops = ops if ops is not None else SystemOps()
        self._options = options
        self._entries: dict[str, Entry] = {}
        self._dirfds: dict[str, int] = {}
        self._locked = False
        self._entered = False
        self._promises: frozenset[str] | None = None
        self._available: bool | None = None
        self._cwd: str | None = None
        self._why = NO_CAPSICUM

    # -- plumbing -------------------------------------------------------
    def _binding(self) -> tuple[Any, Any]:
        if self._lib is None:
            self._ffi, self._lib = binding.load()
        return self._ffi, self._lib

    def options(self) -> Options:
        """The options in use (from the environment unless given)."""
        if self._options is None:
            self._options = Options.from_env()
        return self._options

    def _oserror(self, call: str, fd: int | None = None) -> OSError:
        ffi, _ = self._binding()
        err = ffi.errno
        where = f"{call}(fd {fd})" if fd is not None else call
        return OSError(err, f"{where}: {os.strerror(err)}")

    def _probe(self) -> bool:
        """Whether capability mode exists; notes if this process is already in it."""
        if self._available is None:
            try:
                ffi, lib = self._binding()
                getmode = lib.cap_getmode
            except (ImportError, OSError, AttributeError) as exc:
                self._why = f"Capsicum calls unavailable: {exc}"
                self._available = False
                return False
            mode = ffi.new("unsigned int *")
            if getmode(mode) == -1:
                if ffi.errno != errno.ENOSYS:
                    raise self._oserror("cap_getmode")
                self._available = False
            else:
                self._available = True
                self._entered = self._entered or mode[0] == 1
        return self._available

    def _entry_tuple(self) -> tuple[Entry, ...]:
        return tuple(self._entries.values())

    def plan(self, request: PledgeRequest) -> Plan:
        """The decision for *request* given the recorded unveils (no side effects)."""
        locked = self._locked or (request.new is not None and "unveil" not in request.new)
        return decide(request.new, request.new_exec, self._entry_tuple(), locked,
                      self._entered, self.options())

    # -- Backend protocol ----------------------------------------------
    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        if not self._probe():
            return Gaps(not_enforced=(f"pledge: {self._why}",), nothing=True)
        return self.plan(request).gaps()

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        if lock_unveil:
            self._locked = True
        if not self._probe():
            return
        plan = self.plan(request)
        if plan.action in (Action.ENTER, Action.REDUCE):
            self._apply(plan)
        self._promises = request.new

    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        """Unveil gaps once *request* (which locks unveil) has been applied."""
        if not self._probe():
            return Gaps(not_enforced=(f"unveil: {self._why}",), nothing=True)
        plan = self.plan(request)
        lines = tuple(unveil_gaps(self._entries_for(unveils), request.new))
        if plan.action not in (Action.ENTER, Action.REDUCE):
            return Gaps((*lines, "unveil: capability mode is not entered by this "
                         "pledge, so nothing is enforced"), nothing=True)
        return Gaps(lines)

    def check_unveil(self, rule: UnveilRule) -> None:
        parent = os.path.dirname(rule.path) or "/"
        if not self.ops.is_dir(rule.path) and not self.ops.is_dir(parent):
            raise FileNotFoundError(errno.ENOENT, "unveil: a directory in the path "
                                    "does not exist", rule.path)
        if self._entered:
            raise PermissionError(errno.EPERM, "unveil: capability mode is already "
                                  "entered; no new paths can be opened")

    def _entries_for(self, unveils: tuple[UnveilRule, ...]) -> tuple[Entry, ...]:
        out = []
        for u in unveils:
            known = self._entries.get(u.path)
            is_dir = known.is_dir if known else self.ops.is_dir(u.path)
            out.append(Entry(u.path, u.permissions, is_dir))
        return tuple(out)

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        if not self._probe():
            return Gaps(not_enforced=(f"unveil: {self._why}",), nothing=True)
        lines = tuple(unveil_gaps(self._entries_for(unveils), self._promises))
        if self._entered:
            return Gaps(lines)
        if locking:
            return Gaps((*lines, UNVEIL_ALONE), nothing=True)
        return Gaps(lines, ("pending: takes effect when pledge() enters capability mode",))

    def add_unveil(self, rule: UnveilRule) -> None:
        is_dir = self.ops.is_dir(rule.path)
        target = rule.path if is_dir else (os.path.dirname(rule.path) or "/")
        if rule.permissions and target not in self._dirfds:
            self._dirfds[target] = self.ops.open_dir(target)
        self._entries[rule.path] = Entry(rule.path, rule.permissions, is_dir)

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        self._locked = True

    # -- applying a plan ------------------------------------------------
    def _limit(self, fd: int, want: R.Rights, fcntls: int,
               ioctls: tuple[int, ...] | None) -> None:
        """Limit *fd* to *want* ∩ its current rights, then its fcntls and ioctls."""
        ffi, lib = self._binding()
        cur = ffi.new("cap_rights_t *")
        if getattr(lib, "__cap_rights_get")(R.CAP_RIGHTS_VERSION, fd, cur) == -1:
            raise self._oserror("cap_rights_get", fd)
        have = binding.from_cdata(cur)
        new = want & have
        if lib.cap_rights_limit(fd, binding.to_cdata(ffi, new)) == -1:
            raise self._oserror("cap_rights_limit", fd)
        if new.has(R.CAP_FCNTL) and lib.cap_fcntls_limit(fd, fcntls) == -1:
            raise self._oserror("cap_fcntls_limit", fd)
        if new.has(R.CAP_IOCTL):
            cmds = ioctls or ()
            arr = ffi.new("unsigned long[]", list(cmds) or 1)
            if lib.cap_ioctls_limit(fd, arr, len(cmds)) == -1:
                raise self._oserror("cap_ioctls_limit", fd)

    def _apply(self, plan: Plan) -> None:
        if plan.action is Action.ENTER or self._cwd is None:
            self._cwd = self.ops.prepare()  # getcwd() fails in capability mode
        cwd = self._cwd
        wanted = {g.path: g for g in plan.dirs}
        for path in sorted(set(self._dirfds) - set(wanted)):
            self.ops.close(self._dirfds.pop(path))
        for path in sorted(wanted):
            if path not in self._dirfds:
                if plan.action is Action.REDUCE:
                    continue  # capability mode: cannot open, and never widen
                self._dirfds[path] = self.ops.open_dir(path)
            self._limit(self._dirfds[path], wanted[path].rights, R.STDIO_FCNTLS, None)
        ours = set(self._dirfds.values())
        for fd in self.ops.fds():
            if fd in ours:
                continue
            try:
                kind, acc = self.ops.describe(fd)
            except OSError:
                continue  # closed meanwhile
            g = fd_grant(plan.promises, kind, acc)
            self._limit(fd, g.rights, g.fcntls, g.ioctls)
        bsdpaths._install({p: fd for p, fd in self._dirfds.items() if p in wanted},
                          plan.hidden, cwd)
        if plan.action is Action.ENTER:
            self._cap_enter()

    def _cap_enter(self) -> None:
        ffi, lib = self._binding()
        if lib.cap_enter() == -1:
            raise self._oserror("cap_enter")
        mode = ffi.new("unsigned int *")
        if lib.cap_getmode(mode) == -1 or mode[0] != 1:
            raise OSError(errno.EPERM, "cap_enter succeeded but cap_getmode does not "
                          "report capability mode")
        self._entered = True
