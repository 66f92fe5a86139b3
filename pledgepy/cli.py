"""The ``pledge`` command: run a program under promises, seeing only what it needs.

    pledge [-p PROMISES]... [-v [PERMS:]PATH]... [-V] [-q] [--strict] [-u USER] [-g GROUP]
           [-c DIR] [-n NICE] [-N] [-D] [-C SECS] [-M BYTES] [-O N] [-P N] [-F BYTES]
           [--] PROG [ARGS...]

The command forks; the child unveils (by default the program, its interpreter,
libraries and library trees: :mod:`.command.discover`), sets its limits and
user (:mod:`.command.limits`), confines itself and execs PROG (:mod:`.command.run`).
The parent stays unconfined and unlimited, waits and explains how it ended. An
exec'd program has no violation handler (it does not survive exec), so the
parent's supervisor says what a broken promise was.
"""

from __future__ import annotations

import gc
import os
import sys

from . import api, outlet
from .command import discover, elf, hidden, limits, loader, options, run
from .command.options import (
    EXIT_CANNOT_RUN,
    EXIT_NOT_FOUND,
    EXIT_SANDBOX,
    EXIT_USAGE,
    EXIT_VIOLATION,
)
from .errors import NativeBuildError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    import signal
    from typing import NoReturn

    from .backends.base import ExecSupervisor
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

#: What the dynamic loader needs to map a program's libraries.
LOADER_PROMISES = frozenset({"rpath", "prot_exec"})
#: Signals the supervisor ignores: what reaches it through the process group and
#: terminal it shares with the program (SIGIO from O_ASYNC, a hang-up the program may
#: ignore), or through its stderr (SIGPIPE, SIGTTOU, SIGXFSZ). It must outlive the program.
SUPERVISOR_IGNORES = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGIO, signal.SIGURG,
                      signal.SIGPIPE, signal.SIGTTOU, signal.SIGTTIN, signal.SIGXFSZ)
#: signal -> the limit option whose hitting sends it
LIMIT_SIGNALS: dict[int, str] = {signal.SIGXCPU: "C", signal.SIGXFSZ: "F"}
#: The share of -C (plus its hard limit's second, for SIGKILL) below which the CPU time
#: wait4 reports cannot be the kernel's signal. Not 1: the kernel judges the limit by
#: its tick-sampled time, which on a busy machine runs ahead of the measured time that
#: wait4 reports (0.86 s at a SIGXCPU of -C 1 was seen).
CPU_SHARE = 0.5
#: The names of the signals a limit kills with: the supervisor imports nothing once the
#: program has run (a module is looked up through sys.path, whose first directory the
#: program may be able to write), and _signal has no names.
LIMIT_SIGNAL_NAMES: dict[int, str] = {signal.SIGXCPU: "SIGXCPU", signal.SIGXFSZ: "SIGXFSZ",
                                      signal.SIGKILL: "SIGKILL", signal.SIGSEGV: "SIGSEGV"}


class UsageError(ValueError):
    """A bad command line; the message names what is wrong."""


def _parser() -> argparse.ArgumentParser:
    return options.parser()


def _options(argv: list[str] | None) -> argparse.Namespace:
    return options.parse(sys.argv[1:] if argv is None else argv)


def _which(prog: str) -> str | None:
    """PROG on PATH, as shutil.which finds it (without importing shutil: start-up)."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or os.curdir, prog)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def _note(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"pledge: {text}", file=sys.stderr)


def _unveil_spec(spec: str, root: str | None = None) -> tuple[str, str]:
    """``[PERMS:]PATH`` -> (absolute path, perms); the path must exist (or its directory, for
    c); with -c *root*, inside it, as the child unveils it there (after its chdir to /)."""
    perms, sep, where = spec.partition(":")
    missing = "No such file or directory"
    if not sep or set(perms) - set("rwxc"):
        if sep and perms:  # a typo in PERMS reads as a path with a colon: say both
            missing += (f" (read as one path: {perms!r} is not PERMS, which are letters "
                        "of r w x c)")
        perms, where = "r", spec
    try:
        full = os.path.normpath(os.path.join("/", where)) if root and where \
            else os.path.abspath(where)
    except OSError:  # relative, and the working directory was removed: it names nothing
        full = ""
    if not where or not full:  # an unset shell variable's, say: no name for the working directory
        raise UsageError(f"-v {spec}: no PATH given" if sep and not where
                         else f"-v {where}: {missing}")
    seen = os.path.join(root, full.lstrip("/")) if root else full
    if not os.path.exists(seen) and not ("c" in perms and os.path.isdir(os.path.dirname(seen))):
        raise UsageError(f"-v {where}: {missing}" + (f" (in -c {root})" if root else ""))
    return full, perms


def _find(prog: str, root: str | None) -> str | None:
    """PROG's path (inside *root* when chrooting), or None."""
    if root is None:
        path = prog if os.sep in prog else _which(prog)
        return path if path and os.path.exists(path) else None
    dirs = [prog] if os.sep in prog else [os.path.join(d, prog) for d in
                                          os.environ.get("PATH", "").split(":") if d]
    return next((d for d in dirs if os.path.isabs(d) and
                 os.access(os.path.join(root, d.lstrip("/")), os.X_OK)), None)


