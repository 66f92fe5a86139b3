"""Loader promises end when the loader is done: the Python half of the start-up shim.

A dynamically linked program needs ``rpath prot_exec`` (and ``exec``, for the
execve that starts it) only while its loader maps its libraries. The command
starts it under those (the *opening* filter, whose listener the supervisor
holds) with ``native/shim.c`` preloaded; the shim's constructor, after the
loader and before ``main``, installs the filter for exactly the asked
promises, prepared here and handed over in a sealed memfd. See shim.c for the
hand-over; :func:`watch` is the supervisor's side of it.

Fail closed: a shim that reports a failure, a program whose loader mapped its
libraries without the shim (LD_PRELOAD ignored), or one that does not report
within :data:`DEADLINE` of the command letting it run is killed, with a message.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import sys
import time

from ....errors import NativeBuildError
from .. import native
from ..consts import SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_RET_USER_NOTIF, SECCOMP_SET_MODE_FILTER
from ..rules import Rule, one_of
from ..seccomp import kernel
from ..seccomp.filter import compile_plan
from ..seccomp.plan import TRAP, Action, Plan, build
from ..syscalls import BY_ARCH
from . import supervise
from .refuse import refuse

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import signal
    from typing import Any
else:  # the C module itself: signal wraps its numbers in enums (enum: ~4 ms of start-up)
    import _signal as signal

ENV_FILTER, ENV_PRELOAD, ENV_LOAD = ("PLEDGEPY_SHIM_FILTER", "PLEDGEPY_SHIM_PRELOAD",
                                     "PLEDGEPY_SHIM_LOAD")
#: The call both filters send to their listener (no promise allows it) and its first argument.
MAGIC, COOKIE = "lookup_dcookie", 0x5053484D45444750
READY, NARROWED, FAILED = 1, 2, 3
SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1, 16
#: The flags the shim installs its filter with: the only seccomp() the opening filter allows.
SHIM_FLAGS = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#: Seconds from the go to the shim's READY before the program is killed: its loader
#: maps the libraries in milliseconds; this is only the bound when nothing else tells.
DEADLINE = 10.0
#: Seconds from READY to the shim's filter: its next call installs it, but code that
#: forged READY has the opening filter without a listener (violations ENOSYS, unheard)
#: until then, so the wait is short.
GAP = 1.0
#: Milliseconds between looks at the program's mappings while waiting for READY.
TICK_MS = 2
_NATIVE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "native")
_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(_NATIVE)))
#: What the build's digest covers (setup.py: SHIM_SOURCES), relative to the package's parent.
SOURCES = ("backends/linux/native/shim.c", "backends/linux/exec/shim.py")
_MARK = b"PLEDGEPY-SHIM-DIGEST:"


def _sha256() -> Any:
    """SHA-256 from CPython's built-in module (setup.py's hashlib gives the same bytes):
    hashlib would load OpenSSL (~4 ms) on the command's start-up path."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # a build without either
            from hashlib import sha256
    return sha256()


def _digest() -> str:
    h = _sha256()
    for name in SOURCES:
        with open(os.path.join(_PACKAGE, name), "rb") as f:
            data = f.read()
        h.update(f"{os.path.basename(name)}\0{len(data)}\0".encode())
        h.update(data)
    return str(h.hexdigest())


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


def _with_magic(plan: Plan) -> Plan:
    actions = dict(plan.actions)
    actions[BY_ARCH[plan.arch][MAGIC]] = TRAP
    return Plan(plan.arch, plan.promises, plan.error, actions, plan.sparse)


def opening(plan: Plan) -> Plan:
    """The opening filter's *plan* (refused calls already out): the shim's one seccomp()
    and its reports allowed through. Any other seccomp() is a violation."""
    out = _with_magic(plan)
    nr = BY_ARCH[plan.arch]["seccomp"]
    out.actions[nr] = Action("args", (Rule("seccomp", frozenset(), (
        one_of(0, SECCOMP_SET_MODE_FILTER), one_of(1, SHIM_FLAGS))),))
    return out


