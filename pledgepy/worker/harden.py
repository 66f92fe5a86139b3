"""The worker's hardening steps before it imports anything of the user's (Linux prctl, caps)."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


_libc_prctl = _libc.prctl  # typed once: the capability loop calls it ~40 times
_libc_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc_prctl.restype = ctypes.c_int


def _prctl(option: int, arg: int, arg3: int = 0) -> int:
    return int(_libc_prctl(option, arg, arg3, 0, 0))


def _must(option: int, arg: int, what: str) -> str:
    if _prctl(option, arg) != 0:
        raise OSError(ctypes.get_errno(), f"worker: {what}: {os.strerror(ctypes.get_errno())}")
    return what


def close_inherited(keep: tuple[int, ...]) -> None:
    """Close every descriptor above stderr but *keep*."""
    try:
        fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def no_new_privs() -> str:
    return _must(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")


def not_dumpable() -> str:
    return _must(PR_SET_DUMPABLE, 0, "not dumpable")


def die_with_parent(ppid: int) -> str:
    _must(PR_SET_PDEATHSIG, signal.SIGKILL, "dies with its parent")
    if os.getppid() != ppid:
        os._exit(1)  # the parent is already gone
    return "dies with its parent"


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> str:
    """Empty the bounding, ambient, effective, permitted and inheritable sets."""
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                break  # past the last capability
            if ctypes.get_errno() == errno.EPERM:
                break  # no CAP_SETPCAP: nothing to drop from the bounding set that matters
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "worker: cannot drop capabilities")
    return "no capabilities"


def switch_user(uid: int, gid: int, ppid: int) -> list[str]:
    """Become *uid*/*gid* (root only); a credential change resets dumpable and pdeathsig."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    return [f"uid {uid} gid {gid}", not_dumpable(), die_with_parent(ppid)]


def supported() -> bool:
    """Whether these steps exist here."""
    return sys.platform.startswith("linux")
