"""Round 10 (start-up): the native build's check hashes in C, the same digest as before.

A wheel's files never carry the build's stamp, so every start of an installed pledgepy
hashes its sources (native/digest.py). The module now does that itself
(native/digest.c); the Python :func:`digest.compute` stays the reference and the
build's, so the two must agree byte for byte on every input, and a stale source must
still be refused.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pledgepy.backends.linux import native
from pledgepy.backends.linux.native import digest

pytestmark = pytest.mark.skipif(native.load() is None, reason="the native module is not built")

ROOT = Path(__file__).resolve().parent.parent


def _c(root: Path) -> str:
    """The module's digest of *root* (raises OSError as digest.current does)."""
    mod = native.load()
    assert mod is not None
    return digest.current("built", digest.UNTRUSTED, str(root), lib=mod.lib, ffi=mod.ffi)


def _tree(root: Path, sizes: list[int], seed: int) -> None:
    rng = random.Random(seed)
    for name, size in zip(digest.SOURCES, sizes, strict=True):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rng.randbytes(size))


#: Around BLAKE2b's 128-byte block (a full last block is the one flagged final) and the
#: C reader's 64 KiB first buffer, and empty files.
EDGES = [0, 1, 127, 128, 129, 255, 256, 257, 65535, 65536, 65537, 200_003]


@pytest.mark.parametrize("seed", range(6))
def test_the_module_hashes_exactly_as_digest_compute(tmp_path: Path, seed: int) -> None:
    """Fails on main before round 10: the module had no pp_sources_digest."""
    rng = random.Random(seed)
    sizes = [rng.choice(EDGES) for _ in digest.SOURCES]
    if seed == 0:
        sizes = [0] * len(sizes)  # nothing but the names and lengths
    _tree(tmp_path, sizes, seed)
    assert _c(tmp_path) == digest.compute(str(tmp_path))


def test_the_installed_sources_give_the_built_digest() -> None:
    mod = native.load()
    assert mod is not None
    built = mod.ffi.string(mod.lib.pp_tables_digest()).decode()
    assert _c(Path(digest._PACKAGE)) == digest.compute() == built


def test_an_edit_is_caught_by_the_module(tmp_path: Path) -> None:
    _tree(tmp_path, [300] * len(digest.SOURCES), 7)
    built = digest.compute(str(tmp_path))
    policy = tmp_path / "backends/linux/policy.py"
    data = bytearray(policy.read_bytes())
    data[-1] ^= 1  # same size, last byte
    policy.write_bytes(bytes(data))
    assert _c(tmp_path) == digest.compute(str(tmp_path)) != built


def test_a_missing_source_is_an_error_not_a_digest(tmp_path: Path) -> None:
    _tree(tmp_path, [10] * len(digest.SOURCES), 8)
    (tmp_path / digest.SOURCES[-1]).unlink()
    with pytest.raises(FileNotFoundError):
        _c(tmp_path)
    with pytest.raises(FileNotFoundError):
        _c(tmp_path / "nowhere")


def test_the_check_is_covered_by_itself() -> None:
    # digest.c is compiled into the module: an edit of it without a rebuild is stale too
    assert "backends/linux/native/digest.c" in digest.SOURCES


def test_loading_an_installed_copy_hashes_without_blake2() -> None:
    """A load whose stamp is not the build's (every wheel) no longer imports _blake2.
    Fails on main before round 10 (the hash was _blake2's)."""
    code = ("import sys\nfrom pledgepy.backends.linux import native\n"
            "from pledgepy.backends.linux.native import digest\n"
            "digest.stamp = lambda *a, **k: 'not the build stamp'\n"
            "assert native.load() is not None\n"
            "print('_blake2' in sys.modules, 'hashlib' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"], r.stdout


def test_the_shim_digest_is_the_builds_by_either_hash() -> None:
    """setup.py's digest of the shim's sources, the native module's and the Python
    reference agree (fails on main before round 10: setup.py's was SHA-256)."""
    from pledgepy.backends.linux.exec import shim

    mod = native.load()
    assert mod is not None
    path = shim.library()
    data = Path(path).read_bytes()
    at = data.index(b"PLEDGEPY-SHIM-DIGEST:") + len(b"PLEDGEPY-SHIM-DIGEST:")
    built = data[at:data.index(b";", at)].decode()
    assert digest.hashed(digest._PACKAGE, shim.SOURCES, mod.lib, mod.ffi) == built
    assert digest.compute(digest._PACKAGE, shim.SOURCES) == built
