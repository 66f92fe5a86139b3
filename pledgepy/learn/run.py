"""``pledge --learn``: run a program with nothing refused and report what it needed.

With ``-p PROMISES`` (audit mode) the program runs under those promises and
each call they would refuse runs anyway and is reported with what it needed.
The report goes to stderr (or ``-o FILE``): the program's stdout stays its own.

A dynamically linked program runs with the pledge command's start-up shim
preloaded, as the command runs it: the calls its loader makes before main with
the loader's promises (rpath, prot_exec) are the loader's, which the command
ends at the shim's READY, and are reported apart; what the program needs is
what it does from main on.
"""

from __future__ import annotations

import errno
import os
import sys

from .. import api
from ..command import elf
from ..errors import NativeBuildError
from ..promises import parse
from . import dump, report

#: What the dynamic loader needs to map a program's libraries (until main).
LOADER_PROMISES = frozenset({"rpath", "prot_exec"})


def _interpreter(path: str) -> str | None:
    """The ELF interpreter (PT_INTERP) of *path*, or None for a static program."""
    info = elf.read(path)
    return info.interp if info is not None else None


TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from collections.abc import Callable
    from typing import Any

    from ..backends.base import Checkpoint, ExecRecorder, Observation
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_SANDBOX, EXIT_CANNOT_RUN = 64, 127, 70, 126


def given_rules(path: str, argv: list[str], shim: str | None = None,
                ) -> Callable[[frozenset[str]], dict[str, str]]:
    """The unveil rules the pledge command adds itself for program *path* run as *argv*
    under the learned promises (path -> letters): its default unveil
    (:func:`..command.discover.plan`, under these promises, which the command's never
    fall short of), with the program and its loader as named, and the start-up *shim*
    and, when the command's shim loads them, the NSS modules."""

    def rules(promises: frozenset[str]) -> dict[str, str]:
        from ..command import discover, loader

        out = {path: "rx"}
        interp = _interpreter(path)
        if interp:
            out[interp] = "rx"
        try:
            plan = discover.plan(path, argv, promises).rules
        except OSError:  # a broken #! line: the command refuses to run it anyway
            plan = ()
        for where, perms in plan:
            out[where] = "".join(c for c in "rwxc" if c in out.get(where, "") + perms)
        if shim:
            out.setdefault(shim, "r")
            if "rpath" in promises and "prot_exec" not in promises:  # as cli._after_loader
                out.update((m, "r") for m in loader.nss_modules() if m not in out)
        return out

    return rules


def ask_hosts_first(path: str, argv: list[str]) -> None:
    """Before the run: when an interpreter the command asks for its library trees is in
    *path*'s ``#!`` chain (command/hosts.py), ask it now and keep the answer, for
    :func:`given_rules`' plan after the run: asking then would import json, re and the
    query's own modules after the program ran, and it may have rewritten any module
    file its user can write (the supervisor runs what it imports unconfined). Kept
    until :func:`..command.hosts.forget`."""
    from ..command import discover, hosts

    if any(hosts.find(file) for file, _ in discover.chain(path, argv)):
        hosts.remember()
        discover.plan(path, argv, frozenset())


def audited_promises(opts: argparse.Namespace) -> frozenset[str] | None:
    """What audit mode holds the program to (exactly the asked promises), or None.

    Nothing is added for the loader: its calls before main are told apart by the
    start-up shim's READY, as the pledge command tells them (:func:`shim_env`)."""
    if opts.promises is None:
        return None
    return parse(" ".join(opts.promises), "promises") or frozenset()


def granted_promises(opts: argparse.Namespace, path: str) -> frozenset[str]:
    """What learn mode grants a dynamically linked program without recording every call.

    Only ``stdio``: the pledge command requires it of every program, and recording
    each read and write is most of the cost of learning (benchmarks/RESULTS.md). Not
    the loader's rpath and prot_exec: the command ends them at main, so a program
    that needs them afterwards must be seen doing so. Calls whose path unveil checks
    are recorded all the same. ``--every-call`` records everything.
    """

    if getattr(opts, "every_call", False) or not _interpreter(path):
        return frozenset()
    return frozenset({"stdio"})


