"""Capsicum ``cap_rights_t`` words built in Python from FreeBSD's constants.

A right is ``CAPRIGHT(idx, bit) = (1 << (57 + idx)) | bit``: bits 57-61 say
which of the two 64-bit words it belongs to (bit 57: word 0, bit 58: word 1),
and the top two bits of word 0 hold the struct version (0 for two words).
Building the words here avoids the variadic ``__cap_rights_init`` and lets a
malformed right raise ``ValueError`` instead of aborting in libc's assert.
Values are from ``sys/sys/capsicum.h`` (see ``tests/data/freebsd_rights.tsv``).
"""

from __future__ import annotations

from dataclasses import dataclass

CAP_RIGHTS_VERSION = 0
_INDEX_SHIFT = 57
_INDEX_MASK = 0x1F << _INDEX_SHIFT  # bits 57..61
_VERSION_SHIFT = 62


def CAPRIGHT(idx: int, bit: int) -> int:  # noqa: N802 - the C macro's name
    """The right *bit* in word *idx* (the ``CAPRIGHT`` macro)."""
    return (1 << (_INDEX_SHIFT + idx)) | bit


# Word 0.
CAP_READ = CAPRIGHT(0, 0x1)
CAP_WRITE = CAPRIGHT(0, 0x2)
CAP_SEEK_TELL = CAPRIGHT(0, 0x4)
CAP_SEEK = CAP_SEEK_TELL | 0x8
CAP_PREAD = CAP_SEEK | CAP_READ
CAP_PWRITE = CAP_SEEK | CAP_WRITE
CAP_MMAP = CAPRIGHT(0, 0x10)
CAP_MMAP_R = CAP_MMAP | CAP_SEEK | CAP_READ
CAP_MMAP_W = CAP_MMAP | CAP_SEEK | CAP_WRITE
CAP_MMAP_X = CAP_MMAP | CAP_SEEK | 0x20
CAP_MMAP_RW = CAP_MMAP_R | CAP_MMAP_W
CAP_MMAP_RX = CAP_MMAP_R | CAP_MMAP_X
CAP_MMAP_WX = CAP_MMAP_W | CAP_MMAP_X
CAP_MMAP_RWX = CAP_MMAP_R | CAP_MMAP_W | CAP_MMAP_X
CAP_CREATE = CAPRIGHT(0, 0x40)
CAP_FEXECVE = CAPRIGHT(0, 0x80)
CAP_FSYNC = CAPRIGHT(0, 0x100)
CAP_FTRUNCATE = CAPRIGHT(0, 0x200)
CAP_LOOKUP = CAPRIGHT(0, 0x400)
CAP_FCHDIR = CAPRIGHT(0, 0x800)
CAP_FCHFLAGS = CAPRIGHT(0, 0x1000)
CAP_CHFLAGSAT = CAP_FCHFLAGS | CAP_LOOKUP
CAP_FCHMOD = CAPRIGHT(0, 0x2000)
CAP_FCHMODAT = CAP_FCHMOD | CAP_LOOKUP
CAP_FCHOWN = CAPRIGHT(0, 0x4000)
CAP_FCHOWNAT = CAP_FCHOWN | CAP_LOOKUP
CAP_FCNTL = CAPRIGHT(0, 0x8000)
CAP_FLOCK = CAPRIGHT(0, 0x10000)
CAP_FPATHCONF = CAPRIGHT(0, 0x20000)
CAP_FSCK = CAPRIGHT(0, 0x40000)
CAP_FSTAT = CAPRIGHT(0, 0x80000)
CAP_FSTATAT = CAP_FSTAT | CAP_LOOKUP
CAP_FSTATFS = CAPRIGHT(0, 0x100000)
CAP_FUTIMES = CAPRIGHT(0, 0x200000)
CAP_FUTIMESAT = CAP_FUTIMES | CAP_LOOKUP
CAP_LINKAT_TARGET = CAP_LOOKUP | 0x400000
CAP_MKDIRAT = CAP_LOOKUP | 0x800000
CAP_MKFIFOAT = CAP_LOOKUP | 0x1000000
CAP_MKNODAT = CAP_LOOKUP | 0x2000000
CAP_RENAMEAT_SOURCE = CAP_LOOKUP | 0x4000000
CAP_SYMLINKAT = CAP_LOOKUP | 0x8000000
CAP_UNLINKAT = CAP_LOOKUP | 0x10000000
CAP_ACCEPT = CAPRIGHT(0, 0x20000000)
CAP_BIND = CAPRIGHT(0, 0x40000000)
CAP_CONNECT = CAPRIGHT(0, 0x80000000)
CAP_GETPEERNAME = CAPRIGHT(0, 0x100000000)
CAP_GETSOCKNAME = CAPRIGHT(0, 0x200000000)
CAP_GETSOCKOPT = CAPRIGHT(0, 0x400000000)
CAP_LISTEN = CAPRIGHT(0, 0x800000000)
CAP_PEELOFF = CAPRIGHT(0, 0x1000000000)
CAP_SETSOCKOPT = CAPRIGHT(0, 0x2000000000)
CAP_SHUTDOWN = CAPRIGHT(0, 0x4000000000)
CAP_BINDAT = CAP_LOOKUP | 0x8000000000
CAP_CONNECTAT = CAP_LOOKUP | 0x10000000000
CAP_LINKAT_SOURCE = CAP_LOOKUP | 0x20000000000
CAP_RENAMEAT_TARGET = CAP_LOOKUP | 0x40000000000
CAP_RECV = CAP_READ
CAP_SEND = CAP_WRITE
CAP_SOCK_CLIENT = (CAP_CONNECT | CAP_GETPEERNAME | CAP_GETSOCKNAME | CAP_GETSOCKOPT
                   | CAP_PEELOFF | CAP_RECV | CAP_SEND | CAP_SETSOCKOPT | CAP_SHUTDOWN)
