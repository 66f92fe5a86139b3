"""The ``pledge`` command's child: set itself up, unveil, confine, exec (never returns)."""

from __future__ import annotations

import errno
import os
import sys

from .. import api
from ..errors import UnsupportedError
from . import discover, limits
from .options import EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_SANDBOX, EXIT_USAGE

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from typing import NoReturn

    from ..backends.base import ExecSupervisor
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal


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


def _say(text: str) -> None:
    print(f"pledge: {text}", file=sys.stderr)


class SetupError(Exception):
    """The child could not set itself up; carries the exit status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def default_unveil(job: Job) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """The rules the child unveils before the -v ones (the plan's, then the shim's and
    what it loads), and the plan's notes: what the native launcher must match."""
    # what PROG holds once started: exec's PATH directories only when it keeps exec
    held = job.promises if job.after is None or "exec" in job.after else \
        job.promises - {"exec"}
    plan = discover.plan(job.path, job.argv, held, who=job.identity)
    ruled = {where for where, _ in (*plan.rules, *job.unveils)}
    # the loader reads the shim and what it loads; a second unveil of a path replaces
    # its permissions, so not those ruled already
    shim = [(where, "r") for where in ((job.shim, *job.load) if job.shim is not None else ())
            if where not in ruled]
    return [*plan.rules, *shim], plan.notes


def _unveil(job: Job, opts: argparse.Namespace) -> None:
    if opts.no_unveil:
        return
    rules, notes = default_unveil(job)
    if not opts.quiet:
        for note in notes:
            _say(note)
    # judged once, not once a path (~1.5 ms of start-up); all or nothing, as the child
    # execs nothing if any fails
    api.unveil_many(rules, strict=opts.strict)
    for where, perms in job.unveils:  # each on its own: its error names it
        try:
            api.unveil(where, perms, strict=opts.strict)
        except OSError as exc:
            raise SetupError(EXIT_USAGE, f"-v {where}: {exc.strerror}") from None


#: What CPython's locale coercion (PEP 538) sets LC_CTYPE to in its own environment.
COERCED = ("C.UTF-8", "C.utf8", "UTF-8")


def _uncoerce_locale() -> None:
    """PROG's environment as the caller gave it: without the LC_CTYPE that CPython set
    in its own when the caller's locale was C (PEP 538), which the caller's own
    environment (/proc/self/environ: as execve passed it) does not hold. Read before a
    chroot hides /proc."""
    value = os.environ.get("LC_CTYPE")
    if value not in COERCED:
        return
    try:
        with open("/proc/self/environ", "rb") as f:
            given = f.read().split(b"\0")
    except OSError:
        return  # no telling: left as it is
    if b"LC_CTYPE=" + os.fsencode(value) not in given:
        del os.environ["LC_CTYPE"]


#: What CPython ignores at start-up and a program must get back at their default
#: (as subprocess's restore_signals does): else -F gives EFBIG instead of SIGXFSZ.
RESTORED = (signal.SIGPIPE, signal.SIGXFSZ)


def _prepare(job: Job, opts: argparse.Namespace, supervisor: ExecSupervisor | None) -> None:
    """Everything but the filter, in the order each step still has the rights it needs."""
    for sig in RESTORED:
        signal.signal(sig, signal.SIG_DFL)
    _uncoerce_locale()
    # dropping capabilities and the parent-death signal: through the backend's native
    # code, else ctypes, loaded before a change of root or user can hide it
    sys_calls = limits.calls(api.backend().process_calls())
    if opts.chroot:
        api.backend().preload()  # the modules it would import later live outside DIR
        os.chroot(opts.chroot)
        os.chdir("/")
    _unveil(job, opts)
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
          go: int, failed: int = -1) -> NoReturn:
    """Set up, confine and exec *job*; never returns. A failure is said here, and one
    byte on *failed* (when >= 0; it closes at exec) tells the parent PROG never ran."""
    step = "setting up"
    try:
        _prepare(job, opts, supervisor)
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
    except BaseException as exc:  # noqa: BLE001 -- said in one line, and never returns
        # anything else would leave this forked child through cli.main into whoever
        # called it: a traceback, and a caller of cli.main running on in two processes
        _fail(failed, EXIT_SANDBOX, f"{step} {opts.prog}: {type(exc).__name__}: {exc}")
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
