"""The public calls: pledge(), unveil(), status().

Each call parses and checks everything first, asks the backend what it can
enforce, refuses (strict) before changing anything, applies, and only then
records the new state and warns about what is not enforced.
"""

from __future__ import annotations

import _thread
import errno
import os

from . import mpguard, runtime, strictness
from . import promises as _promises
from .backends import select
from .backends.base import PledgeRequest, UnveilRule
from .errors import not_held
from .status import Gaps, Status, UnveilStatus
from .stdlibonly import after_workers

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

UNVEIL_LETTERS = "rwxc"


if TYPE_CHECKING:
    from collections.abc import Iterable

    from .backends.base import Backend


class _State:
    """What this process has been told is in force (one per process)."""

    def __init__(self) -> None:
        self.promises: frozenset[str] | None = None
        self.execpromises: frozenset[str] | None = None
        self.gaps = Gaps()
        self.unveils: dict[str, str] = {}
        self.unveil_locked = False
        self.unveil_in_force = False
        self.unveil_gaps = Gaps()  # as last computed: status() must not touch files
        self.inherited = False  # promises came from the program that exec'd this one
        self.unveil_strict = False  # a rule was added with strict: the lock is judged so


_lock = _thread.RLock()
_state = _State()
_backend: Backend | None = None


def backend() -> Backend:
    """The backend for this platform (chosen once)."""
    global _backend
    if _backend is None:
        be = select()
        with _lock:
            got = be.inherited()
            if got is not None:
                _state.promises = _state.execpromises = got.promises
                _state.gaps = Gaps(notes=got.notes)
                _state.inherited = True
                _state.unveil_locked = got.unveil_locked
        _backend = be
    return _backend


def _rules() -> tuple[UnveilRule, ...]:
    return _rules_of(_state.unveils)


#: The rules of the last dict _rules_of() was asked for (_state.unveils is replaced,
#: never changed in place): each unveil() judges the whole set again.
_last_rules: tuple[dict[str, str], tuple[UnveilRule, ...]] = ({}, ())


def _rules_of(unveils: dict[str, str], before: dict[str, str] | None = None,
              added: list[UnveilRule] | None = None) -> tuple[UnveilRule, ...]:
    """*unveils* as rules, in order. *before* and *added*: it is *before* with *added*
    appended (their paths new and distinct), so its rules are *before*'s and them."""
    global _last_rules
    if _last_rules[0] is unveils:
        return _last_rules[1]
    if before is not None and added is not None and _last_rules[0] is before and \
            len(unveils) == len(before) + len(added):
        rules = _last_rules[1] + tuple(added)
    else:
        rules = tuple(UnveilRule(p, m) for p, m in unveils.items())
    _last_rules = (unveils, rules)
    return rules


def _held() -> frozenset[str] | None:
    return _state.promises


def held() -> frozenset[str] | None:
    """The promises this process holds (None: it has not pledged), read without a lock
    or a file: callable under any pledge (a worker's parent asks before each violation
    it would read)."""
    return _state.promises


def _spawned() -> frozenset[str] | None:
    return backend().spawned_promises()


def _add_all(be: Backend, new: list[UnveilRule]) -> None:
    """Hand *new* to the backend one by one (under _lock)."""
    for done, rule in enumerate(new):
        try:
            be.add_unveil(rule)
        except OSError as exc:
            if not done:
                raise
            # the kernel (OpenBSD: its limit on unveiled paths, E2BIG) refused this
            # rule after taking the ones before it, which it cannot take back: as a
            # loop of unveil() would, they are recorded, and the error says so
            _state.unveils = dict(_state.unveils)
            _state.unveils.update((r.path, r.permissions) for r in new[:done])
            _state.unveil_gaps = be.unveil_gaps(
                tuple(UnveilRule(p, m) for p, m in _state.unveils.items()), False)
            raise type(exc)(exc.errno, f"{exc.strerror}; the {done} rule(s) before it "
                            "were added (the kernel cannot take them back)") from exc


def unveil_rules() -> tuple[UnveilRule, ...]:
    """The unveil rules recorded so far, in the order given (in force or not)."""
    with _lock:
        return _rules()


def _checkpoint(kind: str, promises: str | None, execpromises: str | None,
                path: str | None = None, permissions: str | None = None) -> bool:
    """True when a learn-mode recorder took this call as a checkpoint (see learn/hook.py)."""
    from .learn import hook

    return hook.checkpoint(kind, promises, execpromises, path, permissions)


