"""Builds the Linux SIGSYS handler (cffi API mode), Landlock's pre-parsed declarations and
the pledge command's start-up shim (a plain shared object, preloaded into programs)."""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup

#: What the shim's digest covers: its source and the Python half of its protocol
#: (pledgepy.backends.linux.exec.shim recomputes it and refuses a stale build).
SHIM_SOURCES = ("pledgepy/backends/linux/native/shim.c", "pledgepy/backends/linux/exec/shim.py")


def _shim_digest() -> str:
    """BLAKE2b-256 over each file's name (relative to the package), length and bytes, as
    pledgepy.backends.linux.native.digest.compute() (and the native module) compute it."""
    h = hashlib.blake2b(digest_size=32)
    for name in SHIM_SOURCES:
        data = (Path(__file__).resolve().parent / name).read_bytes()
        h.update(f"{name.removeprefix('pledgepy/')}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


cffi_modules = []
ext_modules = []
if sys.platform.startswith("linux"):
    cffi_modules.append("pledgepy/backends/linux/native/build.py:ffibuilder")
    cffi_modules.append("pledgepy/backends/linux/landlock/decls_build.py:ffibuilder")
    # Not a Python module (nothing imports it): an extension only so that setuptools
    # compiles it with the same compiler, beside the handler, into the package.
    ext_modules.append(Extension(
        "pledgepy.backends.linux.native._shim", [SHIM_SOURCES[0]],
        libraries=["dl"],  # dlopen: in libc since glibc 2.34, libdl before
        define_macros=[("PP_SHIM_DIGEST", f'"{_shim_digest()}"')],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"]))

setup(cffi_modules=cffi_modules, ext_modules=ext_modules)
