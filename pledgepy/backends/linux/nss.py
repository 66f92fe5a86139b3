"""glibc's NSS modules, loaded before a pledge that would refuse loading them later.

glibc looks users, groups, services, protocols and hosts up through the modules
``/etc/nsswitch.conf`` names, and dlopens each the first time a lookup reaches it:
an open of ``/etc/ld.so.cache`` and of the library (``rpath``) and an executable
mapping (``prot_exec``). A lookup allowed by the promises (``getpw``, ``dns``,
``rpath``: OpenBSD's reads of pwd.db, services, hosts) would then die of that
load: Debian's stock ``services: db files`` makes ``getaddrinfo(host, "http")``
a violation under ``stdio inet dns``, and ``passwd: files systemd`` makes
``pwd.getpwnam()`` of a name not in /etc/passwd one under ``stdio rpath``.

So a pledge whose promises allow such lookups but not the loads loads the
modules first, while it still may: each module the relevant lines name is
dlopened (glibc's later dlopen of the same name finds it mapped and opens
nothing), and a module that is not installed is left to glibc to try once, with
a lookup of a name no database holds (glibc remembers a failed module and never
tries it again). Lookups are made only for local databases and only before the
first pledge (the lookup itself may need what a pledge in force refuses, such as
the nscd probe's unix socket); hosts are never looked up (that could reach the
network), only their modules loaded. The modules built into glibc since 2.34
(``files``, ``dns``) are not loaded.
"""

from __future__ import annotations

import os

from . import native

NSSWITCH = "/etc/nsswitch.conf"

#: promise -> the NSS databases a program may look up under it (as on OpenBSD)
DATABASES: dict[str, tuple[str, ...]] = {
    "getpw": ("passwd", "group"),
    "dns": ("hosts", "services", "protocols"),
    "rpath": ("passwd", "group", "hosts", "services", "protocols"),
}
#: built into libc since glibc 2.34: nothing to load
BUILT_IN = frozenset({"files", "dns"})
#: a name no database holds (NSS names cannot contain a space)
ABSENT = "pledgepy absent"

#: module names already dlopened or found missing (never tried again)
_done: set[str] = set()
#: databases already looked up for an absent name
_looked_up: set[str] = set()


def _glibc() -> tuple[int, int] | None:
    """glibc's (major, minor), or None for another libc (musl has no NSS modules)."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    name, _, number = version.partition(" ")
    try:
        major, minor = (int(part) for part in number.split(".")[:2])
    except ValueError:
        return None
    return (major, minor) if name == "glibc" else None


def services(text: str) -> dict[str, list[str]]:
    """database -> the module names its line in nsswitch.conf *text* lists, in order
    (``[NOTFOUND=return]`` actions left out)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        database, sep, rest = line.partition("#")[0].partition(":")
        if not sep:
            continue
        kept, depth = [], 0
        for ch in rest:  # the actions' brackets do not nest, but be safe
            depth += ch == "["
            kept.append(" " if depth else ch)
            depth -= ch == "]" and depth > 0
        found[database.strip()] = "".join(kept).split()
    return found


def needed(promises: frozenset[str]) -> bool:
    """Whether *promises* allow lookups but not loading a module (rpath and prot_exec)."""
    return bool(promises & DATABASES.keys()) and not {"rpath", "prot_exec"} <= promises


def prepare(old: frozenset[str] | None, new: frozenset[str]) -> None:
    """Load the NSS modules *new*'s lookups may reach (see the module's doc); *old*: the
    promises in force now (None: nothing pledged yet). Nothing that fails here is an
    error: a module that cannot be loaded now stays for the lookup to report."""
    version = _glibc() if needed(new) else None
    if version is None:
        return
    if old is not None and not {"rpath", "prot_exec"} <= old:
        return  # the load itself would be refused now: an earlier pledge decided
    try:
        with open(NSSWITCH, encoding="utf-8", errors="replace") as f:
            lines = services(f.read())
    except OSError:
        return  # glibc's defaults then (files, dns: built in)
    builtin = BUILT_IN if version >= (2, 34) else frozenset()
    databases = sorted({d for p in new & DATABASES.keys() for d in DATABASES[p]})
    for database in databases:
        missing = False
        for module in lines.get(database, ()):
            if module in builtin:
                continue
            name = f"libnss_{module}.so.2"
            if name in _done:
                continue
            if native.keep_loaded(name):
                _done.add(name)
            else:
                missing = True  # not installed (or hidden by unveil already)
        if missing and old is None and "rpath" not in new:
            # with rpath, glibc's own try of the missing module only reads (allowed)
            _look_up(database)
        # a missing module is not dlopened again (its lookup, if any, is made)
        _done.update(f"libnss_{m}.so.2" for m in lines.get(database, ()))


def _look_up(database: str) -> None:
    """Look *database* up for a name it does not hold, so glibc tries every module."""
    if database in _looked_up or database == "hosts":
        return  # hosts could reach the network
    _looked_up.add(database)
    try:
        if database == "services":
            import _socket

            _socket.getservbyname(ABSENT)
        elif database == "protocols":
            import _socket

            _socket.getprotobyname(ABSENT)
        elif database == "passwd":
            import pwd

            pwd.getpwnam(ABSENT)
        elif database == "group":
            import grp

            grp.getgrnam(ABSENT)
    except (OSError, KeyError, ImportError):
        pass  # not found: what the lookup was for
