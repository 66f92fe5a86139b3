"""Builds the Linux SIGSYS handler (cffi API mode) and Landlock's pre-parsed declarations."""

import sys

from setuptools import setup

cffi_modules = []
if sys.platform.startswith("linux"):
    cffi_modules.append("pledgepy/backends/linux/native/build.py:ffibuilder")
    cffi_modules.append("pledgepy/backends/linux/landlock/decls_build.py:ffibuilder")

setup(cffi_modules=cffi_modules)