def program(promises: frozenset[str]) -> bytes:
    """The BPF of the filter the shim installs: *promises* as under the command."""
    plan = _with_magic(refuse(build(promises, kernel.arch() or "x86_64")))
    return compile_plan(plan, violation=SECCOMP_RET_USER_NOTIF)


def environment(promises: frozenset[str], shim: str, env: dict[str, str],
                load: tuple[str, ...] = ()) -> dict[str, str]:
    """In the child, before the opening filter: *env* plus what the shim needs (the
    filter for *promises* in an inherited, sealed memfd; the libraries *load* it
    loads before narrowing)."""
    code = program(promises)
    fd = os.memfd_create("pledgepy-shim", os.MFD_ALLOW_SEALING)  # inherited on purpose
    try:
        if os.write(fd, code) != len(code):
            raise OSError(errno.EFBIG, "the start-up shim's filter was cut short")
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                    | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except OSError:
        os.close(fd)
        raise
    out = dict(env)
    theirs = env.get("LD_PRELOAD", "")
    out.update({ENV_FILTER: str(fd), ENV_PRELOAD: theirs, ENV_LOAD: ":".join(load),
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
    name = os.path.basename(path)
    return path.startswith("/") and (name.endswith(".so") or ".so." in name) \
        and not name.startswith("ld-")


class _Opening:
    """The supervisor while the opening filter is the program's: the hooks of serve()."""

    def __init__(self, pid: int, prog: str, shim: str,
                 penalties: dict[int, int] | None = None) -> None:
        self.pid, self.prog, self.shim, self.penalties = pid, prog, shim, penalties
        self.deadline = time.monotonic() + DEADLINE
        self.ready = False
        self.seen = False  # the shim is mapped: its constructor runs before main
        self.filters: int | None = None  # PROG's filter count at READY
        self.own_exe = os.stat("/proc/self/exe")

    def _fail(self, text: str) -> bool:
        _kill(self.pid)
        _say(self.prog, self.pid, f"{text}; killed (it would have held its loader's promises)")
        return True

    def _exec_done(self) -> bool:
        try:
            st = os.stat(f"/proc/{self.pid}/exe")
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != (self.own_exe.st_dev, self.own_exe.st_ino)

    def tick(self) -> int | None:
        """Called between notifications: the next timeout (ms), None for no more."""
        if time.monotonic() > self.deadline:
            self._fail(f"its start-up shim did not report within {DEADLINE:g} s")
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

    def intercept(self, nr: int, args: tuple[int, ...], ident: int, tid: int) -> bool:
        """True: *nr* was the shim's report and serving the opening listener ends."""
        if nr != BY_ARCH[kernel.arch() or "x86_64"][MAGIC] or args[0] != COOKIE:
            return False
        if args[1] == FAILED:
            why = (f"failed ({os.strerror(args[2] & 0xFFFF)})" if args[2] != errno.ENOENT else
                   f"found no {ENV_FILTER} (code that ran before it changed the environment)")
            return self._fail(f"its start-up shim {why}")
        if args[1] != READY:
            return False
        if self.shim not in _mappings(self.pid):  # not the shim speaking: someone else's code
            return self._fail("a start-up report came from code that is not the shim")
        forked = _forked(self.pid)
        if forked:  # not narrowed by the shim: after the hand-over, unpunished
            for other in forked:
                _kill(other)
            _forgery(self.pid, self.prog, f"{len(forked)} process(es) forked before its "
                     "start-up shim would keep the loader's promises", self.penalties)
            return True
        self.filters = _filter_count(self.pid)
        self.ready = True
        return True


#: prctl(PR_SET_CHILD_SUBREAPER)
_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Make the supervisor the reaper of PROG's orphans (before PROG runs), so that what
    PROG forks before its shim cannot leave the tree :func:`_forked` walks."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot adopt the program's orphans: {os.strerror(err)}")


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    out.update(int(c) for c in f.read().split())
            except OSError:
                continue
    except OSError:
        pass
    return out


def _forked(pid: int) -> set[int]:
    """Processes other than *pid* that may run under its opening filter: its descendants
    and the supervisor's other children (orphans it adopted), with theirs."""
    seen: set[int] = set()
    todo = _children(pid) | (_children(os.getpid()) - {pid})
    while todo:
        other = todo.pop()
        if other not in seen:
            seen.add(other)
            todo |= _children(other)
    return seen


def _filter_count(pid: int) -> int | None:
    """Seccomp_filters of *pid* (/proc/<pid>/status, Linux 5.9), None if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Seccomp_filters:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


#: The largest filter (BPF_MAXINSNS instructions of 8 bytes).
MAX_BYTES = 4096 * 8
#: ptrace requests: PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH, PTRACE_SECCOMP_GET_FILTER
_SEIZE, _INTERRUPT, _DETACH, _GET_FILTER = 0x4206, 0x4207, 17, 0x420C
_WALL, _WSTOPPED, _WEXITED, _WNOWAIT = 0x40000000, 2, 4, 0x01000000
#: CAP_SYS_ADMIN (PTRACE_SECCOMP_GET_FILTER) and CAP_SYS_PTRACE (PROG under -u)
_VERIFY_CAPS = (1 << 21) | (1 << 19)


def _can_verify() -> bool:
    """Whether this supervisor may read a filter back (PTRACE_SECCOMP_GET_FILTER)."""
    try:
        with open("/proc/self/status", "rb") as f:
            eff = next(int(line.split()[1], 16) for line in f if line.startswith(b"CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return eff & _VERIFY_CAPS == _VERIFY_CAPS


def _newest_filter(pid: int, count: int) -> bytes | None:
    """The BPF of *pid*'s newest filter (the last of *count*: the kernel numbers them
    from the oldest), read back through ptrace: *pid* is stopped for it and let go (a
    report it was waiting on is withdrawn and re-sent when the call restarts). None: the
    kernel keeps no copy (no CONFIG_CHECKPOINT_RESTORE); OSError: it cannot be read."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.ptrace
    call.restype = ctypes.c_long
    call.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

    def check(rc: int) -> int:
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return rc

    check(call(_SEIZE, pid, None, None))
    try:
        check(call(_INTERRUPT, pid, None, None))
        # WNOWAIT: an exit stays for the command's own waitpid
        got = os.waitid(os.P_PID, pid, _WSTOPPED | _WEXITED | _WNOWAIT | _WALL)
        if got is None or got.si_code != os.CLD_TRAPPED:
            raise OSError(errno.ESRCH, "it ended")
        buf = ctypes.create_string_buffer(MAX_BYTES)
        n = call(_GET_FILTER, pid, ctypes.c_void_p(count - 1), buf)
        if n < 0 and ctypes.get_errno() == errno.EINVAL:
            return None
        return buf.raw[:8 * check(n)]
    finally:
        call(_DETACH, pid, None, None)


