"""The real cffi declarations against a C stub library compiled here with gcc.

The stub exports the BSD symbols (pledge, unveil, cap_*, the variadic
__cap_rights_init) and logs what it receives, so argument types, NULL
handling, struct-by-pointer, the variadic ``unsigned long long`` convention
and errno are checked through a real C calling convention.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest

from pledgepy import api, bsdpaths
from pledgepy.backends import openbsd as obsd
from pledgepy.backends.freebsd import FreeBSDBackend, binding
from pledgepy.backends.freebsd import rights as R
from pledgepy.backends.freebsd.decision import Options

STUB = r"""
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

typedef struct cap_rights { uint64_t cr_rights[2]; } cap_rights_t;
static char logbuf[1 << 16];
static size_t loglen;
static unsigned int mode;

static void logf_(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    int n = vsnprintf(logbuf + loglen, sizeof logbuf - loglen, fmt, ap);
    va_end(ap);
    if (n > 0) loglen += (size_t)n;
}
static const char *s(const char *p) { return p ? p : "(NULL)"; }

const char *stub_log(void) { return logbuf; }
void stub_reset(void) { loglen = 0; logbuf[0] = 0; mode = 0; }

int pledge(const char *p, const char *e) {
    logf_("pledge %s|%s\n", s(p), s(e));
    if (p && strcmp(p, "bogus") == 0) { errno = EINVAL; return -1; }
    return 0;
}
int unveil(const char *p, const char *perm) {
    logf_("unveil %s|%s\n", s(p), s(perm));
    if (p && strcmp(p, "/missing/x") == 0) { errno = ENOENT; return -1; }
    return 0;
}
int cap_enter(void) { logf_("cap_enter\n"); mode = 1; return 0; }
int cap_getmode(unsigned int *m) { *m = mode; logf_("cap_getmode\n"); return 0; }
bool cap_sandboxed(void) { return mode == 1; }
cap_rights_t *__cap_rights_init(int version, cap_rights_t *r, ...) {
    va_list ap; unsigned long long v;
    r->cr_rights[0] = ((uint64_t)version << 62) | (1ULL << 57);
    r->cr_rights[1] = 1ULL << 58;
    va_start(ap, r);
    while ((v = va_arg(ap, unsigned long long)) != 0) {
        int idx = (v >> 57) == 1 ? 0 : (v >> 57) == 2 ? 1 : -1;
        if (idx < 0) { va_end(ap); return NULL; }
        r->cr_rights[idx] |= v;
    }
    va_end(ap);
    return r;
}
bool cap_rights_is_valid(const cap_rights_t *r) { return r != NULL; }
int __cap_rights_get(int version, int fd, cap_rights_t *r) {
    logf_("cap_rights_get %d %d\n", version, fd);
    r->cr_rights[0] = 0x020007ffffffffffULL;
    r->cr_rights[1] = 0x04000000001fffffULL;
    return 0;
}
int cap_rights_limit(int fd, const cap_rights_t *r) {
    logf_("cap_rights_limit %d %016llx %016llx\n", fd,
          (unsigned long long)r->cr_rights[0], (unsigned long long)r->cr_rights[1]);
    if (fd == 99) { errno = 93; return -1; }
    return 0;
}
int cap_ioctls_limit(int fd, const unsigned long *cmds, size_t n) {
    logf_("cap_ioctls_limit %d %zu", fd, n);
    for (size_t i = 0; i < n; i++) logf_(" %lx", cmds[i]);
    logf_("\n");
    return 0;
}
ssize_t cap_ioctls_get(int fd, unsigned long *cmds, size_t max) { return 0; }
int cap_fcntls_limit(int fd, uint32_t rights) {
    logf_("cap_fcntls_limit %d %u\n", fd, rights);
    return 0;
}
int cap_fcntls_get(int fd, uint32_t *rights) { *rights = 0x78; return 0; }
int procctl(int idtype, int64_t id, int cmd, void *data) {
    logf_("procctl %d %lld %d %d\n", idtype, (long long)id, cmd, *(int *)data);
    return 0;
}
"""

READERS = "const char *stub_log(void); void stub_reset(void);"


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler (install gcc) to build the stub library")
    d = tmp_path_factory.mktemp("stub")
    (d / "stub.c").write_text(STUB)
    so = d / "libbsdstub.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(so),
                    str(d / "stub.c")], check=True)
    return so


@pytest.fixture
def log(stub: Path):
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(READERS)
    lib = ffi.dlopen(str(stub))
    lib.stub_reset()

    def read() -> list[str]:
        return ffi.string(lib.stub_log()).decode().splitlines()
    return read


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    def install(be: Any) -> Any:
        monkeypatch.setattr(api, "_backend", be)
        monkeypatch.setattr(api, "_state", api._State())
        return be
    yield install
    bsdpaths._reset()


def test_openbsd_through_real_cffi(stub: Path, log, fresh) -> None:
    ffi, lib = obsd.load(str(stub))
    fresh(obsd.OpenBSDBackend(ffi, lib, uname=lambda: types.SimpleNamespace(release="7.5")))
    api.unveil("/srv/é", "rc")
    api.unveil()
    api.pledge(None, "stdio")
    api.pledge("", None)
    assert log() == ["unveil /srv/é|rc", "unveil (NULL)|(NULL)", "pledge (NULL)|stdio",
                     "pledge |(NULL)"]
    with pytest.raises(FileNotFoundError) as info:
        api.backend().add_unveil(api.UnveilRule("/missing/x", "r"))
    assert info.value.errno == errno.ENOENT  # errno read through ffi.errno


def test_openbsd_einval_through_real_cffi(stub: Path, log) -> None:
    ffi, lib = obsd.load(str(stub))
    be = obsd.OpenBSDBackend(ffi, lib, uname=lambda: types.SimpleNamespace(release="7.5"))
    with pytest.raises(ValueError, match="EINVAL"):
        be._call("pledge", b"bogus", ffi.NULL)


SETS = [
    (R.CAP_READ,),
    (R.CAP_READ, R.CAP_EVENT, R.CAP_IOCTL),
    (R.CAP_LOOKUP, R.CAP_READ, R.CAP_SEEK, R.CAP_FSTAT, R.CAP_FSTATAT, R.CAP_FSTATFS,
     R.CAP_FPATHCONF, R.CAP_FCNTL, R.CAP_MMAP_R, R.CAP_EVENT),
    tuple(R.NAMES.values()),
]


@pytest.mark.parametrize("rights", SETS, ids=["one", "two-words", "R-dir", "all"])
def test_python_words_equal_variadic_init(stub: Path, rights: tuple[int, ...]) -> None:
    ffi, lib = binding.load(str(stub))
    assert binding.rights_via_libc(ffi, lib, *rights) == R.Rights.of(*rights)


def test_plain_int_varargs_are_refused(stub: Path) -> None:
    ffi, lib = binding.load(str(stub))
    p = ffi.new("cap_rights_t *")
    with pytest.raises(TypeError, match="variadic"):
        getattr(lib, "__cap_rights_init")(0, p, R.CAP_READ, 0)
    with pytest.raises(ValueError):
        binding.rights_via_libc(ffi, lib, R.CAP_READ | R.CAP_EVENT)


class Ops:
    """Fds 0 (read-only) and 1 (write-only); directory fds from 10."""

    def __init__(self) -> None:
        self.next = 10
        self.open: dict[int, str] = {}

    def open_dir(self, path: str) -> int:
        fd, self.next = self.next, self.next + 1
        self.open[fd] = path
        return fd

    def close(self, fd: int) -> None:
        del self.open[fd]

    def is_dir(self, path: str) -> bool:
        return True

    def fds(self) -> list[int]:
        return [0, 1, *self.open]

    def describe(self, fd: int) -> tuple[str, int]:
        return ("other", fd)

    def prepare(self) -> str:
        return "/srv"


def test_freebsd_backend_through_real_cffi(stub: Path, log, fresh) -> None:
    ffi, lib = binding.load(str(stub))
    fresh(FreeBSDBackend(ffi, lib, Ops(), Options(tmpdir="/tmp")))
    api.unveil("/srv", "r")
    with pytest.warns(Warning):
        api.pledge("stdio rpath")
    lines = log()
    r0, r1 = R.R_DIR.words
    assert f"cap_rights_limit 10 {r0:016x} {r1:016x}" in lines
    assert "cap_fcntls_limit 10 24" in lines
    stdin = (R.STDIO_BASE | R.Rights.of(R.CAP_READ)).words
    assert f"cap_rights_limit 0 {stdin[0]:016x} {stdin[1]:016x}" in lines
    ioctl = next(ln for ln in lines if ln.startswith("cap_ioctls_limit 1 "))
    assert ioctl.split()[2] == "6" and "402c7413" in ioctl.split()
    assert lines[-2:] == ["cap_enter", "cap_getmode"]
    assert lines.index("cap_rights_get 0 10") < lines.index("cap_enter")


def test_freebsd_errno_from_real_cffi(stub: Path) -> None:
    ffi, lib = binding.load(str(stub))
    be = FreeBSDBackend(ffi, lib, Ops(), Options())
    with pytest.raises(OSError) as info:
        be._limit(99, R.R_DIR, R.STDIO_FCNTLS, None)
    assert info.value.errno == binding.ENOTCAPABLE


def test_procctl_declaration(stub: Path, log) -> None:
    ffi, lib = binding.load(str(stub))
    data = ffi.new("int *", binding.PROC_TRAPCAP_CTL_ENABLE)
    assert lib.procctl(binding.P_PID, 1234, binding.PROC_TRAPCAP_CTL, data) == 0
    assert log()[-1] == "procctl 0 1234 9 1"
