"""cffi ABI-mode declarations for FreeBSD's Capsicum calls (loaded lazily).

Only real exported symbols are declared: ``cap_rights_init``/``cap_rights_get``
are macros, so the versioned ``__cap_rights_init``/``__cap_rights_get`` are
used. ``__cap_rights_init`` is variadic: every right must be passed as
``unsigned long long`` and the list ends with a ``0ULL`` (see
:func:`rights_via_libc`); the backend itself builds the words in Python.
"""

from __future__ import annotations

from .rights import CAP_RIGHTS_VERSION, Rights, word_index

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from typing import Any

CDEF = """
typedef struct cap_rights { uint64_t cr_rights[2]; } cap_rights_t;
int cap_enter(void);
int cap_getmode(unsigned int *modep);
bool cap_sandboxed(void);
cap_rights_t *__cap_rights_init(int version, cap_rights_t *rights, ...);
bool cap_rights_is_valid(const cap_rights_t *rights);
int cap_rights_limit(int fd, const cap_rights_t *rights);
int __cap_rights_get(int version, int fd, cap_rights_t *rights);
int cap_ioctls_limit(int fd, const unsigned long *cmds, size_t ncmds);
ssize_t cap_ioctls_get(int fd, unsigned long *cmds, size_t maxcmds);
int cap_fcntls_limit(int fd, uint32_t fcntlrights);
int cap_fcntls_get(int fd, uint32_t *fcntlrightsp);
int procctl(int idtype, int64_t id, int cmd, void *data);
"""

#: errno values FreeBSD uses for capability violations (Python's errno may lack them).
ENOTCAPABLE = 93
ECAPMODE = 94
#: procctl(2) constants.
P_PID = 0
PROC_TRAPCAP_CTL = 9
PROC_TRAPCAP_CTL_ENABLE = 1


def make_ffi() -> Any:
    """A cffi ``FFI`` holding :data:`CDEF` (no library loaded)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi


def load(library: str | None = None) -> tuple[Any, Any]:
    """``(ffi, lib)`` for *library* (default: the process's own libc namespace)."""
    ffi = make_ffi()
    return ffi, ffi.dlopen(library)


def to_cdata(ffi: Any, rights: Rights) -> Any:
    """A new ``cap_rights_t *`` holding *rights*."""
    p = ffi.new("cap_rights_t *")
    p.cr_rights[0], p.cr_rights[1] = rights.words
    return p


def from_cdata(p: Any) -> Rights:
    """The :class:`Rights` stored at the ``cap_rights_t *`` *p*."""
    return Rights((int(p.cr_rights[0]), int(p.cr_rights[1])))


def rights_via_libc(ffi: Any, lib: Any, *rights: int) -> Rights:
    """Build a set with libc's variadic ``__cap_rights_init`` (self-test only).

    Every right is validated first (an invalid one makes libc abort) and
    passed as ``unsigned long long``, followed by the ``0ULL`` terminator.
    """
    for right in rights:
        word_index(right)
    p = ffi.new("cap_rights_t *")
    args = [ffi.cast("unsigned long long", r) for r in rights]
    args.append(ffi.cast("unsigned long long", 0))
    getattr(lib, "__cap_rights_init")(CAP_RIGHTS_VERSION, p, *args)
    return from_cdata(p)
