"""The layering the README's Layout promises: backends are leaves, the front end uses
public names only. Read from the source (ast), so it holds for every platform's backend."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pledgepy"

#: Front-end modules a backend must never import (they import the backends).
FRONT_END = {"pledgepy", "pledgepy.api", "pledgepy.cli", "pledgepy.command", "pledgepy.imports",
             "pledgepy.runtime",
             "pledgepy.selftest", "pledgepy.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute name) for every import in *path*; `from X import n` gives X.n."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _front_end(name: str) -> bool:
    """Whether importing *name* reaches a front-end module (or the package's own names)."""
    if name in FRONT_END or any(name.startswith(f + ".") for f in FRONT_END - {"pledgepy"}):
        return True
    package, _, _ = name.rpartition(".")
    return package == "pledgepy" and not _is_module(name)  # `from pledgepy import pledge`


def _sources(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if not p.name.startswith("_decls"))


def test_the_import_resolver_sees_relative_imports() -> None:
    # the test below would pass vacuously if relative imports resolved wrongly
    linux = PACKAGE / "backends/linux/__init__.py"
    names = {m for _, m in _imports(linux)}
    assert "pledgepy.status.Gaps" in names and "pledgepy.backends.base.BackendBase" in names
    native = PACKAGE / "backends/linux/native/__init__.py"
    assert "pledgepy.errors.NativeBuildError" in {m for _, m in _imports(native)}
    assert _front_end("pledgepy.api.pledge") and _front_end("pledgepy.pledge")
    assert not _front_end("pledgepy.status.Gaps") and not _front_end("pledgepy.bsdpaths")


def test_backends_never_import_the_front_end() -> None:
    back_edges = []
    for path in _sources(PACKAGE / "backends"):
        for line, module in _imports(path):
            if _front_end(module):
                back_edges.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not back_edges, "\n".join(back_edges)


def test_front_end_uses_only_public_names_of_api() -> None:
    private = []
    for path in _sources(PACKAGE):
        if path.name == "api.py" or "backends" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "api" and node.attr.startswith("_")):
                private.append(f"{path.name}:{node.lineno} uses api.{node.attr}")
    assert not private, "\n".join(private)


def test_front_end_reaches_no_platform_module() -> None:
    # the front end talks to a backend through the Backend protocol only
    reached = []
    for path in _sources(PACKAGE):
        if "backends" in path.parts:
            continue
        for line, module in _imports(path):
            if module.startswith(("pledgepy.backends.linux", "pledgepy.backends.freebsd",
                                  "pledgepy.backends.openbsd")):
                reached.append(f"{path.name}:{line} imports {module}")
    assert not reached, "\n".join(reached)


def test_backend_methods_are_called_not_probed() -> None:
    # optional methods live in the Protocol with BackendBase defaults: no getattr probing
    src = (PACKAGE / "api.py").read_text() + (PACKAGE / "cli.py").read_text()
    tree = ast.parse(src)
    probes = [n.lineno for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ("getattr", "hasattr")]
    assert not probes, probes


def test_every_backend_derives_from_the_base() -> None:
    from pledgepy.backends.base import BackendBase
    from pledgepy.backends.freebsd import FreeBSDBackend
    from pledgepy.backends.openbsd import OpenBSDBackend
    from pledgepy.backends.unsupported import UnsupportedBackend

    classes = [FreeBSDBackend, OpenBSDBackend, UnsupportedBackend]
    import sys

    if sys.platform.startswith("linux"):
        from pledgepy.backends.linux import LinuxBackend

        classes.append(LinuxBackend)
    assert all(issubclass(c, BackendBase) for c in classes)


def test_no_typing_at_run_time_outside_the_worker() -> None:
    # a module loaded lazily under a pledge must not need typing (it may not be loaded,
    # and loading it then reads files the pledge forbids); it also costs start-up time
    offenders = []
    for path in _sources(PACKAGE):
        # the worker's parent side, the pledge command and learn mode's recorder run
        # unpledged when they import
        # (the command's own start-up cost is measured in benchmarks/)
        if {"worker", "command", "learn"} & set(path.parts):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "typing" or (
                    isinstance(node, ast.Import) and any(a.name == "typing" for a in node.names)):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, offenders
