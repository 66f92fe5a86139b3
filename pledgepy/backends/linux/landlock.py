"""A small Landlock layer: the three system calls over cffi in ABI mode.

No compiler is needed: ``syscall(2)`` and ``prctl(2)`` are called from the C
library already loaded in the process. Every call checks the return value
first and reads errno only when it is -1. Constants are the kernel's uapi
values (``include/uapi/linux/landlock.h``), defined here because system
headers may be older than the running kernel.
"""

from __future__ import annotations

import os
import stat
import threading
from types import TracebackType
from typing import Any

# --- access rights for files and directories (handled_access_fs) -----------
ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_REMOVE_DIR = 1 << 4
ACCESS_FS_REMOVE_FILE = 1 << 5
ACCESS_FS_MAKE_CHAR = 1 << 6
ACCESS_FS_MAKE_DIR = 1 << 7
ACCESS_FS_MAKE_REG = 1 << 8
ACCESS_FS_MAKE_SOCK = 1 << 9
ACCESS_FS_MAKE_FIFO = 1 << 10
ACCESS_FS_MAKE_BLOCK = 1 << 11
ACCESS_FS_MAKE_SYM = 1 << 12
ACCESS_FS_REFER = 1 << 13  # ABI 2
ACCESS_FS_TRUNCATE = 1 << 14  # ABI 3
ACCESS_FS_IOCTL_DEV = 1 << 15  # ABI 5

# --- scopes (ruleset attribute "scoped", ABI 6) ------------------------------
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

# --- flags -------------------------------------------------------------------
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
RESTRICT_SELF_LOG_SAME_EXEC_OFF = 1 << 0  # ABI 7
RESTRICT_SELF_LOG_NEW_EXEC_ON = 1 << 1  # ABI 7
RESTRICT_SELF_LOG_SUBDOMAINS_OFF = 1 << 2  # ABI 7
RESTRICT_SELF_TSYNC = 1 << 3  # ABI 8: every thread of the process

PR_SET_NO_NEW_PRIVS = 38

#: Rights a non-directory may carry; any other right on a file is EINVAL.
ACCESS_FILE = (ACCESS_FS_EXECUTE | ACCESS_FS_WRITE_FILE | ACCESS_FS_READ_FILE
               | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV)

#: Filesystem rights each ABI version knows (each includes the older ones).
_ABI1_FS = (1 << 13) - 1
FS_RIGHTS_BY_ABI: dict[int, int] = {
    1: _ABI1_FS,
    2: _ABI1_FS | ACCESS_FS_REFER,
    3: _ABI1_FS | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE,
    4: _ABI1_FS | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE,
    5: _ABI1_FS | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
}

#: Syscall numbers (create_ruleset, add_rule, restrict_self) by os.uname().machine.
#: They were added after the per-architecture tables were unified, so most
#: architectures share 444-446.
SYSCALLS: dict[str, tuple[int, int, int]] = {
    "x86_64": (444, 445, 446),
    "amd64": (444, 445, 446),
    "i386": (444, 445, 446),
    "i686": (444, 445, 446),
    "aarch64": (444, 445, 446),
    "arm64": (444, 445, 446),
    "armv7l": (444, 445, 446),
    "armv8l": (444, 445, 446),
    "riscv64": (444, 445, 446),
    "ppc64le": (444, 445, 446),
    "ppc64": (444, 445, 446),
    "s390x": (444, 445, 446),
    "loongarch64": (444, 445, 446),
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


def fs_rights(abi: int) -> int:
    """All filesystem rights Landlock ABI *abi* can handle (0 for no Landlock)."""
    if abi <= 0:
        return 0
    return FS_RIGHTS_BY_ABI.get(abi, FS_RIGHTS_BY_ABI[5])


def scopes(abi: int) -> int:
    """All scopes Landlock ABI *abi* can handle."""
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0


class _Lib:
    """The loaded C library and the syscall numbers (loaded once, lazily)."""

    def __init__(self) -> None:
        machine = os.uname().machine.lower()
        if machine not in SYSCALLS:
            raise LandlockError(38, f"no Landlock syscall numbers known for {machine!r}")
        self.numbers = SYSCALLS[machine]
        try:  # declarations parsed at build time (landlock_build.py)
            from ._landlock_cffi import ffi
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
_lib_lock = threading.Lock()


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


_abi: tuple[int, str | None] | None = None


def probe() -> tuple[int, str | None]:
    """``(abi, reason)``: the kernel's Landlock ABI version, or 0 and why not.

    Cached: the kernel cannot gain or lose Landlock while we run.
    """
    global _abi
    if _abi is None:
        try:
            lib = _load()
            ver = lib.call(0, lib.ffi.NULL, 0, CREATE_RULESET_VERSION)
            _abi = (ver, None)
        except LandlockError as exc:
            if exc.errno == 38:  # ENOSYS
                _abi = (0, exc.strerror if _lib is None else
                        "the kernel has no Landlock (ENOSYS)")
            elif exc.errno == 95:  # EOPNOTSUPP
                _abi = (0, "Landlock is built in but disabled at boot (EOPNOTSUPP)")
            else:
                _abi = (0, f"Landlock probe failed: {exc}")
    return _abi


def abi_version() -> int:
    """The running kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    return probe()[0]


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
        abi = abi_version()
        if abi == 0:
            raise LandlockError(38, probe()[1] or "Landlock unavailable")
        if not exact:
            handled_fs &= fs_rights(abi)
            scoped &= scopes(abi)
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
                access &= ACCESS_FILE
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
