"""Compiling the C test programs of tests/data/ into a directory every user can read."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CC = shutil.which("cc") or shutil.which("gcc")
DATA = Path(__file__).parent / "data"


@contextlib.contextmanager
def compiled(*sources: tuple[str, tuple[str, ...]]) -> Iterator[dict[str, Path]]:
    """Each ``(name, flags)`` built from ``tests/data/<name>.c``; skips without a compiler.

    The directory is mode 755 (pytest's temporary directories are root's only, and some
    programs run as nobody); it is removed afterwards."""
    if CC is None:
        pytest.skip("no C compiler for the test program")
    where = Path(tempfile.mkdtemp(prefix="pledgepy-c-"))
    try:
        where.chmod(0o755)
        built = {}
        for name, flags in sources:
            out = where / name
            subprocess.run([CC, "-O1", *flags, "-o", str(out), str(DATA / f"{name}.c")],
                           check=True)
            built[name] = out
        yield built
    finally:
        shutil.rmtree(where)
