"""The interface every platform backend implements.

The front end (``pledgepy.api``) parses, checks narrowing and strictness, and
keeps the state; a backend only says what it can enforce and applies it.
"""

from __future__ import annotations

from ..record import Record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)


if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any, Protocol

    from ..status import Gaps

    Promises = frozenset[str]
else:
    Protocol = object  # typing is not imported at run time: start-up cost


class UnveilRule(Record):
    """One unveil(): an absolute path and a subset of ``"rwxc"`` (may be empty)."""

    __slots__ = ()
    _fields = ("path", "permissions")
    path: str
    permissions: str

    def __new__(cls, path: str, permissions: str) -> UnveilRule:
        return tuple.__new__(cls, (path, permissions))


class PledgeRequest(Record):
    """Promises in force before and after a pledge() call (``None``: unpledged),
    the unveil rules recorded so far, whether they are already in force, and whether
    the call is strict (where a backend can enforce fully by being stricter than
    OpenBSD or by a reported gap, strict takes the first)."""

    __slots__ = ()
    _fields = ("old", "new", "old_exec", "new_exec", "unveils", "unveil_in_force", "strict")
    old: Promises | None
    new: Promises | None
    old_exec: Promises | None
    new_exec: Promises | None
    unveils: tuple[UnveilRule, ...]
    unveil_in_force: bool
    strict: bool

    def __new__(cls, old: Promises | None, new: Promises | None, old_exec: Promises | None,
                new_exec: Promises | None, unveils: tuple[UnveilRule, ...] = (),
                unveil_in_force: bool = False, strict: bool = False) -> PledgeRequest:
        return tuple.__new__(cls, (old, new, old_exec, new_exec, unveils, unveil_in_force,
                                   strict))


class Inherited(Record):
    """What a program exec'd by a pledged one was started under, now enforced by this
    process too (``promises`` also become its execpromises, as on OpenBSD)."""

    __slots__ = ()
    _fields = ("promises", "unveil_locked", "notes")
    promises: Promises
    unveil_locked: bool
    notes: tuple[str, ...]

    def __new__(cls, promises: Promises, unveil_locked: bool,
                notes: tuple[str, ...]) -> Inherited:
        return tuple.__new__(cls, (promises, unveil_locked, notes))


class Backend(Protocol):
    """What a platform module provides."""

    platform: str
    mechanism: str
    unveil_mechanism: str

    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        """What the request would leave unenforced; no side effects."""
        ...

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        """Enforce ``request.new``; commit *unveils* first when *lock_unveil*."""
        ...

    def check_unveil(self, rule: UnveilRule) -> None:
        """Reject a rule this backend cannot take (raise); no side effects."""
        ...

    def check_unveils(self, rules: list[UnveilRule], locking: bool) -> None:
        """:meth:`check_unveil` for each rule. *locking*: the lock of these rules follows
        at once, and what the check looked up may be kept for it; False drops what a
        locking call kept."""
        ...

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        """What these rules would leave unenforced once committed."""
        ...

    def add_unveil(self, rule: UnveilRule) -> None:
        """Record (or, where the kernel does so at once, apply) one rule."""
        ...

    def lock_unveil(self, unveils: tuple[UnveilRule, ...]) -> None:
        """Put every recorded rule in force and forbid further ones."""
        ...

    # Optional: BackendBase gives each a default.
    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        """What a pledge's lock of *unveils* would leave unenforced (promises known)."""
        ...

    def live_gaps(self) -> tuple[str, ...]:
        """Weaknesses that appeared after pledge() returned (status() adds them)."""
        ...

    def live_notes(self) -> tuple[str, ...]:
        """Notes about what a pledge could not set up after its checks (status() adds them)."""
        ...

    def messages_missing(self) -> str | None:
        """Why violations will not be explained (None: they will be)."""
        ...

    def set_violation_messages(self, enabled: bool) -> None:
        """Print (True) or suppress the one-line message on each violation."""
        ...

    def preload(self) -> None:
        """Import now whatever pledging and unveiling would import later (before a chroot)."""
        ...

    def import_noter(self) -> Callable[[str | None], None] | None:
        """What tells the violation handler which module the import system is finding
        (None: it is not told; its import hint then names no module)."""
        ...

    def lock_unveil_then_exec(self, unveils: tuple[UnveilRule, ...]) -> None:
        """:meth:`lock_unveil` in a process whose next act is execve (the pledge command's
        child): nothing it would set up for a later exec of its own is needed."""
        ...

    def lock_unveil_never_exec(self, unveils: tuple[UnveilRule, ...],
                               promises: frozenset[str] | None = None) -> None:
        """:meth:`lock_unveil` in a process that will never exec: the filter it installs
        next holds no ``exec`` (a pledgepy worker), so no exec machinery is prepared.
        *promises*: what that filter will hold (their path allowances reach through
        the rules, as on OpenBSD), if not what is held now."""
        ...

    def exec_supervisor(self) -> ExecSupervisor | None:
        """What lets the pledge command explain an exec'd program's violations, if any."""
        ...

    def worker_supervisor(self) -> WorkerSupervisor | None:
        """What lets a worker's parent hear its violations, if any (pledgepy.Worker)."""
        ...

    def inherited(self) -> Inherited | None:
        """The pledge this program was exec'd under, put in force here (once, at start)."""
        ...

    def spawned_promises(self) -> frozenset[str] | None:
        """What programs this process execs through subprocess, posix_spawn and
        multiprocessing run under, when that is not its own promises (None: they are)."""
        ...

    def exec_recorder(self) -> ExecRecorder | None:
        """What lets ``pledge --learn`` record an exec'd program's calls, if anything."""
        ...

    def process_calls(self) -> ProcessCalls | None:
        """prctl, capabilities and close_range through the backend's own native code
        (once loaded), for the pledge command's child; None: it makes them itself."""
        ...


