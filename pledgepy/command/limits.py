"""What the ``pledge`` command's child does to itself before exec, beyond the sandbox.

Everything here happens in the child only: the supervisor (the parent) keeps its
own limits, user, capabilities and descriptors, so the program cannot starve it.
"""

from __future__ import annotations

import errno
import os
import resource

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


def _caps() -> tuple[int, int]:
    """(permitted, bounding) capability sets of this process (no /proc: a chroot has none)."""
    from ..backends.linux import native  # loaded with the backend (native.prctl says why)

    data = native.capabilities()
    permitted = data[1] | data[4] << 32
    bounding = sum(1 << cap for cap in range(64) if native.prctl(PR_CAPBSET_READ, cap) == 1)
    return permitted, bounding


def drop_capabilities() -> None:
    """Leave no capability the program could use or regain at exec (uid 0 included)."""
    from ..backends.linux import native

    permitted, bounding = _caps()
    if not permitted:
        return  # nothing held; no_new_privs (set with the filter) stops file capabilities
    if permitted >> CAP_SETPCAP & 1:
        rc = native.prctl(PR_SET_SECUREBITS, SECUREBITS)
        if rc != 0:
            raise OSError(-rc, "cannot lock the securebits")
        for cap in range(64):
            if bounding >> cap & 1:
                rc = native.prctl(PR_CAPBSET_DROP, cap)
                if rc != 0:
                    raise OSError(-rc, f"cannot drop capability {cap}")
    native.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    native.capabilities([0] * 6)
    if _caps()[0]:
        raise OSError(errno.EPERM, "capabilities are still held")


def set_limits(limits: dict[str, int]) -> None:
    """Apply the ``-C -M -O -P -F`` limits (soft and hard: the program cannot raise them)."""
    for letter, value in limits.items():
        which, _ = RLIMITS[letter]
        _, hard = resource.getrlimit(which)
        # -C: the soft limit sends SIGXCPU, the hard one a second later SIGKILL
        top = value + 1 if letter == "C" else value
        if hard != resource.RLIM_INFINITY:
            value, top = min(value, hard), min(top, hard)
        resource.setrlimit(which, (value, top))


def close_inherited() -> None:
    """Make every descriptor above 2 close at exec (``-N`` keeps them)."""
    from ..backends.linux import native  # loaded with the backend (native.prctl says why)

    if native.cloexec_from(3) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue  # the directory's own descriptor, closed by now
