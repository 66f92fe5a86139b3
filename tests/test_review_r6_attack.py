"""Round-6 attack review: ways around the sandbox found by trying them (each test
failed on main before its fix), against the running kernel, in fresh children."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.pledged import killed, under


def clean(r: object) -> bool:
    return r.returncode == 0 and "pledge: " not in r.stderr  # type: ignore[attr-defined]


@pytest.fixture
def outside() -> object:
    """A world-writable directory outside /tmp, and a symlink to it beneath /tmp."""
    base = tempfile.mkdtemp(prefix="pledgepy-r6-outside-", dir="/var/tmp")
    os.chmod(base, 0o1777)
    link = tempfile.mktemp(prefix="pledgepy-r6-link-", dir="/tmp")
    os.symlink(base, link)
    try:
        yield base, link
    finally:
        os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)


TMPFILE = """
try:
    fd = os.open({link!r}, os.O_TMPFILE | os.O_RDWR, 0o600)
except OSError as e:
    print("refused", errno.errorcode.get(e.errno, e.errno))
else:
    print("made", os.stat(fd).st_dev == os.stat({base!r}).st_dev, os.readlink(f"/proc/self/fd/{{fd}}"))
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
@pytest.mark.parametrize("promises", ["stdio rpath wpath tmppath", "stdio tmppath"])
def test_tmppath_makes_no_o_tmpfile_outside_tmp(outside: tuple[str, str], promises: str,
                                                unprivileged: bool) -> None:
    # tmppath creates files beneath /tmp, and only there (OpenBSD: pledge_namei on the
    # path). O_TMPFILE through a symlink in /tmp made an unnamed file in the directory
    # it names: Landlock checks no creation right for O_TMPFILE, and with wpath held
    # the allowance layer does not check writing either, so nothing stopped it
    base, link = outside
    r = under(promises, TMPFILE.format(link=link, base=base), unprivileged=unprivileged)
    assert clean(r), r.explain()
    assert r.stdout.split()[0] == "refused", r.explain()


def test_tmppath_temporary_file_still_works() -> None:
    # tempfile.TemporaryFile() tries O_TMPFILE first and falls back to mkstemp + unlink
    body = """
f = tempfile.TemporaryFile(dir="/tmp")
f.write(b"data"); f.seek(0)
print(f.read().decode())
"""
    r = under("stdio tmppath", body, setup="import tempfile")
    assert clean(r), r.explain()
    assert r.stdout.split() == ["data"], r.explain()


def test_o_tmpfile_on_a_read_allowance_stays_a_violation() -> None:
    r = under("stdio", 'os.open("/usr/share/zoneinfo", os.O_TMPFILE | os.O_RDWR, 0o600)')
    assert killed(r), r.explain()


@pytest.fixture
def victim() -> object:
    """A file anyone may write, outside /tmp, and a symlink to it beneath /tmp."""
    base = tempfile.mkdtemp(prefix="pledgepy-r6-victim-", dir="/var/tmp")
    os.chmod(base, 0o1777)
    name = os.path.join(base, "victim")
    with open(name, "w") as f:
        f.write("precious")
    os.chmod(name, 0o666)
    link = tempfile.mktemp(prefix="pledgepy-r6-vlink-", dir="/tmp")
    os.symlink(name, link)
    try:
        yield name, link
    finally:
        os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_tmppath_opens_nothing_outside_tmp_with_access_mode_3(victim: tuple[str, str],
                                                              unprivileged: bool) -> None:
    # O_CREAT with access mode 3 (read and write permission checked, a descriptor for
    # neither: ioctl-only opens of devices) was retried for tmppath's creating, and
    # Landlock's file_open check looks at neither right then: a file outside /tmp opened
    name, link = victim
    body = f"os.open({link!r}, 3 | os.O_CREAT, 0o600)\nprint('opened')"
    r = under("stdio tmppath", body, unprivileged=unprivileged)
    assert killed(r), r.explain()
    assert "opened" not in r.stdout, r.explain()


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_tmppath_truncates_nothing_outside_tmp_on_landlock_abi_2(victim: tuple[str, str],
                                                                 unprivileged: bool) -> None:
    # Landlock checks truncation from ABI 3 on; before, O_RDONLY|O_CREAT|O_TRUNC under
    # rpath (so the layer handled no reading) truncated any file the user may write.
    # The layer is built as on an ABI-2 kernel (the running one accepts its rights).
    name, link = victim
    setup = "from pledgepy.backends.linux.landlock import abi\nabi._probed = (2, None)\n"
    body = f"os.open({link!r}, os.O_RDONLY | os.O_CREAT | os.O_TRUNC, 0o600)\nprint('opened')"
    r = under("stdio rpath tmppath", body, setup=setup, unprivileged=unprivileged)
    with open(name) as f:
        assert f.read() == "precious", r.explain()
    assert killed(r), r.explain()


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_access_mode_3_opens_nothing_unveil_hides(victim: tuple[str, str],
                                                  unprivileged: bool) -> None:
    # open(2) with access mode 3 checks read and write permission and gives a descriptor
    # for neither (ioctl-only opens of devices); Landlock's file_open check then asks for
    # no right, so under "rpath wpath" it opened files unveil hides (OpenBSD: EINVAL)
    name, _ = victim
    setup = "pledgepy.unveil('/usr', 'r')\npledgepy.unveil(None, None)\n"
    body = f"attempt(os.open, {name!r}, os.O_RDONLY)\nos.open({name!r}, 3)\nprint('opened')"
    r = under("stdio rpath wpath", body, setup=setup, unprivileged=unprivileged)
    assert r.stdout.split() == ["ERR", "EACCES"], r.explain()
    assert killed(r), r.explain()
    assert "is not allowed by any promise" in r.stderr, r.explain()


def test_a_workers_fstat_does_not_drop_its_parents_posix_locks(tmp_path: object) -> None:
    # The parent answers a "stdio" worker's fstat from a copy of the worker's descriptor
    # (pidfd_getfd); closing that copy in the parent released every POSIX lock the
    # parent held on the file (a database's, say): a compromised worker holding a
    # descriptor of it could undo its parent's locks at will
    import fcntl
    import subprocess
    import sys

    import pledgepy

    name = os.path.join(str(tmp_path), "locked")
    with open(name, "w") as f:
        f.write("data")
    probe = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\ntry:\n"
             "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
             "    print('held')\nelse:\n    print('free')\n")

    def lock_state() -> str:
        return subprocess.run([sys.executable, "-c", probe, name], capture_output=True,
                              text=True, check=True).stdout.strip()

    fd = os.open(name, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        assert lock_state() == "held"
        with pledgepy.Worker("tests.programs.worker_locks", promises="stdio",
                             setup="tests.programs.worker_locks:open_target",
                             env={"PLEDGEPY_TEST_LOCKED": name}) as w:
            assert w.call("fstat_target") == 4
            assert w.stats.violations == 0
            assert lock_state() == "held"
    finally:
        os.close(fd)