def shim_env(recorder: ExecRecorder, path: str,
             env: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """*env* with the pledge command's start-up shim preloaded, and the shim's path, for a
    program whose loader runs before main (*path* or its ``#!`` interpreter); None for a
    static one (its phase ends at its execve). The shim loads the NSS modules first, as
    the command's does when it narrows to rpath without prot_exec: a learned set without
    prot_exec then runs with them loaded (NativeBuildError: the shim is missing or stale).
    """
    from ..command import discover, loader

    if not discover.dynamic(path):
        return None
    return recorder.start_up_shim(env, tuple(loader.nss_modules()))


def notes(path: str, argv: list[str], promises: frozenset[str],
          phase: Any) -> list[str]:
    """What the pledge command will do beyond *promises* for this program, and how the
    loader's phase of the run went, each said as the truth."""
    from ..command import discover, loader

    said: list[str] = []
    if phase is not None and phase.shim:
        if phase.failed:
            said.append(f"the start-up shim {phase.failed}: the pledge command kills such a "
                        "program before main")
        elif phase.ready_after is None:
            said.append("the start-up shim never reported (the program ended, or ran its "
                        "main without it, first): every call is counted as the program's; "
                        "the pledge command kills a program that runs main without it")
        elif phase.ready_after > phase.deadline:
            said.append(f"the loader took {phase.ready_after:.1f} s: the pledge command "
                        "kills a program whose start-up shim has not reported in "
                        f"{phase.deadline:g} s")
    shim = discover.pyenv_shim(path)
    if shim is not None:  # the command says so too (discover.plan)
        name = os.path.basename(path)
        said.append(f"{argv[0]} is a pyenv shim: this run was pyenv's scripts picking a "
                    "Python (hence exec, proc and their files), then the Python; learn the "
                    f"interpreter itself for a narrower policy (`pyenv which {name}`: "
                    f"{os.path.dirname(os.path.dirname(shim))}/versions/VERSION/bin/{name})")
    if not discover.dynamic(path):
        return said
    why = loader.keeps(path, argv, promises, None)
    extra = sorted(LOADER_PROMISES - promises)
    if why is not None and extra:
        said.append(f"the pledge command adds {' '.join(extra)} for {argv[0]}'s whole run: "
                    f"{why}; --strict refuses to run it without asking for them")
    if "exec" not in promises and loader.executes(path, argv):
        said.append(f"{argv[0]} keeps exec under the pledge command (it executes another "
                    "program)")
    return said


def caps_note(prog: str, status: int, result: dict[str, Any], keep_caps: bool) -> str | None:
    """What the command's own note says after such a run (cli._needs_caps): the run
    failed as root without capabilities, holding a promise to change owners or modes or
    given another user's path. The learned set is that failed run's (a chown to another
    user refused, as without CAP_CHOWN): said, so it is not taken for the program's need."""
    if keep_caps or os.getuid() != 0 or not os.WIFEXITED(status) or not os.WEXITSTATUS(status):
        return None
    needs = bool(set(result["promises"]) & {"chown", "fattr"})
    for where, _ in result["unveil"]:
        try:
            needs = needs or os.stat(where).st_uid != 0
        except OSError:
            continue
    if not needs:
        return None
    return (f"{prog} exited with status {os.WEXITSTATUS(status)}; it ran as root without "
            "capabilities, as the pledge command runs it (-D keeps them): a \"Permission "
            "denied\" or \"Operation not permitted\" on another user's file, a chown or a "
            "chroot may be why; this report is of that run: learn again with -D if the "
            "program needs root's rights")


def record(recorder: ExecRecorder, path: str, argv: list[str], promises: frozenset[str],
           granted: frozenset[str] = frozenset(), *, python: bool = False,
           env: dict[str, str] | None = None, shim: bool = False,
           as_command: tuple[bool, bool] | None = None,
           ) -> tuple[list[Observation], list[Checkpoint], int, int]:
    """Run *argv* (from *path*) under the recorder:
    (observations, checkpoints, pid, wait status). *as_command*: (keep capabilities,
    keep inherited descriptors) as the pledge command's -D and -N say: what it does not
    keep, the run does not have either (else root's CAP_DAC_OVERRIDE or an inherited
    descriptor would be learned as enough, and the suggested command then fail)."""
    go_r, go_w = os.pipe()
    failed_r, failed_w = os.pipe()  # a byte: the program never ran (both close at exec)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child execs)
        os.close(go_w)
        os.close(failed_r)
        if as_command is not None:
            _as_command(*as_command)
        try:
            recorder.confine(promises, granted)
        except OSError as exc:
            print(f"pledge: {argv[0]}: {exc.strerror}", file=sys.stderr)
            os._exit(EXIT_SANDBOX)
        try:
            if os.read(go_r, 1) == b"x":  # the parent holds the listener
                if env is None:
                    os.execv(path, argv)
                os.execve(path, argv, env)
        except OSError as exc:  # as the command says it, with its status
            print(f"pledge: {argv[0]}: {exc.strerror}", file=sys.stderr)
            os.write(failed_w, b"x")
            os._exit(EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_CANNOT_RUN)
        os._exit(EXIT_SANDBOX)
    os.close(go_r)
    os.close(failed_w)
    old = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)]
    try:
        observations, checkpoints = recorder.watch(
            pid, promises, go_w, python=python, shim=shim,
            capable=as_command is None or as_command[0])
        _, status = os.waitpid(pid, 0)
    finally:
        for s, handler in zip((signal.SIGINT, signal.SIGQUIT), old, strict=True):
            signal.signal(s, handler)
        never = os.read(failed_r, 1) == b"x"
        os.close(failed_r)
    if never:
        raise NeverRan(exit_code(status))
    return observations, checkpoints, pid, status


