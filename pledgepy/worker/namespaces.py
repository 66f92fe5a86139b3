"""The worker's own user, network and IPC namespaces (Linux unshare(2), seed 003).

Applied in the child before its module is imported: a new network namespace
has only a loopback interface (down), so nothing can be reached even if the
promises allowed sockets; a new IPC namespace has no System V IPC objects or
POSIX message queues of the host; a new user namespace maps only the worker's
own uid and gid (so a capability it might regain means nothing outside). The
seccomp filter then refuses setns() and unshare(), so none of it is undone.
"""

from __future__ import annotations

import ctypes
import errno
import os

#: Name -> clone flag.
FLAGS = {"net": 0x40000000, "ipc": 0x08000000, "user": 0x10000000}
NAMES = tuple(FLAGS)

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flag: int) -> int:
    """0, or the errno of unshare(*flag*)."""
    return 0 if _libc.unshare(ctypes.c_int(flag)) == 0 else ctypes.get_errno()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        try:
            os.write(fd, text.encode())
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        os.close(fd)


def _map_own_ids(uid: int, gid: int) -> None:
    """Map exactly this process's uid and gid to themselves in its new user namespace."""
    _write("/proc/self/setgroups", "deny")  # required before gid_map without CAP_SETGID outside
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _why(name: str, err: int) -> str:
    hint = {errno.EPERM: " (unprivileged user namespaces disabled, or no CAP_SYS_ADMIN)",
            errno.ENOSPC: " (the namespace limit is reached)",
            errno.EINVAL: " (not supported by this kernel, or the process is threaded)",
            errno.EUSERS: " (user namespaces nested too deep)"}.get(err, "")
    return f"namespaces: the kernel refused a new {name} namespace: {os.strerror(err)}{hint}"


def enter(names: list[str], *, switched: bool) -> tuple[list[str], list[str], list[str]]:
    """Unshare each of *names*, in order; (applied, refusals, notes) as text.

    *switched*: the worker changed to another user (root only), whose ids it
    cannot map itself: /proc/self belongs to root once it is not dumpable, and
    becoming dumpable even briefly would let that user's other processes ptrace
    it. Its ids stay unmapped then (they read as 65534 inside; outside it is
    still that user). Otherwise the worker is this process's user: for a moment
    it is dumpable to write its maps, which exposes nothing that user's processes
    cannot already read in the parent.
    """
    applied: list[str] = []
    refused: list[str] = []
    notes: list[str] = []
    for name in names:
        uid, gid = os.getuid(), os.getgid()  # once unshared, unmapped ids read as 65534
        err = _unshare(FLAGS[name])
        if err:
            refused.append(_why(name, err))
            continue
        if name == "user":
            if switched:
                notes.append(f"user namespace: the ids of uid {uid} are not mapped in it "
                             "(they read as 65534 inside; files cannot be created)")
            else:
                _map_with_dumpable(uid, gid)
        applied.append(name)
    return applied, refused, notes


def _map_with_dumpable(uid: int, gid: int) -> None:
    from .harden import PR_SET_DUMPABLE, _prctl

    root = uid == 0  # root opens its own /proc/self files whether dumpable or not
    try:
        if not root:
            _prctl(PR_SET_DUMPABLE, 1)
        _map_own_ids(uid, gid)
    except OSError as exc:
        raise OSError(exc.errno, f"namespaces: mapping the worker's ids: {exc}") from None
    finally:
        if not root:
            _prctl(PR_SET_DUMPABLE, 0)  # and again by the caller, after every change


def phases(asked: list[str], root: bool) -> tuple[list[str], list[str]]:
    """(before switching user, after it): root makes "net" and "ipc" itself, while it
    has CAP_SYS_ADMIN; otherwise they come after "user", which then owns them."""
    first: list[str] = [n for n in ("net", "ipc") if n in asked] if root else []
    return first, [n for n in NAMES[::-1] if n in asked and n not in first]
