"""Whether a user, without capabilities, may reach and read a path: as the kernel judges it.

The supervisor (root) opens the files it serves itself (allowed.py), so its rights must
not lend PROG any. The mode bits of the file alone were not that judgement: a file in a
directory PROG's user may not search (``0700``), or one whose POSIX ACL denies that user
(``user:nobody:---`` on a ``0644`` file), was handed over though PROG's own open would
have failed with EACCES. Here every directory the walk searches (following links as
open does) needs ``x`` and the file ``r``, each by its ACL when it has one, else by its
mode. Judged on the supervisor's view of paths under root-owned trees (the allowance
paths): what it walks is what it then opens.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

_ACL = "system.posix_acl_access"
#: POSIX ACL xattr entry tags (linux/posix_acl.h)
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
SEARCH, READ = 1, 4
_HOPS = 40  # the kernel's limit of links followed in one walk (ELOOP)


def acl(path: str, follow: bool = False) -> list[tuple[int, int, int]] | None:
    """*path*'s access ACL entries (tag, perm, id); None when it has none. *follow*: of
    what a link leads to (``/proc/self/fd/N``: the file opened)."""
    try:
        raw = os.getxattr(path, _ACL, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP, errno.ENOTSUP):
            return None
        raise
    if len(raw) < 4 or (len(raw) - 4) % 8 or struct.unpack_from("<I", raw)[0] != 2:
        raise OSError(errno.EINVAL, f"a malformed ACL on {path}")
    return [struct.unpack_from("<HHI", raw, at) for at in range(4, len(raw), 8)]


def allows(st: os.stat_result, acl: list[tuple[int, int, int]] | None, uid: int | None,
           gids: set[int], want: int) -> bool:
    """Whether *uid* in *gids* gets *want* (``r`` 4, ``x`` 1) of an inode of *st* and
    *acl*, as the kernel's generic_permission (acl_permission_check, then
    posix_acl_permission) decides for a process without capabilities. *uid* None:
    whether every user does (no ACL, and owner, group and others each get it)."""
    if uid is None:
        return acl is None and all((st.st_mode >> k) & want == want for k in (6, 3, 0))
    # the kernel consults the ACL only for a non-owner and when the group bits (the
    # ACL's mask) are not all clear: with a zero mask, a named user falls to "other"
    if acl is None or st.st_uid == uid or not st.st_mode & 0o070:
        if st.st_uid == uid:
            bits = st.st_mode >> 6
        elif st.st_gid in gids:
            bits = st.st_mode >> 3
        else:
            bits = st.st_mode
        return bits & want == want
    mask = next((perm for tag, perm, _ in acl if tag == _MASK), 7)
    matched = False
    for tag, perm, ident in acl:
        if tag == _USER_OBJ and st.st_uid == uid:
            return perm & want == want
        if tag == _USER and ident == uid:
            return perm & mask & want == want
        if (tag == _GROUP_OBJ and st.st_gid in gids) or (tag == _GROUP and ident in gids):
            matched = True
            if perm & mask & want == want:
                return True
        if tag == _OTHER:
            return not matched and perm & want == want
    return False


#: ACLs read, by (device, inode, ctime): any change of an inode's ACL or mode sets its
#: ctime, so an entry is never stale for the inode it was read of (a bounded cache: the
#: served opens walk the same few directories at each call)
_ACLS: dict[tuple[int, int, int], list[tuple[int, int, int]] | None] = {}
_KEPT = 256


def _acl_of(path: str, st: os.stat_result) -> list[tuple[int, int, int]] | None:
    key = (st.st_dev, st.st_ino, st.st_ctime_ns)
    try:
        return _ACLS[key]
    except KeyError:
        pass
    got = acl(path)
    if len(_ACLS) >= _KEPT:
        _ACLS.clear()
    _ACLS[key] = got
    return got


def may_read(path: str, uid: int | None, gids: set[int], follow: bool = True) -> bool:
    """Whether *uid* in *gids* (None: every user) may open absolute *path* for
    reading: ``x`` on each directory searched (a link's target walked too; the last
    component's only if *follow*), ``r`` on the file. False when the walk fails (a
    loop, a component gone)."""
    todo = [p for p in reversed(path.split("/")) if p]
    hops = 0
    try:
        here = "/"
        st = os.lstat(here)
        while todo:
            if not allows(st, _acl_of(here, st), uid, gids, SEARCH):
                return False
            part = todo.pop()
            if part == ".":
                continue
            if part == "..":
                here = os.path.dirname(here)
                st = os.lstat(here)
                continue
            step = here.rstrip("/") + "/" + part
            step_st = os.lstat(step)
            if stat.S_ISLNK(step_st.st_mode) and (todo or follow):
                hops += 1
                if hops > _HOPS:
                    return False
                target = os.readlink(step)
                if target.startswith("/"):
                    here = "/"
                    st = os.lstat(here)
                todo.extend(p for p in reversed(target.split("/")) if p)
                continue
            here, st = step, step_st
        return allows(st, _acl_of(here, st), uid, gids, READ)
    except OSError:
        return False
