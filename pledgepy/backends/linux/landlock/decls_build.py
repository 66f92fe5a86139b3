"""cffi build script: Landlock's declarations, pre-parsed (out-of-line ABI mode).

Produces ``pledgepy.backends.linux.landlock._decls`` (pure Python, no compiler), so the
first unveil() does not pay for parsing C declarations with pycparser at run time.
"""

import sys
from pathlib import Path

from cffi import FFI

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from pledgepy.backends.linux.landlock.ruleset import _CDEF, _CDEF_PACKED  # noqa: E402

ffibuilder = FFI()
ffibuilder.cdef(_CDEF)
ffibuilder.cdef(_CDEF_PACKED, packed=True)
ffibuilder.set_source("pledgepy.backends.linux.landlock._decls", None)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