@after_workers  # a worker may have planted what it would import
def pledge(promises: str | None, execpromises: str | None = None, *,
           strict: bool | None = None) -> None:
    """Restrict this process to *promises*; exec'd programs to *execpromises*.

    ``None`` leaves an argument unchanged; ``""`` allows nothing but exiting.
    A later call may only drop promises (else ``PermissionError``), except
    that while ``error`` is held only the drops take effect and the gains are
    ignored (both arguments), as on OpenBSD.
    ``strict`` (default: ``PLEDGEPY_STRICT``) turns anything the platform
    cannot enforce into ``UnsupportedError`` before anything changes.
    """
    new = _promises.parse(promises, "promises")
    new_exec = _promises.parse(execpromises, "execpromises")
    if os.environ.get("PLEDGEPY_LEARN") and _checkpoint("pledge", promises, execpromises):
        return  # python -m pledgepy learn recorded it: a checkpoint, not enforced
    is_strict = strictness.resolve(strict)
    with _lock:
        cur, cur_exec = _state.promises, _state.execpromises
        if new is None:
            new = cur
        if new_exec is None:
            new_exec = cur_exec
        if new is None and new_exec is None:
            return
        if cur is not None and "error" in cur:
            # OpenBSD's error mode: requested &= held, so drops take effect and
            # only the gains are ignored
            if new is not None:
                new = new & cur
            if new_exec is not None and cur_exec is not None:
                new_exec = new_exec & cur_exec
        if new == cur and new_exec == cur_exec:
            return  # nothing to narrow: OpenBSD accepts the same promises again
        for kind, old, asked in (("promises", cur, new), ("execpromises", cur_exec, new_exec)):
            if old is not None and asked is not None and asked - old:
                raise not_held(kind, sorted(asked - old))
        rules = _rules()
        request = PledgeRequest(cur, new, cur_exec, new_exec, rules, _state.unveil_in_force,
                                is_strict)
        be = backend()
        gaps = be.pledge_gaps(request)
        helpers = mpguard.helper_gaps(cur is None and cur_exec is None, new)
        if helpers:
            gaps = Gaps(gaps.not_enforced + tuple(helpers), gaps.notes, gaps.nothing)
        lock_unveil = (new is not None and "unveil" not in new
                       and not _state.unveil_locked)
        unveil_gaps = Gaps()
        if lock_unveil and rules:
            # A backend whose unveil only takes effect through pledge (FreeBSD)
            # needs to know the request to say what the lock will enforce.
            unveil_gaps = be.unveil_gaps_for_pledge(request, rules)
        strictness.refuse_or_warn(is_strict, "pledge", list(gaps.not_enforced))
        strictness.refuse_or_warn(is_strict or _state.unveil_strict, "unveil",
                                  list(unveil_gaps.not_enforced))
        # CPython's own needs first: once the sandbox is in force, the
        # interpreter may no longer read files it would read lazily.
        guarded = False
        if new is not None and not gaps.nothing:
            # multiprocessing's lazy parts first: they load concurrent.futures, whose own
            # lazy needs runtime.prepare() imports (a later pledge could not)
            mpguard.prepare(_held, _spawned)
            runtime.prepare(new, be.import_noter())
            if lock_unveil and rules:
                runtime.before_hiding()
            guarded = "rpath" not in new and runtime.guard_files()
        try:
            be.apply_pledge(request, rules, lock_unveil)
        except BaseException:
            if guarded:
                runtime.unguard_files()  # nothing took effect: leave Python as it was
            raise
        _state.promises, _state.execpromises, _state.gaps = new, new_exec, gaps
        if lock_unveil:
            _state.unveil_locked = True
            _state.unveil_in_force = bool(_state.unveils)
            if _state.unveils:
                _state.unveil_gaps = unveil_gaps
    strictness.warn("pledge", list(gaps.not_enforced))
    strictness.warn("unveil", list(unveil_gaps.not_enforced))
    missing = be.messages_missing()
    if missing is not None:
        strictness.warn_messages(missing)


