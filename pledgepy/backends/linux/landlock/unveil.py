"""unveil() on Linux: OpenBSD's semantics mapped onto one Landlock ruleset.

The front end records rules; :func:`commit` turns them all into one ruleset
and enforces it (at the lock, or at a pledge() that drops ``unveil``).
:func:`gaps` says, without side effects, what that would leave unenforced.

Letters map to Landlock rights as follows (rights the kernel lacks are
dropped and reported by :func:`gaps`):

- ``r``: READ_FILE, READ_DIR, IOCTL_DEV (device ioctls are pledge's business)
- ``w``: WRITE_FILE, TRUNCATE, IOCTL_DEV
- ``x``: EXECUTE (execve only; mmap with PROT_EXEC is pledge's ``prot_exec``)
- ``c``: MAKE_* (all seven), REMOVE_FILE, REMOVE_DIR, REFER

A rule on a non-directory keeps only file rights. Every right the kernel
knows is handled, so whatever no rule grants is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from ....status import Gaps
from ...base import UnveilRule
from .. import prepared
from .. import threads as _threads
from . import abi as A
from .ruleset import LandlockError, Ruleset

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable  # collections: ~2 ms of the command's start-up

MECHANISM = "landlock"

R_ACCESS = A.ACCESS_FS_READ_FILE | A.ACCESS_FS_READ_DIR | A.ACCESS_FS_IOCTL_DEV
W_ACCESS = A.ACCESS_FS_WRITE_FILE | A.ACCESS_FS_TRUNCATE | A.ACCESS_FS_IOCTL_DEV
X_ACCESS = A.ACCESS_FS_EXECUTE
C_ACCESS = (A.ACCESS_FS_MAKE_CHAR | A.ACCESS_FS_MAKE_DIR | A.ACCESS_FS_MAKE_REG
            | A.ACCESS_FS_MAKE_SOCK | A.ACCESS_FS_MAKE_FIFO | A.ACCESS_FS_MAKE_BLOCK
            | A.ACCESS_FS_MAKE_SYM | A.ACCESS_FS_REMOVE_FILE | A.ACCESS_FS_REMOVE_DIR
            | A.ACCESS_FS_REFER)
LETTERS: dict[str, int] = {"r": R_ACCESS, "w": W_ACCESS, "x": X_ACCESS, "c": C_ACCESS}

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable

#: Promises under which the seccomp filter lets chmod/chown/utimes/xattr calls through.
_ATTR_PROMISES = frozenset({"fattr", "chown"})

NOTE_DIFFERENCES = (
    "denials give EACCES (OpenBSD: ENOENT); stat(), access(), readlink(), getxattr() and chdir() "
    "still work on paths outside the rules (their metadata stays visible; opening, "
    "listing and changing them is refused)"
)
NOTE_PENDING = (
    "nothing is hidden yet: on Linux the rules take effect at the lock "
    "(unveil(None, None)) or at a pledge() without 'unveil'"
)


def access_for(letters: str, abi: int | None = None) -> int:
    """The Landlock rights *letters* grant, limited to what ABI *abi* knows."""
    access = 0
    for letter in letters:
        access |= LETTERS[letter]
    return access & A.features(A.version() if abi is None else abi).fs


#: Whether the promises in force let this process stat() a path and readlink() one
#: (set_promises()). OpenBSD's unveil(2) needs only "unveil", which here grants O_PATH
#: opens: without rpath (or wpath, cpath, dpath) a path is looked up by opening it
#: O_PATH and fstat()ing the descriptor, never by stat(), which the filter refuses.
_may_stat = True
_may_readlink = True


def set_promises(promises: frozenset[str] | None) -> None:
    """Say which promises are in force from now on (None: unpledged)."""
    global _may_stat, _may_readlink
    _may_stat = promises is None or bool(promises & {"rpath", "wpath", "cpath", "dpath"})
    _may_readlink = promises is None or bool(promises & {"rpath", "wpath"})


def _lookup(path: str, follow: bool = True) -> os.stat_result:
    """``os.stat(path)`` (``os.lstat`` unless *follow*) as "unveil" allows it: an O_PATH
    descriptor, fstat()ed and closed; the same errors (ENOENT, EACCES, ENOTDIR, ELOOP)."""
    flags = os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _stat_path(path: str) -> os.stat_result:
    """``os.stat(path)``, through an O_PATH descriptor when stat() is refused."""
    return os.stat(path) if _may_stat else _lookup(path)


def _exists(path: str) -> bool:
    if _may_stat:
        return os.path.exists(path)
    try:
        _lookup(path)
    except (OSError, ValueError):
        return False
    return True


def check_rule(rule: UnveilRule) -> None:
    """Raise if *rule* cannot be taken, as OpenBSD's unveil(2) would; no side effects.

    The path must exist, or (for a file to be created later) its parent
    directory must: otherwise ``FileNotFoundError``/``NotADirectoryError``.
    A path the caller may not search raises ``PermissionError``.
    """
    try:
        _stat_path(rule.path)
        return
    except FileNotFoundError:
        pass
    parent = os.path.dirname(rule.path) or "/"
    st = _stat_path(parent)  # raises FileNotFoundError, PermissionError, ...
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "not a directory", parent)


#: What :func:`check_rules` kept for the lock that follows it: each rule's path -> its
#: stat and an O_PATH descriptor (-1: none), so that the check, the judgement and the
#: ruleset look each path up once. Emptied (descriptors closed) by :func:`commit` and
#: by any other check or judgement.
_kept: dict[str, tuple[os.stat_result, int]] = {}
_no_link: set[str] = set()  # the kept paths whose last component is no symlink


def _drop_kept() -> None:
    fds = sorted(fd for _, fd in _kept.values() if fd >= 0)
    _kept.clear()
    _no_link.clear()
    start = 0  # opened one after the other: each run of numbers closed in one call
    for i in range(1, len(fds) + 1):
        if i == len(fds) or fds[i] != fds[i - 1] + 1:
            if i - start > 1:
                os.closerange(fds[start], fds[i - 1] + 1)
            else:
                os.close(fds[start])
            start = i


def _release_kept() -> None:
    """Close the kept descriptors, keeping what their lookups found (stats only)."""
    for known, (st, kept_fd) in list(_kept.items()):
        if kept_fd >= 0:
            os.close(kept_fd)
            _kept[known] = (st, -1)


def _check_kept(rule: UnveilRule, keep_fds: bool) -> bool:
    """:func:`check_rule`, keeping what it found for the lock; False once a descriptor
    could not be kept (the process's limit): the caller then keeps none."""
    path = rule.path
    if path in _kept:
        return keep_fds
    if keep_fds:
        try:
            # not following a last symlink: the judgement's resolver then knows it is
            # none without looking again (and a symlink is opened again, followed)
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            check_rule(rule)  # its parent directory decides
            return True
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise  # what os.stat() raises for the same path (EACCES, ENOTDIR, ELOOP)
            _release_kept()  # fall back: stats only
            return _check_kept(rule, False)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISLNK(st.st_mode):
            _kept[path] = (st, fd)
            _no_link.add(path)
            return True
        os.close(fd)  # a symlink: looked up as os.stat() would, followed
    try:
        _kept[path] = (_stat_path(path), -1)
    except FileNotFoundError:
        check_rule(rule)
    return keep_fds


def check_rules(rules: list[UnveilRule], *, locking: bool = False) -> None:
    """:func:`check_rule` for each of *rules* (raise at the first it rejects).

    *locking*: a lock of exactly these rules follows at once (api.lock_unveil_for):
    what was found is kept for its judgement and ruleset, which then look no path
    up again (their lookups are the check's: the same moment, the same files).
    Without it, nothing is kept, and what a locking call kept is dropped.
    """
    _drop_kept()
    if not locking:
        for rule in rules:
            check_rule(rule)
        return
    keep_fds = A.current().available
    try:
        for rule in rules:
            keep_fds = _check_kept(rule, keep_fds)
    except BaseException:
        _drop_kept()
        raise


def _show(letters: str) -> str:
    return repr(letters) if letters else "'' (hidden)"


#: Lookups shared by the gaps() calls of one unveil session (each unveil() asks for the
#: whole rule set); they only feed the report, and the lock recomputes them afresh.
_resolved: dict[str, str] = {"/": "/"}
_stats: dict[str, os.stat_result | OSError] = {}
_fresh = False  # the last gaps() call was a lock's: _stats holds only its lookups


def _forget() -> None:
    global _memo, _notes
    _memo = _notes = None
    _resolved.clear()
    _resolved["/"] = "/"
    _unresolved.clear()
    _stats.clear()
    for path, (st, _) in _kept.items():  # looked up by the check just before the lock
        _stats[path] = st


def _stat(path: str) -> os.stat_result:
    if path not in _stats:
        try:
            _stats[path] = _stat_path(path)
        except OSError as exc:
            _stats[path] = exc
    found = _stats[path]
    if isinstance(found, OSError):
        raise found
    return found


def lock_stat(path: str) -> os.stat_result:
    """``os.stat(path)``, sharing the lookups of the lock's :func:`gaps` (which looks
    everything up afresh) when that was the last gaps() call: the lock's other checks
    need not stat each rule again."""
    return _stat(path) if _fresh else _stat_path(path)


def _normpath(path: str) -> str:
    """os.path.normpath, without its work for a path it would return unchanged (the
    front end's rules are absolute and normal already)."""
    if path[:1] == "/" and "//" not in path and "/./" not in path and "/../" not in path \
            and (not path.endswith(("/", "/.", "/..")) or path == "/"):
        return path
    return os.path.normpath(path)


#: The paths in _resolved reached through a symlink that could not be read (readlink()
#: is refused without rpath or wpath): resolved to themselves, which may be wrong.
_unresolved: set[str] = set()


def _is_link(path: str) -> bool:
    if _may_stat:
        return os.path.islink(path)
    try:
        return stat.S_ISLNK(_lookup(path, follow=False).st_mode)
    except (OSError, ValueError):
        return False  # as islink(): a path that cannot be looked up is no link


def _resolver() -> Callable[[str], str]:
    """``os.path.realpath`` for absolute paths, sharing parent lookups (see _resolved)."""
    cache, no_link, unresolved = _resolved, _no_link, _unresolved

    def resolve(path: str) -> str:
        if path in cache:
            return cache[path]
        parent, _, name = path.rpartition("/")
        base = resolve(parent or "/")
        candidate = base + name if base == "/" else base + "/" + name
        if parent and parent in unresolved:
            unresolved.add(path)
        if path in no_link or not _is_link(candidate):
            result = candidate
        elif _may_readlink:
            result = os.path.realpath(candidate)
        else:  # where it leads cannot be read now: said by _nested(), never guessed
            result = candidate
            unresolved.add(path)
        cache[path] = result
        return result

    return resolve


def _holders(real: dict[str, list[UnveilRule]]) -> list[str] | None:
    """The rules' resolved paths that lie above another's, nearest first (longest), or
    None when there are too many for that to beat walking up from each rule."""
    above: set[str] = set()  # every directory above a rule's path
    for here in real:
        node = here
        while node != "/":
            node = node[:node.rfind("/")] or "/"
            if node in above:
                break  # and all above it, from an earlier rule
            above.add(node)
    found = [node for node in real if node in above]
    if len(found) > _HOLDERS:
        return None
    return sorted(found, key=len, reverse=True)


#: Up to this many rule paths above other rules, :func:`_nested_of` looks only at them.
_HOLDERS = 16


def _nested_of(rule: UnveilRule, here: str, real: dict[str, list[UnveilRule]],
               holders: list[str] | None = None) -> list[str]:
    """What :func:`_nested` says of *rule* (resolved to *here*); *holders* as
    :func:`_holders` gives them (None: every directory above *here* is looked at)."""
    out: list[str] = []
    if holders is None:
        nodes = []
        node = here
        while True:
            nodes.append(node)
            if node == "/":
                break
            node = node[:node.rfind("/")] or "/"
    else:  # the same nodes, in the same order, that hold a rule
        nodes = [here] + [h for h in holders
                          if h != here and (h == "/" or here.startswith(h + "/"))]
    for node in nodes:
        for other in real.get(node, ()):
            if other is rule:
                continue
            extra = "".join(c for c in other.permissions if c not in rule.permissions)
            if extra:
                where = "the same file as" if node == here else "beneath"
                out.append(
                    f"{rule.path!r} unveiled {_show(rule.permissions)} is {where} "
                    f"{other.path!r} unveiled {other.permissions!r}: Landlock grants the "
                    f"union, so it stays reachable with {extra!r} (OpenBSD: the most "
                    f"specific rule wins)")
    return out


class _Memo:
    """The last :func:`_nested` answer: each unveil() asks again for the rules so far
    plus one, which changes nothing said of the others unless it lies at or above one
    of them; only the new rule's part is then worked out (O(n), not O(n * depth))."""

    __slots__ = ("rules", "out", "covered", "real")

    def __init__(self, rules: tuple[UnveilRule, ...], out: list[str], covered: set[str],
                 real: dict[str, list[UnveilRule]]) -> None:
        self.rules, self.out, self.real = rules, out, real
        self.covered = covered  # every rule's resolved path and the directories above it


def _cover(covered: set[str], here: str) -> None:
    node = here
    while node not in covered:
        covered.add(node)
        if node == "/":
            break
        node = node[:node.rfind("/")] or "/"


_memo: _Memo | None = None


def _apart(rules: tuple[UnveilRule, ...]) -> bool:
    """True when the check's lookups (kept for this lock) show that no rule lies at or
    beneath another with other letters, so :func:`_nested` has nothing to say: none is
    a directory (only a directory has paths beneath it), and rules naming the same
    file (the same inode, which two paths resolving alike always share) have the same
    letters. False when that cannot be told (then every path is resolved)."""
    seen: dict[tuple[int, int], str] = {}
    kept = _kept
    for rule in rules:
        found = kept.get(rule.path)
        if found is None:
            return False
        st = found[0]
        if stat.S_ISDIR(st.st_mode) or \
                seen.setdefault((st.st_dev, st.st_ino), rule.permissions) != rule.permissions:
            return False
    return True


def _nested(rules: tuple[UnveilRule, ...]) -> list[str]:
    """Rules beneath another rule that grants more: Landlock's union gives them more."""
    global _memo
    if _kept and _apart(rules):  # a worker's files: nothing to resolve (~0.7 ms)
        _memo = None
        return []
    resolve = _resolver()
    memo = _memo if _may_readlink else None  # its answers may rest on unread symlinks
    if memo is not None and len(rules) == len(memo.rules) + 1 and rules[:-1] == memo.rules:
        rule = rules[-1]
        here = resolve(_normpath(rule.path))
        if here not in memo.covered:  # at or above no earlier rule
            real = memo.real  # the old memo is replaced: extended in place
            real.setdefault(here, []).append(rule)
            _cover(memo.covered, here)
            out = memo.out + _nested_of(rule, here, real)
            _memo = _Memo(rules, out, memo.covered, real)
            return list(out)
    real = {}
    heres: list[str] = []
    covered: set[str] = set()
    for rule in rules:
        here = resolve(_normpath(rule.path))
        heres.append(here)
        real.setdefault(here, []).append(rule)
        _cover(covered, here)
    holders = _holders(real)
    out = [line for rule, here in zip(rules, heres, strict=True)
           for line in _nested_of(rule, here, real, holders)]
    _memo = _Memo(rules, out, covered, real)
    out = list(out)
    blind = [rule.path for rule in rules if _normpath(rule.path) in _unresolved]
    if blind and len({rule.permissions for rule in rules}) > 1:
        out.append(f"{', '.join(map(repr, blind))} lead(s) through a symlink that cannot be "
                   "read without rpath or wpath: whether a rule lies beneath another that "
                   "grants more (Landlock grants the union; OpenBSD: the most specific rule "
                   "wins) is not judged")
    return out


def gaps(rules: tuple[UnveilRule, ...], locking: bool, threads: int | None = None, *,
         promises: frozenset[str] | None = None) -> Gaps:
    """What committing *rules* would leave unenforced; no side effects.

    *threads* is the number of threads in the process (default: counted now);
    it matters only when *locking*. *promises* are the pledge promises that
    will be in force (``None``: unpledged); a seccomp filter that refuses
    chmod/chown or unix sockets closes gaps Landlock leaves open.
    """
    global _fresh
    if locking:
        _forget()  # what the lock reports is looked up afresh (or by the check before it)
    else:
        _drop_kept()
    _fresh = locking
    if not rules:
        return Gaps()
    abi, reason = A.probe()
    row = A.features(abi)
    if not row.available:
        return Gaps(not_enforced=(f"Landlock is unavailable ({reason}): no path is hidden",),
                    nothing=True)
    weak: list[str] = []
    notes: list[str] = [NOTE_DIFFERENCES]
    if not locking:
        notes.append(NOTE_PENDING)
    if not row.refer:
        notes.append("Landlock ABI 1 has no REFER right: renaming or linking across "
                     "directories is refused (EXDEV) even where both sides allow 'c'")
    if not row.truncate:
        weak.append(f"Landlock ABI {abi} < 3 cannot restrict truncation: truncate(2) and "
                    "O_TRUNC work on any file the user may write, unveiled or not")
    if not row.abstract_unix_scope:
        weak.append(f"Landlock ABI {abi} < 6 cannot scope abstract unix sockets: "
                    "connecting to ones created outside the sandbox stays possible")
    if promises is None or promises & _ATTR_PROMISES:
        weak.append("Landlock does not restrict chmod(), chown(), utimes() or setxattr(): "
                    "attributes of files outside the rules can still be changed")
    if promises is None or "unix" in promises:
        weak.append("Landlock on this kernel does not restrict connect() to a pathname "
                    "unix socket outside the rules")
    if locking and not row.tsync:
        count = _threads.count() if threads is None else threads
        if count > 1:
            weak.append(f"{count - 1} other thread(s) already running are not confined: "
                        f"Landlock ABI {abi} < 8 confines only the calling thread and the "
                        "threads it starts later")
    weak.extend(_nested(rules))
    notes.extend(_rule_notes(rules))
    return Gaps(not_enforced=tuple(weak), notes=tuple(notes))


#: The notes of gaps()'s last rules, one rule at a time (each unveil() judges the whole
#: set again: without it 100 unveil() calls looked at 5,000 rules); they read only
#: _stats, so _forget() drops them with it.
_notes: tuple[tuple[UnveilRule, ...], list[str]] | None = None


def _rule_notes(rules: tuple[UnveilRule, ...]) -> list[str]:
    """What each of *rules* reaches or not, in order (see gaps()); the notes of a prefix
    already judged since the last _forget() are reused."""
    global _notes
    known, out = _notes if _notes is not None else ((), [])
    if len(known) <= len(rules) and rules[:len(known)] == known:
        out = out + [line for rule in rules[len(known):] for line in _notes_of(rule)]
    else:
        out = [line for rule in rules for line in _notes_of(rule)]
    _notes = (rules, out)
    return out


def _notes_of(rule: UnveilRule) -> list[str]:
    if not rule.permissions:
        return []
    try:
        st = _stat(rule.path)
    except OSError as exc:
        return [f"{rule.path!r} cannot be opened now ({exc.strerror}): Landlock binds "
                "rules to existing files, so unless it exists when the rules take "
                "effect it stays unreachable (creating it is refused)"]
    out = []
    if "x" in rule.permissions and "r" not in rule.permissions:
        out.append(f"{rule.path!r} has 'x' without 'r': Landlock also checks read access "
                   "when execve() opens a file, so executing it is refused")
    if "c" in rule.permissions and not stat.S_ISDIR(st.st_mode):
        out.append(f"{rule.path!r} is not a directory: Landlock cannot grant 'c' on a "
                   "single file, so creating, removing or renaming it is refused")
    return out


def stdio_rules() -> tuple[UnveilRule, ...]:
    """The rules :func:`commit` adds while ``stdio`` is held (existing paths only)."""
    return allowance_rules(frozenset({"stdio"}))


def allowance_rules(promises: frozenset[str] | None) -> tuple[UnveilRule, ...]:
    """The rules :func:`commit` adds for *promises*' path allowances (None: unpledged,
    stdio's only: a later pledge may not hold the others). Existing paths only."""
    held = frozenset({"stdio"}) if promises is None else promises
    paths = prepared.paths()  # policy.PATHS, as the build prepared it
    found = {p: m for promise in paths if promise in held for p, m in paths[promise]}
    return tuple(UnveilRule(p, m) for p, m in found.items() if _exists(p))


def build(rules: tuple[UnveilRule, ...], *, promises: frozenset[str] | None) -> Ruleset | None:
    """The ruleset :func:`commit` enforces for *rules* (None: nothing to enforce);
    the caller closes it. Also what exec'd programs enter (exec/spawner.py)."""
    if not rules:
        return None
    row = A.current()
    if not row.available:
        return None
    extra = allowance_rules(promises)
    rights: dict[str, int] = {}  # letters -> rights, worked out once each
    ruleset = Ruleset(row.fs, row.scopes & A.SCOPE_ABSTRACT_UNIX_SOCKET)
    handled, kept = ruleset.handled_fs, _kept
    opened: list[tuple[int, int]] = []  # (the check's descriptor, rights), added together
    try:
        for rule in (*rules, *extra):
            access = rights.get(rule.permissions)
            if access is None:
                access = rights[rule.permissions] = access_for(rule.permissions, row.version)
            if not access:
                continue
            found = kept.get(rule.path)
            if found is not None and found[1] >= 0:  # opened by the check: as add_path()
                access &= handled if stat.S_ISDIR(found[0].st_mode) else \
                    handled & A.ACCESS_FILE
                if access:
                    opened.append((found[1], access))
                continue
            try:
                _add_path(ruleset, rule.path, access, opened)
            except LandlockError:
                raise
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    raise  # a rule lost would hide what was unveiled: refused instead
                continue  # missing or unreachable: the rule grants nothing
        ruleset.add_fds(opened)
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def _add_path(ruleset: Ruleset, path: str, access: int, opened: list[tuple[int, int]]) -> None:
    """``ruleset.add_path``; out of descriptors (a low RLIMIT_NOFILE), the check's kept
    ones are added at once and closed, and the path is tried again."""
    try:
        ruleset.add_path(path, access)
    except OSError as exc:
        if exc.errno not in (errno.EMFILE, errno.ENFILE) or not opened:
            raise
        ruleset.add_fds(opened)
        opened.clear()
        _release_kept()
        ruleset.add_path(path, access)


def commit(rules: tuple[UnveilRule, ...], *, promises: frozenset[str] | None) -> None:
    """Enforce *rules* now: one ruleset, NO_NEW_PRIVS, landlock_restrict_self.

    The path allowances of *promises* (None: unpledged) are added, as OpenBSD
    lets them through unveil (:func:`allowance_rules`). No rules at all
    means nothing to hide (as on OpenBSD) and nothing is done; neither is
    anything done without Landlock (:func:`gaps` reports that). A rule whose
    path cannot be opened grants nothing. On failure nothing is enforced.
    """
    try:
        ruleset = build(rules, promises=promises)
    finally:
        _drop_kept()  # the check's descriptors: used, or of no more use
    if ruleset is None:
        return
    with ruleset:
        ruleset.restrict_self(A.current().restrict_flags & A.RESTRICT_SELF_TSYNC)
