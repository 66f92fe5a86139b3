"""The Python command's side of the native launcher's hand-over (launcher/PROTOCOL.md).

The launcher (``pledge``) runs the command's common path natively; once PROG has run
and something needs the Python supervisor (a violation, a served open, an unclean end)
it execs::

    INTERP -I -c "from pledgepy.command.takeover import main; main()" STATE -- ARGS...

This process is then the launcher's (PROG is still its child), holding the listener.
:func:`main` rebuilds what the command's supervisor and :func:`..cli._explain_end` need
from ARGS (parsed as the command parses them) and STATE, without looking for PROG's
libraries again or reading PROG's files, answers the pending notification as
:func:`..backends.linux.exec.supervise.serve` would have, serves the listener to the
end and exits with the command's status.

Everything is imported before the first answer lets PROG go on; ``-I`` keeps the
working directory and the environment out of sys.path, and the launcher took this way
only for a program that can write nothing outside OpenBSD's device allowances.
"""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from typing import NoReturn
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms)
    import _signal as signal


#: Every key STATE may hold (PROTOCOL.md); any other is a launcher this takeover is not.
KEYS = frozenset({"listener", "pid", "err", "held", "after", "shim", "execed", "opening",
                  "seen", "deadline_ms", "uid", "gids", "notif", "status", "cpu_us"})


class StateError(ValueError):
    """A STATE this takeover cannot read: a launcher of another version, or a bug."""