def probe(what: str) -> int:
    """``-T pledge|unveil``: 0 if this system enforces it, EXIT_SANDBOX if not."""
    from .backends.base import PledgeRequest, UnveilRule

    try:
        be = api.backend()
        if what == "pledge":
            gaps = be.pledge_gaps(PledgeRequest(None, frozenset({"stdio"}), None, None))
        else:
            gaps = be.unveil_gaps((UnveilRule("/", "r"),), True)
        ok = not gaps.nothing  # partial (see the notes) is still enforced
    except (OSError, NativeBuildError):
        ok = False
    return 0 if ok else EXIT_SANDBOX


def _job(opts: argparse.Namespace) -> tuple[run.Job, frozenset[str]]:
    """The child's job and the promises asked; UsageError/LookupError for a bad line."""
    from .promises import parse

    asked = parse(options.promise_text(opts), "promises") or frozenset()
    if "stdio" not in asked:
        raise UsageError(f'-p "{options.promise_text(opts)}": the program needs at least '
                         '"stdio" here (the command hands it over after the filter is on, '
                         "and its start-up reads and maps memory); OpenBSD's pledge(\"\") "
                         "only lets a program _exit")
    if opts.no_unveil and opts.unveil:
        raise UsageError("-V unveils nothing: give -V or -v, not both")
    unveils = tuple(_unveil_spec(s, opts.chroot) for s in opts.unveil)
    who = limits.identity(opts.user, opts.group)
    if os.geteuid() != 0:  # said here, not as the child's bare EPERM while setting up
        given = [f"{flag} {value}" for flag, value in (("-u", opts.user), ("-g", opts.group),
                                                     ("-c", opts.chroot)) if value is not None]
        if given:
            raise UsageError(f"{' '.join(given)}: only root can change PROG's user, group "
                             "or root directory")
    if opts.chroot and not os.path.isdir(opts.chroot):
        raise UsageError(f"-c {opts.chroot}: not a directory")
    path = _find(opts.prog, opts.chroot)
    if path is None:
        raise LookupError(f"{opts.prog}: command not found")
    host = os.path.join(opts.chroot, path.lstrip("/")) if opts.chroot else path
    if os.path.isdir(host) or not os.access(host, os.X_OK):
        # what its execve would say, said before the notes on a program that never runs
        raise discover.ProgramError(f"{opts.prog}: Permission denied")
    promises = asked | {"exec"}
    if discover.dynamic(host) and not LOADER_PROMISES <= asked:
        promises |= LOADER_PROMISES
    return run.Job(path, [opts.prog, *opts.args], promises, unveils, who,
                   options.limits(opts)), asked


def _after_loader(opts: argparse.Namespace, job: run.Job, asked: frozenset[str],
                  supervisor: ExecSupervisor | None) -> tuple[run.Job, str | None]:
    """*job* narrowing after its start: to *asked* after its loader when it can, else to
    the loader's promises besides (and why); ``exec`` ends at the command's own execve
    (the supervisor lets that one through) unless asked."""
    loaders = job.promises - asked - {"exec"}  # non-empty only for a dynamic PROG
    why = loader.keeps(job.path, job.argv, asked, opts.chroot) if loaders else None
    if supervisor is None:
        return job, (why or "no supervisor here to hand the narrowing to") if loaders else None
    if loader.executes(job.path, job.argv):  # env, nice, a #!/usr/bin/env script
        kept = job._replace(after=job.promises)
    else:
        kept = job._replace(after=job.promises - ({"exec"} - asked))
    if why is None and loaders:  # a missing or stale shim raises NativeBuildError: refused
        # glibc dlopens NSS modules when a lookup needs them: with rpath, dns or getpw
        # (whose files the supervisor opens: exec/allowed.py) but not prot_exec that
        # would be a violation, so the shim loads them first
        load = tuple(loader.nss_modules()) if asked & {"rpath", "dns", "getpw"} and \
            "prot_exec" not in asked else ()
        return job._replace(after=asked, shim=supervisor.start_up_shim(), load=load), None
    return kept, why


