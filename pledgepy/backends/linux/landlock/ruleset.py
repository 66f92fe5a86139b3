"""A small Landlock layer: the three system calls over cffi in ABI mode.

No compiler is needed: ``syscall(2)`` and ``prctl(2)`` are called from the C
library already loaded in the process. Every call checks the return value
first and reads errno only when it is -1. What each ABI version offers is in
:mod:`.abi`; this module only makes the calls.
"""

from __future__ import annotations

import _thread
import os
import stat

from . import abi as A

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

#: Syscall numbers (create_ruleset, add_rule, restrict_self) by os.uname().machine.
#: They were added after the per-architecture tables were unified, so most
#: architectures share 444-446.
SYSCALLS: dict[str, tuple[int, int, int]] = {
    m: (444, 445, 446) for m in ("x86_64", "amd64", "i386", "i686", "aarch64", "arm64",
                                 "armv7l", "armv8l", "riscv64", "ppc64le", "ppc64", "s390x",
                                 "loongarch64")
}

_CDEF = """
long syscall(long number, ...);
int prctl(int option, ...);
struct landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};
"""

_CDEF_PACKED = """
struct landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
};
"""


class LandlockError(OSError):
    """A Landlock system call failed (``errno`` says why)."""



class _Lib:
    """The loaded C library and the syscall numbers (loaded once, lazily)."""

    def __init__(self) -> None:
        machine = os.uname().machine.lower()
        if machine not in SYSCALLS:
            raise LandlockError(38, f"no Landlock syscall numbers known for {machine!r}")
        self.numbers = SYSCALLS[machine]
        try:  # declarations parsed at build time (decls_build.py)
            from ._decls import ffi
        except ImportError:  # a source checkout that was not built: parse them now
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(_CDEF)
            ffi.cdef(_CDEF_PACKED, packed=True)
        self.ffi = ffi
        self.c = ffi.dlopen(None)

    def call(self, index: int, *args: Any) -> int:
        """``syscall(numbers[index], args...)``; raise LandlockError on -1."""
        ffi = self.ffi
        cargs = [a if isinstance(a, ffi.CData) else ffi.cast("long", a) for a in args]
        ret = int(self.c.syscall(ffi.cast("long", self.numbers[index]), *cargs))
        if ret == -1:
            err = ffi.errno
            raise LandlockError(err, os.strerror(err))
        return ret


_lib: _Lib | None = None
_lib_error: str | None = None
_lib_lock = _thread.allocate_lock()


def _load() -> _Lib:
    global _lib, _lib_error
    with _lib_lock:
        if _lib is None:
            if _lib_error is not None:
                raise LandlockError(38, _lib_error)
            try:
                _lib = _Lib()
            except (ImportError, OSError) as exc:
                _lib_error = f"cannot call Landlock: {exc}"
                raise LandlockError(38, _lib_error) from exc
        return _lib


def loaded() -> bool:
    """True once the C library has been loaded."""
    return _lib is not None


def version() -> int:
    """``landlock_create_ruleset(NULL, 0, VERSION)``: the ABI version (raises without one)."""
    lib = _load()
    return lib.call(0, lib.ffi.NULL, 0, A.CREATE_RULESET_VERSION)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``: required before restrict_self without CAP_SYS_ADMIN."""
    lib = _load()
    ffi = lib.ffi
    z = ffi.cast("long", 0)
    ret = int(lib.c.prctl(PR_SET_NO_NEW_PRIVS, ffi.cast("long", 1), z, z, z))
    if ret == -1:
        err = ffi.errno
        raise OSError(err, os.strerror(err))


class Ruleset:
    """One Landlock ruleset fd; a context manager that always closes it.

    ``handled_fs`` is masked to what the kernel knows unless ``exact`` is true,
    in which case an unknown right is the kernel's EINVAL.
    """

    def __init__(self, handled_fs: int, scoped: int = 0, *, exact: bool = False) -> None:
        self._lib = _load()
        abi, why = A.probe()
        if abi == 0:
            raise LandlockError(38, why or "Landlock unavailable")
        if not exact:
            row = A.features(abi)
            handled_fs &= row.fs
            scoped &= row.scopes
        self.handled_fs = handled_fs
        self.scoped = scoped
        ffi = self._lib.ffi
        attr = ffi.new("struct landlock_ruleset_attr *")
        attr.handled_access_fs = handled_fs
        attr.scoped = scoped
        # Older kernels reject a bigger struct only if its extra bytes are non-zero.
        size = ffi.sizeof("struct landlock_ruleset_attr") if scoped else 8
        self.fd: int = self._lib.call(0, attr, size, 0)

    def __enter__(self) -> Ruleset:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once the fd is closed."""
        return self.fd < 0

    def close(self) -> None:
        """Close the ruleset fd (idempotent)."""
        fd = getattr(self, "fd", -1)
        if fd >= 0:
            self.fd = -1
            os.close(fd)

    def _check_open(self) -> None:
        if self.fd < 0:
            raise ValueError("the Landlock ruleset is closed")

    def add_fd(self, fd: int, access: int) -> None:
        """Allow *access* beneath the open file *fd* (exactly as given; no masking)."""
        self._check_open()
        ffi = self._lib.ffi
        attr = ffi.new("struct landlock_path_beneath_attr *")
        attr.allowed_access = access
        attr.parent_fd = fd
        self._lib.call(1, self.fd, RULE_PATH_BENEATH, attr, 0)

    def add_path(self, path: str | os.PathLike[str], access: int) -> int:
        """Allow *access* beneath *path* (symlinks followed); return the rights granted.

        Rights are masked to those the ruleset handles, and for a
        non-directory to file rights (so a single file never gives EINVAL).
        Granting nothing adds no rule. The O_PATH fd is always closed.
        """
        self._check_open()
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            access &= self.handled_fs
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                access &= A.ACCESS_FILE
            if access:
                self.add_fd(fd, access)
            return access
        finally:
            os.close(fd)

    def restrict_self(self, flags: int = 0, *, no_new_privs: bool = True) -> None:
        """Enforce the ruleset on the calling thread (all threads with TSYNC)."""
        self._check_open()
        if no_new_privs:
            set_no_new_privs()
        self._lib.call(2, self.fd, flags)
