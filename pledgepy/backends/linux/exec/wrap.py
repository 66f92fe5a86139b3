"""execpromises on Linux: the spawner's children, or narrowing in place before exec.

While the spawner runs (spawner.py), subprocess, os.posix_spawn*, os.system and
multiprocessing (through _posixsubprocess.fork_exec) have it make the child, under
execpromises alone. Otherwise, and for os.exec* and subprocess with a preexec_fn:

Seccomp filters survive execve, so an exec'd program runs under every filter
of its parent; pledgepy stacks the execpromises filter in the child between
fork and exec, through os.exec*, os.posix_spawn*, os.system and subprocess.
The filter must still allow the execve that starts the program, so the
exec'd program keeps ``exec`` (status reports it when execpromises lack it).

subprocess's ``close_fds`` runs in the child after ``preexec_fn``, so after
the narrowing. CPython 3.11+ closes with close_range(2) (a ``stdio`` call);
3.10 (or a build or kernel without close_range) lists ``/proc/self/fd``
instead, an open() that a pledge or execpromises without ``rpath`` forbid, so
the child would die before its exec. There the wrappers hand subprocess
``close_fds=False`` and close the same descriptors themselves (os.closerange,
close_range(2) where there is one) in the preexec_fn, before narrowing.
"""

from __future__ import annotations

import _thread
import os
import sys

from .. import native
from ..consts import SECCOMP_RET_ERRNO
from ..landlock import domain
from ..policy import POLICY
from ..seccomp import kernel
from ..seccomp.filter import ENOSYS_ERRNO, compile_plan, trap_data_bit
from ..seccomp.plan import ALLOW, Action, Plan, build
from ..syscalls import BY_ARCH
from . import explain, hint, spawner, stdlib

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from ..landlock.ruleset import Ruleset

_target: frozenset[str] | None = None  # execpromises | {"exec"}, when narrower than promises
_current: Plan | None = None
_nest = False  # exec'd programs enter a Landlock domain of their own
#: the ruleset of that domain when it must also keep procfs from being written (they
#: hold wpath without prot_exec, this process prot_exec): built while / can be read
_block: Ruleset | None = None
_arch = "x86_64"
_in_child = False  # in a child made to exec, already narrowed as a whole
_installed = False
_unveil_locked = False  # told to exec'd programs (hint.py)
_orig: dict[str, Any] = {}



def lock_unveil() -> None:
    """Tell exec'd programs from now on that unveil is locked."""
    global _unveil_locked
    _unveil_locked = True


def hinted(env: Any) -> Any:
    """*env* (None: this process's) with the hint of what exec'd programs inherit;
    unchanged when they inherit nothing."""
    held = _target if _target is not None else (_current.promises if _current else None)
    if held is None:
        return env
    return hint.with_hint(env, held, _unveil_locked or "unveil" not in held)


def needed(execpromises: frozenset[str] | None, promises: frozenset[str] | None) -> bool:
    """Whether exec'd programs must be narrowed below *promises* (None: unpledged)."""
    if execpromises is None:
        return False
    if promises is None:
        return True
    return "exec" in promises and not (execpromises | {"exec"}) >= promises


def target(execpromises: frozenset[str] | None,
           promises: frozenset[str] | None) -> frozenset[str] | None:
    """What exec'd programs are narrowed to (None: they run under *promises*)."""
    if execpromises is None or not needed(execpromises, promises):
        return None
    return (execpromises & promises if promises is not None else execpromises) | {"exec"}


def prepare(subprocess: bool = True) -> None:
    """Load and install the wrappers (before a filter may forbid imports); with
    *subprocess*, also import subprocess for the program (from the standard library's
    own directory: stdlib.py) when it still can be, as a pledge holding exec always did.

    An unveil lock passes False: ~15 M instructions a program that never execs should
    not pay. A program that imports subprocess later gets it wrapped (_PatchOnImport);
    under rules that hide the library it must import it before the lock, as any module."""
    _install()
    if subprocess and "subprocess" not in sys.modules:
        try:
            module = stdlib.load("subprocess")
        except (ImportError, OSError):
            return  # hidden by unveil now: the program's own import would be refused too
        _patch_subprocess(module)


def set_block(ruleset: Ruleset) -> None:
    """Programs narrowed in place enter *ruleset* (domain.ruleset(writable)) instead of a
    plain domain from now on; it is closed when replaced."""
    global _block
    if _block is not None:
        _block.close()
    _block = ruleset