CAP_SOCK_SERVER = (CAP_ACCEPT | CAP_BIND | CAP_GETPEERNAME | CAP_GETSOCKNAME
                   | CAP_GETSOCKOPT | CAP_LISTEN | CAP_PEELOFF | CAP_RECV | CAP_SEND
                   | CAP_SETSOCKOPT | CAP_SHUTDOWN)
CAP_ALL0 = CAPRIGHT(0, 0x7FFFFFFFFFF)

# Word 1.
CAP_MAC_GET = CAPRIGHT(1, 0x1)
CAP_MAC_SET = CAPRIGHT(1, 0x2)
CAP_SEM_GETVALUE = CAPRIGHT(1, 0x4)
CAP_SEM_POST = CAPRIGHT(1, 0x8)
CAP_SEM_WAIT = CAPRIGHT(1, 0x10)
CAP_EVENT = CAPRIGHT(1, 0x20)
CAP_POLL_EVENT = CAP_EVENT
CAP_KQUEUE_EVENT = CAPRIGHT(1, 0x40)
CAP_IOCTL = CAPRIGHT(1, 0x80)
CAP_TTYHOOK = CAPRIGHT(1, 0x100)
CAP_PDGETPID = CAPRIGHT(1, 0x200)
CAP_PDWAIT = CAPRIGHT(1, 0x400)
CAP_PDKILL = CAPRIGHT(1, 0x800)
CAP_EXTATTR_DELETE = CAPRIGHT(1, 0x1000)
CAP_EXTATTR_GET = CAPRIGHT(1, 0x2000)
CAP_EXTATTR_LIST = CAPRIGHT(1, 0x4000)
CAP_EXTATTR_SET = CAPRIGHT(1, 0x8000)
CAP_ACL_CHECK = CAPRIGHT(1, 0x10000)
CAP_ACL_DELETE = CAPRIGHT(1, 0x20000)
CAP_ACL_GET = CAPRIGHT(1, 0x40000)
CAP_ACL_SET = CAPRIGHT(1, 0x80000)
CAP_KQUEUE_CHANGE = CAPRIGHT(1, 0x100000)
CAP_KQUEUE = CAP_KQUEUE_EVENT | CAP_KQUEUE_CHANGE
CAP_ALL1 = CAPRIGHT(1, 0x1FFFFF)

#: Every named constant above, by its C name.
NAMES: dict[str, int] = {k: v for k, v in globals().items()
                         if k.startswith("CAP_") and isinstance(v, int)
                         and k != "CAP_RIGHTS_VERSION"}

_ALL = (CAP_ALL0, CAP_ALL1)

# fcntl rights (cap_fcntls_limit): 1 << F_xxx.
CAP_FCNTL_GETFL = 1 << 3
CAP_FCNTL_SETFL = 1 << 4
CAP_FCNTL_GETOWN = 1 << 5
CAP_FCNTL_SETOWN = 1 << 6
CAP_FCNTL_ALL = CAP_FCNTL_GETFL | CAP_FCNTL_SETFL | CAP_FCNTL_GETOWN | CAP_FCNTL_SETOWN


def word_index(right: int) -> int:
    """Which word *right* belongs to (0 or 1); ``ValueError`` if malformed."""
    if not isinstance(right, int) or right < 0 or right >> 64:
        raise ValueError(f"not a 64-bit capability right: {right!r}")
    marker = (right & _INDEX_MASK) >> _INDEX_SHIFT
    if right >> _VERSION_SHIFT or marker not in (1, 2):
        raise ValueError(
            f"malformed capability right {right:#018x}: index bits {marker:#x} "
            "(rights from different words must not be OR-ed together)"
        )
    idx = marker.bit_length() - 1
    if right & ~_ALL[idx]:
        raise ValueError(f"capability right {right:#018x} has bits outside CAP_ALL{idx}")
    return idx