class NeverRan(Exception):
    """The program's execve failed (the child said why): there is no run to report."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _as_command(keep_caps: bool, keep_fds: bool) -> None:
    """In the child: drop capabilities and mark inherited descriptors close-on-exec as
    the pledge command does by default; a failure ends the child (EXIT_SANDBOX)."""
    from ..command import limits

    try:
        via = limits.calls(api.backend().process_calls())
        if not keep_caps:
            limits.drop_capabilities(via)
        if not keep_fds:
            limits.close_inherited(via)
    except OSError as exc:
        print(f"pledge: setting up: {exc.strerror or exc}", file=sys.stderr)
        os._exit(EXIT_SANDBOX)


def exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def open_output(output: str | None) -> int | None:
    """``-o FILE`` opened (made or emptied) before the run; OSError when it cannot be.
    A bad FILE is then an error before PROG does anything, and the report goes to
    the file named now: PROG may swap the name for a link to another user's file
    meanwhile, which this process, holding what PROG was run without, could write."""
    if not output:
        return None
    return os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)


def write(body: str, output: int | None, name: str | None = None) -> bool:
    """Write *body* to the descriptor *output* (``-o`` *name*), or to stderr (the
    program's stdout stays its own); False, said on stderr, when it could not be."""
    if output is None:
        sys.stderr.write(body)
        sys.stderr.flush()
        return True
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(body)
    except OSError as exc:
        print(f"pledge: cannot write the report to {name}: {exc.strerror}", file=sys.stderr)
        return False
    return True


def emit(result: dict[str, Any], heading: str, as_json: bool, output: int | None,
         name: str | None = None) -> bool:
    """Write the report where it was asked for (stderr by default); False if it failed."""
    return write(report.dumps(result) if as_json else report.text(result, heading),
                 output, name)


def prepare_output(opts: argparse.Namespace) -> int | None:
    """:func:`open_output` for ``opts.output``, or an exit status (64) after saying why:
    set as ``opts.output_fd``."""
    try:
        opts.output_fd = open_output(opts.output)
    except OSError as exc:
        print(f"pledge: -o {opts.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    return None


def prepare_save(opts: argparse.Namespace) -> int | None:
    """Before the run, for ``--save NAME``: the name checked (a bad one is a usage error
    before PROG does anything) and :mod:`.profile` with platformdirs imported, and the
    profile's directory found (platformdirs imports more on its first call), so that
    nothing is imported after PROG ran: PROG may have rewritten any module file its user
    can write, and the supervisor runs what it imports with its own capabilities,
    unconfined, and writes the profile with it. An exit status when the name is bad."""
    if getattr(opts, "save", None) is None:
        return None
    from . import profile

    try:
        # and the directory it would go to, as far as it exists: a tree another user
        # could write is refused now, before the run, as save() would refuse it after
        profile.check_directory(os.path.dirname(profile.path_of(opts.save)))
    except (OSError, ValueError) as exc:
        print(f"pledge: cannot save profile {opts.save!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return None


def save_if_asked(opts: argparse.Namespace, result: dict[str, Any]) -> int | None:
    """Save the policy as profile ``opts.save``; an exit status if that failed
    (:func:`prepare_save` imported what it uses before the run)."""
    if getattr(opts, "save", None) is None:
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
    from ..command import discover  # (the command's, imported already)

    try:
        audited = audited_promises(opts)
        recorder = api.backend().exec_recorder()
        preload = shim_env(recorder, path, dict(os.environ)) if recorder is not None else None
    except (ValueError, TypeError) as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NativeBuildError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    except discover.ProgramError as exc:  # a broken #! line: as the command says it
        print(f"pledge: {dump.printable(str(exc))}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if recorder is None:
        print("pledge: --learn needs seccomp user notification and the native module "
              "(pip install -e . with a C compiler); not available here", file=sys.stderr)
        return EXIT_SANDBOX
    bad = prepare_save(opts)
    if bad is None:
        bad = prepare_output(opts)
    if bad is not None:
        return bad
    argv = [opts.prog, *opts.args]
    granted = granted_promises(opts, path) if audited is None else frozenset()
    env, library = preload if preload is not None else (None, None)
    try:
        ask_hosts_first(path, argv)
        try:
            observations, _, pid, status = record(
                recorder, path, argv, audited or frozenset(), granted, env=env,
                shim=preload is not None, as_command=(opts.keep_caps, opts.keep_fds))
        except NeverRan as exc:  # nothing ran: a report would suggest a command for nothing
            caps = discover.file_caps_note(opts.prog, path) \
                if exc.status == EXIT_CANNOT_RUN else None
            if caps is not None and not opts.quiet:
                print(f"pledge: {caps}", file=sys.stderr)
            return exc.status
        result = report.build(observations, argv, given_rules(path, argv, library), audited,
                              granted, recorder.phase, home=(env or os.environ).get("HOME"),
                              answered=recorder.served, tmp_refusal=recorder.tmppath)
    finally:
        from ..command import hosts

        hosts.forget()
    result["notes"] = [*notes(path, argv, frozenset(result["promises"]), recorder.phase),
                       *result["notes"]]
    dropped = caps_note(opts.prog, status, result, opts.keep_caps)
    if dropped is not None:
        result["notes"].append(dropped)
    kept = [flag for flag, on in (("-D", opts.keep_caps), ("-N", opts.keep_fds)) if on]
    if kept:  # the run had them: so must the command that repeats it
        result["command"] = " ".join(["pledge", *kept]) + result["command"][len("pledge"):]
        result["command_words"][1:1] = kept
    how = (f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
           else f"signal {os.WTERMSIG(status)}")
    wrote = emit(result, f"pledge: learned from one run of {opts.prog} (pid {pid}, {how})",
                 opts.json, opts.output_fd, opts.output)
    failed = save_if_asked(opts, result)
    if failed is None and not wrote:
        failed = EXIT_SANDBOX
    return failed if failed is not None else exit_code(status)
