"""The ``pledge`` command: run a program under promises and unveiled paths.

    pledge [-p PROMISES] [-v [PERMS:]PATH]... [--strict] [-q] [--] PROG [ARGS...]

The command forks; the child unveils, pledges and execs PROG, the parent
waits and explains how it ended. An exec'd program has no violation handler
(it does not survive exec), so breaking a promise kills it with SIGSYS; the
parent says so, since the program cannot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING

from . import api
from .errors import NativeBuildError, UnsupportedError

if TYPE_CHECKING:
    from .backends.base import ExecSupervisor

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_SANDBOX = 64, 127, 70
#: What the dynamic loader needs to map a program's libraries.
LOADER_PROMISES = frozenset({"rpath", "prot_exec"})
LOADER_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pledge", description="Run PROG under OpenBSD-style promises and unveiled paths.")
    p.add_argument("-p", dest="promises", default=None,
                   help='promises for PROG (default: "stdio rpath"); with --learn: audit them')
    p.add_argument("-v", dest="unveil", action="append", default=[], metavar="[PERMS:]PATH",
                   help="unveil PATH with PERMS (default r); repeatable; without -v nothing is "
                        "hidden")
    p.add_argument("--strict", action="store_true",
                   help="refuse to run if anything asked cannot be enforced here")
    p.add_argument("-q", dest="quiet", action="store_true", help="no notes on stderr")
    p.add_argument("--learn", action="store_true",
                   help="run PROG with nothing refused and report the promises and unveil "
                        "rules it needed (pledgepy.learn)")
    p.add_argument("--json", action="store_true", help="with --learn: the report as JSON")
    p.add_argument("--every-call", action="store_true",
                   help="with --learn: record every call of a dynamically linked PROG (slower; "
                        "by default what its loader needs, stdio rpath prot_exec, is granted "
                        "and only the calls that name a path are recorded)")
    p.add_argument("-o", dest="output", metavar="FILE",
                   help="with --learn: write the report to FILE (default: stderr)")
    p.add_argument("--save", metavar="NAME", help="with --learn: save the policy as profile NAME")
    p.add_argument("--profile", metavar="NAME", help="run with the promises and unveil rules "
                                                    "of profile NAME")
    p.add_argument("prog")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _interpreter(path: str) -> str | None:
    """The ELF interpreter (PT_INTERP) of *path*, or None for a static program."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return None
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                kind, _, offset, _, _, size = struct.unpack_from("<IIQQQQ", table, i * phentsize)
                if kind == 3:  # PT_INTERP
                    f.seek(offset)
                    return f.read(size).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _note(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"pledge: {text}", file=sys.stderr)


def _child(opts: argparse.Namespace, path: str, promises: frozenset[str],
           supervisor: ExecSupervisor | None, go: int) -> None:
    """Unveil, pledge and exec; never returns."""
    try:
        if opts.unveil:
            for spec in opts.unveil:
                perms, _, where = spec.rpartition(":") if ":" in spec else ("r", "", spec)
                api.unveil(where, perms, strict=opts.strict)
            api.unveil(path, "rx", strict=opts.strict)
            loader = _interpreter(path)
            if loader:
                api.unveil(loader, "rx", strict=opts.strict)
                for where in LOADER_DIRS:
                    if os.path.exists(where):
                        api.unveil(where, "r", strict=opts.strict)
        if supervisor is not None:  # the parent explains violations
            if opts.unveil:
                api.lock_unveil_for(promises | {"exec"}, strict=opts.strict, quiet=opts.quiet)
            supervisor.confine(promises | {"exec"})
            # The listener closes at exec: run only once the parent holds it, or its
            # violations would go unreported and unpunished.
            if os.read(go, 1) != b"x":
                os._exit(EXIT_SANDBOX)
        else:
            api.pledge(" ".join(sorted(promises | {"exec"})), None, strict=opts.strict)
        os.execv(path, [opts.prog, *opts.args])
    except (ValueError, TypeError) as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        os._exit(EXIT_USAGE)
    except UnsupportedError as exc:
        print(f"pledge: {exc.strerror}", file=sys.stderr)
        os._exit(EXIT_SANDBOX)
    except OSError as exc:
        print(f"pledge: {opts.prog}: {exc.strerror}", file=sys.stderr)
        os._exit(EXIT_NOT_FOUND)
    os._exit(EXIT_SANDBOX)


def _learn_misuse(opts: argparse.Namespace) -> str | None:
    """Why these options do not go together (None: they do)."""
    if opts.learn:
        if opts.unveil or opts.profile:
            return "--learn finds the unveil list itself: it takes no -v or --profile"
        return None
    given = [name for name, on in (("--json", opts.json), ("-o", opts.output),
                                   ("--save", opts.save), ("--every-call", opts.every_call))
             if on]
    return f"{', '.join(given)} only go with --learn" if given else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pledge`` command; returns the exit status."""
    opts = _parser().parse_args(argv)
    misuse = _learn_misuse(opts)
    if misuse:
        print(f"pledge: {misuse}", file=sys.stderr)
        return EXIT_USAGE
    if opts.profile:
        from .learn import profile

        try:
            profile.apply(opts)
        except (OSError, ValueError) as exc:
            print(f"pledge: profile {opts.profile!r}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    path = opts.prog if os.sep in opts.prog else shutil.which(opts.prog)
    if opts.learn and path and os.path.exists(path):
        from .learn import run

        return run.main(opts, path)
    if opts.promises is None:
        opts.promises = "stdio rpath"
    try:
        from .promises import parse

        asked = parse(opts.promises, "promises") or frozenset()
    except (ValueError, TypeError) as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = opts.prog if os.sep in opts.prog else shutil.which(opts.prog)
    if not path or not os.path.exists(path):
        print(f"pledge: {opts.prog}: command not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    promises = asked
    if _interpreter(path) and not LOADER_PROMISES <= asked:
        promises = asked | LOADER_PROMISES
        _note(opts.quiet, f"{opts.prog} is dynamically linked: adding "
                          f"{' '.join(sorted(LOADER_PROMISES - asked))} for its loader")
    if "exec" not in asked:
        _note(opts.quiet, "the program keeps 'exec' (Linux: the filter must allow the execve "
                          "that starts it)")
    try:
        supervisor = api.backend().exec_supervisor()
    except NativeBuildError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    go_r, go_w = os.pipe() if supervisor is not None else (-1, -1)
    pid = os.fork()
    if pid == 0:
        if go_w >= 0:
            os.close(go_w)
        _child(opts, path, promises, supervisor, go_r)
    for ignored in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(ignored, signal.SIG_IGN)
    if supervisor is not None:
        os.close(go_r)
        supervisor.watch(pid, promises | {"exec"}, os.path.basename(path), go_w)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGSYS:
            print(f"pledge: {opts.prog}[{pid}]: killed by SIGSYS: it made a syscall its "
                  f'promises ("{" ".join(sorted(promises))}") do not allow (a foreign '
                  "architecture, or no supervisor to say which)", file=sys.stderr)
        return 128 + sig
    return os.WEXITSTATUS(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
