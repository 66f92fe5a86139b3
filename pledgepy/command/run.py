"""The ``pledge`` command's child: set itself up, unveil, confine, exec (never returns)."""

from __future__ import annotations

import errno
import os
import sys

from .. import api
from ..errors import UnsupportedError
from . import discover, limits, loader
from .options import EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_SANDBOX, EXIT_USAGE

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from typing import NoReturn

    from ..backends.base import ExecSupervisor
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal


#: (what PROG holds once started, the default unveil's discovery for it)
Planned = tuple[frozenset[str], discover.Plan]


class Job:
    """Everything the child needs, decided before the fork."""

    __slots__ = ("path", "argv", "promises", "unveils", "identity", "limits", "after",
                 "shim", "load")

    def __init__(self, path: str, argv: list[str], promises: frozenset[str],
                 unveils: tuple[tuple[str, str], ...], identity: limits.Identity,
                 limits: dict[str, int], after: frozenset[str] | None = None,
                 shim: str | None = None, load: tuple[str, ...] = ()) -> None:
        self.path = path
        self.argv = argv
        self.promises = promises  # what the filter allows (asked, loader's, exec)
        self.unveils = unveils  # -v
        self.identity = identity
        self.limits = limits
        self.after = after  # narrowed to these once started (its execve; the shim's report)
        self.shim = shim  # the start-up shim preloaded to do it
        self.load = load  # libraries the shim loads before narrowing (NSS modules)

    def _replace(self, **changes: object) -> Job:
        """A copy with *changes* (as NamedTuple's, without importing typing)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Job(**fields)


def verdict(supervised: bool, job: Job) -> bytes:
    """The parent's word to the child forked before the backend was loaded: go on, with
    or without a supervisor, narrowing after its start as *job* says (:func:`heard`)."""
    after = " ".join(sorted(job.after)) if job.after is not None else "-"
    fields = [b"S" if supervised else b"U", after.encode(),
              os.fsencode(job.shim) if job.shim is not None else b""]
    return b"\0".join(fields + [os.fsencode(p) for p in job.load])


def heard(said: bytes, job: Job) -> tuple[bool, Job]:
    """(supervised, *job* as :func:`verdict` said it); ValueError for anything else."""
    kind, after, shim, *load = said.split(b"\0")
    if kind not in (b"S", b"U") or not after:
        raise ValueError(f"the parent's word is garbled: {said[:40]!r}")
    return kind == b"S", job._replace(
        after=None if after == b"-" else frozenset(after.decode().split()),
        shim=os.fsdecode(shim) if shim else None, load=tuple(os.fsdecode(p) for p in load))


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        got = os.read(fd, 65536)
        if not got:
            return b"".join(chunks)
        chunks.append(got)


def _early_plan(job: Job, opts: argparse.Namespace, asked: frozenset[str],
                supervised: bool) -> Planned | None:
    """The default unveil's discovery, done while the parent decides (it reads files and
    changes nothing), for what PROG will most likely hold: :func:`_unveil` uses it only
    when the parent's word gives the same. None when it would run before a change of
    root (-c), may be refused (--strict: a script host's query should not run for a
    command that will not), or fails: the set-up then does it (and says its error) as
    before."""
    if opts.no_unveil or opts.chroot or opts.strict:
        return None
    # the filter's set once started keeps exec when asked, with no supervisor to end
    # it, or when PROG executes another program (env, nice) and takes no start-up shim
    keeps_exec = "exec" in asked or not supervised or loader.executes(job.path, job.argv)
    held = job.promises if keeps_exec else job.promises - {"exec"}
    try:
        return held, discover.plan(job.path, job.argv, held, who=job.identity)
    except Exception:  # noqa: BLE001 -- not lost: _unveil discovers again and says it
        return None


def forked(job: Job, opts: argparse.Namespace, asked: frozenset[str], told: tuple[int, int],
           word: int, go: int, failed: int = -1) -> NoReturn:
    """The child forked as soon as *job* was known: load the backend while the parent
    loads its own, then hear the parent's word on *word* (what only it decides: the
    supervisor's hand-over, --strict, the notes it prints first) and go on as
    :func:`child`. No word (the pipe closed empty) means the parent refused, and said
    why, or is gone: end without running PROG and without a word of its own."""
    try:
        problem: BaseException | None = None
        try:
            supervisor = api.backend().exec_supervisor(told)
        except Exception as exc:  # said only if the parent goes on all the same
            problem, supervisor = exc, None
        planned = _early_plan(job, opts, asked, supervisor is not None) \
            if problem is None else None
        said = _read_all(word)
        os.close(word)
        if not said:
            os._exit(EXIT_SANDBOX)
        supervised, job = heard(said, job)
        if problem is not None:
            _fail(failed, EXIT_SANDBOX, f"setting up {opts.prog}: {problem}")
        if supervised != (supervisor is not None):
            _fail(failed, EXIT_SANDBOX, f"setting up {opts.prog}: the supervisor is "
                  f"{'missing' if supervised else 'unexpected'} in the child")
        if supervisor is None:
            for fd in (*told, go):
                os.close(fd)
        child(job, opts, supervisor, go, failed, planned)
    except BaseException as exc:  # never back into the parent's code: say it, end here
        _fail(failed, EXIT_SANDBOX, f"setting up {opts.prog}: {type(exc).__name__}: {exc}")


def _say(text: str) -> None:
    print(f"pledge: {text}", file=sys.stderr)


class SetupError(Exception):
    """The child could not set itself up; carries the exit status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def _held(job: Job) -> frozenset[str]:
    """What PROG holds once started: exec's PATH directories only when it keeps exec."""
    return job.promises if job.after is None or "exec" in job.after else \
        job.promises - {"exec"}