def _held_more(opts: argparse.Namespace, asked: frozenset[str], held: frozenset[str],
               why: str | None = None, supervised: bool = True) -> list[str]:
    """What PROG holds beyond what was asked (promises, or a limit that cannot hold), each
    said as the truth."""
    said = []
    extra = held - asked - {"exec"}
    if extra:
        hidden = "and nothing is unveiled (-V)" if opts.no_unveil else \
            "reads stay limited to the unveiled paths"
        because = f": {why}" if why else ""
        said.append(f"{opts.prog} is dynamically linked: adding {' '.join(sorted(extra))} for "
                    f"its loader; it holds {'it' if len(extra) == 1 else 'them'} for its whole run "
                    f"({hidden}){because}")
    if opts.P is not None and "proc" in held and _runs_as_root(opts):
        said.append(f"-P {opts.P}: RLIMIT_NPROC does not hold for uid 0 (the "
                    "kernel exempts root whatever its capabilities), and with \"proc\" the "
                    "program may fork without bound: give -u USER")
    if "exec" in held and "exec" not in asked:
        said.append("the program keeps 'exec' (" + (
            "it executes another program)" if supervised else
            "no supervisor here lets only the execve that starts it through)"))
    return said


def _runs_as_root(opts: argparse.Namespace) -> bool:
    """Whether PROG will run with uid 0 (no -u, or -u naming uid 0)."""
    if opts.user is None:
        return os.geteuid() == 0
    try:
        return limits.identity(opts.user, None).uid == 0
    except KeyError:  # _job already refused an unknown user
        return False


def without_program_dirs(path: list[str], argv0: str) -> list[str]:
    """*path* (sys.path) less the directories a confined program may be able to write:
    the working directory (``""``, ``"."`` or its name: ``python -m``, ``-c``) and the
    script's (bin/pledge's), but not the one pledgepy itself was imported from (a
    checkout: the supervisor imports its own modules before the go). The supervisor
    imports nothing once the program runs; this is the backstop should an error path
    still import."""
    try:
        here: str | None = os.getcwd()
    except OSError:  # removed: a relative entry (or argv0) names nothing now, dropped
        here = None
    # as named and as resolved: Python puts a linked script's real directory first
    scripts = {os.path.dirname(os.path.abspath(argv0)),
               os.path.dirname(os.path.realpath(argv0))} if argv0 not in ("", "-c", "-m") \
        and (here is not None or os.path.isabs(argv0)) else set()
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [d for d in path if (here is not None or os.path.isabs(d)) and (
            os.path.abspath(d or ".") == ours or
            (d not in ("", ".") and os.path.abspath(d) != here
             and os.path.abspath(d) not in scripts))]


