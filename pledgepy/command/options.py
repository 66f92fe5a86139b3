"""The ``pledge`` command's options (pledge.com's letters), exit codes and help.

A run's options are read by :func:`quick` without importing argparse (start-up
cost); --help, --version, -T and every error go through :func:`parser`.
"""

from __future__ import annotations

from .. import __version__
from ..promises import VOCABULARY

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import NoReturn

DEFAULT_PROMISES = "stdio rpath"

#: Exit statuses of the command itself; any other is the program's own.
EXIT_USAGE, EXIT_SANDBOX, EXIT_CANNOT_RUN, EXIT_NOT_FOUND = 64, 70, 126, 127
EXIT_VIOLATION = 134
EXITS = (
    ("N", "the program's own exit status; 128+N when signal N ended it"),
    (str(EXIT_USAGE), "usage: a bad option, promise, -v path, user or group"),
    (str(EXIT_SANDBOX), "this system cannot set the sandbox up as asked (or --strict refused, "
                        "or the supervisor failed while the program ran: it is killed)"),
    (str(EXIT_CANNOT_RUN), "PROG was found but cannot be run (permissions, a bad #! line)"),
    (str(EXIT_NOT_FOUND), "PROG was not found"),
    (str(EXIT_VIOLATION), "PROG broke a promise (128+SIGABRT, the penalty; also when it "
                          "dodged SIGABRT and SIGKILL had to be used)"),
)

#: One line per promise, for --help (OpenBSD's pledge(2) in short).
PROMISE_HELP = {
    "stdio": "basic I/O on open descriptors, memory, time, pipes, exit",
    "rpath": "read-only paths: open for reading, stat, chdir, readlink",
    "wpath": "open for writing", "cpath": "create, rename, remove files and directories",
    "dpath": "mknod, mkfifo", "tmppath": "create and remove files under /tmp",
    "inet": "IPv4/IPv6 sockets", "mcast": "multicast socket options",
    "fattr": "chmod, utimes and other attribute changes", "chown": "chown",
    "flock": "file locks", "unix": "AF_UNIX sockets", "dns": "name resolution",
    "getpw": "the user and group databases", "sendfd": "send descriptors",
    "recvfd": "receive descriptors", "tape": "tape ioctls", "tty": "terminal ioctls, /dev/tty",
    "proc": "fork, kill, priorities, process groups", "exec": "execve other programs",
    "prot_exec": "executable memory mappings", "settime": "set the clock",
    "ps": "inspect other processes", "vminfo": "system memory statistics",
    "id": "change user, group and limits", "pf": "packet filter ioctls",
    "route": "routing table reads", "wroute": "routing table changes",
    "audio": "audio ioctls", "video": "video ioctls", "bpf": "BPF descriptors",
    "unveil": "call unveil itself", "error": "violations fail with ENOSYS instead of aborting",
}



def epilog() -> str:
    """--help's promises, exit codes and examples."""
    return "\n".join([
    "promises:",
    *(f"  {p:<10} {PROMISE_HELP[p]}" for p in VOCABULARY),
    "",
    "exit status:",
    *(f"  {code:<4} {text}" for code, text in EXITS),
    "",
    "examples:",
    '  pledge -p "stdio rpath" -v /etc cat /etc/hostname',
    '  pledge -p "stdio rpath" -M 256M -P 8 -F 1M -C 5 python3 game.py',
    '  pledge -p "stdio rpath proc exec" -v /usr sh -c "ls /usr"',
    "  pledge -T unveil && echo unveil works here",
    ])


class BadValue(ValueError):
    """An option's value that does not parse (argparse reports it as ArgumentTypeError)."""


_POWERS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


def size(text: str) -> int:
    """``1M`` -> 1048576 (k, m, g, t: powers of 1024; a trailing b is allowed)."""
    t = text.strip().lower()
    t = t[:-1] if t.endswith("b") else t
    digits, unit = (t[:-1], t[-1]) if t and t[-1] in "kmgt" else (t, "")
    if not (digits.isascii() and digits.isdigit()):
        raise BadValue(f"not a size: {text!r} (say 1048576, 1024K, 1M, 1G)")
    return int(digits) << _POWERS[unit]


