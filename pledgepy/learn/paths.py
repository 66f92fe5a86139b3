"""The unveil list: the paths a run used, with their letters, collapsed sensibly.

A rule on a directory covers everything beneath it (Landlock, like unveil(2)),
so a path whose letters an ancestor's rule already grants is dropped. Read-only
(``r``) files are folded into their directory when at least :data:`FOLD` siblings
share the same letters, level by level, and only into a directory the run listed
(a walked source tree) or one in a system or library tree (:data:`TREES`, the
interpreter's own): a rule on a directory unveils what the run never asked for,
so it is earned by the run having seen the whole directory, or given where
nothing is anyone's own. Never into ``/`` or a directory directly under it
(``/etc``, ``/tmp``, ``/proc``: three files read there must not unveil
``/etc/shadow``, other users' temporary files or every process's ``/proc``
entries), judged also where the directory really is (:func:`resolved`: a link to
``/etc`` is ``/etc``; nothing reached through ``/proc``, whose links name what the
process applying the rule has), never into a home directory or an ancestor of one
(:func:`homes`: three dotfiles read must not unveil ``~/.ssh``), and a dot-entry (``.bashrc``,
``.ssh``) is never folded into its directory. A path in a directory the run
creates or removes in is folded into that directory (it may be gone when the
policy is applied), but where nothing folds (``/`` and the directories directly under
it, a home or an ancestor of one, named or resolved) an existing path keeps its own
rule, unless the run made it (:data:`MADE`: it may be missing when the policy is
applied, and a rule on a missing path grants nothing; a note says so). A rule needs
an existing file: a missing path that was only read is dropped (opening it fails
with ENOENT either way), one that was written or created in, or made and read back,
gives its letters to its nearest existing directory.
"""

from __future__ import annotations

import os
import sys

from ..backends.base import MADE, REMOVED

#: Siblings with the same read-only letters that become one directory rule.
FOLD = 3
ORDER = "rwxc"
#: System and library trees: the same for every user, so reads beneath them fold
#: though the run listed no directory (with the interpreter's, :func:`trees`).
TREES = ("/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/share", "/usr/include",
         "/usr/local/lib", "/usr/local/share", "/lib", "/lib32", "/lib64")
#: Where the dynamic loader reads the libraries it maps before main.
LOADER_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
#: Ancestors of home directories whatever the password database says.
HOME_ROOTS = ("/home", "/root")


_LETTERS: dict[str, str] = {}


def letters(text: str) -> str:
    got = _LETTERS.get(text)
    if got is None:
        got = _LETTERS[text] = "".join(c for c in ORDER if c in text)
    return got


def _lexists(path: str) -> bool:
    """os.path.lexists without its wrapper's cost (one call per path the run used)."""
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _up(path: str) -> str:
    """os.path.dirname of a normalised absolute path, without its general cost."""
    return path[:path.rfind("/")] or "/"


def trees() -> tuple[str, ...]:
    """:data:`TREES` and this interpreter's library trees (``PREFIX/lib``: the stdlib
    and site-packages, a venv's included)."""
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    return (*TREES, *dict.fromkeys(os.path.join(p, lib) for p in prefixes
                                   for lib in ("lib", "lib64")))


def homes(*more: str | None) -> frozenset[str]:
    """Every home directory (the password database's, ``$HOME`` and *more*), as given
    and resolved, with :data:`HOME_ROOTS`."""
    import pwd

    found: list[str] = [*HOME_ROOTS, os.environ.get("HOME") or "", *(m or "" for m in more)]
    try:
        found += [pw.pw_dir for pw in pwd.getpwall()]
    except OSError:  # no database to read: $HOME and the roots still hold
        pass
    out: set[str] = set()
    for home in found:
        if os.path.isabs(home):
            out.update((os.path.normpath(home), os.path.realpath(home)))
    return frozenset(out)


def _ancestors(dirs: frozenset[str]) -> frozenset[str]:
    """*dirs* and every directory above one of them, ``/`` included."""
    out: set[str] = set()
    for d in dirs:
        while d not in out:
            out.add(d)
            d = _up(d)
    return frozenset(out)


