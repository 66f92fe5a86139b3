"""``pledge --learn``: run a program with nothing refused and report what it needed.

With ``-p PROMISES`` (audit mode) the program runs under those promises and
each call they would refuse runs anyway and is reported with what it needed.
The report goes to stderr (or ``-o FILE``): the program's stdout stays its own.
"""

from __future__ import annotations

import os
import sys

from .. import api
from ..command import elf
from ..errors import NativeBuildError
from ..promises import parse
from . import report

#: What the dynamic loader needs to map a program's libraries, and where it reads them.
LOADER_PROMISES = frozenset({"rpath", "prot_exec"})
LOADER_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")


def _interpreter(path: str) -> str | None:
    """The ELF interpreter (PT_INTERP) of *path*, or None for a static program."""
    info = elf.read(path)
    return info.interp if info is not None else None


TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from typing import Any

    from ..backends.base import Checkpoint, ExecRecorder, Observation
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_SANDBOX = 64, 127, 70


def given_rules(path: str) -> dict[str, str]:
    """The unveil rules the pledge command adds itself for program *path*."""

    out = {path: "rx"}
    loader = _interpreter(path)
    if loader:
        out[loader] = "rx"
        out.update((d, "r") for d in LOADER_DIRS)
    return out


def audited_promises(opts: argparse.Namespace, path: str) -> frozenset[str] | None:
    """What audit mode holds the program to (with what the command adds), or None."""
    if opts.promises is None:
        return None

    asked = parse(" ".join(opts.promises), "promises") or frozenset()
    return asked | {"exec"} | (LOADER_PROMISES if _interpreter(path) else frozenset())


def granted_promises(opts: argparse.Namespace, path: str) -> frozenset[str]:
    """What learn mode grants a dynamically linked program without recording every call.

    Its loader cannot run without stdio, rpath and prot_exec (the pledge command
    adds the last two itself), so they are in every answer for it, and recording
    each read, write and stat is most of the cost of learning (benchmarks/RESULTS.md).
    Opens, execs and other calls whose path unveil checks are still recorded.
    ``--every-call`` records everything.
    """

    if getattr(opts, "every_call", False) or not _interpreter(path):
        return frozenset()
    return LOADER_PROMISES | {"stdio"}


def record(recorder: ExecRecorder, path: str, argv: list[str], promises: frozenset[str],
           granted: frozenset[str] = frozenset(), *, python: bool = False,
           env: dict[str, str] | None = None,
           ) -> tuple[list[Observation], list[Checkpoint], int, int]:
    """Run *argv* (from *path*) under the recorder:
    (observations, checkpoints, pid, wait status)."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child execs)
        os.close(go_w)
        try:
            recorder.confine(promises, granted)
            if os.read(go_r, 1) == b"x":  # the parent holds the listener
                if env is None:
                    os.execv(path, argv)
                os.execve(path, argv, env)
        except OSError as exc:
            print(f"pledge: {argv[0]}: {exc.strerror}", file=sys.stderr)
            os._exit(EXIT_NOT_FOUND)
        os._exit(EXIT_SANDBOX)
    os.close(go_r)
    old = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)]
    try:
        observations, checkpoints = recorder.watch(pid, promises, go_w, python=python)
        _, status = os.waitpid(pid, 0)
    finally:
        for s, handler in zip((signal.SIGINT, signal.SIGQUIT), old, strict=True):
            signal.signal(s, handler)
    return observations, checkpoints, pid, status


def exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def write(body: str, output: str | None) -> None:
    """Write *body* to *output*, or to stderr (the program's stdout stays its own)."""
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(body)
    else:
        sys.stderr.write(body)
        sys.stderr.flush()


def emit(result: dict[str, Any], heading: str, as_json: bool, output: str | None) -> None:
    """Write the report where it was asked for (stderr by default)."""
    write(report.dumps(result) if as_json else report.text(result, heading),
          output)


def save_if_asked(opts: argparse.Namespace, result: dict[str, Any]) -> int | None:
    """Save the policy as profile ``opts.save``; an exit status if that failed."""
    if not getattr(opts, "save", None):
        return None
    from . import profile

    try:
        where = profile.save(opts.save, result)
    except (OSError, ValueError) as exc:
        print(f"pledge: cannot save profile {opts.save!r}: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    if not opts.quiet:
        print(f"pledge: saved profile {opts.save!r} to {where}", file=sys.stderr)
    return None


def main(opts: argparse.Namespace, path: str) -> int:
    """Learn (or audit) one run of *path*; the exit status is the program's."""
    try:
        audited = audited_promises(opts, path)
        recorder = api.backend().exec_recorder()
    except (ValueError, TypeError) as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NativeBuildError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    if recorder is None:
        print("pledge: --learn needs seccomp user notification and the native module "
              "(pip install -e . with a C compiler); not available here", file=sys.stderr)
        return EXIT_SANDBOX
    argv = [opts.prog, *opts.args]
    granted = granted_promises(opts, path) if audited is None else frozenset()
    observations, _, pid, status = record(recorder, path, argv, audited or frozenset(), granted)
    result = report.build(observations, argv, given_rules(path), audited, granted)
    how = (f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
           else f"signal {os.WTERMSIG(status)}")
    emit(result, f"pledge: learned from one run of {opts.prog} (pid {pid}, {how})",
         opts.json, opts.output)
    failed = save_if_asked(opts, result)
    return failed if failed is not None else exit_code(status)