def _unveil(job: Job, opts: argparse.Namespace, planned: Planned | None = None) -> None:
    if opts.no_unveil:
        return
    held = _held(job)
    plan = planned[1] if planned is not None and planned[0] == held else \
        discover.plan(job.path, job.argv, held, who=job.identity)
    if not opts.quiet:
        for note in plan.notes:
            _say(note)
    ruled = {where for where, _ in (*plan.rules, *job.unveils)}
    # the loader reads the shim and what it loads; a second unveil of a path replaces
    # its permissions, so not those ruled already
    shim = [(where, "r") for where in ((job.shim, *job.load) if job.shim is not None else ())
            if where not in ruled]
    # judged once, not once a path (~1.5 ms of start-up); all or nothing, as the child
    # execs nothing if any fails
    api.unveil_many([*plan.rules, *shim], strict=opts.strict)
    for where, perms in job.unveils:  # each on its own: its error names it
        try:
            api.unveil(where, perms, strict=opts.strict)
        except OSError as exc:
            raise SetupError(EXIT_USAGE, f"-v {where}: {exc.strerror}") from None


#: What CPython ignores at start-up and a program must get back at their default
#: (as subprocess's restore_signals does): else -F gives EFBIG instead of SIGXFSZ.
RESTORED = (signal.SIGPIPE, signal.SIGXFSZ)


def _prepare(job: Job, opts: argparse.Namespace, supervisor: ExecSupervisor | None,
             planned: Planned | None = None) -> None:
    """Everything but the filter, in the order each step still has the rights it needs."""
    for sig in RESTORED:
        signal.signal(sig, signal.SIG_DFL)
    # dropping capabilities and the parent-death signal: through the backend's native
    # code, else ctypes, loaded before a change of root or user can hide it
    sys_calls = limits.calls(api.backend().process_calls())
    if opts.chroot:
        api.backend().preload()  # the modules it would import later live outside DIR
        os.chroot(opts.chroot)
        os.chdir("/")
    _unveil(job, opts, planned)
    if opts.nice:
        os.nice(opts.nice)
    limits.become(job.identity)
    if not opts.keep_caps:
        limits.drop_capabilities(sys_calls)
    if not opts.keep_fds:
        limits.close_inherited(sys_calls)
    if job.shim is not None and job.after is not None and supervisor is not None:
        supervisor.narrowing(job.after, job.load)
    if supervisor is None:  # pledge() compiles its filter next, under the limits
        limits.set_limits(job.limits)


