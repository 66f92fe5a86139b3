"""Loader promises end when the loader is done: the Python half of the start-up shim.

A dynamically linked program needs ``rpath prot_exec`` (and ``exec``, for the
execve that starts it) only while its loader maps its libraries. The command
starts it under a filter that allows exactly the asked promises (the *opening*
filter, its only one); every other call goes to the supervisor, which holds the
listener for the program's whole run. The supervisor lets the loader's calls
through (SECCOMP_USER_NOTIF_FLAG_CONTINUE; Landlock still limits their paths)
until ``native/shim.c``, preloaded, reports READY from its constructor (after
the loader, before ``main``), and treats them as violations from then on, in
every process under the filter. Seccomp filters only narrow, so no filter the
program installs later can give them back. :func:`watch` is the supervisor's side.

Fail closed: a shim that reports a failure, a program whose loader mapped its
libraries without the shim (LD_PRELOAD ignored), or one that does not report
within :data:`DEADLINE` of the command letting it run is killed, with a message;
from then on the loader's calls are violations too.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from ....errors import NativeBuildError
from .. import native
from ..rules import IP, Identity
from ..seccomp import kernel
from ..seccomp.plan import Plan, build
from ..syscalls import BY_ARCH
from . import supervise
from .answer import REAL_IDS, status_ids
from .refuse import refuse

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import signal
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

ENV_MARK, ENV_PRELOAD, ENV_LOAD = ("PLEDGEPY_SHIM", "PLEDGEPY_SHIM_PRELOAD",
                                   "PLEDGEPY_SHIM_LOAD")
#: The call the shim reports with (no promise allows it) and its first argument.
MAGIC, COOKIE = "lookup_dcookie", 0x5053484D45444750
READY, FAILED = 1, 3
#: Seconds from the go to the shim's READY before the program is killed: its loader
#: maps the libraries in milliseconds; this is only the bound when nothing else tells.
DEADLINE = 10.0
#: Milliseconds between looks at the program's mappings while waiting for READY.
TICK_MS = 2
_NATIVE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "native")
_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(_NATIVE)))
#: What the build's digest covers (setup.py: SHIM_SOURCES), relative to the package's parent.
SOURCES = ("backends/linux/native/shim.c", "backends/linux/exec/shim.py")
_MARK = b"PLEDGEPY-SHIM-DIGEST:"


def _digest() -> str:
    """BLAKE2b-256 of :data:`SOURCES` as setup.py computes it: by the native module when
    it is loaded and checked (no _blake2 import, no Python loop of reads: the command's
    start-up), else by native/digest.py's reference code."""
    from ..native import digest

    lib = native.checked_lib()
    if lib is not None and hasattr(lib, "pp_sources_digest"):
        return digest.hashed(_PACKAGE, SOURCES, lib, native.ffi())
    return digest.compute(_PACKAGE, SOURCES)


_checked: list[str] = []  # library()'s answer, once found (functools: start-up)


def library() -> str:
    """The built shim's path; NativeBuildError when it is missing or stale.

    Checked once, in the command before it forks (its child cannot read the sources
    once unveiled)."""
    if not _checked:
        _checked.append(_library())
    return _checked[0]


def _library() -> str:
    # this interpreter's build first (importlib.machinery's suffixes: ~0.5 ms of start-up)
    try:
        names = [n for n in os.listdir(_NATIVE) if n.startswith("_shim.") and n.endswith(".so")]
    except OSError:
        names = []
    names.sort(key=lambda n: sys.implementation.cache_tag not in n)
    path = os.path.join(_NATIVE, names[0]) if names else None
    if path is None:
        raise NativeBuildError("the pledge command's start-up shim (native/shim.c) is not built: "
                               "rebuild: pip install -e .")
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(_MARK)
    built = data[at + len(_MARK):data.find(b";", at)].decode(errors="replace") if at >= 0 else ""
    try:
        want = _digest()
    except OSError as exc:
        raise NativeBuildError(f"cannot check the start-up shim: {exc}") from None
    if built != want:
        raise NativeBuildError(f"the start-up shim {path} is stale (built from other sources "
                               "than the installed shim.c, exec/shim.py): rebuild: pip install -e .")
    return os.path.realpath(path)


def environment(shim: str, env: dict[str, str], load: tuple[str, ...] = ()) -> dict[str, str]:
    """In the child, before the opening filter: *env* plus what the shim needs (its mark;
    the libraries *load* it loads before it reports)."""
    out = dict(env)
    theirs = env.get("LD_PRELOAD", "")
    out.update({ENV_MARK: "1", ENV_PRELOAD: theirs, ENV_LOAD: ":".join(load),
                "LD_PRELOAD": f"{shim}:{theirs}" if theirs else shim})
    return out


