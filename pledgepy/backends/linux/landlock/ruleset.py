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
    """The three Landlock syscalls and NO_NEW_PRIVS through cffi's ABI mode (libc's
    ``syscall``), loaded once, lazily: what works without the native module."""

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

    def create(self, handled_fs: int, scoped: int, size: int, flags: int) -> int:
        """landlock_create_ruleset (*size* 0: no attributes, as the version query)."""
        if not size:
            return self.call(0, self.ffi.NULL, 0, flags)
        attr = self.ffi.new("struct landlock_ruleset_attr *")
        attr.handled_access_fs = handled_fs
        attr.scoped = scoped
        return self.call(0, attr, size, flags)

    def add_beneath(self, ruleset_fd: int, access: int, parent_fd: int) -> None:
        attr = self.ffi.new("struct landlock_path_beneath_attr *")
        attr.allowed_access = access
        attr.parent_fd = parent_fd
        self.call(1, ruleset_fd, RULE_PATH_BENEATH, attr, 0)

    def restrict(self, ruleset_fd: int, flags: int) -> None:
        self.call(2, ruleset_fd, flags)

    def no_new_privs(self) -> None:
        ffi = self.ffi
        z = ffi.cast("long", 0)
        ret = int(self.c.prctl(PR_SET_NO_NEW_PRIVS, ffi.cast("long", 1), z, z, z))
        if ret == -1:
            err = ffi.errno
            raise OSError(err, os.strerror(err))


class _Native:
    """:class:`_Lib`'s calls in the native module (cffi API mode): no declarations to
    load, no dlopen, and each call a plain C function (about a tenth of the cost)."""

    def __init__(self, lib: Any) -> None:
        self.c = lib

    @staticmethod
    def _check(ret: int) -> int:
        if ret < 0:
            raise LandlockError(-ret, os.strerror(-ret))
        return ret

    def create(self, handled_fs: int, scoped: int, size: int, flags: int) -> int:
        return self._check(int(self.c.pp_ll_create_ruleset(handled_fs, scoped, size, flags)))

    def add_beneath(self, ruleset_fd: int, access: int, parent_fd: int) -> None:
        self._check(int(self.c.pp_ll_add_path_beneath(ruleset_fd, access, parent_fd)))

    def restrict(self, ruleset_fd: int, flags: int) -> None:
        self._check(int(self.c.pp_ll_restrict_self(ruleset_fd, flags)))

    def no_new_privs(self) -> None:
        ret = int(self.c.pp_set_no_new_privs())
        if ret < 0:
            raise OSError(-ret, os.strerror(-ret))


def _native() -> _Native | None:
    """The native module's calls once its loader has checked it (native.load()),
    else None: a stale or missing build leaves Landlock to :class:`_Lib`."""
    from .. import native

    lib = native.checked_lib()
    if lib is None or not hasattr(lib, "pp_ll_create_ruleset"):
        return None
    machine = os.uname().machine.lower()
    if SYSCALLS.get(machine) != (444, 445, 446):  # the numbers the module was built with
        return None
    return _Native(lib)


_lib: _Lib | _Native | None = None
_lib_error: str | None = None
_lib_lock = _thread.allocate_lock()


def _load() -> _Lib | _Native:
    global _lib, _lib_error
    with _lib_lock:
        if _lib is None:
            if _lib_error is not None:
                raise LandlockError(38, _lib_error)
            try:
                _lib = _native() or _Lib()
            except (ImportError, OSError) as exc:
                _lib_error = f"cannot call Landlock: {exc}"
                raise LandlockError(38, _lib_error) from exc
        return _lib


def loaded() -> bool:
    """True once the C library has been loaded."""
    return _lib is not None


def version() -> int:
    """``landlock_create_ruleset(NULL, 0, VERSION)``: the ABI version (raises without one)."""
    return _load().create(0, 0, 0, A.CREATE_RULESET_VERSION)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``: required before restrict_self without CAP_SYS_ADMIN."""
    _load().no_new_privs()


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
        # Older kernels reject a bigger struct only if its extra bytes are non-zero.
        size = 24 if scoped else 8  # sizeof(struct landlock_ruleset_attr): three u64
        self.fd: int = self._lib.create(handled_fs, scoped, size, 0)

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
        self._lib.add_beneath(self.fd, access, fd)

    def add_fds(self, rules: list[tuple[int, int]]) -> None:
        """:meth:`add_fd` for each (fd, access) of *rules*, in one loop."""
        self._check_open()
        add, me = self._lib.add_beneath, self.fd
        for fd, access in rules:
            add(me, access, fd)

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
        self._lib.restrict(self.fd, flags)