def child(job: Job, opts: argparse.Namespace, supervisor: ExecSupervisor | None,
          go: int, failed: int = -1, planned: Planned | None = None) -> NoReturn:
    """Set up, confine and exec *job*; never returns. A failure is said here, and one
    byte on *failed* (when >= 0; it closes at exec) tells the parent PROG never ran."""
    step = "setting up"
    try:
        _prepare(job, opts, supervisor, planned)
        step = "confining"
        if supervisor is not None:  # the parent explains violations
            if not opts.no_unveil:
                # its gaps are a note of the command's, not a Python warning
                api.lock_unveil_for(job.promises, strict=opts.strict, quiet=True,
                                    then_exec=True)
                gaps = api.status().unveil.not_enforced
                if gaps and not opts.quiet:
                    _say("unveil enforced only in part: " + "; ".join(gaps))
            if job.shim is not None:  # else its loader would ignore LD_PRELOAD
                try:
                    os.close(os.open(job.shim, os.O_RDONLY | os.O_CLOEXEC))
                except OSError as exc:
                    if exc.errno in _OWN_LIMITS:
                        raise  # the command's own limit, said as such below
                    raise SetupError(EXIT_SANDBOX, f"the start-up shim {job.shim}: "
                                     f"{exc.strerror} (as {opts.prog} will run)") from None
            # the limits last, once the command's own set-up is done (its Python may need
            # more than -M or -O give the program), just before the filter
            # -O is the supervisor's to set, once it holds the listener (limits.split)
            own, _ = limits.split(job.limits)
            supervisor.confine(job.promises, job.after, last=lambda: limits.set_limits(own))
            # The listener closes at exec: run only once the parent holds it, or its
            # violations would go unreported and unpunished.
            if os.read(go, 1) != b"x":
                _fail(failed, EXIT_SANDBOX)
        else:
            api.pledge(" ".join(sorted(job.promises)), None, strict=opts.strict)
        step = "exec"
        os.execv(job.path, job.argv)
    except SetupError as exc:
        _fail(failed, exc.status, str(exc))
    except (ValueError, TypeError) as exc:
        _fail(failed, EXIT_USAGE, str(exc))
    except UnsupportedError as exc:
        _fail(failed, EXIT_SANDBOX, exc.strerror or str(exc))
    except MemoryError:
        _fail(failed, EXIT_USAGE, _too_low(opts, "M"))
    except OSError as exc:
        letter = _OWN_LIMITS.get(exc.errno or 0)
        if letter is not None and getattr(opts, letter) is not None and step != "exec":
            _fail(failed, EXIT_USAGE, _too_low(opts, letter))
        if step == "exec":
            low = f" (-M {opts.M} is too low for its execve)" if letter == "M" and \
                opts.M is not None else ""
            _fail(failed, EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_CANNOT_RUN,
                  f"{opts.prog}: {exc.strerror}{low}")
        where = f" ({exc.filename})" if exc.filename else ""
        _fail(failed, EXIT_SANDBOX, f"{step} {opts.prog}: {exc.strerror}{where}")
    _fail(failed, EXIT_SANDBOX)


#: errno -> the limit option that makes the command's own set-up fail with it
_OWN_LIMITS = {errno.EMFILE: "O", errno.ENOMEM: "M"}


def _too_low(opts: argparse.Namespace, letter: str) -> str:
    return (f"-{letter} {getattr(opts, letter)} is too low for the command itself to set "
            f"{opts.prog} up")


def _fail(failed: int, status: int, text: str | None = None) -> NoReturn:
    """End the child before PROG ran: say *text*, tell the parent, exit with *status*."""
    if text is not None:
        _say(text)
    if failed >= 0:
        try:
            os.write(failed, b"!")
        except OSError:
            pass  # only when the parent has gone: nobody to explain to
    os._exit(status)