def filter_of(pid: int) -> bytes | None:
    """The filter the child *pid* put in its sealed memfd (:func:`environment`), read
    before it execs PROG: its rules name the child's pid and ids, so the supervisor
    takes the child's bytes rather than compiling its own."""
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}").startswith("/memfd:pledgepy-shim "):
                    with open(f"/proc/{pid}/fd/{name}", "rb") as f:
                        return f.read(MAX_BYTES + 1)
            except OSError:
                continue
    except OSError:
        pass
    return None


def _forged(pid: int, code: bytes | None, filters: int | None) -> str | None:
    """Why the filter *pid* installed after READY is not the shim's (*code*), None if it
    is (as far as this supervisor can tell). Code that runs before the shim can forge its
    reports, and a filter of its own would answer its violations itself (ERRNO, ALLOW)
    while the opening filter, its listener closed, answers them ENOSYS, unpunished."""
    now = _filter_count(pid)
    if filters is not None and now != filters + 1:
        return f"{now} seccomp filters where the start-up shim adds one to {filters}"
    if now is None or not _can_verify():
        return None  # README: an unprivileged supervisor trusts the count and the report
    if code is None:
        return "the command could not read the filter it compiled"
    try:
        newest = _newest_filter(pid, now)
    except OSError as exc:
        return f"its filter cannot be read back ({exc.strerror})"
    if newest is not None and newest != code:
        return "its newest seccomp filter is not the one the command compiled"
    return None


