"""Builds the one native piece: the Linux SIGSYS handler (cffi, API mode)."""

import sys

from setuptools import setup

cffi_modules = []
if sys.platform.startswith("linux"):
    cffi_modules.append("pledgepy/backends/linux/sigsys_build.py:ffibuilder")

setup(cffi_modules=cffi_modules)