def _explain_end(opts: argparse.Namespace, job: run.Job, pid: int, status: int,
                 penalty: int | None = None, supervised: bool = True,
                 set_up: bool = True, cpu: float | None = None) -> int:
    """PROG's exit status, with a note on how it ended when that needs one. *set_up*:
    the child reached PROG's execve (False: it failed before and said why itself).
    *cpu*: the CPU seconds it used (wait4's), which tell a SIGXCPU or SIGKILL of its
    -C limit from one a process sent (the program can signal itself)."""
    if penalty is not None:  # it broke a promise: 134 however it ended (the message said why)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            _note(opts.quiet, f"{opts.prog}[{pid}]: killed with SIGKILL for breaking a promise "
                              "(it blocked, caught or ignored SIGABRT, the penalty); exit status "
                              f"{EXIT_VIOLATION} all the same")
        return EXIT_VIOLATION
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        letter = LIMIT_SIGNALS.get(sig)
        if letter not in job.limits:  # not a limit of ours: sent by someone (or itself)
            letter = None
        if sig == signal.SIGKILL and opts.C is not None:
            letter = "C?"
        if letter and letter[0] == "C" and cpu is not None and \
                cpu < (job.limits["C"] + (1 if sig == signal.SIGKILL else 0)) * CPU_SHARE:
            # the kernel sends them only once that much CPU time was used
            if sig != signal.SIGKILL:
                _note(opts.quiet, f"{opts.prog}[{pid}]: killed by {LIMIT_SIGNAL_NAMES[sig]}, "
                                  f"not by its limit -C {job.limits['C']}: it used {cpu:.2f} "
                                  "CPU seconds (a process sent it)")
            letter = None
        elif letter == "C?" and cpu is not None:
            letter = "C"  # it used its hard limit's second too: the kernel's SIGKILL
        if letter:
            flag = letter.rstrip("?")
            name, what = LIMIT_SIGNAL_NAMES[sig], limits.RLIMITS[flag][1]
            maybe = " (perhaps its hard CPU limit)" if letter.endswith("?") else \
                " (its hard CPU limit, a second later: SIGXCPU was caught or ignored)" \
                if sig == signal.SIGKILL else ""
            print(f"pledge: {opts.prog}[{pid}]: killed by {name}{maybe}: it hit its limit "
                  f"-{flag} {job.limits[flag]} ({what})", file=sys.stderr)
        elif sig == signal.SIGSYS:
            print(f"pledge: {opts.prog}[{pid}]: killed by SIGSYS: {_sigsys_cause(job, supervised)}",
                  file=sys.stderr)
        elif sig == signal.SIGSEGV and "M" in job.limits:
            # what the kernel sends when an execve past its point of no return runs out
            # of address space (no message: the program never ran), or a failed mmap
            # that a program did not check
            _note(opts.quiet, f"{opts.prog}[{pid}]: killed by SIGSEGV; it ran limited to "
                              f"-M {job.limits['M']} ({limits.RLIMITS['M'][1]}): too little "
                              "to load it, or an allocation it did not check, may be why")
        return 128 + sig
    code = os.WEXITSTATUS(status)
    if code and job.limits and set_up:  # else the command's own message said why
        given = ", ".join(f"-{k} {v} ({limits.RLIMITS[k][1]})" for k, v in job.limits.items())
        _note(opts.quiet, f"{opts.prog} exited with status {code}; it ran limited to {given}: "
                          "an error it printed about memory, files, processes or descriptors "
                          "may be one of these")
    if code and set_up and not opts.no_unveil and not opts.chroot and not opts.quiet:
        # (imported with the command: the supervisor imports nothing once PROG runs)
        names = hidden.hidden(job.argv, job.promises, job.unveils)
        if names:
            _note(opts.quiet, hidden.note(opts.prog, code, names))
    if code == EXIT_CANNOT_RUN:  # its execve's EPERM, or the program's own 126
        caps = discover.file_caps_note(opts.prog, job.path)
        if caps is not None:
            _note(opts.quiet, caps)
    uid = job.identity.uid if job.identity.uid is not None else os.getuid()
    if code and set_up and uid == 0 and not opts.keep_caps and _needs_caps(job):
        # root's own rights are its capabilities: without them it is any user to the
        # kernel, and the program's own message (EACCES, EPERM) does not say why
        _note(opts.quiet, f"{opts.prog} exited with status {code}; it ran as root without "
                          "capabilities (dropped by default; -D keeps them): a \"Permission "
                          "denied\" or \"Operation not permitted\" on another user's file, a "
                          "chown or a chroot may be why")
    return code


def _needs_caps(job: run.Job) -> bool:
    """Whether root's capabilities, dropped, may be why PROG failed: it holds a promise
    to change owners or modes, or a ``-v`` path is another user's (root without
    CAP_DAC_OVERRIDE is refused there as that user's "other")."""
    if job.promises & {"chown", "fattr"}:
        return True
    for where, _ in job.unveils:
        try:
            if os.stat(where).st_uid != 0:
                return True
        except OSError:  # gone meanwhile: nothing to say about it
            continue
    return False