def count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise BadValue(f"not a non-negative number: {text!r}")
    return int(text)


def nice(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadValue(f"not a number: {text!r}") from None


def _typed(convert: Callable[[str], int]) -> Callable[[str], int]:
    """*convert* with argparse's error type, so that it prints the usage and the reason."""
    import argparse

    def wrapped(text: str) -> int:
        try:
            return convert(text)
        except BadValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    wrapped.__name__ = convert.__name__
    return wrapped


def parser() -> argparse.ArgumentParser:
    """The full parser: --help, --version and every error go through it."""
    import argparse
    import sys

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            # the documented usage status, not argparse's 2 (a program's own status)
            self.print_usage(sys.stderr)
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    size_, count_, nice_ = _typed(size), _typed(count), _typed(nice)
    p = Parser(
        prog="pledge", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog(),
        usage="pledge [-p PROMISES]... [-v [PERMS:]PATH]... [-V] [-q] [--strict] [-u USER] "
              "[-g GROUP] [-c DIR] [-n NICE] [-N] [-D] [-C SECS] [-M BYTES] [-O N] [-P N] "
              "[-F BYTES] [--] PROG [ARGS...]\n"
              "       pledge --learn [-p PROMISES]... [--json] [-o FILE] [--save NAME] "
              "[--every-call] [-q] [-D] [-N] [--] PROG [ARGS...]\n"
              "       pledge --profile NAME [options but -p] [--] PROG [ARGS...]\n"
              "       pledge -T pledge|unveil",
        description="Run PROG under OpenBSD-style promises, seeing only the paths it needs.")
    p.add_argument("-p", dest="promises", action="append", metavar="PROMISES",
                   help=f'promises for PROG; repeated -p append (default: "{DEFAULT_PROMISES}")')
    p.add_argument("-v", dest="unveil", action="append", default=[], metavar="[PERMS:]PATH",
                   help="also unveil PATH with PERMS (r, w, x, c; default r); repeatable")
    p.add_argument("-V", dest="no_unveil", action="store_true",
                   help="unveil nothing: PROG sees every path its promises allow")
    p.add_argument("-q", dest="quiet", action="store_true", help="no notes on stderr")
    p.add_argument("--strict", action="store_true",
                   help="refuse to run if PROG would hold more than asked or anything asked "
                        "cannot be enforced here")
    p.add_argument("-u", dest="user", metavar="USER", help="run PROG as USER, with its groups (root only)")
    p.add_argument("-g", dest="group", metavar="GROUP", help="run PROG with group GROUP (root only)")
    p.add_argument("-c", dest="chroot", metavar="DIR", help="chroot to DIR first (root only)")
    p.add_argument("-n", dest="nice", type=nice_, metavar="NICE", help="add NICE to PROG's niceness")
    p.add_argument("-N", dest="keep_fds", action="store_true",
                   help="keep inherited descriptors above 2 (default: closed)")
    p.add_argument("-D", dest="keep_caps", action="store_true",
                   help="keep capabilities (default: all dropped)")
    p.add_argument("-C", dest="C", type=count_, metavar="SECS", help="CPU time limit (RLIMIT_CPU)")
    p.add_argument("-M", dest="M", type=size_, metavar="BYTES",
                   help="address-space limit (RLIMIT_AS), e.g. 256M")
    p.add_argument("-O", dest="O", type=count_, metavar="N", help="descriptor limit (RLIMIT_NOFILE)")
    p.add_argument("-P", dest="P", type=count_, metavar="N",
                   help="process limit of PROG's user (RLIMIT_NPROC; uid 0 is exempt: use -u)")
    p.add_argument("-F", dest="F", type=size_, metavar="BYTES",
                   help="largest file PROG may write (RLIMIT_FSIZE)")
    p.add_argument("-T", dest="probe", choices=("pledge", "unveil"),
                   help="exit 0 if this system can enforce it, 70 if not")
    p.add_argument("--learn", action="store_true",
                   help="run PROG with nothing refused and report the promises and unveil "
                        "rules it needed (with -p: audit those promises)")
    p.add_argument("--json", action="store_true", help="with --learn: the report as JSON")
    p.add_argument("--every-call", action="store_true",
                   help="with --learn: record every call of a dynamically linked PROG (slower; "
                        "by default what its loader needs, stdio rpath prot_exec, is granted "
                        "and only the calls that name a path are recorded)")
    p.add_argument("-o", dest="output", metavar="FILE",
                   help="with --learn: write the report to FILE (default: stderr)")
    p.add_argument("--save", metavar="NAME", help="with --learn: save the policy as profile NAME")
    p.add_argument("--profile", metavar="NAME",
                   help="run with the promises and unveil rules of profile NAME")
    p.add_argument("--version", action="version", version=f"pledge (pledgepy) {__version__}")
    p.add_argument("prog", nargs="?")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p


#: The common options a run takes, parsed without argparse (start-up): dest and default.
FLAGS = {"-V": "no_unveil", "-q": "quiet", "-N": "keep_fds", "-D": "keep_caps",
         "--strict": "strict", "--learn": "learn", "--json": "json",
         "--every-call": "every_call"}
VALUED: dict[str, tuple[str, Callable[[str], object] | None]] = {
    "-p": ("promises", None), "-v": ("unveil", None), "-u": ("user", None),
    "-g": ("group", None), "-c": ("chroot", None), "-n": ("nice", nice), "-C": ("C", count),
    "-M": ("M", size), "-O": ("O", count), "-P": ("P", count), "-F": ("F", size),
    "-o": ("output", None), "--save": ("save", None), "--profile": ("profile", None)}
APPENDED = frozenset({"promises", "unveil"})


class _Read:
    """Options read by :func:`quick`: attributes, as argparse's Namespace has them
    (types.SimpleNamespace would import types: start-up)."""

    def __init__(self, got: dict[str, object]) -> None:
        self.__dict__.update(got)


def quick(argv: list[str]) -> argparse.Namespace | None:
    """*argv* parsed as :func:`parser` would, or None for anything but the plain forms.

    Only separate ``-X VALUE`` and flag words are read here; a cluster (``-qV``),
    ``--opt=value``, a value that looks like an option, ``-h``, ``-T`` or an
    unknown or bad option return None, and the caller asks argparse, which says
    the same or prints the error and the usage.
    """
    got: dict[str, object] = {"unveil": [], "promises": None, "probe": None, "prog": None,
                              "args": [], **{d: False for d in FLAGS.values()},
                              **{d: None for d, _ in VALUED.values() if d not in APPENDED}}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        if word in FLAGS:
            got[FLAGS[word]] = True
            i += 1
            continue
        if word not in VALUED or i + 1 >= len(argv) or argv[i + 1].startswith("-"):
            return None
        dest, convert = VALUED[word]
        value: object = argv[i + 1]
        if convert is not None:
            try:
                value = convert(argv[i + 1])
            except BadValue:
                return None
        if dest in APPENDED:
            held = got[dest]
            got[dest] = [*(held if isinstance(held, list) else ()), value]
        else:
            got[dest] = value
        i += 2
    if i < len(argv):
        if argv[i].startswith("-") and argv[i] != "-":
            return None  # "--" then an option-like PROG: argparse's call
        got["prog"], got["args"] = argv[i], argv[i + 1:]
    return _Read(got)  # type: ignore[return-value]


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line: :func:`quick` when it can, else argparse (which may exit)."""
    return quick(argv) or parser().parse_args(argv)


def promise_text(opts: argparse.Namespace) -> str:
    """The promises asked, repeated ``-p`` joined."""
    return DEFAULT_PROMISES if opts.promises is None else " ".join(opts.promises)


def limits(opts: argparse.Namespace) -> dict[str, int]:
    """``{letter: value}`` of the resource limits given."""
    return {k: getattr(opts, k) for k in "CMOPF" if getattr(opts, k) is not None}
