"""Round 12 (NAME = attack): an attacker's read of what rounds 10-11 added. Each test
failed on main before its fix (said in each docstring)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.planting import PLANTING

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux")

ROOT = Path(__file__).resolve().parent.parent

# ---- the Worker's parent: pledgepy's own imports after a worker ran ------------------

#: The worker: writes, into *d*, a module for each of *names* that leaves RAN-name-pid
#: when imported (then loads the real one, so that the importer still works).
PLANTER = '''
import os

''' + PLANTING

#: The parent: a "stdio wpath cpath" worker unveiled the script's directory (sys.path[0])
#: plants every standard module not loaded yet; then the parent calls pledgepy's API.
PARENT = '''
import os, sys, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
names = sorted(n for n in sys.stdlib_module_names - set(sys.modules)
               if n not in sys.builtin_module_names and not n.startswith("__"))
w = pledgepy.Worker("planter", promises="stdio wpath cpath", unveil=[(d, "rwc")])
print("planted", w.call("plant", d, names))
what = sys.argv[1]
if what == "unveil_imports":
    print("rules", len(pledgepy.unveil_imports()) > 0)
elif what == "pool":  # pledgepy's lazily loaded names: pool.py's concurrent.futures
    print("pool", pledgepy.WorkerPool(1, "planter", promises="stdio").map("plant", []) == [],
          callable(pledgepy.isolated("stdio")))
elif what == "unveil":
    pledgepy.unveil("/", "r")
    pledgepy.unveil_many([("/tmp", "rwc")])
    print("status", pledgepy.status().unveil.rules != ())
else:
    pledgepy.pledge(what)
    print("pledged", pledgepy.status().promises)
w.close()
ran = sorted(n.split("-")[1] for n in os.listdir(d) if n.startswith("RAN-")
             and n.endswith(f"-{os.getpid()}"))
print("RAN", " ".join(ran) if ran else "none")
'''


def _parent(tmp_path: Path, what: str) -> str:
    app, lib = tmp_path / "app", tmp_path / "lib"
    app.mkdir()
    lib.mkdir()
    (lib / "planter.py").write_text(PLANTER)
    (app / "parent.py").write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(lib), str(ROOT)]))
    r = subprocess.run([sys.executable, "-W", "ignore", str(app / "parent.py"), what],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "planted" in r.stdout and (app / "ctypes.py").exists(), r.stdout + r.stderr
    return r.stdout


@pytest.mark.parametrize("what", ["stdio rpath inet dns", "stdio rpath proc exec",
                                  "unveil_imports", "unveil", "pool"])
def test_pledgepy_s_api_imports_nothing_a_worker_planted(tmp_path: Path, what: str) -> None:
    """A worker allowed to write the parent's script directory plants standard modules
    there; then the parent pledges (as README allows: a parent that pledges after
    starting its worker), unveils, calls unveil_imports() or first names WorkerPool or
    isolated. On main pledge() imported the planted ctypes.py (and, under dns,
    stringprep.py: the idna codec), unveil_imports() sysconfig.py and ctypes.py, and the
    pool's module concurrent/ and logging.py, unconfined (pledge() before anything was
    enforced: the worker's code could have made it a no-op). fence.py guarded only the
    Worker's own warnings and fork warm-up. Now pledgepy's API imports from the
    standard library's directories alone once a worker has run: RAN none. ("unveil"
    imported nothing on main either: the guard.)"""
    out = _parent(tmp_path, what)
    assert out.strip().endswith("RAN none"), out
    assert any(word in out for word in ("pledged", "rules True", "status True",
                                        "pool True True")), out


# ---- the command's served opens: PROG's user, not the supervisor's rights ---------------

NOBODY = 65534


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A system.posix_acl_access value: (tag, perm, id) entries, as setfacl writes it."""
    import struct

    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


_ANY = 0xFFFFFFFF
#: user::rw- user:nobody:--- group::r-- mask::r-- other::r--
DENY_NOBODY = _acl((1, 6, _ANY), (2, 0, NOBODY), (4, 4, _ANY), (0x10, 4, _ANY), (0x20, 4, _ANY))
#: user::rw- user:nobody:r-- group::--- mask::r-- other::---
GRANT_NOBODY = _acl((1, 6, _ANY), (2, 4, NOBODY), (4, 0, _ANY), (0x10, 4, _ANY), (0x20, 0, _ANY))
#: user::rw- user:nobody:rw- group::r-- mask::-w- other::r-- (the mask takes nobody's r)
MASKED = _acl((1, 6, _ANY), (2, 6, NOBODY), (4, 4, _ANY), (0x10, 2, _ANY), (0x20, 4, _ANY))
#: user::rw- user:nobody:--- group::r-- mask::--- other::r-- (a zero mask: the kernel reads
#: no ACL then, and nobody gets other's r)
ZERO_MASK = _acl((1, 6, _ANY), (2, 0, NOBODY), (4, 4, _ANY), (0x10, 0, _ANY), (0x20, 4, _ANY))


