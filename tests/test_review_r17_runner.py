"""Round 17 (c): the pledge command and pledge() on real programs.

Renaming across directories under unveil and a pledge. Landlock denies REFER (a
rename or link that changes a file's directory) in *every* layer of a domain that
handles any file access, even a layer that does not handle REFER itself ("initially
denied"). pledge()'s nested domain (domain.py: a scope-only layer, or EXECUTE beneath
"/" below ABI 6; and the path allowances' layer) handled no REFER, so once an unveil
layer was in force below it, every cross-directory rename failed with EXDEV, where
both sides allow ``c``: ``pledge -p "stdio rpath cpath" -v rc:DIR mv DIR/a/f DIR/b/``
fell back to copying (and was killed for ``wpath``), and a program renaming a
finished file out of its work directory got EXDEV. The nested layers now grant REFER
beneath "/": what may be renamed is the unveil layer's decision alone, as the README
says (``c`` ... "across directories where both sides allow it").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT, run

SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ENV.pop("PLEDGEPY_LAUNCHER", None)
MV = shutil.which("mv")


def _tree(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "a").mkdir(parents=True)
    (work / "b").mkdir()
    (work / "a" / "f").write_text("x\n")
    return work


def _is_elf(path: str | None) -> bool:
    if path is None:
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


@pytest.fixture(params=["python", "native"])
def mode(request: pytest.FixtureRequest) -> str:
    if SCRIPT is None:
        pytest.skip("no installed pledge console script")
    if request.param == "native" and not _is_elf(SCRIPT):
        pytest.skip("the installed pledge is not the native launcher")
    return str(request.param)


def _pledge(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    env = dict(ENV)
    if mode == "python":
        env["PLEDGEPY_LAUNCHER"] = "python"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.skipif(MV is None, reason="no mv")
def test_mv_across_directories_under_the_command(tmp_path: Path, mode: str) -> None:
    work = _tree(tmp_path)
    r = _pledge(mode, "-p", "stdio rpath cpath", "-v", f"rc:{work}",
                str(MV), str(work / "a" / "f"), str(work / "b") + "/")
    assert r.returncode == 0, r.stderr
    assert (work / "b" / "f").read_text() == "x\n" and not (work / "a" / "f").exists()


RENAME = """
import errno, os, sys, pledgepy
work = sys.argv[1]
for path, letters in (("a", sys.argv[2]), ("b", sys.argv[3])):
    pledgepy.unveil(os.path.join(work, path), letters)
pledgepy.unveil()
pledgepy.pledge("stdio rpath cpath")
try:
    os.rename(os.path.join(work, "a", "f"), os.path.join(work, "b", "f"))
    print("renamed")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def test_rename_across_unveiled_directories_after_pledge(tmp_path: Path) -> None:
    work = _tree(tmp_path)
    r = run(RENAME, args=[str(work), "rc", "rc"])
    assert r.returncode == 0 and r.stdout.strip() == "renamed", r.explain()
    assert (work / "b" / "f").exists()


@pytest.mark.parametrize("letters", ["r", "rwc"])
def test_rename_stays_the_unveil_layers_decision(tmp_path: Path, letters: str) -> None:
    # b without c: no rename into it; b with w besides: the file would gain a right
    work = _tree(tmp_path)
    r = run(RENAME, args=[str(work), "rc", letters])
    assert r.returncode == 0 and r.stdout.strip() in ("EACCES", "EXDEV"), r.explain()
    assert (work / "a" / "f").exists() and not (work / "b" / "f").exists()


# A typo in -v's PERMS. ``-v rq:/etc`` is read as one path named "rq:/etc" (a path may
# hold a colon), which does not exist: the message said only "-v rq:/etc: No such file
# or directory", with no word that "rq" was not taken for permissions; ``-v rwx:`` said
# "-v : No such file or directory". Both now say what was read.


@pytest.mark.parametrize(("spec", "said"), [
    ("rq:/etc", "'rq' is not PERMS, which are letters of r w x c"),
    ("rwx:", "-v rwx:: no PATH given"),
])
def test_a_bad_v_spec_says_what_was_read(mode: str, spec: str, said: str) -> None:
    r = _pledge(mode, "-v", spec, "cat", "/etc/hostname")
    assert r.returncode == 64 and said in r.stderr and not r.stdout, r.stderr


