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
import os
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
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
    # what it imports itself (subprocess: signal, selectors, ...) is looked up there too;
    # a thread importing meanwhile sees the same short path (pledge() runs early)
    saved = sys.path[:]
    sys.path[:] = where
    try:
        module = _bootstrap._load(spec)  # type: ignore[attr-defined]
    finally:
        sys.path[:] = saved
    return module