def arm(execpromises: frozenset[str] | None, current: Plan | None, arch: str, *,
        nest: bool = False) -> None:
    """Narrow exec'd programs to *execpromises* from now on (None: leave them at promises);
    with *nest*, each enters a Landlock domain below this process's first.

    *current* is the plan in force (None: unpledged). Call after it is in
    force; :func:`prepare` must have run if :func:`needed` says so (and
    ``domain.prepare()`` if *nest*).
    """
    global _target, _current, _arch, _nest
    _current, _arch = current, arch
    _target = target(execpromises, current.promises if current is not None else None)
    _nest = nest and _target is not None
    assert _target is None or _installed


#: What runs between the execpromises filter and execve, or after execve fails: the
#: helper thread of os.exec* on its way out (CPython frees buffers, glibc releases the
#: thread's stack, the GIL is handed over), subprocess's child closing descriptors.
#: Harmless to anyone but the program itself, and allowed to exec'd programs whose
#: execpromises lack stdio, which pledge_gaps() says (OpenBSD applies execpromises at
#: execve, so there is no such window).
THREAD_END = ("munmap", "madvise", "futex", "close", "close_range")


def with_thread_end(plan: Plan) -> Plan:
    """*plan*, allowing :data:`THREAD_END` as ``stdio`` allows them (a failed exec must
    return to the caller): madvise without memory failure injection, which would reach
    every process mapping the page."""
    numbers = BY_ARCH[plan.arch]
    actions = dict(plan.actions)
    for name in THREAD_END:
        if name in numbers:
            rules = tuple(r for r in POLICY["stdio"] if r.syscall == name)
            actions[numbers[name]] = ALLOW if any(not r.args for r in rules) \
                else Action("args", rules)
    return Plan(plan.arch, plan.promises, plan.error, actions, plan.sparse)


def narrow(*, explained: bool = False) -> None:
    """Stack the execpromises filter on the calling thread, the one whose filters the
    exec'd program inherits. Callers narrow each thread once, just before exec."""
    if _target is None:
        return
    if _current is None:  # unpledged so far: the handler must be ready for the filter
        kernel.prepare()
    if _nest and _block is not None:  # ... and of their own code through /proc/self/mem
        _block.restrict_self(0)
        domain.entered()
    elif _nest:  # out of reach of this process's memory through /proc (raises E2BIG)
        domain.enter()
    plan = build(_target, _arch)
    if "stdio" not in _target:
        plan = with_thread_end(plan)
    # this thread's traps may now carry the execpromises' data (the message
    # must not call them foreign; it stays allowed, which only affects messages)
    native.set_trap_data(trap_data_bit(plan) | (trap_data_bit(_current) if _current else 0))
    delta = plan.delta(_current)
    # The handler does not survive execve: under "error" the program must get ENOSYS
    # from the kernel itself, as its caller would (a trap would kill it with SIGSYS).
    # In a child of ours (single-threaded, the caller stays its parent), the explainer
    # hears its violations after exec; otherwise the kernel's own answers.
    if explained and explain.confine(delta):
        return
    program = (compile_plan(delta, violation=SECCOMP_RET_ERRNO | ENOSYS_ERRNO) if plan.error
               else kernel.compile_for(delta))
    kernel.install(program, all_threads=False)


def _exec_narrowed(name: str, *args: Any) -> None:
    """execve from a new thread that narrows only itself.

    On success the program replaces the whole process and inherits that
    thread's filters; on failure only the helper thread was narrowed, so the
    caller keeps its promises (OpenBSD applies execpromises to the new image only).
    """
    env = hinted(args[2] if name == "execve" else None)
    if env is not None:  # the hint travels in the environment
        name, args = "execve", (args[0], args[1], env)
    if _target is None or _in_child:
        _orig[name](*args)
        return
    failure: list[BaseException] = []
    tids: list[int] = []
    # _thread, not threading: importing threading for the wrappers cost every unveil
    # lock ~5 M instructions; the lock is the join
    done = _thread.allocate_lock()
    done.acquire()

    def attempt() -> None:
        tids.append(_thread.get_native_id())
        try:
            narrow()
            _orig[name](*args)
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(attempt, ())
    done.acquire()
    if _current is None or "stdio" in _current.promises:  # sched_getaffinity: stdio
        # until the kernel no longer knows it: a pledge (TSYNC) meanwhile would fail
        # on a thread under another filter
        domain.gone(tids)
    raise failure[0] if failure else OSError("exec returned without an error")


def _execv(path: Any, args: Any) -> None:
    _exec_narrowed("execv", path, args)