#: Paths a learning Python program passes to execve() to talk to the recorder
#: (the recorder refuses them, so they never run, with :data:`LEARN_ANSWER`,
#: which no real execve of such a path returns). See pledgepy/learn/pyboot.py.
LEARN_MARKER = b"//pledgepy-learn/"
LEARN_ANSWER = 95  # EOPNOTSUPP
#: An :class:`Observation`'s access for a path the run made (it did not exist before
#: the call that created it): no letters of its own (the call's row gives them to the
#: directory), but it may not exist when the policy is applied (learn/paths.py).
MADE = "+"
#: An :class:`Observation`'s access for a path the run removed (unlink, rmdir, a rename's
#: source) that existed before that call: like MADE, a twin row without letters of its
#: own. A path missing when the report is made was then the run's input, not a failed
#: lookup: the letters it was used with still need a rule (learn/paths.py).
REMOVED = "-"


class Observation(Record):
    """Calls a recorded program made alike: the syscall, its key argument in words,
    the promise sets any one of which allows it (sorted lists; none: no promise
    does), the absolute path it used and the unveil letters that use needs
    (``"r/"``: a directory read; :data:`MADE`: a path the call made, a twin of its
    row without evidence of its own; ``None`` and ``""`` when no path), how many
    times, the first caller's pid and program name, the Python file:line of the
    first (None when unknown), and how many checkpoints came before them."""

    __slots__ = ()
    _fields = ("syscall", "argument", "needs", "path", "access", "count", "pid", "program",
               "where", "interval")
    syscall: str
    argument: str
    needs: tuple[list[str], ...]
    path: str | None
    access: str
    count: int  # type: ignore[assignment]  # the field hides tuple.count, as in namedtuple
    pid: int
    program: str
    where: str | None
    interval: int

    def __new__(cls, syscall: str, argument: str, needs: tuple[list[str], ...],
                path: str | None, access: str, count: int, pid: int, program: str,
                where: str | None = None, interval: int = 0) -> Observation:
        return tuple.__new__(cls, (syscall, argument, needs, path, access, count, pid, program,
                                   where, interval))


class Checkpoint(Record):
    """A learning program's own pledge() or unveil() call, recorded instead of enforced
    (``kind`` is "pledge" or "unveil"; the arguments as given; its file:line)."""

    __slots__ = ()
    _fields = ("kind", "promises", "execpromises", "path", "permissions", "where")
    kind: str
    promises: str | None
    execpromises: str | None
    path: str | None
    permissions: str | None
    where: str | None

    def __new__(cls, kind: str, promises: str | None, execpromises: str | None,
                path: str | None, permissions: str | None, where: str | None) -> Checkpoint:
        return tuple.__new__(cls, (kind, promises, execpromises, path, permissions, where))


