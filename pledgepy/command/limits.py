"""What the ``pledge`` command's child does to itself before exec, beyond the sandbox.

Everything here happens in the child only: the supervisor (the parent) keeps its
own limits, user, capabilities and descriptors, so the program cannot starve it.
"""

from __future__ import annotations

import errno
import os
import resource

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from ..backends.base import ProcessCalls

#: option letter -> (resource, what a message calls it)
RLIMITS: dict[str, tuple[int, str]] = {
    "C": (resource.RLIMIT_CPU, "CPU seconds"),
    "M": (resource.RLIMIT_AS, "bytes of address space"),
    "O": (resource.RLIMIT_NOFILE, "open descriptors"),
    "P": (resource.RLIMIT_NPROC, "processes of its user"),
    "F": (resource.RLIMIT_FSIZE, "bytes per file written"),
}
PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 23, 24, 28, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
#: close_range(2) (the same number on every architecture) and CLOSE_RANGE_CLOEXEC
NR_CLOSE_RANGE, CLOSE_RANGE_CLOEXEC = 436, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP and KEEP_CAPS_LOCKED, each locked: uid 0 gains nothing
#: at exec, and the bits cannot be unset.
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20
CAP_SETPCAP = 8


class Identity:
    """The user and groups to become (``-u``/``-g``), resolved before the fork."""

    __slots__ = ("uid", "gid", "groups")

    def __init__(self, uid: int | None, gid: int | None, groups: tuple[int, ...] | None) -> None:
        self.uid = uid
        self.gid = gid
        self.groups = groups


def identity(user: str | None, group: str | None) -> Identity:
    """Resolve ``-u USER`` and ``-g GROUP`` (names or numbers); ``KeyError`` names the bad one."""
    if user is None and group is None:
        return Identity(None, None, None)
    import grp
    import pwd

    uid = gid = None
    groups: tuple[int, ...] | None = None
    if user is not None:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
            uid, gid = entry.pw_uid, entry.pw_gid
            groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        except KeyError:
            if not user.isdigit():
                raise KeyError(f"-u {user}: no such user") from None
            if group is None:  # else PROG would keep the command's group and groups (root's)
                raise KeyError(f"-u {user}: no such user, so no group of its own: give "
                               "-g GROUP too") from None
            uid = int(user)
    if group is not None:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise KeyError(f"-g {group}: no such group") from None
        groups = (gid,)
    return Identity(uid, gid, groups)


def become(who: Identity) -> None:
    """Switch to *who*'s groups, group and user (in that order: the user last)."""
    if who.groups is not None:
        os.setgroups(list(who.groups))
    if who.gid is not None:
        os.setresgid(who.gid, who.gid, who.gid)
    if who.uid is not None:
        os.setresuid(who.uid, who.uid, who.uid)


class _Ctypes:
    """:class:`..backends.base.ProcessCalls` through ctypes, for a backend without its own
    (ctypes costs ~1.7 ms: the child loads it only then, before a change of root or user
    can hide it)."""

    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        """``prctl(option, arg2, arg3, 0, 0)``: its result, or -errno."""
        ulong = self._ctypes.c_ulong
        rc = int(self._libc.prctl(option, ulong(arg2), ulong(arg3), ulong(0), ulong(0)))
        return rc if rc >= 0 else -self._ctypes.get_errno()

    def capabilities(self, new: list[int] | None = None) -> list[int]:
        """capget() (*new* None) or capset(*new*) of the version-3 sets: six u32 (effective,
        permitted, inheritable of capabilities 0-31, then of 32-63); OSError on failure."""
        c = self._ctypes
        header = (c.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (c.c_uint32 * 6)(*(new if new is not None else [0] * 6))
        if (self._libc.capget(header, data) if new is None else
                self._libc.capset(header, data)) != 0:
            raise OSError(c.get_errno(), "cannot read the capability sets" if new is None
                          else "cannot clear the capability sets")
        return list(data)

    def cloexec_from(self, first: int) -> int:
        """close_range(*first*, ~0, CLOSE_RANGE_CLOEXEC): 0, or -errno."""
        c = self._ctypes
        if self._libc.syscall(NR_CLOSE_RANGE, first, c.c_uint(0xFFFFFFFF),
                              CLOSE_RANGE_CLOEXEC) == 0:
            return 0
        return -int(c.get_errno())


def calls(backend: ProcessCalls | None) -> ProcessCalls:
    """The backend's process calls (:meth:`..backends.base.Backend.process_calls`) when it
    has them, else ctypes'."""
    return backend if backend is not None else _Ctypes()


def _caps(via: ProcessCalls) -> tuple[int, int]:
    """(permitted, bounding) capability sets of this process (no /proc: a chroot has none)."""
    data = via.capabilities()
    permitted = data[1] | data[4] << 32
    bounding = sum(1 << cap for cap in range(64) if via.prctl(PR_CAPBSET_READ, cap) == 1)
    return permitted, bounding


def drop_capabilities(via: ProcessCalls) -> None:
    """Leave no capability the program could use or regain at exec (uid 0 included)."""
    permitted, bounding = _caps(via)
    if not permitted:
        return  # nothing held; no_new_privs (set with the filter) stops file capabilities
    if permitted >> CAP_SETPCAP & 1:
        rc = via.prctl(PR_SET_SECUREBITS, SECUREBITS)
        if rc != 0:
            raise OSError(-rc, "cannot lock the securebits")
        for cap in range(64):
            if bounding >> cap & 1:
                rc = via.prctl(PR_CAPBSET_DROP, cap)
                if rc != 0:
                    raise OSError(-rc, f"cannot drop capability {cap}")
    via.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    via.capabilities([0] * 6)
    if _caps(via)[0]:
        raise OSError(errno.EPERM, "capabilities are still held")


def set_limits(limits: dict[str, int], pid: int = 0) -> None:
    """Apply the ``-C -M -O -P -F`` limits (soft and hard: the program cannot raise them),
    to this process or (*pid*) to that one."""
    for letter, value in limits.items():
        which, _ = RLIMITS[letter]
        _, hard = resource.prlimit(pid, which) if pid else resource.getrlimit(which)
        # -C: the soft limit sends SIGXCPU, the hard one a second later SIGKILL
        top = value + 1 if letter == "C" else value
        if hard != resource.RLIM_INFINITY:
            value, top = min(value, hard), min(top, hard)
        if pid:
            resource.prlimit(pid, which, (value, top))
        else:
            resource.setrlimit(which, (value, top))


#: Limits the supervisor sets on its child once it holds the child's listener (after
#: the filter, before the go): -O, since the filter's own listener is a new descriptor,
#: and the child holds a dozen of its own then (closing at exec): "-O 8" refused.
BY_SUPERVISOR = ("O",)


def split(limits: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """*limits* as (the child's own, the supervisor's: :data:`BY_SUPERVISOR`)."""
    return ({k: v for k, v in limits.items() if k not in BY_SUPERVISOR},
            {k: v for k, v in limits.items() if k in BY_SUPERVISOR})


def close_inherited(via: ProcessCalls) -> None:
    """Make every descriptor above 2 close at exec (``-N`` keeps them)."""
    if via.cloexec_from(3) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue  # the directory's own descriptor, closed by now