def _tree(place: Path) -> tuple[Path, dict[str, Path]]:
    """An allowance tree with files PROG's user (nobody) may or may not read."""
    tree = place / "zones"
    tree.mkdir()
    os.chmod(place, 0o755)
    os.chmod(tree, 0o755)
    files: dict[str, Path] = {}
    for name in ("plain", "deny", "grant", "masked", "zero mask"):
        files[name] = tree / name
        files[name].write_text("TZif\n")
        files[name].chmod(0o644 if name != "grant" else 0o600)
    (tree / "locked").mkdir(mode=0o700)
    files["locked"] = tree / "locked" / "UTC"
    files["locked"].write_text("TZif\n")
    files["locked"].chmod(0o644)
    (tree / "Link").symlink_to(tree / "locked")  # a link whose target nobody cannot search
    files["via link"] = tree / "Link" / "UTC"
    for name, acl in (("deny", DENY_NOBODY), ("grant", GRANT_NOBODY), ("masked", MASKED),
                      ("zero mask", ZERO_MASK)):
        try:
            os.setxattr(files[name], "system.posix_acl_access", acl)
        except OSError:
            pytest.skip("no POSIX ACLs on this file system")
    return tree, files


def _as_nobody(paths: list[bytes]) -> tuple[int, list[bool], list[object]]:
    """A child as nobody that tried to open each of *paths* (its buffers' addresses are
    the same in it: a fork): its pid, what its own opens did, and the buffers."""
    import ctypes

    bufs: list[object] = [ctypes.create_string_buffer(p) for p in paths]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            got = b""
            for p in paths:
                try:
                    os.close(os.open(p, os.O_RDONLY))
                    got += b"1"
                except OSError:
                    got += b"0"
            os.write(w, got)
            signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, len(paths))
    os.close(r)
    return pid, [c == ord("1") for c in got], bufs


@pytest.mark.skipif(os.geteuid() != 0, reason="the supervisor is root: its rights are the point")
def test_a_served_open_is_judged_as_prog_s_own_would_be(place: Path) -> None:
    """The supervisor (root) opens an allowance file for PROG itself, and must lend it
    none of its rights. PROG runs as nobody (-u nobody). On main only the file's mode
    bits were checked: a 0644 file in a 0700 directory (or reached through a link to
    one), and a 0644 file whose ACL says user:nobody:--- (or whose mask takes nobody's
    r), were handed over though nobody's own open fails with EACCES. Now each served
    open agrees with the kernel's answer to nobody's own open, refusals and grants (an
    ACL entry granting nobody a 0600 file; a zero mask, under which the kernel reads no
    ACL) alike."""
    import ctypes

    from pledgepy.backends.linux.exec import allowed

    tree, files = _tree(place)
    names = list(files)
    pid, kernel, bufs = _as_nobody([str(files[n]).encode() for n in names])
    try:
        assert kernel == [n in ("plain", "grant", "zero mask") for n in names], \
            dict(zip(names, kernel, strict=True))
        served = []
        for buf in bufs:
            try:
                fd = allowed._open(pid, ctypes.addressof(buf), os.O_RDONLY,  # type: ignore[arg-type]
                                   (str(tree),))
            except PermissionError:
                served.append(False)
            else:
                os.close(fd)
                served.append(True)
        assert dict(zip(names, served, strict=True)) == dict(zip(names, kernel, strict=True))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# ---- the Worker's parent: stdio's files for a worker of another user --------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="a root parent of a nobody worker is the point")
def test_a_worker_s_parent_serves_only_what_the_worker_s_user_may_read(
        place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A root parent serves a ``user="nobody"`` worker stdio's files (stdiofiles.py: "a
    parent of another user never hands over what the worker's own user could not
    open"). On main it checked the file's other-read bit alone: a 0644 file in a 0700
    directory, or one whose ACL said user:nobody:---, was stat'ed for (and opened for)
    the worker though nobody's own open fails with EACCES. Now the walk and the ACL
    are judged with the worker's ids, as the kernel would: each answer agrees with
    nobody's own open. (The file is put among the served ones; the kernel's side, a
    pending notification, is simulated.)"""
    import ctypes

    from pledgepy.backends.linux import native
    from pledgepy.backends.linux.exec import stdiofiles
    from pledgepy.backends.linux.seccomp import kernel
    from pledgepy.backends.linux.syscalls import BY_ARCH

    if native.load() is None:
        pytest.skip("the native module is not built")
    stdiofiles.prime()  # as a parent before its first worker (else _cert_dirs caches none)
    tree, files = _tree(place)
    names = [n for n in files if n != "grant"]  # the parent asks other's r bit too
    paths = [str(files[n]).encode() for n in names]
    monkeypatch.setattr(stdiofiles, "readable", lambda promises: frozenset(paths))
    monkeypatch.setattr(stdiofiles, "still_pending", lambda listener, ident: True)
    arch = kernel.arch() or "x86_64"
    out = ctypes.create_string_buffer(256)
    pid, own, bufs = _as_nobody(paths)
    try:
        assert own == [n in ("plain", "zero mask") for n in names], dict(zip(names, own, strict=True))
        answered = []
        for buf in bufs:
            args = [-100 & 0xFFFFFFFF, ctypes.addressof(buf), ctypes.addressof(out), 0, 0, 0]  # type: ignore[arg-type]
            got = stdiofiles.answer_for(-1, 1, pid, BY_ARCH[arch]["newfstatat"], args,
                                        frozenset({"stdio"}), arch)
            assert got in ((0, False), (-13, False)), got
            answered.append(got == (0, False))
        assert dict(zip(names, answered, strict=True)) == dict(zip(names, own, strict=True))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
