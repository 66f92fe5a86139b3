"""Imports from the standard library's own directories alone, never through sys.path
(platform-neutral: the Worker's fence.py and the Linux exec wrappers' stdlib.py)."""

from __future__ import annotations

import _frozen_importlib as _bootstrap  # what `import` itself runs: nothing to load
import _frozen_importlib_external as _external
import _thread
import os
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])


def directories() -> list[str]:
    """Where the standard library's modules are: the directory of ``os`` and lib-dynload."""
    top = os.path.dirname(os.__file__)
    dynload = [os.path.join(top, "lib-dynload")]
    dynload += [p for p in sys.path if os.path.basename(p) == "lib-dynload" and p not in dynload]
    return [top, *dynload]


def after_workers(func: F) -> F:
    """*func*, whose imports come from the standard library's directories alone once a
    Worker has run in this process (worker/fence.py: a worker allowed to write a
    directory of sys.path may have planted a ``ctypes.py`` there; pledge() imported it,
    unconfined, before enforcing anything). The fence's module is looked up by name:
    not loaded, no worker ever ran, and the call costs one dict lookup. (Not
    functools.wraps: the command's start-up loads neither functools nor collections.)"""
    def fenced(*args: Any, **kwargs: Any) -> Any:
        fence = sys.modules.get("pledgepy.worker.fence")
        if fence is None or not fence.ran:
            return func(*args, **kwargs)
        with fence.Fence():
            return func(*args, **kwargs)
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(fenced, name, getattr(func, name))
    fenced.__wrapped__ = func  # type: ignore[attr-defined]  # inspect.signature's
    return fenced  # type: ignore[return-value]  # func's signature, through __wrapped__


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