def resolved(path: str) -> str | None:
    """*path* with its symlinks followed, as an unveil of it would reach; None when it
    passes through /proc, whose links (self, cwd, root, fd/N) name what the process
    applying the rule has, not a fixed directory, or loops."""
    todo = [p for p in reversed(path.split("/")) if p]  # the next component last
    here, hops = "/", 0
    while todo:
        part = todo.pop()
        if part == ".":
            continue
        if part == "..":
            here = _up(here)
            continue
        step = here.rstrip("/") + "/" + part
        if step == "/proc" or step.startswith("/proc/"):
            return None
        try:
            target = os.readlink(step)
        except (OSError, ValueError):  # not a link (or gone): a plain component
            here = step
            continue
        hops += 1
        if hops > 40:  # the kernel's limit (ELOOP)
            return None
        if target.startswith("/"):
            here = "/"
        todo.extend(p for p in reversed(target.split("/")) if p)
    return here


def beneath(path: str, roots: tuple[str, ...]) -> bool:
    """Whether *path* is one of *roots* or beneath one."""
    return any(path == r or path.startswith(r + "/") for r in roots)


class _Where:
    """Where folding may go: the directories the run listed and the trees, less the
    homes and their ancestors (computed once per report)."""

    __slots__ = ("listed", "trees", "barred", "_real", "_foldable")

    def __init__(self, listed: frozenset[str], trees: tuple[str, ...],
                 barred: frozenset[str]) -> None:
        self.listed = listed
        self.trees = trees
        self.barred = barred
        # once per directory and report: a walked tree has thousands of files in a few
        # directories, and resolving one reads a link per component
        self._real: dict[str, str | None] = {}
        self._foldable: dict[str, bool] = {}

    def resolved(self, path: str) -> str | None:
        """:func:`resolved`, once per path in this report."""
        try:
            return self._real[path]
        except KeyError:
            got = self._real[path] = resolved(path)
            return got

    def foldable(self, parent: str) -> bool:
        got = self._foldable.get(parent)
        if got is None:
            got = self._foldable[parent] = self._judge(parent)
        return got

    def _judge(self, parent: str) -> bool:
        # /etc, /tmp, /proc ... hold what no run asked for; a home holds ~/.ssh. Judged
        # where the directory really is too: a rule follows links (a link to /etc in a
        # writable tree, a venv's lib, is /etc)
        real = self.resolved(parent)
        if real is None:
            return False
        for where in {parent, real}:
            if where.count("/") < 2 or where in self.barred:
                return False
        return parent in self.listed or (beneath(parent, self.trees)
                                         and beneath(real, self.trees))


def _covered(path: str, perms: str, rules: dict[str, str]) -> bool:
    parent = _up(path)
    while True:
        have = rules.get(parent)
        if have is not None and all(c in have for c in perms):
            return True
        if parent in ("/", ""):
            return False
        parent = _up(parent)


def _prune(rules: dict[str, str]) -> dict[str, str]:
    # siblings with the same letters are covered alike: judged once per (directory,
    # letters), not once per file of a walked tree
    judged: dict[tuple[str, str], bool] = {}
    out = {}
    for p, v in rules.items():
        key = (_up(p), v)
        covered = judged.get(key)
        if covered is None:
            covered = judged[key] = _covered(p, v, rules)
        if not covered:
            out[p] = v
    return out


class _Existing:
    """os.path.lexists for the many paths of one report: a directory with many of them
    is listed once (a walked tree: thousands of files in a few directories), the rest
    looked up one by one."""

    __slots__ = ("_names",)

    #: Paths used in one directory from which it is listed rather than each looked up.
    LISTED = 8

    def __init__(self, paths: list[str]) -> None:
        counts: dict[str, int] = {}
        for p in paths:
            parent = _up(p)
            counts[parent] = counts.get(parent, 0) + 1
        self._names: dict[str, frozenset[str] | None] = {}
        for parent, n in counts.items():
            if n >= self.LISTED:
                self._names[parent] = _listing(parent)

    def __call__(self, path: str) -> bool:
        names = self._names.get(_up(path))
        if names is None or path == "/":
            return _lexists(path)
        return path[path.rfind("/") + 1:] in names