def test_a_path_with_a_colon_is_still_a_path(tmp_path: Path, mode: str) -> None:
    odd = tmp_path / "rq:x"
    odd.write_text("colon\n")
    r = _pledge(mode, "-p", "stdio rpath", "-v", str(odd), "cat", str(odd))
    assert r.returncode == 0 and r.stdout == "colon\n", r.stderr


# A program with file capabilities (ping's cap_net_raw=ep). Under no_new_privs with the
# bounding set emptied the kernel refuses its execve (EPERM): the command said only
# "pledge: ping: Operation not permitted"; and ``pledge --learn ping`` exited 127 (as
# for a missing program) and printed a report with a suggested command, of a run that
# never was. Both now say why, and learn reports nothing, with the command's 126.

TRUE = shutil.which("true")


def _with_caps(tmp_path: Path) -> Path:
    import struct

    assert TRUE is not None
    prog = tmp_path / "captrue"
    shutil.copy(TRUE, prog)
    try:  # VFS_CAP_REVISION_2 | effective, cap_net_raw permitted: setcap cap_net_raw=ep
        os.setxattr(prog, "security.capability",
                    struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))
    except OSError as e:
        pytest.skip(f"cannot set file capabilities here: {e}")
    return prog


@pytest.mark.skipif(os.geteuid() != 0 or TRUE is None, reason="needs root and true")
def test_a_program_with_file_capabilities_says_why(tmp_path: Path, mode: str) -> None:
    prog = _with_caps(tmp_path)
    r = _pledge(mode, "-p", "stdio", str(prog))
    assert r.returncode == 126 and "has file capabilities" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or TRUE is None, reason="needs root and true")
def test_learn_reports_no_run_that_never_was(tmp_path: Path) -> None:
    prog = _with_caps(tmp_path)
    out = tmp_path / "report.json"
    r = _pledge("python", "--learn", "--json", "-o", str(out), str(prog))
    assert r.returncode == 126 and "has file capabilities" in r.stderr, r.stderr
    assert not out.read_text(), out.read_text()


