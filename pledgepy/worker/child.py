"""The worker's side: harden, import, set up, unveil what was loaded, pledge, serve.

Started as ``python -I -c`` by :class:`pledgepy.Worker` with the parent's
``sys.path`` and nothing else of its memory; its descriptors are 0-2 (stdin
is /dev/null, stdout and stderr a pipe the parent reads) and its channel.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import socket
import stat
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import codec, frames, harden, namespaces, rlimits, spin

#: errno of an OSError -> the limit it means (when that limit was set).
_ERRNO_LIMITS = {errno.EMFILE: "files", errno.EFBIG: "fsize", errno.EAGAIN: "nproc"}
#: What threading raises when pthread_create fails (EAGAIN under RLIMIT_NPROC).
_NO_THREAD = "can't start new thread"
_HUGE = (1 << 32) - 1  # the header's largest length: the parent enforces its own limit
#: Longest a ready reply waits for the ones after it (seconds), and most replies sent at once
#: (each at most frames.SCRATCH bytes: larger ones go alone).
HOLD = 0.001
_HELD = 32


class UnsupportedNamespaces(OSError):
    """Strict: the kernel refused a namespace the worker was asked for."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket, limit: int) -> Any:
    return codec.decode(_recv_exact(sock, codec.length(_recv_exact(sock, 4), limit)))


