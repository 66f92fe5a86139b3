"""Round 11, the second review of the merged changes (NAME = review). Each test failed
on main before its fix (said in each)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
root = pytest.mark.skipif(os.geteuid() != 0, reason="the parent reads the worker's path "
                          "(CAP_SYS_PTRACE over the non-dumpable worker)")

PLANTER = '''
import ctypes
import os


def plant(d, then):
    """Write _ssl.py into *d* (a directory of the parent's sys.path), then make the
    violation whose answer looked OpenSSL's certificate directory up."""
    with open(os.path.join(d, "_ssl.py"), "w") as f:
        f.write("import os\\n"
                f"open(os.path.join({d!r}, 'RAN'), 'w').write(str(os.getpid()))\\n"
                "raise ImportError('planted')\\n")
    try:
        if then == "open":
            os.close(os.open("/etc", os.O_RDONLY | os.O_DIRECTORY))
        else:
            os.stat("/etc/ssl/certs/00000000.0")
    except OSError as exc:
        return exc.errno
    return 0
'''

PARENT = '''
import os, sys, time, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
for then in sys.argv[1:]:  # a worker each: a later one's start must not import it either
    with pledgepy.Worker("planter", promises="stdio wpath cpath", unveil=[(d, "rwc")]) as w:
        try:
            w.call("plant", d, then)
        except pledgepy.WorkerError as exc:
            print("violation:", exc)
print("RAN" if os.path.exists(os.path.join(d, "RAN")) else "contained")
'''


@root
@pytest.mark.parametrize("then", [["open"], ["open", "open"]])
def test_a_worker_cannot_have_its_parent_import_a_module_it_wrote(
        tmp_path: Path, then: list[str]) -> None:
    """On main the parent imported _ssl lazily, at its first answer that looked up
    OpenSSL's certificate directory (stdiofiles._cert_dirs: any violating open with
    O_DIRECTORY, or stat). A "stdio wpath cpath" worker unveiled a directory of the
    parent's sys.path (its script's, or the working directory under -m) wrote _ssl.py
    there and opened a directory: the unconfined parent ran it (RAN, its pid). Now
    OpenSSL's module is loaded before the first worker starts, and never after."""
    (tmp_path / "planter.py").write_text(PLANTER)
    (tmp_path / "parent.py").write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(Path(__file__).resolve().parent.parent)]))
    r = subprocess.run([sys.executable, str(tmp_path / "parent.py"), *then],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "_ssl.py").exists(), r.stdout + r.stderr  # the worker wrote it
    assert r.stdout.strip().endswith("contained"), r.stdout + r.stderr
    assert not (tmp_path / "RAN").exists()


def _address(text: bytes) -> tuple[ctypes.Array[ctypes.c_char], int]:
    buf = ctypes.create_string_buffer(text)
    return buf, ctypes.addressof(buf)


def _resolv_link(place: Path) -> tuple[Path, Path]:
    """place/etc/resolv.conf, a link to place/run/stub-resolv.conf (systemd-resolved's)."""
    (place / "run").mkdir()
    stub = place / "run" / "stub-resolv.conf"
    stub.write_text("nameserver 127.0.0.53\n")
    (place / "etc").mkdir(mode=0o755)
    link = place / "etc" / "resolv.conf"
    link.symlink_to(stub)
    return link, stub


@pytest.mark.skipif(os.geteuid() != 0, reason="the link's directory must be root's")
def test_an_allowance_file_that_is_a_link_out_is_answered(tmp_path: Path) -> None:
    """On main the supervisor refused any allowance whose real path lay outside the
    allowances: on systemd-resolved systems /etc/resolv.conf is a link to
    /run/systemd/resolve/stub-resolv.conf, and ``pledge -p "stdio dns" getent hosts``
    died of its stat ('newfstatat("/etc/resolv.conf") needs "rpath"'), which
    OpenBSD's dns allowance (the path, whatever it leads to) allows. Now an allowance
    file itself may lead out, from a directory only root may change."""
    from pledgepy.backends.linux.exec import allowed

    link, _ = _resolv_link(tmp_path)
    buf, at = _address(str(link).encode())
    fd = allowed._open(os.getpid(), at, os.O_RDONLY, (str(link),))
    try:
        assert os.read(fd, 10) == b"nameserver"
    finally:
        os.close(fd)
    del buf


@pytest.mark.parametrize("shape", ["others may write its directory", "a name in a tree"])
def test_other_links_out_stay_refused(tmp_path: Path, shape: str) -> None:
    """A link out from a directory another user may write (they could point it
    anywhere), or a link in an allowance tree (not itself an allowance), is refused
    (this passed on main too: the guard of the change above)."""
    from pledgepy.backends.linux.exec import allowed

    link, _ = _resolv_link(tmp_path)
    entry = str(link)
    if shape == "a name in a tree":
        entry = str(link.parent)
    else:
        link.parent.chmod(0o777)
    buf, at = _address(str(link).encode())
    with pytest.raises(allowed._Refused):
        allowed._open(os.getpid(), at, os.O_RDONLY, (entry,))
    del buf


SCRIPT = r'''
set -e
mount -t tmpfs none "$1/etc"
cp -a /etc/. "$1/etc/"
rm "$1/etc/resolv.conf"
cp /etc/resolv.conf "$1/stub-resolv.conf"
ln -s "$1/stub-resolv.conf" "$1/etc/resolv.conf"
mount --bind "$1/etc" /etc
set +e
"$2" -m pledgepy -q -p "stdio dns" getent hosts nonexistent.invalid
echo "rc=$?"
'''


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare")
                    or not os.path.exists("/usr/bin/getent"),
                    reason="a mount namespace of its own (root, unshare), getent")
def test_getent_under_dns_with_resolv_conf_a_link_out(tmp_path: Path) -> None:
    """The command end to end, in a mount namespace whose /etc has resolv.conf as a
    link out of /etc (systemd-resolved's): on main getent died (134) of
    'newfstatat("/etc/resolv.conf") needs "rpath"...'; now the name is not found (2)."""
    os.chmod(tmp_path, 0o755)  # PROG (root without capabilities) reads the stub
    (tmp_path / "etc").mkdir()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    r = subprocess.run(["/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c",
                        SCRIPT, "sh", str(tmp_path), sys.executable],
                       capture_output=True, text=True, timeout=120, env=env)
    assert "rc=2" in r.stdout, r.stdout + r.stderr
    assert "pledge: " not in r.stderr, r.stderr


def _stat_call(path: bytes) -> tuple[int, tuple[int, ...], ctypes.Array[ctypes.c_char],
                                     ctypes.Array[ctypes.c_char]]:
    from pledgepy.backends.linux.seccomp import kernel
    from pledgepy.backends.linux.syscalls import BY_ARCH

    name, at = _address(path)
    out = ctypes.create_string_buffer(256)
    nr = BY_ARCH[kernel.arch() or "x86_64"]["newfstatat"]
    return nr, (-100 & 0xFFFFFFFF, at, ctypes.addressof(out), 0, 0, 0), name, out


@pytest.mark.skipif(not os.path.isfile("/etc/passwd"), reason="needs /etc/passwd")
def test_an_allowance_stat_whose_caller_went_away_is_no_violation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread of PROG stats /etc/passwd under "stdio getpw" while another calls
    exit_group: the supervisor answers it, finds the notification gone, and on main
    returned None, 'not an allowance', so serve() went on to call it a violation
    ('newfstatat("/etc/passwd") needs "rpath"...') and set the process's status to
    SIGABRT (134: it broke a promise) though it broke none. Now the answer is "nothing
    to send" (-1). (The kernel's side is simulated: no notification is pending.)"""
    from pledgepy.backends.linux.exec import allowed
    from pledgepy.backends.linux.seccomp import kernel

    monkeypatch.setattr(allowed, "still_pending", lambda listener, ident: False)
    nr, args, name, out = _stat_call(b"/etc/passwd")
    got = allowed.answer(-1, 1, os.getpid(), nr, args, frozenset({"stdio", "getpw"}),
                         kernel.arch() or "x86_64")
    assert got == -1
    # a path that is no allowance is still the violation it was, pending or not
    nr, args, name2, out2 = _stat_call(b"/etc/shadow")
    assert allowed.answer(-1, 1, os.getpid(), nr, args, frozenset({"stdio", "getpw"}),
                          kernel.arch() or "x86_64") is None
    del name, out, name2, out2


def test_an_allowance_open_whose_caller_went_away_is_no_violation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The open's side of the test above: SECCOMP_IOCTL_NOTIF_ADDFD fails with ENOENT
    once the caller has gone; on main that was 'not an allowance' (None), a violation
    and SIGABRT's status. A kernel without ADDFD (another error) still gets None."""
    import errno
    import fcntl

    from pledgepy.backends.linux.exec import allowed
    from pledgepy.backends.linux.seccomp import kernel
    from pledgepy.backends.linux.syscalls import BY_ARCH

    arch = kernel.arch() or "x86_64"
    for code, want in ((errno.ENOENT, -1), (errno.EINVAL, None)):
        def ioctl(fd: int, request: int, arg: bytes, code: int = code) -> bytes:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(fcntl, "ioctl", ioctl)
        name, at = _address(b"/etc/passwd")
        args = (-100 & 0xFFFFFFFF, at, os.O_RDONLY | os.O_CLOEXEC, 0, 0, 0)
        assert allowed.answer(-1, 1, os.getpid(), BY_ARCH[arch]["openat"], args,
                              frozenset({"stdio", "getpw"}), arch) == want
        del name
