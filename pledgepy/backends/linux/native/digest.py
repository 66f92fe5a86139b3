"""A digest of the sources the native handler's tables are generated from.

The build embeds it in the module, with a stamp of those files (size, mtime,
inode); the loader compares the stamp with the files installed beside it and,
when any differs, recomputes the digest from their bytes, so a policy edited
without a rebuild is caught. An editable install the developer did not touch
pays a few stat() calls; a wheel, whose installer gives every file a new
mtime, pays the hash (BLAKE2b: about three times SHA-256's speed), done by the module
itself (``digest.c``: the same bytes hashed the same way, ~2.5 times fewer instructions
than _blake2 and a Python loop of reads); this module's :func:`compute` stays the
reference, and the build's.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_LINUX = os.path.dirname(_HERE)
_PACKAGE = os.path.dirname(os.path.dirname(_LINUX))

#: The Python policy (relative to the package): every generated native table is made from
#: these (the handler's module here; the launcher's in plan_tables.SOURCES).
POLICY: tuple[str, ...] = (
    "promises.py",
    "backends/linux/policy.py",
    "backends/linux/rules.py",
    "backends/linux/consts.py",
    "backends/linux/syscalls.py",
    "backends/linux/prepared.py",
)

#: Every file whose content reaches the compiled module (relative to the package).
SOURCES: tuple[str, ...] = (
    *POLICY,
    "backends/linux/native/tables.py",
    "backends/linux/native/sigsys.c",
    "backends/linux/native/learn.c",
    "backends/linux/native/spawner.c",
    "backends/linux/native/bpf.c",
    "backends/linux/native/digest.c",
)

#: A file modified this close to the build may be modified again within the same
#: timestamp granule (the kernel's clock for mtimes is coarse): its stamp is not
#: trusted ("racily clean", as git calls it) and the loader hashes instead.
RACY_NS = 2_000_000_000

#: The stamp a build records when it cannot vouch for the files' metadata.
UNTRUSTED = "-"


def _hasher() -> Any:
    """BLAKE2b-256 from CPython's built-in module: hashlib would load OpenSSL (~4 ms)."""
    try:
        from _blake2 import blake2b  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # a build without it
        from hashlib import blake2b
    return blake2b(digest_size=32)


def compute(root: str = _PACKAGE, names: tuple[str, ...] = SOURCES) -> str:
    """Hex BLAKE2b-256 over the names and bytes of *names* (default :data:`SOURCES`)
    under *root*.

    Raises OSError if one cannot be read.
    """
    h = _hasher()
    for name in names:
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return str(h.hexdigest())


def hashed(root: str, names: tuple[str, ...], lib: Any, ffi: Any) -> str:
    """:func:`compute`'s digest, computed by the native module (*lib*, *ffi*: its
    ``pp_sources_digest``). Raises OSError if a file cannot be read."""
    blob = b"".join(name.encode() + b"\0" for name in names)
    out = ffi.new("char[65]")
    rc = int(lib.pp_sources_digest(os.fsencode(root), blob, len(blob), out))
    if rc != 0:
        raise OSError(-rc, f"cannot read the sources under {root}: {os.strerror(-rc)}")
    return str(ffi.string(out).decode())


def stamp(root: str = _PACKAGE, now_ns: int | None = None) -> str:
    """The metadata of :data:`SOURCES` under *root*, as one string.

    With *now_ns* (the build's clock), :data:`UNTRUSTED` when a file was modified
    within :data:`RACY_NS` of it. Raises OSError if one cannot be stat()ed.
    """
    fields = []
    for name in SOURCES:
        st = os.stat(os.path.join(root, name))
        if now_ns is not None and now_ns - st.st_mtime_ns < RACY_NS:
            return UNTRUSTED
        fields.append(f"{name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return ";".join(fields)


def current(built_digest: str, built_stamp: str, root: str = _PACKAGE,
            lib: Any = None, ffi: Any = None) -> str:
    """The digest of the sources installed under *root*: the build's when their
    stamp is the build's, else computed from their bytes (by the native module's
    ``pp_sources_digest`` when *lib* and *ffi* are given, else :func:`compute`).
    Raises OSError."""
    if built_stamp != UNTRUSTED and stamp(root) == built_stamp:
        return built_digest
    if lib is None or ffi is None:
        return compute(root)
    return hashed(root, SOURCES, lib, ffi)