def _execve(path: Any, args: Any, env: Any) -> None:
    _exec_narrowed("execve", path, args, env)


def _spawn(search: bool, path: Any, argv: Sequence[Any], env: Mapping[str, str], *,
           file_actions: Sequence[tuple[Any, ...]] | None = None, setpgroup: int | None = None,
           resetids: bool = False, setsid: bool = False, setsigmask: Sequence[int] = (),
           setsigdef: Sequence[int] = (), scheduler: tuple[int, Any] | None = None) -> int:
    """posix_spawn as fork + exec, so the child can narrow first; same errors.

    The child reports a failed exec in shared memory, not through a write that its
    execpromises may refuse; the close-on-exec pipe tells when it exec'd or ended.
    With the spawner running, the spawner makes the child instead.
    """
    import sys

    if spawner.active():
        got = _spawn_by_spawner(search, path, argv, env, file_actions, setpgroup, resetids,
                                setsid, setsigmask, setsigdef, scheduler)
        if got is not None:
            return got

    mmap = sys.modules.get("mmap")  # loaded by _install() where it can be
    # MAP_SHARED | MAP_ANONYMOUS: survives into the child (else: the pipe)
    report = mmap.mmap(-1, 8) if mmap is not None else None
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # child: report errno through the pipe, never return
        try:
            os.close(rfd)
            for action in file_actions or ():
                if action[0] == os.POSIX_SPAWN_OPEN:
                    _, fd, fpath, flags, mode = action
                    newfd = os.open(fpath, flags, mode)
                    if newfd != fd:
                        os.dup2(newfd, fd)
                        os.close(newfd)
                elif action[0] == os.POSIX_SPAWN_CLOSE:
                    os.close(action[1])
                elif action[0] == os.POSIX_SPAWN_DUP2:
                    os.dup2(action[1], action[2])
            if setsid:
                os.setsid()
            if setpgroup is not None:
                os.setpgid(0, setpgroup)
            if resetids:
                os.setegid(os.getgid())
                os.seteuid(os.getuid())
            # built in: nothing to read in the child, whose rules may hide the library now
            signal: Any = stdlib.load("_signal")

            if setsigmask:
                signal.pthread_sigmask(signal.SIG_SETMASK, setsigmask)
            for sig in setsigdef:
                signal.signal(sig, signal.SIG_DFL)
            if scheduler is not None:
                os.sched_setscheduler(0, *scheduler)
            global _in_child
            narrow(explained=True)  # a child of our own: narrowing it in place is what we want
            _in_child = True
            env = hinted(env)
            if search:
                os.execvpe(path, list(argv), env)
            _orig["execve"](path, list(argv), env)
        except OSError as exc:
            _report(report, wfd, exc.errno or 0)
        except BaseException:
            _report(report, wfd, 0)
        finally:
            os._exit(127)
    os.close(wfd)
    try:
        data = os.read(rfd, 32)  # EOF: it exec'd (close-on-exec) or it is ending
    finally:
        os.close(rfd)
    word = int.from_bytes(report[:8], "little") if report is not None else 0
    if report is not None:
        report.close()
    if data or word >> 32:
        os.waitpid(pid, 0)
        code = int(data) if data else word & 0xFFFFFFFF
        raise OSError(code, os.strerror(code), os.fspath(path))
    return pid


def _spawner_env(env: Any) -> list[bytes]:
    """*env* (None: this process's) as "k=v" bytes with the hint of what the spawner's
    children hold."""
    held = spawner.children()
    assert held is not None
    base: Any = os.environb if env is None else env
    if isinstance(base, (list, tuple)):
        base = dict(item.split(b"=", 1) for item in base if b"=" in item)
    # the spawner's first layer lets its children install a SIGSYS handler (spawner.py)
    out = hint.with_hint(base, held, _unveil_locked or "unveil" not in held,
                         handler="stdio" in held)
    return [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in out.items()]


def _candidates(search: bool, path: Any, env: Any) -> list[bytes]:
    """The paths posix_spawnp would try, in order."""
    name = os.fsencode(path)
    if not search or b"/" in name:
        return [name]
    return [os.path.join(os.fsencode(d), name) for d in os.get_exec_path(env)]