def parse_state(text: str) -> dict[str, str]:
    """STATE's ``key=value,...`` as a dict; StateError for anything not in the protocol."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS or key in out:
            raise StateError(f"bad hand-over state item {item!r}")
        out[key] = value
    return out


def _int(state: dict[str, str], key: str, base: int = 10) -> int:
    try:
        return int(state[key], base)
    except KeyError:
        raise StateError(f"hand-over state without {key}") from None
    except ValueError:
        raise StateError(f"bad hand-over state {key}={state[key]!r}") from None


def _flag(state: dict[str, str], key: str) -> bool:
    value = state.get(key, "0")
    if value not in ("0", "1"):
        raise StateError(f"bad hand-over state {key}={value!r}")
    return value == "1"


def promises_of(mask: int) -> frozenset[str]:
    """The promises of bitmask *mask* (promises.bits' inverse); StateError for a bit
    that names none."""
    from ..promises import VOCABULARY

    if mask >> len(VOCABULARY):
        raise StateError(f"promise bits {mask:#x} beyond the vocabulary")
    return frozenset(p for i, p in enumerate(VOCABULARY) if mask >> i & 1)


def notification(text: str) -> tuple[int, tuple[int, ...], int, int]:
    """``id:tid:nr:a0:...:a5`` (hex) -> (nr, args, id, tid), as serve() takes it."""
    try:
        words = [int(w, 16) for w in text.split(":")]
    except ValueError:
        raise StateError(f"bad hand-over notification {text!r}") from None
    if len(words) != 9:
        raise StateError(f"bad hand-over notification {text!r}")
    ident, tid, nr, *args = words
    return nr, tuple(args), ident, tid


def unveil_spec(spec: str) -> tuple[str, str]:
    """``-v [PERMS:]PATH`` as cli._unveil_spec reads it, without its check that the path
    exists: that was the launcher's to make before PROG ran (now PROG's files are not
    this process's to look at)."""
    perms, sep, where = spec.partition(":")
    if not sep or set(perms) - set("rwxc"):
        perms, where = "r", spec
    return os.path.abspath(where), perms


def main() -> NoReturn:
    """The entry point the launcher execs (sys.argv: ``-c STATE -- ARGS...``)."""
    gc.disable()  # as the command's until the go (cli.main says why); collected from the go
    from ..cli import leave

    leave(_main(sys.argv[1:]))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _main(argv: list[str]) -> int:
    from . import options

    pid = 0
    try:
        if len(argv) < 2 or argv[1] != "--":
            raise StateError("no STATE -- ARGS")
        state = parse_state(argv[0])
        pid = _int(state, "pid")
        if pid <= 0:
            raise StateError(f"bad hand-over state pid={pid}")
        err = _int(state, "err") if "err" in state else -1
    except StateError as exc:
        # nobody would answer PROG's calls now: it must not run on without a supervisor
        if pid > 0:
            _kill(pid)
        print(f"pledge: the native launcher's hand-over failed ({exc})", file=sys.stderr)
        return options.EXIT_SANDBOX
    reaped = ["status" in state]  # PROG's pid may be another process's once reaped
    try:
        if err >= 0:
            from .. import outlet

            sys.stderr = outlet.text(err)
        opts = options.parse(argv[2:])
    except BaseException as exc:  # argparse's SystemExit among them: the launcher's ARGS
        if not reaped[0]:
            _kill(pid)
        print(f"pledge: the native launcher's hand-over failed ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return options.EXIT_SANDBOX
    try:
        return _take_over(opts, state, pid, reaped)
    except BaseException as exc:
        from ..cli import _supervisor_failed

        return _supervisor_failed(opts, pid, exc, reaped[0])


def _take_over(opts: argparse.Namespace, state: dict[str, str], pid: int,
               reaped: list[bool]) -> int:
    from .. import api, cli
    from ..errors import NativeBuildError
    from . import limits, options, run

    held = promises_of(_int(state, "held", 16))
    after = promises_of(_int(state, "after", 16))
    supervisor = api.backend().exec_supervisor()
    if supervisor is None:  # the launcher confined PROG with a listener: this kernel has one
        raise NativeBuildError("no exec supervisor here to take the listener over")
    shim = None
    if _flag(state, "shim"):
        shim = supervisor.start_up_shim()  # the path the launcher preloaded (checked there)
    path = cli._find(opts.prog, opts.chroot) or opts.prog
    job = run.Job(path, [opts.prog, *opts.args], held, tuple(unveil_spec(s) for s in opts.unveil),
                  limits.identity(opts.user, opts.group), options.limits(opts), after=after,
                  shim=shim)
    tmp = "tmppath" in after and supervisor.tmppath(after, opts.no_unveil, job.unveils,
                                                    bool(opts.chroot)) is None
    status = _int(state, "status") if "status" in state else None
    first = notification(state["notif"]) if "notif" in state else None
    if status is not None and first is not None:
        raise StateError("hand-over state with both notif and status")
    listener = _int(state, "listener") if "listener" in state else -1
    ids = None
    if shim is not None:
        gids = tuple(int(g) for g in state.get("gids", "").split(":") if g)
        ids = (_int(state, "uid"), gids)
    deadline = _int(state, "deadline_ms") / 1000 if "deadline_ms" in state else None
    # PROG ended: its READY cannot come (the phase ends with it, as shim._Opening.tick says)
    phase = (_flag(state, "execed"), _flag(state, "opening") and status is None,
             _flag(state, "seen"), deadline)
    sys.path[:] = cli.without_program_dirs(sys.path, "-c")
    cli._collect_from_now()  # the supervisor: it may run as long as the program
    for ignored in cli.SUPERVISOR_IGNORES:
        signal.signal(ignored, signal.SIG_IGN)
    cpu = _int(state, "cpu_us") / 1e6 if "cpu_us" in state else None
    if listener >= 0:  # with *status*: what PROG left under the filter, to the end
        supervisor.adopt(pid, listener, held, os.path.basename(job.path), after, shim,
                         ids=ids, phase=phase, first=first, tmp=tmp)
    if status is None:
        _, status, usage = os.wait4(pid, 0)
        reaped[0] = True
        cpu = usage.ru_utime + usage.ru_stime
    # no limits on the launcher's path, so no word from the child that PROG never ran:
    # it reached PROG's execve (set_up), as the command would take it
    return cli._explain_end(opts, job, pid, status, supervisor.penalty(pid), True,
                            not job.limits, cpu)