def lock_unveil_for(promises: frozenset[str], *, strict: bool | None = None,
                    quiet: bool = False, then_exec: bool = False,
                    adding: Iterable[tuple[str | os.PathLike[str], str]] = ()) -> None:
    """Lock unveil now, judging the rules against *promises* that a filter will
    enforce next (the pledge command, whose child then execs: *then_exec*; a
    worker, whose filter holds no ``exec``: nothing is prepared for an exec).

    *adding*: rules added first, checked as :func:`unveil_many` checks them and
    judged once, with the lock (all or nothing).
    """
    checked = _checked(adding)
    is_strict = strictness.resolve(strict)
    be = backend()
    with _lock:
        if _state.unveil_locked and not checked:
            return
        try:  # the check's lookups are kept for the judgement and the lock, or dropped
            new, after = _addable(be, checked, locking=True)
            made = {rule.path: rule for rule in new}  # the same records, not made again
            rules = tuple(r if (r := made.get(p)) is not None and r.permissions == m
                          else UnveilRule(p, m) for p, m in after.items())
            gaps = be.unveil_gaps_for_pledge(
                PledgeRequest(None, promises, None, None, rules), rules)
            strictness.refuse_or_warn(is_strict or _state.unveil_strict, "unveil",
                                      list(gaps.not_enforced))
            _add_all(be, new)
            _state.unveils = after
            if then_exec:
                be.lock_unveil_then_exec(rules)
            elif "exec" not in promises:
                be.lock_unveil_never_exec(rules, promises)
            else:
                be.lock_unveil(rules)
        except BaseException:
            be.check_unveils([], locking=False)
            raise
        _state.unveil_locked = True
        _state.unveil_in_force = bool(rules)
        _state.unveil_gaps = gaps
    if not quiet:
        strictness.warn("unveil", list(gaps.not_enforced))


_LETTERS: dict[str, str] = {}  # permissions checked before -> their letters, in order


def _check_permissions(permissions: object) -> str:
    if type(permissions) is str and permissions in _LETTERS:
        return _LETTERS[permissions]
    if not isinstance(permissions, str):
        raise TypeError(f"permissions must be a str, not {type(permissions).__name__}")
    bad = sorted(set(permissions) - set(UNVEIL_LETTERS))
    if bad:
        raise ValueError(
            f"unveil permissions may only use the letters 'r', 'w', 'x', 'c'; "
            f"got {''.join(bad)!r}"
        )
    letters = "".join(c for c in UNVEIL_LETTERS if c in permissions)
    if type(permissions) is str and len(_LETTERS) < 64:
        _LETTERS[permissions] = letters
    return letters


def _check_path(path: object) -> str:
    if type(path) is str:
        text = path
    else:
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError("path must name a str path, not bytes")
    if "\0" in text:
        raise ValueError("path contains a NUL byte")
    if not text:
        raise ValueError("path is empty")
    if text[0] == "/" and "//" not in text and "/./" not in text and "/../" not in text \
            and (not text.endswith(("/", "/.", "/..")) or text == "/"):
        return text  # absolute and normal (no ".", "..", "//", trailing "/"): abspath's answer
    if ".." in text.split(os.sep):
        # The kernel resolves a symlink before a following "..": abspath would not.
        return os.path.realpath(os.path.join(os.getcwd(), text))
    return os.path.abspath(text)


@after_workers  # a worker may have planted what it would import
def unveil(path: str | os.PathLike[str] | None = None, permissions: str | None = None,
           *, strict: bool | None = None) -> None:
    """Make *path* visible with *permissions* (a subset of ``"rwxc"``).

    ``unveil()`` with both arguments ``None`` locks: later calls raise
    ``PermissionError``. Relative paths are resolved against the current
    directory now. See the README for when rules take effect on each platform.
    """
    if (path is None) != (permissions is None):
        raise ValueError("unveil() takes both path and permissions, or neither (to lock)")
    if os.environ.get("PLEDGEPY_LEARN") and _checkpoint(
            "unveil", None, None, None if path is None else _check_path(path),
            None if permissions is None else _check_permissions(permissions)):
        return  # python -m pledgepy learn recorded it: a checkpoint, not enforced
    is_strict = strictness.resolve(strict)
    be = backend()
    if path is None:
        with _lock:
            if _state.unveil_locked:
                return  # locking twice is harmless, as on OpenBSD
            gaps = be.unveil_gaps(_rules(), True)  # judged with the promises in force now
            strictness.refuse_or_warn(is_strict or _state.unveil_strict, "unveil",
                                      list(gaps.not_enforced))
            if _state.unveils:
                runtime.before_hiding()
            be.lock_unveil(_rules())
            _state.unveil_locked = True
            _state.unveil_in_force = bool(_state.unveils)
            _state.unveil_gaps = gaps
        strictness.warn("unveil", list(gaps.not_enforced))
        return
    letters = _check_permissions(permissions)
    _add([(_check_path(path), letters)], is_strict)


@after_workers  # a worker may have planted what it would import
def unveil_many(rules: Iterable[tuple[str | os.PathLike[str], str]], *,
                strict: bool | None = None) -> None:
    """``unveil(path, permissions)`` for each ``(path, permissions)`` of *rules*, in order.

    The same rules and checks as that loop (a later rule for a path replaces
    an earlier one), but everything is checked before anything is added: on
    any error no rule is added. The rule set is judged once, not once a rule
    (much faster for hundreds of paths). An empty *rules* does nothing; it
    never locks (that is ``unveil()``). Only the kernel's own refusal of a rule
    after others were passed to it (OpenBSD's E2BIG, its limit on unveiled paths)
    leaves the rules before it added, as the loop would: the error says how many,
    and ``status()`` lists them.
    """
    checked = _checked(rules)
    if not checked:
        return
    if os.environ.get("PLEDGEPY_LEARN"):
        for path, letters in checked:  # each one a checkpoint of its own
            unveil(path, letters, strict=strict)
        return
    _add(checked, strictness.resolve(strict))


