"""What the dynamic loader will open for an ELF program: PT_INTERP, DT_NEEDED, search paths.

Only 64-bit little-endian ELF is read (x86_64, aarch64); anything else is
"not ELF" here, so the caller falls back to what it can tell without it.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import BinaryIO

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 1, 5, 15, 29
#: Where glibc's loader looks last (and multiarch Debian's own directories).
DEFAULT_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
CACHE = "/etc/ld.so.cache"
_CACHE_MAGIC = b"glibc-ld.so.cache1.1"


class Elf:
    """The loader-relevant facts of one ELF file."""

    __slots__ = ("machine", "interp", "needed", "rpath", "runpath")

    def __init__(self, machine: int, interp: str | None, needed: tuple[str, ...],
                 rpath: tuple[str, ...], runpath: tuple[str, ...]) -> None:
        self.machine = machine
        self.interp = interp
        self.needed = needed
        self.rpath = rpath
        self.runpath = runpath


#: What this process read, once :func:`remember` was called: file -> facts, directory ->
#: its real path, and the loader cache.
_seen: dict[str, Elf | None] | None = None
_dirs: dict[str, str] | None = None
_cache: list[Cache] = []


def remember() -> None:
    """Keep what is read for the rest of this process: the pledge command's parent reads
    the program and the NSS modules' libraries, and its child (forked) the same again."""
    global _seen, _dirs
    if _seen is None:
        _seen, _dirs = {}, {}


def forget() -> None:
    """Stop keeping (and drop) what :func:`remember` kept."""
    global _seen, _dirs
    _seen = _dirs = None
    _cache.clear()


def read(path: str) -> Elf | None:
    """The ELF facts of *path*, or None when it is not a readable 64-bit LE ELF."""
    if _seen is None:
        return _read(path)
    if path not in _seen:
        _seen[path] = _read(path)
    return _seen[path]