class ExecRecorder(Protocol):
    """Learn mode's two halves: the child sends its calls, the parent records them."""

    def confine(self, promises: Promises, granted: Promises = frozenset()) -> None:
        """In the child, just before exec: every call *promises* refuse goes to the parent,
        but for those *granted* allows, unless they name a path unveil would check."""
        ...

    def watch(self, pid: int, promises: Promises, go: int, *,
              python: bool = False, shim: bool = False, capable: bool = True,
              ) -> tuple[list[Observation], list[Checkpoint]]:
        """In the parent: take child *pid*'s calls, write to *go* once ready, let every
        call run unchanged and record it, until the program and its children are gone.
        With *python*, also where each call was made and the program's checkpoints
        (it runs under pledgepy/learn/pyboot.py). With *shim* (the pledge command's
        start-up shim is preloaded), the calls before its report that the loader's
        promises allow are the loader's, not the program's: :attr:`phase` says.
        *capable*: False when the program runs without capabilities (the command's
        default), so a call the kernel refuses anyway is no need of a promise that
        would let it run (a chown to another owner: fattr's EPERM, as the kernel's)."""
        ...

    def start_up_shim(self, env: dict[str, str],
                      load: tuple[str, ...] = ()) -> tuple[dict[str, str], str]:
        """*env* with the pledge command's start-up shim preloaded (it loads *load*
        first), and the shim's path: what finds a program's main, as the command does."""
        ...

    def served(self, path: str, promises: Promises) -> bool:
        """Whether the pledge command lets a read-only open of *path* through under
        *promises* with no unveil rule for it (an allowance it answers itself)."""
        ...

    def tmppath(self, promises: Promises, unveils: tuple[tuple[str, str], ...]) -> str | None:
        """Why the pledge command, run with *promises* and these ``-v`` rules, would not
        let ``tmppath``'s creates and unlinks under /tmp run (None: it would)."""
        ...

    @property
    def phase(self) -> Any:
        """The last :meth:`watch`'s loader phase (``shim``, ``ready_after``, ``failed``,
        ``calls``), or None."""
        ...


class ProcessCalls(Protocol):
    """prctl, the capability sets and close_range, as the pledge command's child makes
    them (``command/limits.py``; its ctypes versions say what each returns)."""

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int: ...

    def capabilities(self, new: list[int] | None = None) -> list[int]: ...

    def cloexec_from(self, first: int) -> int: ...


class ExecSupervisor(Protocol):
    """The pledge command's two halves: the child confines itself, the parent explains."""

    def confine(self, promises: Promises, after: Promises | None = None,
                last: Callable[[], None] | None = None) -> None:
        """In the child, just before exec: put *promises* in force, violations to the parent;
        with *after*, only *after* is allowed outright and the rest of *promises* ends
        once the program has started (its execve; its loader, see :meth:`narrowing`).
        *last* runs once everything is prepared, just before the filter goes on (the
        command's resource limits: its own set-up is not limited by them)."""
        ...

    def helper_filter(self, promises: Promises) -> Callable[[], None]:
        """In a fork that will exec a program the command only asks something (a script
        host's tree): the filter of *promises*, prepared now; the call returned installs
        it (``no_new_privs`` with it), and any call beyond *promises* kills the process."""
        ...

    def narrowing(self, after: Promises, load: tuple[str, ...] = ()) -> None:
        """In the child, before its resource limits: prepare the narrowing to *after*
        (the start-up shim, which loads the libraries *load* first) that :meth:`confine`
        arms."""
        ...

    def watch(self, pid: int, promises: Promises, prog: str, go: int,
              after: Promises | None = None, shim: str | None = None,
              ready: Callable[[], None] | None = None, tmp: bool = False) -> None:
        """In the parent: take child *pid*'s violations, write to *go* once ready (after
        calling *ready*, whose exception leaves the child without its go), and
        explain and punish each violation until the program and its children are gone
        (with *after*: the rest of *promises* ends at the program's own execve, or with
        the start-up *shim* once it reports its loader done, before its main; killing
        the program if it does not report). *tmp*: ``tmppath``'s creates and unlinks
        under /tmp may run (nothing but /tmp is writable in the program's unveil)."""
        ...

    def adopt(self, pid: int, listener: int, promises: Promises, prog: str,
              after: Promises, shim: str | None, *,
              ids: tuple[int, tuple[int, ...]] | None = None,
              phase: tuple[bool, bool, bool, float | None] | None = None,
              first: tuple[int, tuple[int, ...], int, int] | None = None,
              tmp: bool = False) -> None:
        """In the process that holds child *pid*'s *listener* already (it took over from
        another supervisor: the native launcher's, PROTOCOL.md): serve it as :meth:`watch`
        would from the go on, until the program and its children are gone; *listener* is
        closed then. *ids*: the uid and groups the child's rules were built with; *phase*:
        the start-up phase as far as it went (execed, opening, seen, seconds left of its
        deadline); *first*: a notification read and not answered (nr, its six arguments,
        id, tid), answered first as :meth:`watch` would have."""
        ...

    def tmppath(self, promises: Promises, no_unveil: bool,
                unveils: tuple[tuple[str, str], ...], chroot: bool) -> str | None:
        """Why ``tmppath``'s creates and unlinks under /tmp cannot be let through for a
        program holding *promises* with these unveil options (None: they can, pass ``tmp=True`` to
        :meth:`watch`)."""
        ...

    def start_up_shim(self) -> str:
        """The path of the library preloaded to narrow programs after their loader;
        NativeBuildError (its message says why) when there is none to use here."""
        ...

    def gaps(self, promises: Promises) -> tuple[str, ...]:
        """How a program holding *promises* could still outlive or outrank the parent."""
        ...

    def penalty(self, pid: int) -> int | None:
        """After :meth:`watch`: the signal process *pid* was sent for a violation (SIGABRT,
        or SIGKILL when it blocked, caught or ignored SIGABRT); None if it broke none."""
        ...