def _checked(rules: Iterable[tuple[str | os.PathLike[str], str]]) -> list[tuple[str, str]]:
    """(absolute path, letters) of each (path, permissions) pair; raise for bad input."""
    given: object = rules  # typed as pairs, called with anything
    if isinstance(given, (str, bytes)):
        raise TypeError("rules must be (path, permissions) pairs, not a string")
    checked: list[tuple[str, str]] = []
    for item in rules:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"each rule must be a (path, permissions) pair, not {item!r}")
        path, permissions = item
        if path is None or permissions is None:
            raise ValueError("unveil_many() rules need a path and permissions "
                             "(lock with unveil())")
        letters = _check_permissions(permissions)
        checked.append((_check_path(path), letters))
    return checked


def _addable(be: Backend, rules: list[tuple[str, str]], locking: bool = False
             ) -> tuple[list[UnveilRule], dict[str, str]]:
    """Check that *rules* may be added now (raise if not): them, and the rules after.
    *locking*: the lock follows at once (the backend may keep its lookups for it)."""
    if rules:
        # the cause first: a pledge without "unveil" is what locked it (as on OpenBSD)
        if _state.promises is not None and "unveil" not in _state.promises:
            raise PermissionError(errno.EPERM, 'unveil() needs the "unveil" promise: a '
                                  'pledge() without it locks unveil, as on OpenBSD (unveil '
                                  'first, or keep "unveil" until the last path)')
        if _state.unveil_locked:
            raise PermissionError(errno.EPERM, "unveil is locked (by unveil() with no "
                                  "arguments): no more paths can be added")
    new = [UnveilRule(full, letters) for full, letters in rules]
    be.check_unveils(new, locking)
    after = dict(_state.unveils)
    after.update(rules)
    return new, after


def _add(rules: list[tuple[str, str]], is_strict: bool) -> None:
    """Add checked (absolute path, letters) *rules*, judged together; all or nothing."""
    be = backend()
    with _lock:
        new, after = _addable(be, rules)
        rules_after = _rules_of(after, _state.unveils, new)
        gaps = be.unveil_gaps(rules_after, False)
        if is_strict:
            # Rules take effect at the lock (unveil() or the pledge that locks), judged
            # then with the promises in force; now only what no pledge can close (as
            # judged under pledge(""), which closes the most) is refused.
            closing = be.unveil_gaps_for_pledge(PledgeRequest(
                _state.promises, frozenset(), _state.execpromises, None, rules_after),
                rules_after)
            strictness.refuse_or_warn(True, "unveil", list(closing.not_enforced))
        _add_all(be, new)
        _state.unveils = after
        _state.unveil_gaps = gaps
        _state.unveil_strict = _state.unveil_strict or is_strict


def set_violation_messages(enabled: bool) -> None:
    """Print (True, the default) or suppress the one-line message on each violation."""
    backend().set_violation_messages(bool(enabled))


@after_workers  # a worker may have planted what it would import
def status() -> Status:
    """What is in force now (a snapshot; reads no files, so it works under any pledge)."""
    be = backend()
    with _lock:
        rules = tuple(_state.unveils.items())
        ugaps = _state.unveil_gaps if rules else Gaps()
        unveil_status = UnveilStatus(
            rules=rules,
            locked=_state.unveil_locked,
            in_force=_state.unveil_in_force,
            mechanism=be.unveil_mechanism,
            level=ugaps.level if rules else ("full" if be.unveil_mechanism != "none" else "none"),
            not_enforced=ugaps.not_enforced,
            notes=ugaps.notes,
        )
        pledged = _state.promises is not None or _state.execpromises is not None
        gaps = _state.gaps
        live = be.live_gaps() if pledged else ()
        if live:
            gaps = Gaps(gaps.not_enforced + live, gaps.notes, gaps.nothing)
        return Status(
            platform=be.platform,
            mechanism=be.mechanism,
            promises=_state.promises,
            execpromises=_state.execpromises,
            level=gaps.level if pledged else "none",
            not_enforced=gaps.not_enforced,
            notes=_state.gaps.notes + (be.live_notes() if pledged else ()),
            unveil=unveil_status,
            messages=pledged and gaps.level != "none" and be.messages_missing() is None,
            inherited=_state.inherited,
        )