def _say(prog: str, pid: int, text: str) -> None:
    supervise._say(f"pledge: {prog}[{pid}]: {text}\n")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _mappings(pid: int) -> set[str]:
    try:
        with open(f"/proc/{pid}/maps", "rb") as f:
            return {line.split(maxsplit=5)[5].decode(errors="replace").strip()
                    for line in f if len(line.split(maxsplit=5)) == 6}
    except OSError:
        return set()


def _is_library(path: str) -> bool:
    """A shared library's mapping, not the loader's: a name ending in ``.so`` or in
    ``.so.`` and a version (digits and dots). Not ``/etc/ld.so.cache``, which the loader
    maps before the shim when LD_AUDIT makes it search first (the phase was failed for it)."""
    name = os.path.basename(path)
    if not path.startswith("/") or name.startswith("ld-"):
        return False
    at = name.rfind(".so")
    while at > 0:
        rest = name[at + 3:]
        if not rest or (len(rest) > 1 and rest[0] == "." and not rest.strip("0123456789.")):
            return True
        at = name.rfind(".so", 0, at)
    return False


def identity_of(pid: int) -> Identity:
    """The pid, uid and groups the child *pid* built its filter's rules with (read before
    it execs: its ids are final then, and nothing of PROG's can have changed them)."""
    uid, gids = status_ids(pid, REAL_IDS)
    return Identity(pid, uid, tuple(sorted(gids)), 0)


def verdict(plan: Plan, nr: int, args: tuple[int, ...]) -> int | None:
    """What *plan*'s filter answers syscall *nr* with *args*: 0 (it runs), an errno (a
    quiet refusal), None (a violation). A rule testing the instruction pointer (the
    in-process handler's own call) never matches: the supervisor is not told it."""
    act = plan.action(nr)
    if act.kind == "allow":
        return 0
    if act.kind == "enosys":
        return errno.ENOSYS
    if act.kind == "args":
        for rule in act.rules:  # as the filter tries them: allowing rules, then refusals
            if all(a.index != IP and a.matches(args) for a in rule.args):
                return rule.errno
    return None


class Start:
    """Where the phase is when a supervisor takes it over (:class:`_Opening`). A plain
    class: typing's NamedTuple is an import the command's start-up does without."""

    __slots__ = ("execed", "opening", "seen", "left")

    def __init__(self, execed: bool, opening: bool, seen: bool, left: float | None) -> None:
        self.execed = execed  # the command's own execve of PROG went through
        self.opening = opening  # the loader's promises still hold (no READY, no failure)
        self.seen = seen  # the shim was seen mapped
        self.left = left  # seconds left of DEADLINE (None: all of it)


