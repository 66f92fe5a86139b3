"""What each Landlock ABI version offers: one row per version, and the one probe.

Every decision that depends on the kernel's Landlock version reads a row of
:data:`ABIS` (go-landlock's ``abi_versions.go`` is the model) instead of
comparing version numbers. Constants are the kernel's uapi values
(``include/uapi/linux/landlock.h``), defined here because system headers may
be older than the running kernel.
"""

from __future__ import annotations

from ....record import Record

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
ACCESS_FS_REFER = 1 << 13
ACCESS_FS_TRUNCATE = 1 << 14
ACCESS_FS_IOCTL_DEV = 1 << 15

# --- network rights (handled_access_net) -------------------------------------
ACCESS_NET_BIND_TCP = 1 << 0
ACCESS_NET_CONNECT_TCP = 1 << 1

# --- scopes (ruleset attribute "scoped") -------------------------------------
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

# --- landlock_restrict_self() flags ------------------------------------------
RESTRICT_SELF_LOG_SAME_EXEC_OFF = 1 << 0
RESTRICT_SELF_LOG_NEW_EXEC_ON = 1 << 1
RESTRICT_SELF_LOG_SUBDOMAINS_OFF = 1 << 2
RESTRICT_SELF_TSYNC = 1 << 3

CREATE_RULESET_VERSION = 1 << 0

#: Rights a non-directory may carry; any other right on a file is EINVAL.
ACCESS_FILE = (ACCESS_FS_EXECUTE | ACCESS_FS_WRITE_FILE | ACCESS_FS_READ_FILE
               | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV)

#: Domains the kernel lets one process stack; one more restrict_self() is E2BIG.
MAX_LAYERS = 16

_FS1 = (1 << 13) - 1
_LOG = (RESTRICT_SELF_LOG_SAME_EXEC_OFF | RESTRICT_SELF_LOG_NEW_EXEC_ON
        | RESTRICT_SELF_LOG_SUBDOMAINS_OFF)
_SCOPES = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
_NET = ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP


class Features(Record):
    """What one Landlock ABI version can handle (each row includes the older ones)."""

    __slots__ = ()
    _fields = ("version", "kernel", "fs", "net", "scopes", "restrict_flags")
    version: int
    kernel: str
    fs: int
    net: int
    scopes: int
    restrict_flags: int

    def __new__(cls, version: int, kernel: str, fs: int, net: int, scopes: int,
                restrict_flags: int) -> Features:
        return tuple.__new__(cls, (version, kernel, fs, net, scopes, restrict_flags))

    @property
    def available(self) -> bool:
        return self.version > 0

    @property
    def refer(self) -> bool:
        """Renaming and linking across directories can be allowed."""
        return bool(self.fs & ACCESS_FS_REFER)

    @property
    def truncate(self) -> bool:
        """truncate(2) and O_TRUNC are rights of their own."""
        return bool(self.fs & ACCESS_FS_TRUNCATE)

    @property
    def abstract_unix_scope(self) -> bool:
        """Abstract unix sockets made outside the domain can be put out of reach."""
        return bool(self.scopes & SCOPE_ABSTRACT_UNIX_SOCKET)

    @property
    def tsync(self) -> bool:
        """restrict_self() can confine every thread of the process, not just the caller."""
        return bool(self.restrict_flags & RESTRICT_SELF_TSYNC)

    @property
    def scope_only_domain(self) -> bool:
        """A domain can handle no file access at all (only a scope), so open() pays nothing."""
        return self.scopes != 0


#: One row per ABI version; index = version. ABI 9 (FS_RESOLVE_UNIX) and 10 (UDP
#: rules) add nothing pledgepy uses yet, so their rows repeat ABI 8's rights.
ABIS: tuple[Features, ...] = (
    Features(0, "-", 0, 0, 0, 0),
    Features(1, "5.13", _FS1, 0, 0, 0),
    Features(2, "5.19", _FS1 | ACCESS_FS_REFER, 0, 0, 0),
    Features(3, "6.2", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE, 0, 0, 0),
    Features(4, "6.7", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE, _NET, 0, 0),
    Features(5, "6.10", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, 0, 0),
    Features(6, "6.12", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, _SCOPES, 0),
    Features(7, "6.15", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, _SCOPES, _LOG),
    Features(8, "7.0", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, _SCOPES, _LOG | RESTRICT_SELF_TSYNC),
    Features(9, "7.1", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, _SCOPES, _LOG | RESTRICT_SELF_TSYNC),
    Features(10, "7.2", _FS1 | ACCESS_FS_REFER | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV,
             _NET, _SCOPES, _LOG | RESTRICT_SELF_TSYNC),
)


def features(abi: int) -> Features:
    """The row for ABI *abi* (a newer kernel than the table: the newest row)."""
    if abi <= 0:
        return ABIS[0]
    return ABIS[min(abi, len(ABIS) - 1)]


_probed: tuple[int, str | None] | None = None


def probe() -> tuple[int, str | None]:
    """``(abi, reason)``: the kernel's Landlock ABI version, or 0 and why not.

    Asked once: the kernel cannot gain or lose Landlock while we run, and a
    later pledge may no longer allow the question.
    """
    global _probed
    if _probed is None:
        from . import ruleset

        try:
            _probed = (ruleset.version(), None)
        except ruleset.LandlockError as exc:
            if exc.errno == 38:  # ENOSYS
                _probed = (0, exc.strerror if not ruleset.loaded() else
                           "the kernel has no Landlock (ENOSYS)")
            elif exc.errno == 95:  # EOPNOTSUPP
                _probed = (0, "Landlock is built in but disabled at boot (EOPNOTSUPP)")
            else:
                _probed = (0, f"Landlock probe failed: {exc}")
    return _probed


def version() -> int:
    """The running kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    return probe()[0]


def current() -> Features:
    """The running kernel's row of :data:`ABIS`."""
    return features(version())
