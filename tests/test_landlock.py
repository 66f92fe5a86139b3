"""The Landlock layer (pledgepy.backends.linux.landlock) against the real kernel."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pledgepy.backends.linux.landlock import abi as A
from pledgepy.backends.linux.landlock import ruleset as ll
from tests.childproc import run
from tests.test_unveil import nobody_can_run

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(sys.platform.startswith("linux") and A.version() == 0,
                       reason="no Landlock in this kernel"),
]


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_uapi_constants() -> None:
    # Values from include/uapi/linux/landlock.h.
    assert A.ACCESS_FS_EXECUTE == 1 and A.ACCESS_FS_MAKE_SYM == 1 << 12
    assert A.ACCESS_FS_REFER == 1 << 13
    assert A.ACCESS_FS_TRUNCATE == 1 << 14
    assert A.ACCESS_FS_IOCTL_DEV == 1 << 15
    assert A.SCOPE_ABSTRACT_UNIX_SOCKET == 1 and A.SCOPE_SIGNAL == 2
    assert A.RESTRICT_SELF_TSYNC == 1 << 3
    assert A.ACCESS_FILE == 0b1100000000000111
    assert A.features(1).fs == 0x1FFF and A.features(3).fs == 0x7FFF
    assert A.features(7).fs == A.features(5).fs == 0xFFFF
    assert A.features(0).fs == 0 and A.features(5).scopes == 0 and A.features(6).scopes == 3


def test_abi_version_is_cached_and_positive() -> None:
    abi = A.version()
    assert abi >= 1
    assert A.probe() == (abi, None)


def test_single_file_rule_is_masked_not_einval() -> None:
    with ll.Ruleset(A.current().fs) as rs:
        granted = rs.add_path("/etc/passwd", A.current().fs)
    assert granted == A.ACCESS_FILE & A.current().fs


def test_unmasked_file_rights_give_einval() -> None:
    # add_fd is the exact, unmasked call: the kernel refuses directory rights on a file.
    with ll.Ruleset(A.current().fs) as rs:
        fd = os.open("/etc/passwd", os.O_PATH | os.O_CLOEXEC)
        try:
            with pytest.raises(ll.LandlockError) as info:
                rs.add_fd(fd, A.ACCESS_FS_READ_DIR)
        finally:
            os.close(fd)
    assert info.value.errno == 22
    assert isinstance(info.value, OSError)


def test_failed_add_then_success_and_no_fd_leak(tmp_path: Path) -> None:
    """The landlock PyPI bug: a stale errno made the next good call raise and leak."""
    before = _open_fds()
    with ll.Ruleset(A.ACCESS_FS_READ_FILE | A.ACCESS_FS_READ_DIR) as rs:
        with pytest.raises(ll.LandlockError) as info:
            rs.add_fd(12345, A.ACCESS_FS_READ_FILE)  # not an open fd
        assert info.value.errno == 9  # EBADF
        with pytest.raises(FileNotFoundError):
            rs.add_path(tmp_path / "missing", A.ACCESS_FS_READ_FILE)
        assert rs.add_path(tmp_path, A.ACCESS_FS_READ_FILE) == A.ACCESS_FS_READ_FILE
        with ll.Ruleset(A.ACCESS_FS_READ_FILE) as second:  # a fresh successful create
            assert second.fd >= 0
        fd = rs.fd
    assert rs.closed and second.closed
    assert not os.path.exists(f"/proc/self/fd/{fd}")
    assert _open_fds() == before


def test_ruleset_closes_on_error() -> None:
    before = _open_fds()
    with pytest.raises(RuntimeError):
        with ll.Ruleset(A.ACCESS_FS_READ_FILE):
            raise RuntimeError("boom")
    assert _open_fds() == before


def test_closed_ruleset_refuses_use() -> None:
    rs = ll.Ruleset(A.ACCESS_FS_READ_FILE)
    rs.close()
    rs.close()  # idempotent
    with pytest.raises(ValueError):
        rs.add_path("/", A.ACCESS_FS_READ_FILE)


def test_exact_unknown_right_is_einval() -> None:
    with pytest.raises(ll.LandlockError) as info:
        ll.Ruleset(1 << 62, exact=True)
    assert info.value.errno == 22


def test_empty_rule_adds_nothing(tmp_path: Path) -> None:
    with ll.Ruleset(A.ACCESS_FS_READ_FILE) as rs:
        assert rs.add_path(tmp_path, A.ACCESS_FS_EXECUTE) == 0  # not handled: masked away


def test_restrict_self_denies_outside_and_write(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f").write_text("inside")
    (tmp_path / "out").write_text("outside")
    res = run(f"""
        import errno, os
        from pledgepy.backends.linux.landlock import abi as A, ruleset as ll
        with ll.Ruleset(A.current().fs) as rs:
            rs.add_path({str(tmp_path / 'in')!r}, A.ACCESS_FS_READ_FILE | A.ACCESS_FS_READ_DIR)
            rs.restrict_self()
        print(open({str(tmp_path / 'in' / 'f')!r}).read())
        for path, mode in (({str(tmp_path / 'out')!r}, "r"), ({str(tmp_path / 'in' / 'f')!r}, "a")):
            try:
                open(path, mode)
                print("opened")
            except OSError as e:
                print(errno.errorcode[e.errno])
    """)
    assert res.returncode == 0, res.explain()
    assert res.stdout.split() == ["inside", "EACCES", "EACCES"]


def test_tsync_flag_needs_abi_8() -> None:
    res = run("""
        from pledgepy.backends.linux.landlock import abi as A, ruleset as ll
        with ll.Ruleset(A.ACCESS_FS_READ_FILE) as rs:
            try:
                rs.restrict_self(A.RESTRICT_SELF_TSYNC)
                print("ok")
            except ll.LandlockError as e:
                print("errno", e.errno)
    """)
    assert res.returncode == 0, res.explain()
    expected = "ok" if A.version() >= 8 else "errno 22"
    assert res.stdout.strip() == expected


def test_mmap_prot_exec_does_not_need_execute(tmp_path: Path) -> None:
    """Landlock EXECUTE covers execve only: loading a shared library needs READ_FILE."""
    import _ctypes  # a shared library this interpreter has; copy it to load it afresh

    src = Path(_ctypes.__file__)
    lib = tmp_path / "copy.so"
    lib.write_bytes(src.read_bytes())
    res = run(f"""
        import ctypes, errno, subprocess
        from pledgepy.backends.linux.landlock import abi as A, ruleset as ll
        with ll.Ruleset(A.current().fs) as rs:
            rs.add_path({str(tmp_path)!r}, A.ACCESS_FS_READ_FILE | A.ACCESS_FS_READ_DIR)
            rs.restrict_self()
        ctypes.CDLL({str(lib)!r})
        print("loaded")
        try:
            subprocess.run([{str(lib)!r}])
        except OSError as e:
            print(errno.errorcode[e.errno])
    """)
    assert res.returncode == 0, res.explain()
    assert res.stdout.split() == ["loaded", "EACCES"]


def test_restrict_self_without_no_new_privs_needs_privilege() -> None:
    if not nobody_can_run():
        pytest.skip("the interpreter or checkout is not reachable by uid 65534 here")
    res = run("""
        from pledgepy.backends.linux.landlock import abi as A, ruleset as ll
        with ll.Ruleset(A.ACCESS_FS_READ_FILE) as rs:
            try:
                rs.restrict_self(no_new_privs=False)
                print("ok")
            except ll.LandlockError as e:
                print("errno", e.errno)
    """, unprivileged=True)
    assert res.returncode == 0, res.explain()
    assert res.stdout.strip() == "errno 1"