def _spawn_by_spawner(search: bool, path: Any, argv: Sequence[Any], env: Mapping[str, str],
                      file_actions: Sequence[tuple[Any, ...]] | None, setpgroup: int | None,
                      resetids: bool, setsid: bool, setsigmask: Sequence[int],
                      setsigdef: Sequence[int], scheduler: Any) -> int | None:
    """posix_spawn through the spawner; None when it cannot (then fork + exec)."""
    if scheduler is not None or any(a[0] == os.POSIX_SPAWN_OPEN for a in file_actions or ()):
        return None
    mapping: dict[int, int] = {}
    for action in file_actions or ():
        if action[0] == os.POSIX_SPAWN_CLOSE:
            mapping[action[1]] = -1
        elif action[0] == os.POSIX_SPAWN_DUP2:
            mapping[action[2]] = mapping.get(action[1], action[1])
    flags = spawner.INHERIT | (spawner.SETSID if setsid else 0) | (
        spawner.SETPGID if setpgroup is not None else 0) | (
        spawner.RESETIDS if resetids else 0) | (spawner.SIGMASK if setsigmask else 0)
    mask = sum(1 << (int(sig) - 1) for sig in setsigmask)
    sigdef = sum(1 << (int(sig) - 1) for sig in setsigdef)
    try:
        pid, err, stage = spawner.spawn(_candidates(search, path, env), list(argv),
                                        _spawner_env(env), sorted(mapping.items()),
                                        flags=flags, pgid=setpgroup or 0, sigmask=mask,
                                        sigdef=sigdef)
    except OSError:
        return None  # the spawner has gone: narrowing in place
    if stage == spawner.REFUSED:
        return None
    if err:
        spawner.reap(pid)
        raise OSError(err, os.strerror(err), os.fspath(path))
    return pid


#: How _posixsubprocess's child says where it failed (the parent names cwd for chdir):
#: 3.13 tells chdir from the rest; before, "noexec" meant chdir and the rest looked
#: like a failed exec.
_ERRPIPE_STAGE = ({spawner.CHDIR: b"noexec:chdir", spawner.SETUP: b"noexec"}
                  if sys.version_info >= (3, 13) else {spawner.CHDIR: b"noexec"})


def _fork_exec_by_spawner(args: tuple[Any, ...]) -> int | None:
    """_posixsubprocess.fork_exec through the spawner (no preexec_fn); None when it
    cannot. A failure is told through subprocess's error pipe, as its child would."""
    if len(args) == 21:  # 3.10: no process_group, no allow_vfork
        args = (*args[:16], -1, *args[16:], True)
    (argv, executables, close_fds, keep, cwd, env_list, p2cread, _p2cwrite, _c2pread,
     c2pwrite, _errread, errwrite, _errpipe_read, errpipe_write, restore_signals, setsid,
     pgid, gid, groups, uid, umask, _preexec, _vfork) = args
    if gid is not None or groups is not None or uid is not None:
        return None  # other ids: the forked child changes them under this filter ("id")
    fds = [(0, p2cread if p2cread != -1 else 0), (1, c2pwrite if c2pwrite != -1 else 1),
           (2, errwrite if errwrite != -1 else 2)]
    fds += [(fd, fd) for fd in keep if fd > 2 and fd != errpipe_write]
    flags = (spawner.RESTORE if restore_signals else 0) | (spawner.SETSID if setsid else 0) | (
        spawner.SETPGID if pgid is not None and pgid >= 0 else 0) | (
        0 if close_fds else spawner.INHERIT)
    try:
        pid, err, stage = spawner.spawn(
            list(executables), list(argv), _spawner_env(env_list), fds, flags=flags,
            cwd=cwd, pgid=pgid if pgid is not None and pgid >= 0 else 0,
            umask=umask if umask is not None and umask >= 0 else -1,
            uid=uid if uid is not None else -1, gid=gid if gid is not None else -1,
            groups=list(groups) if groups is not None else None)
    except OSError:
        return None
    if stage == spawner.REFUSED:
        return None
    if err:
        spawner.reap(pid)
        where = _ERRPIPE_STAGE.get(stage, b"")
        os.write(errpipe_write, b"OSError:%x:%s" % (err, where))
        # the failed child is gone and no plain waitpid() saw it: a caller that reads no
        # error pipe (multiprocessing's spawnv_passfds) would poll its pid forever
        # (exitcode None, is_alive()); it waits for a child that ends as
        # _posixsubprocess's failed one does, with 255
        return spawner.stand_in(255) or pid
    return pid


def _report(report: Any, wfd: int, code: int) -> None:
    """In _spawn's child: say exec failed, in shared memory (no syscall its
    execpromises may refuse) or else through the pipe."""
    if report is not None:
        report[:8] = (1 << 32 | code).to_bytes(8, "little")
    else:
        os.write(wfd, str(code).encode())


