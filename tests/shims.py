"""Programs on disk that stand in front of another: a pyenv-style shim."""

from __future__ import annotations

from pathlib import Path


def pyenv_shim(base: Path) -> tuple[Path, Path, Path]:
    """A pyenv tree under *base* whose shims/python3 runs libexec/pyenv (which only
    prints "ran-pyenv"): (root, the pyenv script, the shim)."""
    root = base / "pyenv"
    (root / "shims").mkdir(parents=True)
    (root / "libexec").mkdir()
    pyenv = root / "libexec" / "pyenv"
    pyenv.write_text("#!/bin/sh\necho ran-pyenv\n")
    shim = root / "shims" / "python3"
    shim.write_text(f"#!/bin/sh\nexec {pyenv} exec python3 \"$@\"\n")
    for f in (pyenv, shim):
        f.chmod(0o755)
    return root, pyenv, shim
