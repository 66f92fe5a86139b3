"""Children started under a pledge without ``exec``: forked, never vforked.

CPython's vfork path (subprocess) and glibc's posix_spawn (os.posix_spawn*, os.system)
make the child with CLONE_VM|CLONE_VFORK and every signal blocked, and reset each caught
signal to its default in it, SIGSYS's too: that rt_sigaction traps while SIGSYS is
blocked, so the kernel kills the child with SIGSYS before the handler can say a word
(subprocess saw -31, os.system 31). A forked child keeps the handler and its signals,
and its execve is refused with the message and SIGABRT, as on OpenBSD.

Nothing is weaker either way: without ``exec`` the execve never runs (promises only
narrow, so it never will). A fork costs more than a vfork in a large process, but only
for children that can do nothing but fail. Without ``proc`` neither is made: the
parent's own clone is the violation, explained in the parent.
"""

from __future__ import annotations

import errno
import os
import posix
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_installed = False


def install() -> None:
    """From now on subprocess forks, and os.system and os.posix_spawn* fork + exec."""
    global _installed
    if _installed:
        return
    _installed = True
    os.system = _system
    os.posix_spawn = _posix_spawn
    os.posix_spawnp = _posix_spawnp
    subprocess = sys.modules.get("subprocess")
    if subprocess is not None:
        _no_vfork(subprocess)
    else:  # imported later (with rpath), or never: importing it now costs start-up time
        sys.meta_path.insert(0, _OnImport)


def _no_vfork(subprocess: Any) -> None:
    # read at each start: by Popen (3.11+), _posixsubprocess itself (3.10) and
    # multiprocessing's spawnv_passfds
    if hasattr(subprocess, "_USE_VFORK"):
        subprocess._USE_VFORK = False
    # and not posix_spawn (3.13 takes it for close_fds=True too): fork_exec, forked
    if hasattr(subprocess, "_USE_POSIX_SPAWN"):
        subprocess._USE_POSIX_SPAWN = False


class _OnImport:
    """A sys.meta_path entry that turns subprocess's vfork off once it is imported; it
    finds nothing itself (as exec/wrap.py's _PatchOnImport)."""

    finding = False  # asked again by a finder it asked (one asking the meta path itself)

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "subprocess" or cls.finding:
            return None
        finders = list(sys.meta_path)
        cls.finding = True
        try:
            for finder in finders[finders.index(cls) + 1:] if cls in finders else finders:
                find = getattr(finder, "find_spec", None)
                spec = find(name, path, target) if find is not None else None
                if spec is not None:
                    break
            else:
                return None
        finally:
            cls.finding = False
        run = getattr(spec.loader, "exec_module", None)
        if run is None or isinstance(spec.loader, type):
            return None  # a loader shared by other modules: the import system's own way

        def exec_module(module: Any) -> None:
            run(module)
            _no_vfork(module)
            if _OnImport in sys.meta_path:
                sys.meta_path.remove(_OnImport)

        spec.loader.exec_module = exec_module
        return spec


def _spawn(search: bool, path: Any, argv: Sequence[Any], env: Mapping[Any, Any], *,
           file_actions: Sequence[tuple[Any, ...]] | None = None, setpgroup: int | None = None,
           resetids: bool = False, setsid: bool = False, setsigmask: Sequence[int] = (),
           setsigdef: Sequence[int] = (), scheduler: tuple[int, Any] | None = None) -> int:
    """posix_spawn as fork + exec; the same errors (the child's through a close-on-exec
    pipe). The file actions run in the child, as posix_spawn's do; the attributes only
    change a child that cannot outlive its refused exec (and setsigdef could reset
    SIGSYS's handler), so they are accepted and left out."""
    del setpgroup, resetids, setsid, setsigmask, setsigdef, scheduler
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # never returns
        code = 0
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
                elif action[0] == getattr(os, "POSIX_SPAWN_CLOSEFROM", None):  # 3.13
                    os.closerange(action[1], wfd)  # all but the pipe, closed at exec
                    os.closerange(max(action[1], wfd + 1), os.sysconf("SC_OPEN_MAX"))
                else:
                    raise OSError(errno.EINVAL, f"posix_spawn file action {action[0]}")
            _exec(search, path, list(argv), env)
        except OSError as exc:
            code = exc.errno or 0
        except BaseException:  # a bad action's TypeError, say: as posix_spawn's EINVAL
            code = errno.EINVAL
        finally:
            try:
                os.write(wfd, str(code).encode())
            finally:
                os._exit(127)
    os.close(wfd)
    try:
        # Not EOF on the pipe: another thread's fork meanwhile holds its write end too
        # (as long as that child lives). The exec cannot succeed (no "exec"): the child
        # ends, killed for it or after writing its errno (under "error"), so its end is
        # waited for, without reaping it (the caller does, as after posix_spawn).
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # SIGCHLD ignored: the kernel reaped it, once it ended
        os.set_blocking(rfd, False)
        try:
            data = os.read(rfd, 32)
        except BlockingIOError:
            data = b""
    finally:
        os.close(rfd)
    if data:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # (reaped already, as above)
        code = int(data)
        raise OSError(code, os.strerror(code), os.fspath(path))
    return pid


def _exec(search: bool, path: Any, argv: list[Any], env: Mapping[Any, Any]) -> None:
    """execve (posix's: not a wrapper of exec/wrap.py's), or posix_spawnp's PATH search."""
    name = os.fspath(path)
    if not search or (b"/" if isinstance(name, bytes) else "/") in name:
        posix.execve(name, argv, env)
    saved: OSError | None = None  # as os.execvpe: the first error that is not "not here"
    last: OSError | None = None
    for where in os.get_exec_path(env):
        candidate = os.path.join(os.fsencode(where) if isinstance(name, bytes) else where, name)
        try:
            posix.execve(candidate, argv, env)
        except (FileNotFoundError, NotADirectoryError) as exc:
            last = exc
        except OSError as exc:
            last = exc
            saved = saved or exc
    if saved is not None or last is not None:
        raise saved or last  # type: ignore[misc]
    raise FileNotFoundError(2, os.strerror(2), name)


def _posix_spawn(path: Any, argv: Any, env: Any, **kw: Any) -> int:
    return _spawn(False, path, argv, env, **kw)


def _posix_spawnp(path: Any, argv: Any, env: Any, **kw: Any) -> int:
    return _spawn(True, path, argv, env, **kw)


def _system(command: Any) -> int:
    """system(3): /bin/sh -c, the wait status (127 << 8 when the shell cannot run)."""
    try:
        pid = _spawn(False, "/bin/sh", ["sh", "-c", command], os.environ)
    except OSError:
        return 127 << 8
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # SIGCHLD ignored: reaped by the kernel, as system(3) sees it
        return -1