def _posix_spawn(path: Any, argv: Any, env: Any, **kw: Any) -> int:
    return _spawn(False, path, argv, env, **kw)


def _posix_spawnp(path: Any, argv: Any, env: Any, **kw: Any) -> int:
    return _spawn(True, path, argv, env, **kw)


def _system(command: str) -> int:
    pid = _spawn(False, "/bin/sh", ["sh", "-c", command], os.environ)
    return os.waitpid(pid, 0)[1]


INT_MAX = 2**31 - 1


class _Preexec:
    """subprocess's preexec_fn in the child: the caller's, then (see :func:`_fork_exec`)
    close_fds done here, then the narrowing."""

    def __init__(self, user: Callable[[], Any] | None,
                 keep: tuple[int, ...] | None = None) -> None:
        self.user, self.keep = user, keep

    def __call__(self) -> None:
        if self.user is not None:
            self.user()
        if self.keep is not None:
            _close_fds(self.keep)
        narrow(explained=True)


def _own_fds() -> tuple[int, ...]:
    """Descriptors pledgepy itself still needs before the exec (all close-on-exec):
    "/" for the ABI < 6 Landlock domain, /etc/localtime for the handler, the channel
    to the explainer, the ruleset that keeps procfs from being written."""
    own = [*native.localtime_fds(), domain.root_fd_if_open(), explain.channel_fd(),
           _block.fd if _block is not None and not _block.closed else None]
    return tuple(fd for fd in own if fd is not None and fd >= 0)


def _close_fds(keep: tuple[int, ...]) -> None:
    """Close every descriptor from 3 up except the sorted *keep* and pledgepy's own
    (close-on-exec, so the program never gets them), like _posixsubprocess."""
    low = 3
    for fd in sorted(set(keep) | set(_own_fds())):
        if fd > low:
            os.closerange(low, fd)
        if fd >= low:
            low = fd + 1
    os.closerange(low, _orig["fd_end"])


def _fork_exec(*args: Any) -> Any:
    """_posixsubprocess.fork_exec: through the spawner when it runs and no preexec_fn
    of the caller's must run; else with close_fds (argument 2; the sorted descriptors
    to keep are argument 3) done by our preexec_fn instead of by reading /proc."""
    at = 20 if len(args) == 21 else 21  # preexec_fn
    pre = args[at]
    if _target is not None and not isinstance(pre, _Preexec):
        # no Popen wrapper of ours on the way (subprocess reloaded or imported again after
        # the pledge, multiprocessing's spawnv_passfds): its child must narrow all the same
        pre = _Preexec(pre)
        args = (*args[:at], pre, *args[at + 1:])
    if spawner.active() and (pre is None or (isinstance(pre, _Preexec) and pre.user is None)):
        got = _fork_exec_by_spawner(args)
        if got is not None:
            return got
    if "fd_end" not in _orig:
        return _orig["fork_exec"](*args)
    if args[2]:
        for i, arg in enumerate(args):
            if isinstance(arg, _Preexec):
                args = (*args[:2], False, *args[3:i], _Preexec(arg.user, tuple(args[3])),
                        *args[i + 1:])
                break
    return _orig["fork_exec"](*args)


def _close_range_usable() -> tuple[bool, bool]:
    """(os.closerange closes by close_range(2), _posixsubprocess does too).

    Both need the kernel call (Linux 5.9) and a build that has it (glibc 2.34; not
    musl); _posixsubprocess also 3.11. The build's flag is read from the text of its
    sysconfig data in the standard library's directory: importing it (or sysconfig)
    would cost start-up time and go through sys.path (stdlib.py), and unveil may hide
    the file by now."""
    release = os.uname().release.split(".")
    try:
        kernel_has = (int(release[0]), int("".join(c for c in release[1][:3] if c.isdigit())
                                           or 0)) >= (5, 9)
    except (IndexError, ValueError):
        kernel_has = False
    built = kernel_has and _build_flag("HAVE_CLOSE_RANGE")
    return built, built and sys.version_info >= (3, 11)


