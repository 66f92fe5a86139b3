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
import sys

from ....stdlibonly import OnlyThere, directories

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["OnlyThere", "directories", "load"]


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