def _load(config: dict[str, Any]) -> ModuleType:
    main_file = config.get("main_file")
    if config["module"] == "__main__" and main_file:
        # Like multiprocessing's spawn: the script runs under another name, so its
        # ``if __name__ == "__main__"`` block does not.
        spec = importlib.util.spec_from_file_location("__pledgepy_main__", main_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {main_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["__pledgepy_main__"] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(config["module"])


def _setup(spec: str | None, module: ModuleType, config: dict[str, Any]) -> None:
    """Run ``"module:function"``; the worker's own module (or ``__main__``) as loaded."""
    if spec:
        where, _, name = spec.partition(":")
        own = where in (config["module"], "__main__")
        fn = getattr(module if own else importlib.import_module(where), name)
        fn()


#: What :func:`loaded_files` learnt of each path: its real path, None when it is no
#: file. A fork-mode worker inherits its parent's (forked.start looks before forking),
#: so it only looks at what it loaded since: paths only, nothing that grants anything.
_looked: dict[str, str | None] = {}
looked_at = -1  # len(sys.modules) when forked.start last looked


#: The real path of each directory :func:`_resolve` has met (paths only, as _looked).
_real_dirs: dict[str, str] = {}


def _resolve(path: str) -> str | None:
    """``os.path.realpath(path)`` if *path* is a file (through symlinks), else None.

    A regular file costs one lstat once its directory's real path is known: the
    ~150 module files of a process live in a dozen directories, and realpath's
    lstat of every component of every path was most of the first fork's look.
    """
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISLNK(mode):
        return os.path.realpath(path) if os.path.isfile(path) else None
    if not stat.S_ISREG(mode):
        return None
    head, tail = os.path.split(path)
    real_dir = _real_dirs.get(head)
    if real_dir is None:
        real_dir = _real_dirs[head] = os.path.realpath(head)
    return os.path.join(real_dir, tail)


def _real_file(path: str) -> str | None:
    found = _looked.get(path, "")
    if found == "":
        found = _looked[path] = _resolve(path)
    return found


def _mapped_file(path: str) -> str | None:
    found = _looked.get(path, "")
    if found == "":
        found = _looked[path] = path if os.path.isfile(path) else None
    return found


#: The module files :func:`loaded_files` found so far, and the newest module it looked
#: at (name, module): a later call (the fork of a parent that looked) looks only at the
#: modules imported since, without touching the others (their pages stay shared).
_module_files: dict[str, None] = {}
_newest: tuple[str, ModuleType] | None = None


def _new_modules() -> list[ModuleType]:
    """The modules imported since the last call, newest first (sys.modules keeps the
    order of insertion); all of them if the last call's newest is gone."""
    global _newest
    modules = sys.modules
    names: list[str] = []
    for name in reversed(modules):  # no module code runs here: the dict cannot change
        if _newest is not None and name == _newest[0] and modules[name] is _newest[1]:
            break
        names.append(name)
    found = [modules[name] for name in names]
    if names:
        _newest = (names[0], found[0])
    return found


def loaded_files() -> list[str]:
    """The files this process has loaded: module sources and mapped shared objects."""
    for module in _new_modules():
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and (real := _real_file(path)) is not None:
            _module_files[real] = None
    found = dict(_module_files)
    with open("/proc/self/maps") as maps:
        text = maps.read()
    for line in text.splitlines():
        # "address perms offset dev inode   pathname": no field before the pathname
        # holds a "/", so the first one starts an absolute pathname
        at = line.find("/")
        if at > 0:
            mapped = _mapped_file(line[at:])
            if mapped is not None:
                found[mapped] = None
    return sorted(found)


def target(module: ModuleType, name: Any) -> Callable[..., Any]:
    """The public callable *name* of *module*, unwrapped if it is an @isolated function."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise AttributeError(f"{name!r} is not a public name")
    fn = getattr(module, name)
    fn = getattr(fn, "__pledgepy_isolated__", fn)
    if not callable(fn):
        raise TypeError(f"{name} is not callable")
    return fn  # type: ignore[no-any-return]


def _error(exc: BaseException, set_limits: dict[str, Any]) -> list[Any]:
    limit = None
    if isinstance(exc, MemoryError) and set_limits.get("memory") is not None:
        limit = "memory"
    elif isinstance(exc, OSError) and set_limits.get(_ERRNO_LIMITS.get(exc.errno or 0, "")):
        limit = _ERRNO_LIMITS[exc.errno or 0]
    elif type(exc) is RuntimeError and str(exc) == _NO_THREAD \
            and set_limits.get("nproc") is not None:
        limit = "nproc"  # threading's EAGAIN from pthread_create: a thread is a process
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except MemoryError:
        text = ""
    except Exception as failed:  # noqa: BLE001 - the error itself must still reach the parent
        # e.g. 3.13's linecache imports tokenize at its first read: as a user who cannot
        # read the interpreter's library (user=, before the worker loads it) that fails
        text = f"(no traceback: formatting it failed: {type(failed).__name__}: {failed})\n"
    return ["err", type(exc).__qualname__, str(exc), text, limit]


def _cpu(clock: int) -> float | None:
    """A process's CPU clock (clock_gettime, a "stdio" call); None if it cannot be read."""
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def _spin(reader: frames.FrameReader, state: spin.Spin, now: float, parent: int) -> Any:
    """The next message if it comes within the spin starting *now*, else MORE:
    receives that do not block (recvfrom) and sched_yield, which "stdio" allows,
    in a loop that ends early once this process was preempted. It pauses spinning
    too when the parent (CPU clock *parent*) was kept from running through most of
    the wait: on a busy machine this spinner holds a CPU the parent waits for."""
    until = state.until(now)
    if not until:
        return frames.MORE
    began = last = now
    ran = _cpu(parent)
    while True:
        try:
            msg = reader.read(socket.MSG_DONTWAIT)
        except BlockingIOError:
            msg = frames.MORE
        if msg is not frames.MORE:
            if ran is not None:
                after = _cpu(parent)
                end = time.monotonic()
                if after is not None and spin.starved(end - began, after - ran):
                    state.preempted(end)
            return msg
        now = time.monotonic()
        if now - last > spin.PREEMPTED:
            state.preempted(now)
            return msg
        if now >= until:
            return msg
        last = now
        os.sched_yield()  # whatever else wants this CPU runs first


def serve(sock: socket.socket, module: ModuleType, config: dict[str, Any]) -> None:
    """Answer calls until the parent closes the channel.

    Replies to calls that were queued behind each other (Worker.map) are sent
    together, so the parent wakes once for several: a reply is held only while
    the next call is already there and the held calls took less than
    :data:`HOLD` seconds in all. So the parent's per-call clocks (Limits.cpu,
    timeout), which start at the reply before, count at most that much of other
    calls.

    With ``config["spin"]`` (seconds) the worker polls for the next call that
    long before it blocks, while the wait before the last call was no longer
    (see :mod:`.spin`): back-to-back calls then never let its CPU halt (waking a
    halted vCPU costs more than a short call), and an idle worker spends at most
    that much CPU.
    """
    reader = frames.FrameReader(sock, config["max_message"], trusted=True)
    set_limits = config["limits"]
    state = spin.Spin(config.get("spin") or 0.0)
    parent = ((~os.getppid()) << 3) | 2  # the kernel's CPU clock of the parent process
    found: dict[str, Callable[..., Any]] = {}  # name -> target, looked up once
    held: list[bytes] = []
    spent = 0.0  # the held calls' time
    while True:
        try:
            msg = reader.next()
            if held and msg is frames.MORE:
                sock.sendall(b"".join(held))
                held.clear()
            if msg is frames.MORE and state.window:
                waiting = time.monotonic()
                msg = _spin(reader, state, waiting, parent)
                while msg is frames.MORE:
                    msg = reader.read()
                state.ended(time.monotonic() - waiting)
            while msg is frames.MORE:
                msg = reader.read()
        except (EOFError, ConnectionError):
            return
        if not (type(msg) is list and len(msg) == 4 and msg[0] == "call"
                and type(msg[2]) is list and type(msg[3]) is dict):
            os._exit(3)  # the parent never sends this
        began = time.monotonic()
        try:
            name = msg[1]
            fn = found.get(name) if type(name) is str else None
            if fn is None:
                fn = found[name] = target(module, name)
            frame = codec.encode(["ok", fn(*msg[2], **msg[3])], _HUGE)
        except BaseException as exc:  # noqa: BLE001 - everything goes back as text
            frame = codec.encode(_error(exc, set_limits), _HUGE)
            del exc
        spent = (spent if held else 0.0) + time.monotonic() - began
        if len(frame) > frames.SCRATCH:  # sent alone: never copied into a joined send
            if held:
                sock.sendall(b"".join(held))
                held.clear()
            sock.sendall(frame)
            continue
        held.append(frame)
        if spent >= HOLD or len(held) >= _HELD:
            sock.sendall(b"".join(held) if len(held) > 1 else frame)
            held.clear()


def confine(config: dict[str, Any], sock: socket.socket, ready: dict[str, Any]) -> None:
    """Unveil what was loaded plus the asked paths, then pledge."""
    from .. import api, runtime

    promises = frozenset(config["promises"].split())
    strict = config["strict"]
    # loaded first: once unveiled, pledgepy's own unloaded modules are hidden
    supervisor = api.backend().worker_supervisor() if config["supervised"] else None
    if supervisor is not None and len(os.listdir("/proc/self/task")) > 1:
        # the listener's filter cannot be put on other threads (no TSYNC with it)
        raise RuntimeError("the module or its setup left threads running: a worker must be "
                           "single-threaded when it pledges")
    # what loaded stdlib modules import on first use must be among the files unveiled,
    # whatever the promises (with rpath, 3.13's tokenize too: loaded in _preload)
    runtime.import_lazily()
    if promises & {"inet", "dns"}:
        # getaddrinfo()'s codec, looked up by runtime.prepare() too, but only after the
        # lock, where its module is hidden unless loaded now: the lookup then failed
        import codecs

        try:
            codecs.lookup("idna")
        except (LookupError, OSError):  # unreadable for this user: lookups fail as they would
            pass
    if supervisor is not None:
        supervisor.load_for(promises)
    rules = [(path, "r") for path in loaded_files()] + [tuple(r) for r in config["unveil"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # added and locked in one step: the ~160 rules are judged once, against the
        # promises the worker will hold, strictly if asked
        api.lock_unveil_for(promises, strict=strict, adding=rules)
        runtime.prepare(promises)
        if "rpath" not in promises:
            runtime.guard_files()
        ready["unveils"] = [list(r) for r in rules]
        if supervisor is None:
            api.pledge(config["promises"], None, strict=strict)
    ready["warnings"] = [str(w.message) for w in caught]
    frame = codec.encode(["ready", ready])
    if supervisor is not None:
        supervisor.confine(promises, sock, frame)
    else:
        sock.sendall(frame)


def _preload(config: dict[str, Any]) -> None:
    """Load the sandbox's own code while this process can still read it (before the
    switch to another user, before the limits)."""
    import subprocess  # noqa: F401 - unveil's lock prepares the exec wrappers, which use it

    from .. import api, runtime  # noqa: F401

    if sys.version_info >= (3, 13) and "rpath" in config.get("promises", "").split():
        # with rpath linecache reads the sources of an error's traceback (not guarded
        # then), and on 3.13 imports tokenize at its first read: loaded here, while this
        # process can read it (as user=, a pyenv interpreter under a 0700 home cannot)
        import tokenize  # noqa: F401

    if config["supervised"]:
        supervisor = api.backend().worker_supervisor()
        if supervisor is not None:
            supervisor.prepare()


def main(fd: int, ppid: int) -> None:
    """The worker's life, in the order its guarantees need."""
    harden.close_inherited((fd,))
    sock = socket.socket(fileno=fd)
    steps = [harden.no_new_privs(), harden.not_dumpable(), harden.die_with_parent(ppid)]
    try:
        config = _recv(sock, codec.MAX_MESSAGE)
        _preload(config)
        first, then = namespaces.phases(config.get("namespaces", []), os.geteuid() == 0)
        applied, refused, notes = namespaces.enter(first, switched=False)
        switched = config.get("uid") is not None and os.geteuid() == 0
        if switched:
            steps += harden.switch_user(config["uid"], config["gid"], ppid)
        more, refused_more, notes_more = namespaces.enter(then, switched=switched)
        applied, refused, notes = applied + more, refused + refused_more, notes + notes_more
        if refused and config["strict"]:
            raise UnsupportedNamespaces("; ".join(refused))
        if "user" in applied:  # new credentials: dumpable and the parent-death signal reset
            steps += [harden.not_dumpable(), harden.die_with_parent(ppid)]
        steps.append(harden.drop_capabilities())
        steps += rlimits.apply(config["limits"])
        module = _load(config)
        _setup(config.get("setup"), module, config)
        ready: dict[str, Any] = {"hardening": steps, "pid": os.getpid(),
                                 "namespaces": [n for n in namespaces.NAMES if n in applied],
                                 "refused": refused, "notes": notes}
        confine(config, sock, ready)
    except BaseException as exc:  # noqa: BLE001 - the parent raises it
        try:
            sock.sendall(codec.encode(["fail", *_error(exc, {})[1:4]]))
        finally:
            os._exit(2)
    serve(sock, module, config)
    os._exit(0)