def open_regular(path: str) -> BinaryIO:
    """*path* opened for reading when it is a regular file; else OSError. A file of
    another type is never opened at all: a FIFO or terminal named by a hostile ``#!``
    line or ``DT_NEEDED`` (``/dev/tty``) would hang the command or read what the user
    types, and a device's open is where its side effects are (``/dev/watchdog`` arms,
    a tape rewinds, a serial line raises DTR), done as root before PROG runs. On Linux
    the file is looked up once (``O_PATH``, which opens nothing), its type read from
    that descriptor, and the same inode reopened through it: a swap meanwhile changes
    nothing. Elsewhere a swap between the check and the open is caught after it."""
    if _O_PATH:
        ref = os.open(path, _O_PATH | os.O_CLOEXEC)
        try:
            _regular(os.fstat(ref), path)
            fd = os.open(f"/proc/self/fd/{ref}", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(ref)
    else:
        _regular(os.stat(path), path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _regular(os.fstat(fd), path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: Linux's O_PATH (0 where there is none: OpenBSD, FreeBSD's differs in what it allows)
_O_PATH = getattr(os, "O_PATH", 0) if os.uname().sysname == "Linux" else 0


def _regular(st: os.stat_result, path: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)


def _read(path: str) -> Elf | None:
    try:
        with open_regular(path) as f:
            data = f.read(64)
            if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
                return None
            machine, = struct.unpack_from("<H", data, 18)
            phoff, = struct.unpack_from("<Q", data, 32)
            phentsize, phnum = struct.unpack_from("<HH", data, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            loads: list[tuple[int, int, int]] = []
            interp, dynamic = None, None
            for i in range(phnum):
                kind, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", table,
                                                                    i * phentsize)
                if kind == PT_INTERP and interp is None:  # the kernel reads the first only
                    f.seek(off)
                    interp = f.read(filesz).rstrip(b"\0").decode()
                elif kind == PT_DYNAMIC:
                    dynamic = (off, filesz)
                elif kind == PT_LOAD:
                    loads.append((vaddr, off, filesz))
            if dynamic is None:
                return Elf(machine, interp, (), (), ())
            f.seek(dynamic[0])
            raw = f.read(dynamic[1])
            entries = [struct.unpack_from("<qQ", raw, i) for i in range(0, len(raw) - 15, 16)]
            # as ld.so reads them: up to DT_NULL, and of a tag it keeps one of (DT_STRTAB,
            # DT_RPATH, DT_RUNPATH) the last; what lies beyond, or an earlier twin, it
            # never uses, and neither may the default unveil
            ends = [i for i, (tag, _) in enumerate(entries) if tag == DT_NULL]
            entries = entries[:ends[0]] if ends else entries
            strtab = next((v for tag, v in reversed(entries) if tag == DT_STRTAB), None)
            # (segments are mapped in order, a later one over an earlier: the last holds it)
            base = next((off + strtab - vaddr for vaddr, off, size in reversed(loads)
                         if strtab is not None and vaddr <= strtab < vaddr + size), None)
            if base is None:
                return Elf(machine, interp, (), (), ())

            def string(at: int) -> str:
                f.seek(base + at)
                return f.read(4096).split(b"\0", 1)[0].decode(errors="replace")

            def named(tag: int) -> tuple[str, ...]:
                return tuple(string(v) for t, v in entries if t == tag)

            def split(items: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(p for s in items[-1:] for p in s.split(":") if p)

            return Elf(machine, interp, named(DT_NEEDED), split(named(DT_RPATH)),
                       split(named(DT_RUNPATH)))
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return None


class Cache:
    """glibc's loader cache, read only as far as asked: name -> every path it names
    (hwcaps variants too). Strings are found where they lie (ldconfig shares string
    tails), so only the entry table is unpacked, never the whole string table decoded."""

    def __init__(self, path: str = CACHE) -> None:
        self._data = b""
        self._start = 0
        self._by_key: dict[int, list[int]] = {}
        self._found: dict[str, tuple[str, ...]] = {}
        try:
            with open(path, "rb") as f:
                data = f.read()
            start = data.find(_CACHE_MAGIC)
            if start < 0:
                return
            nlibs, = struct.unpack_from("<I", data, start + 20)
            table = memoryview(data)[start + 48:start + 48 + 24 * nlibs]
            for _, key, value, _, _ in struct.iter_unpack("<iIIIQ", table):
                self._by_key.setdefault(key, []).append(value)
        except (OSError, struct.error, ValueError):
            self._by_key = {}
            return
        self._data, self._start = data, start

    def _string(self, at: int) -> str:
        begin = self._start + at
        return self._data[begin:self._data.index(b"\0", begin)].decode(errors="replace")

    def get(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Every path the cache names for library *name* (*default* when none)."""
        if name not in self._found:
            needle, out = name.encode() + b"\0", []
            at = self._data.find(needle, self._start)
            while at >= 0:
                for value in self._by_key.get(at - self._start, ()):
                    try:
                        out.append(self._string(value))
                    except ValueError:
                        continue
                at = self._data.find(needle, at + 1)
            self._found[name] = tuple(out)
        return self._found[name] or default


def cache(path: str = CACHE) -> Cache:
    """The loader cache at *path* (empty when unreadable or not glibc's new format)."""
    if _seen is None or path != CACHE:
        return Cache(path)
    if not _cache:
        _cache.append(Cache(path))
    return _cache[0]


def realpath(path: str, dirs: dict[str, str]) -> str:
    """os.path.realpath(*path*), its directory's answer kept in *dirs*: the libraries and
    files of a plan share a few directories, and realpath lstat()s every component."""
    full = os.path.abspath(path)
    head, tail = os.path.split(full)
    if not tail:
        return os.path.realpath(full)
    real = dirs.get(head)
    if real is None:
        real = dirs[head] = os.path.realpath(head)
    out = os.path.join(real, tail)
    return os.path.realpath(out) if os.path.islink(out) else out


def _expand(entry: str, origin: str) -> str:
    for token in ("$ORIGIN", "${ORIGIN}"):
        entry = entry.replace(token, origin)
    return entry


def _triplet_dirs(machine: int) -> tuple[str, ...]:
    triplet = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu"}.get(machine)
    return (f"/lib/{triplet}", f"/usr/lib/{triplet}") if triplet else ()


class Resolver:
    """DT_NEEDED names to files, as glibc's loader searches (poor_ldd, without running ld.so)."""

    def __init__(self, library_path: str = "") -> None:
        self.library_path = tuple(p for p in library_path.split(":") if p)
        self.cached = cache()
        self.seen: dict[str, Elf | None] = {} if _seen is None else _seen
        self.dirs: dict[str, str] = {} if _dirs is None else _dirs

    def real(self, path: str) -> str:
        """*path*'s real path (:func:`realpath`)."""
        return realpath(path, self.dirs)

    def elf(self, path: str) -> Elf | None:
        if path not in self.seen:
            self.seen[path] = read(path)
        return self.seen[path]

    def find(self, name: str, needer: str, info: Elf, rpath: tuple[str, ...]) -> list[str]:
        """Files the loader may map for *name* needed by *needer* (first hit, plus the cache's)."""
        if "/" in name:  # as named; still only an ELF file of its machine (a directory
            found = [name] if os.path.exists(name) else []  # named so would be unveiled)
        else:
            origin = os.path.dirname(needer)
            dirs = [*(() if info.runpath else rpath), *self.library_path, *info.runpath]
            found = [p for p in (os.path.join(_expand(d, origin), name) for d in dirs)
                     if os.path.exists(p)][:1]
            found += [p for p in self.cached.get(name, ()) if os.path.exists(p)]
            if not found:
                found = [p for p in (os.path.join(d, name) for d in
                                     (*_triplet_dirs(info.machine), *DEFAULT_DIRS))
                         if os.path.exists(p)][:1]
        return [p for p in found if (e := self.elf(p)) is not None and e.machine == info.machine]

    def closure(self, roots: list[str]) -> set[str]:
        """Every library the loader maps for *roots*, transitively (real paths)."""
        out: set[str] = set()
        todo: list[tuple[str, tuple[str, ...]]] = [(self.real(r), ()) for r in roots]
        done: set[str] = set()
        while todo:
            path, inherited = todo.pop()
            if path in done:
                continue
            done.add(path)
            info = self.elf(path)
            if info is None:
                continue
            origin = os.path.dirname(path)
            rpath = (*(_expand(d, origin) for d in info.rpath), *inherited)
            for name in info.needed:
                for lib in self.find(name, path, info, rpath):
                    real = self.real(lib)
                    out.add(real)
                    todo.append((real, rpath))
        return out
