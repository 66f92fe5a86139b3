"""Both BSD backends driven through recording fakes of their libc.

The fakes take the same arguments the cffi ``lib`` objects take (the real
``ffi`` from each backend's declarations makes the cdata), record every call
in order, and fail the way the kernels do (EINVAL/EPERM/ENOENT/E2BIG on
OpenBSD; malformed rights, widening and path calls after ``cap_enter`` on
FreeBSD).
"""

from __future__ import annotations

import errno
import types
from typing import Any

import pytest

from pledgepy import api, bsdpaths
from pledgepy.backends.base import PledgeRequest
from pledgepy.backends.freebsd import FreeBSDBackend, binding
from pledgepy.backends.freebsd import rights as R
from pledgepy.backends.freebsd.decision import Options, fd_grant
from pledgepy.backends.openbsd import OpenBSDBackend
from pledgepy.errors import UnsupportedError, not_held

ENOTCAPABLE, ECAPMODE = binding.ENOTCAPABLE, binding.ECAPMODE


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch):
    """Install a backend as the front end's backend, with fresh state."""
    def install(be: Any) -> Any:
        monkeypatch.setattr(api, "_backend", be)
        monkeypatch.setattr(api, "_state", api._State())
        return be
    yield install
    bsdpaths._reset()


# ---------------------------------------------------------------- OpenBSD
class FakeOpenBSDLib:
    """Records pledge/unveil; None stands for NULL. Mimics the kernel's lock."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi
        self.calls: list[tuple[str, bytes | None, bytes | None]] = []
        self.fail: dict[tuple[str, bytes | None], int] = {}
        self.locked = False

    def _arg(self, value: Any) -> bytes | None:
        if value == self.ffi.NULL:
            return None
        assert isinstance(value, bytes), f"expected bytes or NULL, got {value!r}"
        return value

    def _ret(self, key: tuple[str, bytes | None]) -> int:
        if key in self.fail:
            self.ffi.errno = self.fail[key]
            return -1
        return 0

    def pledge(self, promises: Any, execpromises: Any) -> int:
        a, b = self._arg(promises), self._arg(execpromises)
        self.calls.append(("pledge", a, b))
        if a is not None and b"unveil" not in a.split():
            self.locked = True
        return self._ret(("pledge", a))

    def unveil(self, path: Any, permissions: Any) -> int:
        a, b = self._arg(path), self._arg(permissions)
        self.calls.append(("unveil", a, b))
        if self.locked and a is not None:
            self.ffi.errno = errno.EPERM
            return -1
        if a is None:
            self.locked = True
        return self._ret(("unveil", a))


def openbsd(release: str = "7.5") -> tuple[OpenBSDBackend, FakeOpenBSDLib]:
    import cffi

    from pledgepy.backends import openbsd as mod

    ffi = cffi.FFI()
    ffi.cdef(mod.CDEF)
    lib = FakeOpenBSDLib(ffi)
    uname = lambda: types.SimpleNamespace(release=release)  # noqa: E731
    return OpenBSDBackend(ffi, lib, uname=uname), lib


def test_openbsd_none_is_null_and_empty_is_empty(use) -> None:
    be, lib = openbsd()
    use(be)
    api.pledge(None, "stdio")
    api.pledge("stdio rpath", "")
    api.pledge("")
    assert lib.calls == [("pledge", None, b"stdio"), ("pledge", b"stdio rpath", b""),
                         ("pledge", b"", None)]
    assert api.status().level == "full" and api.status().mechanism == "pledge"


def test_openbsd_unveil_then_pledge_order(use) -> None:
    be, lib = openbsd()
    use(be)
    api.unveil("/srv/ü", "rw")
    api.unveil("/etc", "")
    api.pledge("stdio rpath")
    api.pledge("stdio")
    assert lib.calls == [("unveil", "/srv/ü".encode(), b"rw"), ("unveil", b"/etc", b""),
                         ("pledge", b"stdio rpath", None), ("pledge", b"stdio", None)]
    assert lib.locked and api.status().unveil.in_force


def test_openbsd_explicit_lock(use) -> None:
    be, lib = openbsd()
    use(be)
    api.unveil("/srv", "r")
    api.unveil()
    assert lib.calls[-1] == ("unveil", None, None)
    with pytest.raises(PermissionError):
        api.unveil("/x", "r")
    assert len(lib.calls) == 2


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.EPERM, PermissionError),
    (errno.ENOENT, FileNotFoundError), (errno.E2BIG, OSError), (errno.EFAULT, OSError),
])
def test_openbsd_errno_mapping(use, err: int, exc: type) -> None:
    be, lib = openbsd()
    use(be)
    lib.fail[("unveil", b"/srv")] = err
    with pytest.raises(exc) as info:
        api.unveil("/srv", "r")
    if exc is not ValueError:
        assert info.value.errno == err
    assert "/srv" in str(info.value)
    assert api.status().unveil.rules == ()  # nothing recorded on failure


def test_openbsd_kernel_eperm_is_the_linux_class(use) -> None:
    be, lib = openbsd()
    use(be)
    lib.fail[("pledge", b"stdio")] = errno.EPERM
    with pytest.raises(PermissionError) as info:
        api.pledge("stdio")
    assert info.value.errno == errno.EPERM
    assert api.status().promises is None


def test_front_end_errors_identical_on_bsd(use) -> None:
    be, lib = openbsd()
    use(be)
    api.pledge("stdio rpath")
    with pytest.raises(PermissionError) as info:
        api.pledge("stdio rpath wpath")
    expected = not_held("promises", ["wpath"])
    assert (info.value.errno, str(info.value)) == (expected.errno, str(expected))
    with pytest.raises(ValueError, match="unknown promise 'stdoi'"):
        api.pledge("stdoi")
    assert lib.calls == [("pledge", b"stdio rpath", None)]


@pytest.mark.parametrize("release", ["6.3", "5.9", "garbage"])
def test_openbsd_version_gate(use, release: str) -> None:
    be, lib = openbsd(release)
    use(be)
    with pytest.raises(UnsupportedError, match="needs OpenBSD 6.4 or newer"):
        api.pledge("stdio", strict=True)
    with pytest.warns(Warning, match="6.4"):
        api.pledge("stdio", strict=False)
    assert api.status().level == "none" and lib.calls == []


@pytest.mark.parametrize("release", ["6.4", "7.6", "10.0"])
def test_openbsd_new_enough(release: str) -> None:
    be, _ = openbsd(release)
    assert be.reason is None


# ---------------------------------------------------------------- FreeBSD
class FakeCapsicum:
    """A recording fake of the Capsicum calls with kernel-like checks."""

    def __init__(self, ffi: Any, getmode_errno: int = 0) -> None:
        self.ffi = ffi
        self.calls: list[tuple] = []
        self.rights: dict[int, R.Rights] = {}
        self.mode = 0
        self.getmode_errno = getmode_errno

    def cap_getmode(self, modep: Any) -> int:
        self.calls.append(("cap_getmode",))
        if self.getmode_errno:
            self.ffi.errno = self.getmode_errno
            return -1
        modep[0] = self.mode
        return 0

    def cap_enter(self) -> int:
        self.calls.append(("cap_enter",))
        self.mode = 1
        return 0

    def _get(self, fd: int) -> R.Rights:
        return self.rights.get(fd, R.Rights((R.CAP_ALL0, R.CAP_ALL1)))

    def cap_rights_limit(self, fd: int, p: Any) -> int:
        new = binding.from_cdata(p)
        self.calls.append(("cap_rights_limit", fd, new.words))
        if not new.is_valid():
            self.ffi.errno = errno.EINVAL
            return -1
        if not self._get(fd).contains(new):
            self.ffi.errno = ENOTCAPABLE
            return -1
        self.rights[fd] = new
        return 0

    def cap_fcntls_limit(self, fd: int, mask: int) -> int:
        self.calls.append(("cap_fcntls_limit", fd, mask))
        return 0

    def cap_ioctls_limit(self, fd: int, cmds: Any, n: int) -> int:
        self.calls.append(("cap_ioctls_limit", fd, tuple(cmds[i] for i in range(n))))
        return 0


def _rights_get(fake: FakeCapsicum):
    def get(version: int, fd: int, p: Any) -> int:
        fake.calls.append(("cap_rights_get", fd))
        assert version == 0
        p.cr_rights[0], p.cr_rights[1] = fake._get(fd).words
        return 0
    return get


class FakeOps:
    """Fds 0-2 (tty rw), 3 (a stray directory), 4 (a socket); dirfds from 10."""

    def __init__(self, lib: FakeCapsicum, dirs: set[str]) -> None:
        self.lib, self.dirs = lib, dirs
        self.calls: list[tuple] = lib.calls
        self.open: dict[int, str] = {}
        self.next = 10
        self.kinds = {0: ("other", 0), 1: ("other", 1), 2: ("other", 1),
                      3: ("dir", 0), 4: ("socket", 2)}

    def open_dir(self, path: str) -> int:
        self.calls.append(("open_dir", path))
        if self.lib.mode:
            raise OSError(ECAPMODE, "Not permitted in capability mode")
        fd, self.next = self.next, self.next + 1
        self.open[fd] = path
        return fd

    def close(self, fd: int) -> None:
        self.calls.append(("close", fd))
        del self.open[fd]

    def is_dir(self, path: str) -> bool:
        return path in self.dirs

    def fds(self) -> list[int]:
        return sorted([*self.kinds, *self.open])

    def describe(self, fd: int) -> tuple[str, int]:
        return self.kinds[fd] if fd in self.kinds else ("dir", 0)

    def prepare(self) -> str:
        self.calls.append(("prepare",))
        if self.lib.mode:
            raise OSError(ECAPMODE, "getcwd: Not permitted in capability mode")
        return "/srv/app"


def freebsd(dirs: set[str] | None = None, options: Options | None = None,
            getmode_errno: int = 0) -> tuple[FreeBSDBackend, FakeCapsicum, FakeOps]:
    ffi = binding.make_ffi()
    lib = FakeCapsicum(ffi, getmode_errno)
    setattr(lib, "__cap_rights_get", _rights_get(lib))
    ops = FakeOps(lib, dirs or {"/", "/srv", "/srv/app", "/etc", "/tmp"})
    be = FreeBSDBackend(ffi, lib, ops, options or Options(tmpdir="/tmp"))
    return be, lib, ops


def limits_for(fd: int, grant_rights: R.Rights, fcntls: int | None,
               ioctls: tuple[int, ...] | None) -> list[tuple]:
    out: list[tuple] = [("cap_rights_get", fd), ("cap_rights_limit", fd, grant_rights.words)]
    if fcntls is not None:
        out.append(("cap_fcntls_limit", fd, fcntls))
    if ioctls is not None:
        out.append(("cap_ioctls_limit", fd, ioctls))
    return out


def expected_fd_limits(promises: str, skip: frozenset[int] = frozenset()) -> list[tuple]:
    p = frozenset(promises.split())
    out: list[tuple] = []
    kinds = {0: ("other", 0), 1: ("other", 1), 2: ("other", 1), 3: ("dir", 0),
             4: ("socket", 2)}
    for fd, (kind, acc) in kinds.items():
        if fd in skip:
            continue
        g = fd_grant(p, kind, acc)
        out += limits_for(fd, g.rights, R.STDIO_FCNTLS if g.rights.has(R.CAP_FCNTL) else None,
                          g.ioctls if g.rights.has(R.CAP_IOCTL) else None)
    return out


def test_freebsd_rpath_without_unveil_exact_calls(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    with pytest.warns(Warning):
        api.pledge("stdio rpath")
    assert lib.calls == [
        ("cap_getmode",), ("prepare",), ("open_dir", "/"),
        *limits_for(10, R.R_DIR, R.STDIO_FCNTLS, None),
        *expected_fd_limits("stdio rpath"),
        ("cap_enter",), ("cap_getmode",),
    ]
    # the stray directory fd 3 lost every lookup right
    assert not lib.rights[3].has(R.CAP_LOOKUP) and lib.rights[3].has(R.CAP_FSTAT)
    st = api.status()
    assert st.mechanism == "capsicum" and st.level == "partial"
    assert any("full rights" in line for line in st.not_enforced)
    assert bsdpaths.resolve("/etc/passwd") == (10, "etc/passwd")
    assert bsdpaths.resolve("data.txt") == (10, "srv/app/data.txt")


def test_freebsd_unveil_then_lock_by_pledge(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    api.unveil("/srv", "rw")
    api.unveil("/etc/passwd", "r")
    assert [c for c in lib.calls if c[0] == "open_dir"] == [("open_dir", "/srv"),
                                                             ("open_dir", "/etc")]
    with pytest.warns(Warning):
        api.pledge("stdio rpath wpath")
    enter = lib.calls.index(("cap_enter",))
    assert all(c[0] != "open_dir" for c in lib.calls[enter:])
    assert lib.rights[10] == R.R_DIR | R.W_ADD  # /srv
    assert lib.rights[11] == R.R_DIR            # /etc, for /etc/passwd
    st = api.status()
    assert st.unveil.in_force and st.unveil.level == "partial"
    assert any("/etc/passwd" in line for line in st.unveil.not_enforced)
    assert bsdpaths.resolve("/srv/x/../y") == (10, "y")
    with pytest.raises(FileNotFoundError):
        bsdpaths.resolve("/usr/lib")


def test_freebsd_strict_refuses_before_any_change(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    with pytest.raises(UnsupportedError, match="full rights"):
        api.pledge("stdio rpath", strict=True)
    assert lib.calls == [("cap_getmode",)]


def test_freebsd_blocker_changes_nothing(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    with pytest.raises(UnsupportedError, match="exec: execve"):
        api.pledge("stdio rpath exec", strict=True)
    with pytest.warns(Warning, match="capability mode not entered"):
        api.pledge("stdio rpath exec")
    assert lib.calls == [("cap_getmode",)]
    assert api.status().level == "none"


def test_freebsd_defer_while_unveil_held(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    with pytest.warns(Warning, match="pending"):
        api.pledge("stdio rpath unveil")
    api.unveil("/srv", "r")
    assert ("cap_enter",) not in lib.calls and api.status().level == "none"
    with pytest.warns(Warning):
        api.pledge("stdio rpath")
    assert lib.calls.count(("cap_enter",)) == 1
    assert lib.rights[10] == R.R_DIR


def test_freebsd_unveil_lock_alone_is_not_enforced(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    api.unveil("/srv", "r")
    with pytest.raises(UnsupportedError, match="unveil alone is not enforced"):
        api.unveil(strict=True)
    with pytest.warns(Warning):
        api.unveil()
    assert api.status().unveil.level == "none" and ("cap_enter",) not in lib.calls


def test_freebsd_narrowing_relimits_and_closes(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    api.unveil("/srv", "rw")
    with pytest.warns(Warning):
        api.pledge("stdio rpath wpath")
    n = len(lib.calls)
    with pytest.warns(Warning):
        api.pledge("stdio rpath")
    later = lib.calls[n:]
    assert ("cap_enter",) not in later and ("prepare",) not in later
    assert ("cap_rights_limit", 10, R.R_DIR.words) in later
    assert lib.rights[10] == R.R_DIR
    n = len(lib.calls)
    with pytest.warns(Warning):
        api.pledge("stdio")
    assert ("close", 10) in lib.calls[n:]
    assert not any(c[0] == "cap_rights_get" and c[1] == 10 for c in lib.calls[n:])


def test_freebsd_intersects_never_widens(use) -> None:
    be, lib, ops = freebsd()
    lib.rights[1] = R.Rights.of(R.CAP_WRITE)
    use(be)
    with pytest.warns(Warning):
        api.pledge("stdio")
    assert lib.rights[1] == R.Rights.of(R.CAP_WRITE)
    # the fake really refuses widening (so the assertion above can fail)
    p = binding.to_cdata(lib.ffi, R.STDIO_FD)
    assert lib.cap_rights_limit(1, p) == -1 and lib.ffi.errno == ENOTCAPABLE


def test_freebsd_empty_promises_strip_inherited_fds(use) -> None:
    be, lib, ops = freebsd()
    use(be)
    with pytest.warns(Warning):
        api.pledge("")
    for fd in range(5):
        assert lib.rights[fd].empty
    assert ("cap_enter",) in lib.calls


def test_freebsd_without_capability_mode(use) -> None:
    be, lib, ops = freebsd(getmode_errno=errno.ENOSYS)
    use(be)
    with pytest.raises(UnsupportedError, match="ENOSYS"):
        api.pledge("stdio", strict=True)
    with pytest.warns(Warning, match="no capability mode"):
        api.pledge("stdio")
    assert ("cap_enter",) not in lib.calls and api.status().level == "none"


def test_freebsd_cap_enter_failure_is_raised(use) -> None:
    be, lib, ops = freebsd()

    def failing() -> int:
        lib.calls.append(("cap_enter",))
        lib.ffi.errno = errno.EPERM
        return -1

    lib.cap_enter = failing
    use(be)
    with pytest.raises(PermissionError, match="cap_enter"):
        api.pledge("stdio")
    assert api.status().promises is None


def test_freebsd_fake_refuses_path_calls_after_enter() -> None:
    be, lib, ops = freebsd()
    be.apply_pledge(PledgeRequest(None, frozenset({"stdio"}), None, None), (), True)
    with pytest.raises(OSError) as info:
        ops.open_dir("/etc")
    assert info.value.errno == ECAPMODE
    with pytest.raises(PermissionError):
        be.check_unveil(api.UnveilRule("/etc", "r"))


def test_bsdpaths_with_real_directory_fds(tmp_path) -> None:
    pub = tmp_path / "pub"
    (pub / "hidden").mkdir(parents=True)
    (pub / "a.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("no")
    fd = os_open_dir(str(pub))
    try:
        bsdpaths._install({str(pub): fd}, (str(pub / "hidden"),), str(tmp_path))
        assert bsdpaths.active()
        assert bsdpaths.open("pub/a.txt").read() == "hello"          # relative to cwd
        with open(str(pub / "new.txt"), "w", opener=bsdpaths.opener) as f:
            f.write("x")
        assert (pub / "new.txt").read_text() == "x"
        assert bsdpaths.resolve(str(pub / "sub" / ".." / "a.txt")) == (fd, "a.txt")
        for denied in (str(tmp_path / "secret.txt"), str(pub / "hidden" / "f"), "/etc/passwd"):
            with pytest.raises(FileNotFoundError):
                bsdpaths.open(denied)
    finally:
        bsdpaths._reset()
        import os
        os.close(fd)
    assert not bsdpaths.active()
    assert bsdpaths.open(str(tmp_path / "secret.txt")).read() == "no"


def os_open_dir(path: str) -> int:
    import os
    return os.open(path, os.O_DIRECTORY | os.O_RDONLY)


def test_freebsd_missing_symbols_fail_closed(use) -> None:
    be = FreeBSDBackend(binding.make_ffi(), object(), FakeOps(FakeCapsicum(None), set()))
    use(be)
    with pytest.raises(UnsupportedError, match="Capsicum calls unavailable"):
        api.pledge("stdio", strict=True)
    assert api.status().level == "none"