@dataclass(frozen=True)
class Rights:
    """A ``cap_rights_t`` value: the two words of ``cr_rights``."""

    words: tuple[int, int] = (CAPRIGHT(0, 0), CAPRIGHT(1, 0))

    @classmethod
    def of(cls, *rights: int) -> Rights:
        """The set holding *rights* (each a single-word ``CAP_*`` value)."""
        w = [CAPRIGHT(0, 0), CAPRIGHT(1, 0)]
        for right in rights:
            w[word_index(right)] |= right
        return cls((w[0], w[1]))

    def __or__(self, other: Rights) -> Rights:
        return Rights((self.words[0] | other.words[0], self.words[1] | other.words[1]))

    def __and__(self, other: Rights) -> Rights:
        return Rights((self.words[0] & other.words[0] | CAPRIGHT(0, 0),
                       self.words[1] & other.words[1] | CAPRIGHT(1, 0)))

    def without(self, other: Rights) -> Rights:
        """These rights minus the plain bits of *other* (index bits are kept)."""
        return Rights((self.words[0] & ~(other.words[0] & ~_INDEX_MASK),
                       self.words[1] & ~(other.words[1] & ~_INDEX_MASK)))

    def has(self, right: int) -> bool:
        """Whether every bit of *right* is held (like ``cap_rights_is_set``)."""
        return self.words[word_index(right)] & right == right

    def contains(self, other: Rights) -> bool:
        """Whether *other* is a subset (like ``cap_rights_contains``)."""
        return all(o & ~s == 0 for s, o in zip(self.words, other.words, strict=True))

    def is_valid(self) -> bool:
        """The checks ``cap_rights_is_valid`` makes: version, index bits, masks."""
        w0, w1 = self.words
        return (w0 >> _VERSION_SHIFT == CAP_RIGHTS_VERSION
                and (w0 & _INDEX_MASK) == CAPRIGHT(0, 0)
                and (w1 & _INDEX_MASK) == CAPRIGHT(1, 0)
                and w0 & ~CAP_ALL0 == 0 and w1 & ~CAP_ALL1 == 0)

    @property
    def empty(self) -> bool:
        """No right at all (``CAP_NONE``)."""
        return self == Rights()

    def __repr__(self) -> str:
        return f"Rights({self.words[0]:#018x}, {self.words[1]:#018x})"


NONE = Rights()

# Bundles (bsd-backends.md A.1).
R_DIR = Rights.of(CAP_LOOKUP, CAP_READ, CAP_SEEK, CAP_FSTAT, CAP_FSTATAT, CAP_FSTATFS,
                  CAP_FPATHCONF, CAP_FCNTL, CAP_MMAP_R, CAP_EVENT)
W_ADD = Rights.of(CAP_WRITE, CAP_FTRUNCATE, CAP_FSYNC, CAP_MMAP_W)
C_ADD = Rights.of(CAP_CREATE, CAP_MKDIRAT, CAP_UNLINKAT, CAP_RENAMEAT_SOURCE,
                  CAP_RENAMEAT_TARGET, CAP_SYMLINKAT, CAP_LINKAT_SOURCE, CAP_LINKAT_TARGET)
FATTR_ADD = Rights.of(CAP_FCHMODAT, CAP_FUTIMESAT, CAP_CHFLAGSAT)
CHOWN_ADD = Rights.of(CAP_FCHOWNAT)
DPATH_ADD = Rights.of(CAP_MKFIFOAT, CAP_MKNODAT)
FLOCK_ADD = Rights.of(CAP_FLOCK)
UNIX_CONNECT_ADD = Rights.of(CAP_CONNECTAT)
UNIX_BIND_ADD = Rights.of(CAP_BINDAT)
#: Inherited non-directory fds: the access-mode rights are added per fd.
STDIO_FD = Rights.of(CAP_READ, CAP_WRITE, CAP_SEEK, CAP_FSTAT, CAP_FCNTL, CAP_FSYNC,
                     CAP_FTRUNCATE, CAP_EVENT, CAP_IOCTL)
STDIO_BASE = STDIO_FD.without(Rights.of(CAP_READ, CAP_WRITE))
SOCKET_ADD = Rights.of(CAP_GETPEERNAME, CAP_GETSOCKNAME, CAP_GETSOCKOPT, CAP_SETSOCKOPT,
                       CAP_SHUTDOWN, CAP_ACCEPT, CAP_LISTEN)
FD_FATTR_ADD = Rights.of(CAP_FCHMOD, CAP_FUTIMES)
FD_CHOWN_ADD = Rights.of(CAP_FCHOWN)
STDIO_FCNTLS = CAP_FCNTL_GETFL | CAP_FCNTL_SETFL

#: The bits that only make sense for lookups relative to a directory fd:
#: CAP_LOOKUP itself and the ``*AT``-only bits (``CAP_FSTAT`` and friends stay).
LOOKUP_RIGHTS = Rights.of(CAP_LOOKUP, CAP_LINKAT_TARGET, CAP_MKDIRAT, CAP_MKFIFOAT,
                          CAP_MKNODAT, CAP_RENAMEAT_SOURCE, CAP_SYMLINKAT, CAP_UNLINKAT,
                          CAP_BINDAT, CAP_CONNECTAT, CAP_LINKAT_SOURCE,
                          CAP_RENAMEAT_TARGET)