class WorkerSupervisor(Protocol):
    """A worker's two halves: it confines itself, its parent hears its violations."""

    def prepare(self, promises: Promises | None = None) -> None:
        """In the worker: load what :meth:`confine` needs, while files can be read.
        In a fork-mode worker's parent, with *promises*: also work out what the
        worker's :meth:`confine` would for them, as far as it does not depend on
        the worker (the fork inherits it)."""
        ...

    def before_start(self) -> None:
        """In the parent, before it starts a worker: load what hearing one needs (a
        module imported once a worker has run could be one it wrote: see
        ``stdiofiles.prime`` on Linux)."""
        ...

    def load_for(self, promises: Promises) -> None:
        """In the worker, before its files are listed and unveiled: load what the
        libraries load themselves later for what *promises* allow (glibc's NSS
        modules), which the worker's rules and filters would refuse then."""
        ...

    def confine(self, promises: Promises, channel: socket.socket, ready: bytes) -> None:
        """In the worker: enforce *promises*; send *ready* and the means to hear
        violations (a descriptor) over *channel*."""
        ...

    def explain(self, listener: int, promises: Promises, prog: str) -> str | None:
        """In the parent: take one violation off *listener*, refuse it; its message."""
        ...

    def killed_by_seal(self) -> str:
        """What a worker killed by SIGSYS broke."""
        ...


class BackendBase:
    """Defaults for the optional part of :class:`Backend`."""

    def check_unveils(self, rules: list[UnveilRule], locking: bool) -> None:
        for rule in rules:
            self.check_unveil(rule)  # type: ignore[attr-defined]

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        raise NotImplementedError

    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        return self.unveil_gaps(unveils, True)

    def live_gaps(self) -> tuple[str, ...]:
        return ()

    def live_notes(self) -> tuple[str, ...]:
        return ()

    def messages_missing(self) -> str | None:
        return None

    def set_violation_messages(self, enabled: bool) -> None:
        return None

    def preload(self) -> None:
        return None

    def import_noter(self) -> Callable[[str | None], None] | None:
        return None

    def lock_unveil_then_exec(self, unveils: tuple[UnveilRule, ...]) -> None:
        self.lock_unveil(unveils)  # type: ignore[attr-defined]

    def lock_unveil_never_exec(self, unveils: tuple[UnveilRule, ...],
                               promises: frozenset[str] | None = None) -> None:
        self.lock_unveil(unveils)  # type: ignore[attr-defined]

    def exec_supervisor(self) -> ExecSupervisor | None:
        return None

    def worker_supervisor(self) -> WorkerSupervisor | None:
        return None

    def inherited(self) -> Inherited | None:
        return None

    def spawned_promises(self) -> frozenset[str] | None:
        return None

    def exec_recorder(self) -> ExecRecorder | None:
        return None

    def process_calls(self) -> ProcessCalls | None:
        return None
