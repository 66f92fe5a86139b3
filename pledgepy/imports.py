"""unveil_imports(): keep lazy ``import`` working under unveil.

Python imports modules long after start-up. Once unveil is in force, every
directory the import system reads from must be unveiled, read-only.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig

#: Directories the dynamic loader searches for the libraries extension modules link.
_LOADER_DIRS: tuple[str, ...] = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
_LOADER_FILES: tuple[str, ...] = ("/etc/ld.so.cache",)


def _mapped_libraries() -> set[str]:
    """Directories of shared objects mapped into this process (Linux: /proc/self/maps)."""
    dirs: set[str] = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/") and ".so" in parts[5]:
                    dirs.add(os.path.dirname(parts[5].rstrip("\n")))
    except OSError:
        pass
    return dirs


def _candidates() -> list[str]:
    found: list[str] = []
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            found.append(path)
    found.extend(_dynload_dirs())
    try:
        found.extend(site.getsitepackages())
    except AttributeError:  # pragma: no cover - old virtualenv site.py
        pass
    found.extend(p if p else os.getcwd() for p in sys.path if isinstance(p, str))
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith((".so", ".pyd")):
            found.append(os.path.dirname(file))
    if sys.platform.startswith("linux"):
        found.extend(sorted(_mapped_libraries()))
        found.extend(_LOADER_DIRS)
        for var in ("LIBDIR", "MULTIARCH"):
            value = sysconfig.get_config_var(var)
            if isinstance(value, str) and value:
                found.append(value if var == "LIBDIR" else os.path.join("/usr/lib", value))
        found.extend(_LOADER_FILES)
    return found


def import_paths() -> list[tuple[str, str]]:
    """``(path, "r")`` for every existing place this interpreter imports from.

    The standard library and ``lib-dynload``, site-packages, each existing
    ``sys.path`` entry (directories and zip files), the directories of loaded
    extension modules and, on Linux, of the shared libraries they and the
    interpreter use plus the loader's search directories and cache. Paths
    inside another listed path are dropped. Not the whole ``sys.prefix``,
    which is often ``/usr``.
    """
    real: dict[str, str] = {}
    for path in _candidates():
        full = os.path.abspath(path)
        if os.path.exists(full):
            real.setdefault(os.path.realpath(full), full)
    keep: list[tuple[str, str]] = []
    for resolved in sorted(real):
        node = resolved
        covered = False
        while node != "/":
            node = os.path.dirname(node)
            if node in real:
                covered = True
                break
        if not covered:
            keep.append((resolved, "r"))
    return keep


_preloaded: list[object] = []


def preload_extensions() -> int:
    """Map the standard library's extension modules now; return how many.

    The loader maps an extension module with PROT_EXEC, which needs the
    ``prot_exec`` promise. A module mapped before the pledge is found again
    by its path, so a later ``import json`` (``_json``) needs only rpath.
    Extension modules outside the standard library are not touched.
    """
    import ctypes
    import importlib.machinery

    if _preloaded:
        return len(_preloaded)
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for dynload in _dynload_dirs():
        try:
            names = sorted(os.listdir(dynload))
        except OSError:
            continue
        for name in names:
            if not name.endswith(suffixes) or name.startswith(("_test", "_ctypes_test", "xx")):
                continue
            try:
                _preloaded.append(ctypes.CDLL(os.path.join(dynload, name),
                                              mode=os.RTLD_NOW | os.RTLD_LOCAL))
            except OSError:
                continue  # a library it links is missing: importing it would fail anyway
    return len(_preloaded)


def _dynload_dirs() -> list[str]:
    """Where the standard library's extension modules are, as the importer names them.

    The loader finds an already-mapped module by the path it was opened with,
    so these must be the very ``sys.path`` entries (in a venv, sysconfig's
    ``platstdlib`` points into the venv instead).
    """
    found = [p for p in sys.path if isinstance(p, str) and os.path.basename(p) == "lib-dynload"]
    shared = sysconfig.get_config_var("DESTSHARED")
    if not found and isinstance(shared, str):
        found.append(shared)
    return found


def unveil_imports(*, strict: bool | None = None) -> list[tuple[str, str]]:
    """Unveil, read-only, what this interpreter needs to import modules; return the rules.

    A path already unveiled keeps its letters and gains ``r``. The standard
    library's extension modules are mapped now (:func:`preload_extensions`),
    so importing them later needs ``rpath`` but not ``prot_exec``. Call before
    the lock (``unveil(None, None)`` or a pledge() without ``unveil``);
    afterwards ``unveil()`` raises ``PermissionError``.
    """
    from . import api

    preload_extensions()

    done: list[tuple[str, str]] = []
    for path, letters in import_paths():
        old = {r.path: r.permissions for r in api.unveil_rules()}.get(path, "")
        merged = "".join(c for c in api.UNVEIL_LETTERS if c in old or c in letters)
        api.unveil(path, merged, strict=strict)
        done.append((path, merged))
    return done