def _sigsys_cause(job: run.Job, supervised: bool) -> str:
    """Why a SIGSYS death is most likely a broken promise, naming what PROG held then:
    the filter's set once started (*job.after*: the asked promises once the start-up
    shim narrowed, the loader's besides when it could not), not the opening one."""
    held = " ".join(sorted(job.after if job.after is not None else job.promises))
    if supervised:  # the supervisor hears every violation but those the filter kills
        return (f'most likely a syscall its promises ("{held}") do not allow, of the kind '
                "the filter kills unreported: another architecture's (an x32 number, "
                "i386's int 0x80)")
    return (f'most likely a syscall its promises ("{held}") do not allow (no supervisor '
            "here to say which: an exec'd program keeps no SIGSYS handler)")


def _learn_misuse(opts: argparse.Namespace) -> str | None:
    """Why these options do not go together (None: they do)."""
    if opts.learn:
        if opts.unveil or opts.profile:
            return "--learn finds the unveil list itself: it takes no -v or --profile"
        # learning applies none of these: ignored, PROG would run as root (say), unlimited
        unapplied = [flag for flag, value in (("-u", opts.user), ("-g", opts.group),
                                              ("-c", opts.chroot), ("-n", opts.nice),
                                              ("-C", opts.C), ("-M", opts.M), ("-O", opts.O),
                                              ("-P", opts.P), ("-F", opts.F))
                     if value is not None]
        if unapplied:
            return (f"--learn runs PROG as the command itself runs, unlimited: it takes no "
                    f"{' '.join(unapplied)}")
        return None
    given = [name for name, on in (("--json", opts.json), ("-o", opts.output),
                                   ("--save", opts.save), ("--every-call", opts.every_call))
             if on]
    return f"{', '.join(given)} only go with --learn" if given else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pledge`` command; returns the exit status."""
    # Start-up allocates thousands of objects and no garbage cycles: the collections it
    # triggered cost 2-8 ms here (a generation-1 pass among them), and in the forked
    # child each object a collection touches is a page copied. The supervisor (the
    # parent, after the fork) collects again; bin/pledge stops it before the imports.
    gc.disable()
    try:
        return _main(argv)
    finally:
        elf.forget()  # a caller's next run reads its files afresh
        _collect_from_now()
        gc.unfreeze()  # a caller's objects are collectable again (as old ones)


def _collect_from_now() -> None:
    """Turn the collector back on without its first pass sweeping everything made since
    it stopped (alive for good: ~6 ms for the learn recorder's 15,000 objects)."""
    gc.freeze()  # into the permanent generation; the young count starts again at zero
    gc.enable()


def _main(argv: list[str] | None) -> int:
    opts = _options(argv)
    if opts.probe:
        return probe(opts.probe)
    if not opts.prog:
        print("pledge: no PROG given (see pledge --help)", file=sys.stderr)
        return EXIT_USAGE
    misuse = _learn_misuse(opts)
    if misuse:
        print(f"pledge: {misuse}", file=sys.stderr)
        return EXIT_USAGE
    if opts.profile:
        from .learn import profile

        try:
            profile.apply(opts)
        except (OSError, ValueError) as exc:
            said = f"{exc.strerror} ({exc.filename})" if isinstance(exc, OSError) and \
                exc.strerror and exc.filename else str(exc)
            print(f"pledge: profile {opts.profile!r}: {said}", file=sys.stderr)
            return EXIT_USAGE
    if opts.learn:
        path = opts.prog if os.sep in opts.prog else _which(opts.prog)
        if path and os.path.exists(path):
            if os.path.isdir(path) or not os.access(path, os.X_OK):  # as the command says it
                print(f"pledge: {_printable(opts.prog)}: Permission denied", file=sys.stderr)
                return EXIT_CANNOT_RUN
            from .learn import run as learn_run

            return learn_run.main(opts, path)
    elf.remember()  # the parent reads the program and NSS modules; the child again
    try:
        job, asked = _job(opts)
    except (ValueError, TypeError, KeyError) as exc:
        print(f"pledge: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return EXIT_USAGE
    except LookupError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except discover.ProgramError as exc:  # it quotes the script's #! line: the script's word
        print(f"pledge: {_printable(exc.args[0])}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        supervisor = api.backend().exec_supervisor()
        job, why = _after_loader(opts, job, asked, supervisor)
    except NativeBuildError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    more = _held_more(opts, asked, job.after or job.promises, why, supervisor is not None)
    if opts.strict and more:
        for text in more:
            print(f"pledge: --strict: {text}", file=sys.stderr)
        return EXIT_SANDBOX
    for text in more:
        _note(opts.quiet, text)
    for gap in supervisor.gaps(job.promises) if supervisor is not None else ():
        _note(opts.quiet, gap)
    tmp = False  # OpenBSD's tmppath: the supervisor lets creates under /tmp/ run
    if supervisor is not None and "tmppath" in (job.after or job.promises):
        why_not = supervisor.tmppath(job.after or job.promises, opts.no_unveil, job.unveils,
                                     bool(opts.chroot))
        if why_not is not None:
            _note(opts.quiet, why_not)
        tmp = why_not is None
    go_r, go_w = os.pipe() if supervisor is not None else (-1, -1)
    # the child's word that PROG never ran: only limits' notes need it (start-up)
    failed_r, failed_w = os.pipe() if job.limits else (-1, -1)
    err = outlet.reopen(2)  # before the program can touch the description
    # a caller's ignored SIGCHLD would have the kernel reap PROG: no status to wait for
    chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        for fd in (go_w, err, failed_r):
            if fd >= 0:
                os.close(fd)
        signal.signal(signal.SIGCHLD, chld)  # PROG inherits the caller's, as if called
        run.child(job, opts, supervisor, go_r, failed_w)
    # Let the child run first: the new task starts on this CPU, behind the parent, whose
    # next ~2 ms (the supervisor's imports) held it off (a child's first Python line came
    # 2.3 ms after the fork with the parent busy, 0.9 ms idle or with this yield); the
    # parent goes on on the other CPU, or once the child waits for its go.
    os.sched_yield()
    if failed_w >= 0:
        os.close(failed_w)  # else its end would not close when the child's does
    sys.path[:] = without_program_dirs(sys.path, sys.argv[0] if sys.argv else "")
    _collect_from_now()  # the supervisor: it may run as long as the program
    for ignored in SUPERVISOR_IGNORES:
        signal.signal(ignored, signal.SIG_IGN)
    if err >= 0:
        sys.stderr = outlet.text(err)
    reaped = False
    try:
        if supervisor is not None:
            os.close(go_r)
            _, theirs = limits.split(job.limits)
            supervisor.watch(pid, job.promises, os.path.basename(job.path), go_w, job.after,
                             job.shim, ready=(lambda: limits.set_limits(theirs, pid))
                             if theirs else None, tmp=tmp)
        _, status, usage = os.wait4(pid, 0)
        reaped = True
        cpu = usage.ru_utime + usage.ru_stime
        penalty = supervisor.penalty(pid) if supervisor is not None else None
        set_up = True
        if failed_r >= 0:  # the child has ended: its end is closed, the read cannot block
            set_up = os.read(failed_r, 1) == b""
            os.close(failed_r)
        return _explain_end(opts, job, pid, status, penalty, supervisor is not None, set_up,
                            cpu)
    except BaseException as exc:
        return _supervisor_failed(opts, pid, exc, reaped)


def _printable(text: str) -> str:
    """*text* as one line without escapes (it may hold what the program chose)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _supervisor_failed(opts: argparse.Namespace, pid: int, exc: BaseException,
                       reaped: bool) -> int:
    """The supervisor's own failure once the program may have run: PROG killed (nobody
    would punish its violations), one line, EXIT_SANDBOX. Never the interpreter's
    report: Python 3.13's imports the traceback module, looked up through sys.path,
    whose first directory the program may be able to write."""
    if not reaped:  # our child, unreaped: its pid is still its own
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    print(f"pledge: {opts.prog}[{pid}]: killed: the supervisor failed "
          f"({type(exc).__name__}: {_printable(str(exc))})", file=sys.stderr)
    return EXIT_SANDBOX


def leave(status: int) -> NoReturn:
    """Exit the command's process with *status* at once, as ``sys.exit`` would but
    without the interpreter's teardown (freeing every module and object: ~3 ms of the
    command's start-up). Anything unusual takes ``sys.exit``'s way instead: another
    thread still running, or a standard stream that does not flush (its error and
    exit status 120 are the interpreter's to give)."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(status)
    import atexit  # built in: what the teardown would run first

    atexit._run_exitfuncs()
    # and the originals, when replaced (the supervisor's stderr is: their buffers too)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            sys.exit(status)
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    leave(main())