def _build_flag(name: str) -> bool:
    """Whether the interpreter's build set *name* (False: unset, or cannot tell, when
    callers close by the limit, as CPython's fallback does)."""
    multiarch = getattr(sys.implementation, "_multiarch", "")
    top = os.path.dirname(os.__file__)
    key = f"'{name}': ".encode()
    # upstream's name, then Debian's (its sysconfig leaves out the platform)
    for module in (f"_sysconfigdata_{sys.abiflags}_{sys.platform}_{multiarch}",
                   f"_sysconfigdata_{sys.abiflags}_{multiarch}"):
        try:
            with open(os.path.join(top, module + ".py"), "rb") as f:
                text = f.read()
        except OSError:
            continue
        at = text.find(key)
        if at < 0:
            return False
        value = text[at + len(key):at + len(key) + 8].split(b",")[0].strip()
        return value.isdigit() and int(value) != 0
    return False


def _execute_child(self: Any, args: Any, executable: Any, preexec_fn: Any,
                   *rest: Any, **kw: Any) -> Any:
    if len(rest) > 3:  # close_fds, pass_fds, cwd, env, ...: the hint goes in env
        rest = (*rest[:3], hinted(rest[3]), *rest[4:])
    return _orig["_execute_child"](self, args, executable, _Preexec(preexec_fn), *rest, **kw)


class _PatchOnImport:
    """A sys.meta_path entry that gives subprocess its wrapper when the program imports
    it after the wrappers were installed: importing it for the program costs start-up
    time (~15 M instructions) that a program which never execs should not pay. It finds
    nothing itself; it only wraps the module that the finders after it find."""

    finding = False  # asked again by a finder it asked (one asking the meta path itself)

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "subprocess" or cls.finding:
            return None  # else it would ask that finder back, forever (RecursionError)
        finders = list(sys.meta_path)
        cls.finding = True
        try:
            # only those after it: one put before it was asked already
            for finder in finders[finders.index(cls) + 1:] if cls in finders else finders:
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            cls.finding = False
        loader = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None or isinstance(loader, type):  # a loader shared by other modules
            # unwrapped, its children would run under promises, not execpromises
            raise ImportError("pledgepy cannot wrap subprocess: its loader "
                              f"({loader!r}) is not one module's own", name=name)

        def exec_module(module: Any) -> None:
            run(module)
            _patch_subprocess(module)

        loader.exec_module = exec_module
        return spec


def _patch_subprocess(subprocess: Any) -> None:
    """Wrap subprocess's Popen (the hint, narrowing in the child) and its name for
    fork_exec (3.11+; 3.10 looks it up in _posixsubprocess at each call)."""
    if _PatchOnImport in sys.meta_path:
        sys.meta_path.remove(_PatchOnImport)
    popen = getattr(subprocess, "Popen", None)
    if popen is None or "_execute_child" in _orig:
        return  # not the standard library's (the program's own module of that name)
    _orig["_execute_child"] = popen._execute_child
    popen._execute_child = _execute_child
    if hasattr(subprocess, "_fork_exec"):  # 3.11+: bound at its import
        subprocess._fork_exec = _fork_exec
    else:  # 3.10
        subprocess._posixsubprocess = _ForkExec


class _ForkExec:
    """What subprocess on 3.10 finds as its _posixsubprocess."""

    fork_exec = staticmethod(lambda *args: _fork_exec(*args))


def _install() -> None:
    global _installed
    if _installed:
        return
    try:
        stdlib.load("mmap")  # _spawn's, loaded while extension modules can be
    except ImportError:
        pass  # unreadable (after a change of ids): _spawn reports through its pipe
    posixsubprocess: Any = stdlib.load("_posixsubprocess")

    explain.start()  # before any filter: it must stay outside them
    for name, wrapper in (("execv", _execv), ("execve", _execve),
                          ("posix_spawn", _posix_spawn), ("posix_spawnp", _posix_spawnp),
                          ("system", _system)):
        _orig[name] = getattr(os, name)
        setattr(os, name, wrapper)
    os_closes_by_range, subprocess_does = _close_range_usable()
    if not subprocess_does:  # it would list /proc/self/fd in the child: we close instead
        # one past the last descriptor to close: as far as close_range reaches, else the
        # limit CPython's own brute-force fallback uses
        _orig["fd_end"] = INT_MAX if os_closes_by_range else max(os.sysconf("SC_OPEN_MAX"), 256)
    _orig["fork_exec"] = posixsubprocess.fork_exec
    # multiprocessing's spawnv_passfds looks it up in the module at each call, and
    # subprocess imported from now on binds this one (3.11+)
    posixsubprocess.fork_exec = _fork_exec
    if "subprocess" in sys.modules:
        _patch_subprocess(sys.modules["subprocess"])
    else:  # the program imports it later, or never
        sys.meta_path.insert(0, _PatchOnImport)
    _installed = True