def _listing(directory: str) -> frozenset[str] | None:
    """The names in *directory* when each of them is what lstat would find (it can be
    listed and searched), else None (each path is then looked up)."""
    if not os.access(directory, os.X_OK):
        return None
    try:
        return frozenset(os.listdir(directory))
    except (OSError, ValueError):
        return None


def _guarded(parent: str, where: _Where) -> bool:
    """Whether *parent* is where nothing is folded, named or resolved: ``/`` or a
    directory directly under it (``/tmp``, ``/etc``), a home or an ancestor of one
    (``where.barred``), or a directory reached through ``/proc``."""
    real = where.resolved(parent)
    return real is None or any(p.count("/") < 2 or p in where.barred for p in (parent, real))


def _into_created(rules: dict[str, str], where: _Where,
                  made: frozenset[str] = frozenset(),
                  notes: list[str] | None = None,
                  removed: frozenset[str] = frozenset()) -> dict[str, str]:
    """Fold each path into its directory when the run creates or removes there:
    the path may not exist when the policy is applied, and a rule needs it to. Not
    an existing path into a directory :func:`_guarded` keeps (named or resolved): its
    letters there would reach ``~/.ssh``, ``/etc/shadow`` or other users' files in
    ``/tmp``; its own rule holds while it exists. But for one the run *made*
    (:data:`MADE`: it was not there before the run): it exists now only because the
    run made it, and a rule on a path that is missing when it is applied grants
    nothing (``cp -r src /tmp/dst`` learned ``rwc /tmp/dst`` and failed to copy). One
    the run *removed* (an input it read and deleted: missing now, there again when the
    run is repeated) keeps its own rule in such a directory, as an existing path does."""
    out = dict(rules)
    for path in sorted(rules, key=len, reverse=True):
        parent = _up(path)
        if path in out and "c" in out.get(parent, ""):
            if (_lexists(path) or path in removed) and _guarded(parent, where):
                if path not in made:
                    continue
                if notes is not None:  # wider than the run needs once it exists: say so
                    notes.append(made_note(path, out[path], parent))
            out[parent] = letters(out[parent] + out.pop(path))
    return out


