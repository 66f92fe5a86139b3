"""Standard-library modules loaded from the interpreter's own directories, never
through sys.path.

The exec wrappers may be prepared late: at a pledge that follows an unveil lock whose
rules keep them readable. By then the program's first sys.path entries (its script's
directory, the working directory for ``-c``) may be writable under those rules, and a
module planted there with a standard name (``mmap.py``) would run, unsandboxed, inside
pledge() if it were imported the ordinary way. Built-in modules come from the
interpreter itself; the others only from the directory of ``os`` and lib-dynload.
"""

from __future__ import annotations

import _frozen_importlib as _bootstrap  # what `import` itself runs: nothing to load
import _frozen_importlib_external as _external
import _thread
import os
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType


def directories() -> list[str]:
    """Where the standard library's modules are: the directory of ``os`` and lib-dynload."""
    top = os.path.dirname(os.__file__)
    dynload = [os.path.join(top, "lib-dynload")]
    dynload += [p for p in sys.path if os.path.basename(p) == "lib-dynload" and p not in dynload]
    return [top, *dynload]


def load(name: str) -> ModuleType:
    """The module *name* (a top-level one): already loaded, built in, or found in
    :func:`directories` alone. ImportError when it is not there (or cannot be read)."""
    got = sys.modules.get(name)
    if got is not None:
        return got
    if name in sys.builtin_module_names:
        spec = _bootstrap.BuiltinImporter.find_spec(name)
        module: ModuleType = _bootstrap._load(spec)  # type: ignore[attr-defined]
        return module
    where = directories()
    spec = _external.PathFinder.find_spec(name, where)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r} in the standard library's "
                                  f"directories ({', '.join(where)})", name=name)
    # what it imports itself (subprocess: signal, selectors, ...) is looked up there too,
    # by this thread only: sys.path stays as it is for the others (narrowing it made a
    # thread importing its own module meanwhile fail with ModuleNotFoundError)
    only = OnlyThere(where)
    sys.meta_path.insert(0, only)
    try:
        module = _bootstrap._load(spec)  # type: ignore[attr-defined]
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not only]
    return module


class OnlyThere:
    """First on sys.meta_path while :func:`load` runs: the loading thread's top-level
    imports come from *where* alone (never through sys.path); other threads' pass."""

    def __init__(self, where: list[str]) -> None:
        self.where = where
        self.thread = _thread.get_ident()

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if _thread.get_ident() != self.thread or path is not None:
            return None  # another thread's, or a submodule (its package's __path__)
        if name in sys.builtin_module_names or _bootstrap.FrozenImporter.find_spec(name):
            return None  # built in or frozen: the import system's own importers, next
        spec: ModuleSpec | None = _external.PathFinder.find_spec(name, self.where)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {name!r} in the standard "
                                      f"library's directories ({', '.join(self.where)})",
                                      name=name)
        return spec