class _Opening:
    """The supervisor's start-up phase: the hook of serve() on the program's listener.

    The command's own execve of PROG runs (once). With a *shim*, until its READY (or
    a failure, or :data:`DEADLINE`) the calls the loader's promises allow run too; then
    they are violations, in every process under the filter: one phase for all (a
    process forked before READY is narrowed with PROG; forging READY only narrows
    sooner). Without one the phase ends at that execve.

    *start*: the phase as far as another supervisor took it (the native launcher's,
    handed over: PROTOCOL.md), instead of its beginning."""

    def __init__(self, pid: int, prog: str, shim: str | None, loader: frozenset[str],
                 who: Identity | None, penalties: dict[int, int] | None = None,
                 plan: Plan | None = None, start: Start | None = None) -> None:
        self.pid, self.prog, self.shim, self.penalties = pid, prog, shim, penalties
        self.loader, self.who = loader - {"exec"}, who
        left = DEADLINE if start is None or start.left is None else start.left
        self.deadline = time.monotonic() + left if shim is not None else float("inf")
        self.opening = True  # the loader's promises hold
        self.execed = False  # the command's own execve of PROG went through
        self.seen = False  # the shim is mapped: its constructor runs before main
        if start is not None:
            self.opening, self.execed, self.seen = start.opening, start.execed, start.seen
        # the loader's plan: made ahead for *who* (loader_plan), else at its first call
        self.plan: Plan | None = plan
        self.arch = kernel.arch() or "x86_64"
        self.magic = BY_ARCH[self.arch][MAGIC]
        self.execs = {BY_ARCH[self.arch][n] for n in ("execve", "execveat")
                      if n in BY_ARCH[self.arch]}
        # what the child runs until its execve of PROG: this process's image, or (taken
        # over before that execve went through) the image it still runs
        self.own_exe = os.stat("/proc/self/exe" if start is None or start.execed
                               else f"/proc/{pid}/exe")
        self.continued = 0  # loader calls let through (benchmarks count them)

    def _fail(self, text: str) -> None:
        self.opening = False
        _kill(self.pid)
        _say(self.prog, self.pid, f"{text}; killed (it would have held its loader's promises)")

    def _exec_done(self) -> bool:
        try:
            st = os.stat(f"/proc/{self.pid}/exe")
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != (self.own_exe.st_dev, self.own_exe.st_ino)

    def _prog_ended(self) -> bool:
        got = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        return got is not None

    def tick(self) -> int | None:
        """Called between notifications: the next timeout (ms), None for no more."""
        if not self.opening or self.shim is None:
            return None
        if time.monotonic() > self.deadline:
            self._fail(f"its start-up shim did not report within {DEADLINE:g} s")
            return None
        if self._prog_ended():  # its READY cannot come: what it forked is narrowed now
            self.opening = False
            return None
        if not self.seen and self._exec_done():
            maps = _mappings(self.pid)
            if self.shim in maps:
                self.seen = True
            elif any(_is_library(m) for m in maps):
                self._fail("its loader mapped its libraries without the start-up shim "
                           "(LD_PRELOAD ignored)")
                return None
        return TICK_MS

    def intercept(self, listener: int, nr: int, args: tuple[int, ...], ident: int,
                  tid: int) -> bool:
        """Answer *nr* if it is the shim's report or, while the loader's promises hold,
        a call they allow; False: it is a violation of the asked promises."""
        if nr == self.magic and args[0] == COOKIE:
            if args[1] == READY:  # from anyone: it only ends the loader's promises
                self.opening = False
                native.lib().pp_notif_send(listener, ident, 0)
                return True
            if args[1] == FAILED:
                why = (f"failed ({os.strerror(args[2] & 0xFFFF)})" if args[2] != errno.ENOENT
                       else f"found no {ENV_MARK} (code that ran before it changed the "
                       "environment)")
                if self.opening:
                    self._fail(f"its start-up shim {why}")
                native.lib().pp_notif_send(listener, ident, -errno.ENOSYS)
                return True
            return False
        if not self.opening:
            return False
        if time.monotonic() > self.deadline:  # also here: calls may keep tick() from running
            self._fail(f"its start-up shim did not report within {DEADLINE:g} s")
            native.lib().pp_notif_send(listener, ident, -errno.ENOSYS)
            return True
        if tid != self.pid and self._prog_ended():
            self.opening = False
            return False
        if nr in self.execs:  # the command's own execve of PROG; no other
            if self.execed or tid != self.pid or self._exec_done():
                return False
            self.execed = True
            self.opening = self.shim is not None  # without a shim, started now
            answer: int | None = 0
        elif self.shim is None or self.who is None:
            return False
        else:
            if self.plan is None:
                self.plan = refuse(build(self.loader, self.arch, self.who))
            answer = verdict(self.plan, nr, args)
        if answer is None:
            return False
        lib = native.lib()
        self.continued += 1
        if answer:
            lib.pp_notif_send(listener, ident, -answer)
        else:
            lib.pp_notif_continue(listener, ident)  # -ENOENT: the caller went away
        if self.plan is None and self.opening and self.who is not None:
            # while the kernel execs PROG: its loader's first call then waits on nothing
            self.plan = refuse(build(self.loader, self.arch, self.who))
        return True


def guessed_identity(pid: int) -> Identity:
    """The ids child *pid* will most likely build its rules with: this process's (no -u
    or -g). Only a guess: :func:`identity_of` says, once the child has confined itself."""
    return Identity(pid, os.getuid(), tuple(sorted({os.getgid(), *os.getgroups()})), 0)


def loader_plan(loader: frozenset[str], who: Identity) -> Plan:
    """The plan :class:`_Opening` judges the loader's calls by, for child *who*. The first
    one a process builds is cold (~1-2 ms, against ~0.2 after): built while the child
    sets itself up, not while its loader waits on its first call."""
    return refuse(build(loader - {"exec"}, kernel.arch() or "x86_64", who))


def watch(pid: int, listener: int, loader: frozenset[str], after: frozenset[str],
          prog: str, shim: str | None, who: Identity | None,
          penalties: dict[int, int] | None = None, *, tmp: bool = False,
          plan: Plan | None = None, start: Start | None = None,
          first: supervise.Notification | None = None) -> _Opening:
    """The supervisor: serve *listener* for the program's whole run: the command's own
    execve and, with the start-up *shim*, the calls of *loader* (the asked promises and
    the loader's) let through until its READY; those of *after* always (the filter
    allows them); the rest are violations. *who*: the identity the child's rules were
    built with (:func:`identity_of`; needed with a shim). Each process's penalty goes
    into *penalties*, by pid (as :func:`supervise.serve`, as is *tmp*). *plan*:
    :func:`loader_plan` of *loader* for *who*, when made ahead. *start* and *first*: the
    phase and the unanswered notification of a supervisor taken over (the native
    launcher's). Returns the phase's record."""
    state = _Opening(pid, prog, shim, loader, who, penalties, plan, start)
    try:
        supervise.serve(listener, after, prog, pid, penalties,
                        intercept=lambda *a: state.intercept(listener, *a), tick=state.tick,
                        tmp=tmp, first=first)
    except BaseException:
        _kill(pid)  # nobody would punish its violations now (they would answer ENOSYS)
        raise
    return state


if __name__ == "__main__":  # pragma: no cover
    print(library(), file=sys.stdout)