def _fold(rules: dict[str, str], where: _Where) -> dict[str, str]:
    """One pass of folding read-only siblings into their directory."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path, perms in rules.items():
        parent = _up(path)
        # programs run (x) stay one by one; a dot-entry (.ssh, .netrc) is its own rule
        if perms == "r" and path[len(parent) + 1:][:1] != "." and where.foldable(parent):
            groups.setdefault((parent, perms), []).append(path)
    out = dict(rules)
    for (parent, perms), members in groups.items():
        if len(members) >= FOLD:
            for m in members:
                del out[m]
            out[parent] = letters(out.get(parent, "") + perms)
    return out


def made_note(path: str, perms: str, parent: str) -> str:
    """What the report says of a made *path* whose letters went to a *parent* where
    nothing else folds."""
    return (f"{path} was made by the run in {parent}, where nothing else folds: its "
            f"letters '{perms}' go to {parent}, since a rule on a path missing when the "
            f"policy is applied grants nothing (once it exists, -v {perms}:{path} is "
            "the narrower rule)")


def collapse(used: dict[str, str], given: dict[str, str] | None = None,
             home: str | None = None,
             library: tuple[str, ...] | None = None,
             notes: list[str] | None = None) -> list[tuple[str, str]]:
    """``[path, letters]`` rules for *used* (path -> letters, ``"/"`` marks a
    directory read, :data:`MADE` a path the run made), without what *given* (the rules
    the command adds itself) covers; *home*: the recorded run's ``$HOME`` (besides the
    caller's and the database's); *library*: the system and library trees
    (:func:`trees` unless given); *notes*: where to say which made paths gave their
    letters to a directory nothing else folds into."""
    barred = _ancestors(homes(home))
    where = _Where(frozenset(p for p, v in used.items() if "/" in v),
                   trees() if library is None else library, barred)
    rules: dict[str, str] = {}
    made = frozenset(p for p, v in used.items() if MADE in v)
    removed = frozenset(p for p, v in used.items() if REMOVED in v) - made
    exists = _Existing(list(used))
    transient: dict[str, list[tuple[str, str]]] = {}  # directory: (made and gone, letters)
    for path, perms in used.items():
        if not exists(path):
            if not set(perms) & set("wc") and path not in made:
                if path in removed and letters(perms):  # the run's input: it read, then
                    rules[path] = letters(rules.get(path, "") + perms)  # removed it
                continue  # else a missing file that was only looked for
            # written, or made, where the run later removed it: it will be again, so
            # its letters (a temporary file read back) go where it will be made
            gone = path
            while not _lexists(path) and path != "/":
                path = os.path.dirname(path)
            if notes is not None and path != "/" and set(perms) & set("rx") \
                    and _guarded(path, where):
                transient.setdefault(path, []).append((gone, letters(perms)))
        if path != "/":
            have = rules.get(path)
            got = letters(perms if have is None else have + perms)
            if got:
                rules[path] = got
    while True:
        folded = _prune(_fold(_prune(_into_created(rules, where, made, notes, removed)),
                              where))
        if folded == rules:
            break
        rules = folded
    given = given or {}
    if notes is not None:
        notes.extend(_transient_notes(transient, given))
    out: dict[str, str] = {}
    for p, v in sorted(rules.items()):
        if _given(p, v, given):
            continue
        if notes is not None and "r" in v and p in where.listed and _guarded(p, where) \
                and not beneath(p, ("/proc", "/dev")):
            # the one way reading a directory is unveiled, and here it is everything in
            # it: a home's ~/.ssh, /etc's shadow (find opens its working directory only
            # to come back to it, and does without when refused)
            notes.append(f"{p} is unveiled '{v}' whole: the run opened it as a directory "
                         "(listing it, or holding it to come back to, as find does with its "
                         "working directory), and a rule on it covers everything beneath "
                         f"it; if the program does without, leave out -v {v}:{p}")
        # a rule follows links: name what it grants (a file the run read, now a link to
        # /etc/shadow, or one reached through a link to /etc, must not pass for another);
        # not in /proc and /dev, whose links mean the process that follows them
        if not beneath(p, ("/proc", "/dev")):
            p = os.path.realpath(p)
        out[p] = letters(out.get(p, "") + v)
    return sorted(out.items())


def _transient_notes(transient: dict[str, list[tuple[str, str]]],
                     given: dict[str, str]) -> list[str]:
    """One note a directory for the files the run made, read back and removed there
    (sort's temporary files are dozens), and none where the command's own rules grant
    those letters (the default unveil's /tmp under tmppath): no rule is suggested then."""
    out = []
    for directory, gone in transient.items():
        perms = letters("".join(p for _, p in gone))
        if _given(directory, perms, given):
            continue
        if len(gone) == 1:
            out.append(f"{gone[0][0]} was made and removed by the run, and read between: "
                       f"'{perms}' goes to {directory}, where it will be made again")
        else:
            out.append(f"{len(gone)} files were made and removed by the run in {directory}, "
                       f"and read between (first {gone[0][0]}): '{perms}' goes to "
                       f"{directory}, where they will be made again")
    return out


def _given(path: str, perms: str, given: dict[str, str]) -> bool:
    """Whether *given*'s rules grant *perms* on *path*, as named or resolved (the
    command's rules name real paths: ``/lib`` may be a link to ``/usr/lib``)."""
    for p in (path, os.path.realpath(path)):
        if (p in given and set(perms) <= set(given[p])) or _covered(p, perms, given):
            return True
    return False
