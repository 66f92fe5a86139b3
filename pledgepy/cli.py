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

from . import api
from .errors import UnsupportedError

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_SANDBOX = 64, 127, 70
#: What the dynamic loader needs to map a program's libraries.
LOADER_PROMISES = frozenset({"rpath", "prot_exec"})
LOADER_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pledge", description="Run PROG under OpenBSD-style promises and unveiled paths.")
    p.add_argument("-p", dest="promises", default="stdio rpath",
                   help='promises for PROG (default: "stdio rpath")')
    p.add_argument("-v", dest="unveil", action="append", default=[], metavar="[PERMS:]PATH",
                   help="unveil PATH with PERMS (default r); repeatable; without -v nothing is "
                        "hidden")
    p.add_argument("--strict", action="store_true",
                   help="refuse to run if anything asked cannot be enforced here")
    p.add_argument("-q", dest="quiet", action="store_true", help="no notes on stderr")
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
           go: int | None) -> None:
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
        if go is not None:  # the parent explains violations (backends/linux/supervise.py)
            from .backends.linux import supervise  # before the lock hides pledgepy's files

            if opts.unveil:
                _lock_unveil(promises | {"exec"}, opts)
            supervise.confine(promises | {"exec"})
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


def _lock_unveil(promises: frozenset[str], opts: argparse.Namespace) -> None:
    """Commit the unveils, judged against the promises the filter will then enforce."""
    from . import strictness
    from .backends.base import PledgeRequest

    be = api.backend()
    rules = api._rules()
    judge = getattr(be, "unveil_gaps_for_pledge", None)
    gaps = (judge(PledgeRequest(None, promises, None, None), rules) if judge
            else be.unveil_gaps(rules, True))
    strictness.refuse_or_warn(opts.strict, "unveil", list(gaps.not_enforced))
    be.lock_unveil(rules)
    if not opts.quiet:
        strictness.warn("unveil", list(gaps.not_enforced))


def _can_supervise() -> bool:
    """Whether violations can be explained by this process (Linux with seccomp)."""
    if not sys.platform.startswith("linux"):
        return False
    from .backends.linux import seccomp

    return seccomp.unavailable() is None


def _supervise(pid: int, promises: frozenset[str], prog: str, go: int) -> None:
    from .backends.linux import supervise

    try:
        fd = supervise.find_listener(pid)
        if fd is None:
            return  # the child ended before confining itself: its status says why
        listener = supervise.take_listener(pid, fd)
        os.write(go, b"x")
    finally:
        os.close(go)
    try:
        supervise.serve(listener, promises, prog)
    finally:
        os.close(listener)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pledge`` command; returns the exit status."""
    opts = _parser().parse_args(argv)
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
    go_r, go_w = os.pipe() if _can_supervise() else (-1, -1)
    pid = os.fork()
    if pid == 0:
        if go_w >= 0:
            os.close(go_w)
        _child(opts, path, promises, go_r if go_r >= 0 else None)
    for ignored in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(ignored, signal.SIG_IGN)
    if go_r >= 0:
        os.close(go_r)
        _supervise(pid, promises | {"exec"}, os.path.basename(path), go_w)
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