def test_learn_of_a_file_the_kernel_cannot_run_is_126(tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.write_text("neither ELF nor #!\n")  # execve: ENOEXEC, as the command says it
    odd.chmod(0o755)
    out = tmp_path / "report.json"
    r = _pledge("python", "--learn", "--json", "-o", str(out), str(odd))
    assert r.returncode == 126 and "Exec format error" in r.stderr, r.stderr
    assert not out.read_text(), out.read_text()
    assert _pledge("python", "-p", "stdio", str(odd)).returncode == 126


# creat("/dev/null"). OpenBSD lets every pledged process open /dev/null, and the command
# answers open/openat of it (a shell's >/dev/null), but x86_64's creat() syscall, which
# GNU tar makes for -f /dev/null, was a violation ("needs wpath cpath") both under the
# command and in a pledged process; learn counted it as stdio, so the learned command
# was killed. It is answered as open(O_CREAT|O_WRONLY|O_TRUNC) now: only /dev/null.

TAR = shutil.which("tar")
X86_64 = os.uname().machine == "x86_64"  # the only one of the two with creat()


@pytest.mark.skipif(TAR is None or not X86_64, reason="needs tar on x86_64")
def test_tar_to_dev_null_under_the_command(tmp_path: Path, mode: str) -> None:
    (tmp_path / "f").write_text("x\n")
    base = ["-v", f"r:{tmp_path}"]
    for given in ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf"):  # tar's owner names
        if os.path.exists(given):
            base += ["-v", f"r:{given}"]
    r = _pledge(mode, "-p", "stdio rpath", *base, str(TAR), "-C", str(tmp_path),
                "-cf", "/dev/null", "f")
    assert r.returncode == 0, r.stderr


CREAT = """
import ctypes, errno, os, pledgepy
libc = ctypes.CDLL(None, use_errno=True)
pledgepy.pledge("stdio")
fd = libc.creat(b"/dev/null", 0o666)
print(fd >= 0 and os.write(fd, b"x") == 1)
libc.creat(b"/dev/zero", 0o666)  # any other path stays a violation
print("not reached")
"""


@pytest.mark.skipif(not X86_64, reason="creat() is x86_64's")
def test_creat_of_dev_null_in_a_pledged_process() -> None:
    r = run(CREAT)
    assert r.stdout.splitlines() == ["True"], r.explain()
    assert r.signal == 6 and 'creat("/dev/zero", 0666) needs "wpath cpath"' in r.stderr, \
        r.explain()


# creat() under tmppath. OpenBSD's tmppath lets a process create-open under /tmp/, and
# creat() is such an open; the command and pledge() answered open/openat so, but a
# creat("/tmp/x") was a violation ("needs wpath cpath"). It now runs where the same
# openat would, with the same limits (no setid mode; nowhere but /tmp/).

PY_CREAT = """
import ctypes, errno, os, sys, pledgepy
libc = ctypes.CDLL(None, use_errno=True)
pledgepy.pledge("stdio tmppath")
fd = libc.creat(sys.argv[1].encode(), 0o600)
print(fd >= 0, os.stat(sys.argv[1]).st_mode & 0o777 == 0o600)
libc.creat(sys.argv[2].encode(), 0o600)
print("not reached")
"""


@pytest.mark.skipif(not X86_64, reason="creat() is x86_64's")
def test_creat_under_tmppath_in_a_pledged_process(tmp_path: Path) -> None:
    made = tempfile_name()
    try:
        r = run(PY_CREAT, args=[made, "/var/tmp/pledgepy-r17-not-here"])
        assert r.stdout.splitlines() == ["True True"], r.explain()
        assert r.signal == 6 and 'creat("/var/tmp/pledgepy-r17-not-here", 0600)' in r.stderr
        assert not os.path.exists("/var/tmp/pledgepy-r17-not-here")
    finally:
        if os.path.exists(made):
            os.unlink(made)


def tempfile_name() -> str:
    import tempfile

    fd, name = tempfile.mkstemp(dir="/tmp", prefix="pledgepy-r17-")
    os.close(fd)
    os.unlink(name)
    return name


CMD_CREAT = """
import ctypes, sys
libc = ctypes.CDLL(None)
print(libc.creat(sys.argv[1].encode(), 0o600) >= 0)
"""


@pytest.mark.skipif(not X86_64, reason="creat() is x86_64's")
def test_creat_under_tmppath_under_the_command(mode: str) -> None:
    made = tempfile_name()
    try:
        r = _pledge(mode, "-p", "stdio tmppath prot_exec", "-q", sys.executable, "-c",
                    CMD_CREAT, made)
        assert r.returncode == 0 and r.stdout == "True\n", r.stderr
        assert os.path.exists(made)
    finally:
        if os.path.exists(made):
            os.unlink(made)


# -c DIR with unveil. The child unveils the -v paths after its chroot, inside DIR, but
# the command checked that they exist outside it: ``-c DIR -v /tmp/f`` (DIR/tmp/f) said
# "No such file or directory", and a path that exists only outside was refused by the
# child; so no file inside DIR could be named. And the lock's thread count reads
# /proc/self/task, which the chroot hides: every -c run noted "1 other thread(s) already
# running are not confined" (and --strict refused it, exit 70). -v paths are now those
# inside DIR, and the count's descriptor is opened before the chroot.

CAT = r"""
#include <stdio.h>
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "r");
    char b[64];
    size_t n;
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    n = fread(b, 1, sizeof b - 1, f);
    b[n] = 0;
    fputs(b, stdout);
    return 0;
}
"""


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    from tests.cprogs import CC

    if os.geteuid() != 0 or CC is None:
        pytest.skip("needs root and a C compiler")
    root = tmp_path / "jail"
    (root / "bin").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "f").write_text("inside\n")
    source = tmp_path / "cat.c"
    source.write_text(CAT)
    built = subprocess.run([CC, "-static", "-O1", "-o", str(root / "bin" / "cat"), str(source)],
                           capture_output=True, check=False)
    if built.returncode != 0:
        pytest.skip("no static C library to link a program for the chroot")
    return root


@pytest.mark.parametrize("strict", [False, True])
def test_v_paths_under_c_are_inside_dir(jail: Path, strict: bool) -> None:
    flags = ["--strict"] if strict else []
    r = _pledge("python", *flags, "-c", str(jail), "-p", "stdio rpath", "-v", "/data/f",
                "/bin/cat", "/data/f")
    assert r.returncode == 0 and r.stdout == "inside\n", r.stderr
    assert "other thread" not in r.stderr, r.stderr


def test_a_v_path_missing_inside_dir_is_named(jail: Path) -> None:
    r = _pledge("python", "-c", str(jail), "-p", "stdio rpath", "-v", "/nothere",
                "/bin/cat", "/data/f")
    assert r.returncode == 64 and f"-v /nothere: No such file or directory (in -c {jail})" \
        in r.stderr, r.stderr