def _shim_failed(pid: int) -> bool:
    """Whether *pid* ended as the shim's fail() ends it (exit 70, after its message) or
    by a signal (its status says so); False while it lives or when it exited otherwise."""
    got = os.waitid(os.P_PID, pid, _WEXITED | _WNOWAIT | os.WNOHANG)
    return got is not None and (got.si_code != os.CLD_EXITED or got.si_status == 70)


def _forgery(pid: int, prog: str, why: str, penalties: dict[int, int] | None) -> None:
    """A hand-over that is not the shim's: code before it spoke for it (lookup_dcookie,
    which no promise allows): a violation, whether or not PROG is still alive to kill."""
    _kill(pid)
    if penalties is not None:
        penalties[pid] = signal.SIGKILL
    _say(prog, pid, f"its start-up hand-over was forged ({why}); killed")


def _narrowed(listener: int, timeout: float, child: int) -> bool:
    """Take the shim's NARROWED off the new *listener* and answer it: only from a
    thread of *child* (a listener planted from elsewhere hears other processes)."""
    lib, ffi = native.lib(), native.ffi()
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return False
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, pid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    if lib.pp_notif_recv(listener, nr, args, ident, pid) < 0:
        return False
    if nr[0] != BY_ARCH[kernel.arch() or "x86_64"][MAGIC] or args[0] != COOKIE \
            or args[1] != NARROWED or supervise.tgid(pid[0]) != child:
        return False
    return int(lib.pp_notif_send(listener, ident[0], 0)) == 0


def watch(pid: int, opening_listener: int, loader: frozenset[str], after: frozenset[str],
          prog: str, shim: str, penalties: dict[int, int] | None = None,
          code: bytes | None = None) -> None:
    """The supervisor: serve *opening_listener* (promises *loader*) until the shim is
    ready, hand over, then serve the shim's listener (promises *after*) to the end.
    Each process's penalty goes into *penalties*, by pid (as :func:`supervise.serve`);
    *code* is the shim's filter (:func:`filter_of`), checked against what PROG installs."""
    state = _Opening(pid, prog, shim, penalties)
    try:
        supervise.serve(opening_listener, loader, prog, pid, penalties,
                        intercept=state.intercept,
                        tick=state.tick)
    finally:
        os.close(opening_listener)  # unanswered: the shim's READY fails with ENOSYS
    if not state.ready:
        return  # it ended (or was killed): its status says how
    fd = supervise.find_listener(pid, GAP)
    if fd is None:
        if not _shim_failed(pid):  # READY, then neither a filter nor the shim's failure
            _forgery(pid, prog, "no start-up filter followed its READY report", penalties)
        return
    listener = supervise.take_listener(pid, fd)
    try:
        why = _forged(pid, code, state.filters)
        if why is not None:
            _forgery(pid, prog, why, penalties)
            return
        if not _narrowed(listener, DEADLINE, pid):
            _kill(pid)
            _say(prog, pid, "its start-up shim did not finish narrowing; killed")
            return
        supervise.serve(listener, after, prog, pid, penalties)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(listener)


if __name__ == "__main__":  # pragma: no cover
    print(library(), file=sys.stdout)
