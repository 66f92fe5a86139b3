"""What the dynamic loader will open for an ELF program: PT_INTERP, DT_NEEDED, search paths.

Only 64-bit little-endian ELF is read (x86_64, aarch64); anything else is
"not ELF" here, so the caller falls back to what it can tell without it.
"""

from __future__ import annotations

import os
import struct

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
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


def read(path: str) -> Elf | None:
    """The ELF facts of *path*, or None when it is not a readable 64-bit LE ELF."""
    try:
        with open(path, "rb") as f:
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
                if kind == PT_INTERP:
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
            strtab = next((v for tag, v in entries if tag == DT_STRTAB), None)
            base = next((off + strtab - vaddr for vaddr, off, size in loads
                         if strtab is not None and vaddr <= strtab < vaddr + size), None)
            if base is None:
                return Elf(machine, interp, (), (), ())

            def string(at: int) -> str:
                f.seek(base + at)
                return f.read(4096).split(b"\0", 1)[0].decode(errors="replace")

            def named(tag: int) -> tuple[str, ...]:
                return tuple(string(v) for t, v in entries if t == tag)

            def split(items: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(p for s in items for p in s.split(":") if p)

            return Elf(machine, interp, named(DT_NEEDED), split(named(DT_RPATH)),
                       split(named(DT_RUNPATH)))
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return None


def cache(path: str = CACHE) -> dict[str, tuple[str, ...]]:
    """Library name -> every path glibc's loader cache names for it (hwcaps variants too)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    start = data.find(_CACHE_MAGIC)
    if start < 0:
        return {}
    try:
        nlibs, = struct.unpack_from("<I", data, start + 20)
        out: dict[str, list[str]] = {}

        def string(at: int) -> str:
            end = data.index(b"\0", start + at)
            return data[start + at:end].decode(errors="replace")

        for i in range(nlibs):
            _, key, value = struct.unpack_from("<iII", data, start + 48 + 24 * i)
            out.setdefault(string(key), []).append(string(value))
    except (struct.error, ValueError):
        return {}
    return {k: tuple(v) for k, v in out.items()}


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
        self.seen: dict[str, Elf | None] = {}

    def elf(self, path: str) -> Elf | None:
        if path not in self.seen:
            self.seen[path] = read(path)
        return self.seen[path]

    def find(self, name: str, needer: str, info: Elf, rpath: tuple[str, ...]) -> list[str]:
        """Files the loader may map for *name* needed by *needer* (first hit, plus the cache's)."""
        if "/" in name:
            return [name] if os.path.exists(name) else []
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
        todo: list[tuple[str, tuple[str, ...]]] = [(os.path.realpath(r), ()) for r in roots]
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
                    real = os.path.realpath(lib)
                    out.add(real)
                    todo.append((real, rpath))
        return out
