"""Round 16 attack review: the default unveil reads an ELF file as the kernel and ld.so
do, both in the Python command (command/elf.py, discover.py) and in the native
launcher (launcher/discover.c).

On main, a program with a second PT_INTERP header (its file string "/", its address the
real loader's, so ld.so never noticed) had "/" unveiled rx: the kernel loads the first
PT_INTERP, both readers kept the last and unveiled it without looking at what it was,
and the program read /etc/shadow under "stdio rpath", exit 0, in both commands. Now the
first PT_INTERP is the loader, and it is unveiled only when it is an ELF file. In the
dynamic section ld.so stops at DT_NULL and keeps the last DT_STRTAB, DT_RPATH and
DT_RUNPATH: so do both readers (an entry after DT_NULL could name any ELF file to be
unveiled).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pledgepy.command import elf
from tests.test_launcher_discover import CC, compare, driver, native  # noqa: F401

pytestmark = pytest.mark.skipif(CC is None or not sys.platform.startswith("linux"),
                                reason="needs a C compiler, on Linux")
BIN = Path(sys.executable).parent
READER = "#include <stdio.h>\nint main(int c, char **v) { for (int i = 1; i < c; i++) {\n" \
         " FILE *f = fopen(v[i], \"r\"); char b[64] = {0};\n" \
         " if (!f) { perror(v[i]); continue; } fgets(b, sizeof b, f); printf(\"read %s\", b); }\n" \
         " return 0; }\n"


def _second_interp(src: Path, dst: Path, target: str) -> None:
    """*src* copied to *dst* with its last PT_NOTE turned into a second PT_INTERP whose
    file string is *target* and whose address is the first's (what ld.so reads)."""
    data = bytearray(src.read_bytes())
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    at_str = len(data)
    data += target.encode() + b"\0"
    first, notes = None, []
    for i in range(phnum):
        at = phoff + i * phentsize
        kind, _, _, vaddr, paddr, *_ = struct.unpack_from("<IIQQQQQQ", data, at)
        if kind == elf.PT_INTERP and first is None:
            first = (vaddr, paddr)
        elif kind == 4:  # PT_NOTE
            notes.append(at)
    assert first is not None and notes
    n = len(target) + 1
    struct.pack_into("<IIQQQQQQ", data, notes[-1], elf.PT_INTERP, 4, at_str, *first, n, n, 1)
    dst.write_bytes(data)
    dst.chmod(0o755)


@pytest.mark.parametrize("command", ["native", "python"])
def test_a_second_pt_interp_unveils_nothing(tmp_path: Path, command: str) -> None:
    (tmp_path / "r.c").write_text(READER)
    plain, crafted = tmp_path / "reader", tmp_path / "reader2"
    subprocess.run([str(CC), "-O1", "-o", str(plain), str(tmp_path / "r.c")], check=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret\n")
    for target in ("/", str(tmp_path)):
        _second_interp(plain, crafted, target)
        assert elf.read(str(crafted)).interp == elf.read(str(plain)).interp  # type: ignore[union-attr]
        r = subprocess.run([str(crafted), str(secret)], capture_output=True, text=True)
        assert r.stdout == "read the secret\n"  # the kernel and ld.so run it as ever
        if command == "native":
            argv, env = [str(BIN / "pledge")], {**os.environ, "PLEDGEPY_LAUNCHER": "native"}
        else:
            argv, env = [str(BIN / "pledge-python")], dict(os.environ)
        r = subprocess.run([*argv, "-q", "-p", "stdio rpath", str(crafted), str(secret),
                            "/etc/shadow"], capture_output=True, text=True, env=env, cwd="/")
        assert "secret" not in r.stdout and "read" not in r.stdout, (target, r.stdout)
        assert r.stderr.count("Permission denied") == 2, (target, r.returncode, r.stderr)


def _synthetic(path: Path, secret: str, named: str = "") -> None:
    """A minimal ELF: one PT_LOAD over the whole file (vaddr = offset), PT_INTERP the
    real loader, and a dynamic section [STRTAB (a decoy), STRTAB, NEEDED libc.so.6,
    (NEEDED *named*,) RUNPATH /nowhere1, RUNPATH /nowhere2, NULL, NEEDED SECRET,
    RUNPATH /nowhere3]."""
    interp = elf.read(sys.executable).interp or elf.read("/bin/true").interp  # type: ignore[union-attr]
    assert interp
    strings = b"\0libc.so.6\0" + secret.encode() + b"\0/nowhere1\0/nowhere2\0/nowhere3\0" \
        + named.encode() + b"\0"
    at = {s: strings.index(b"\0" + s.encode() + b"\0") + 1
          for s in ("libc.so.6", secret, "/nowhere1", "/nowhere2", "/nowhere3", named)}
    phnum = 3
    interp_off = 64 + 56 * phnum
    interp_b = interp.encode() + b"\0"
    str_off = interp_off + len(interp_b)
    decoy_off = str_off + len(strings)
    decoy = b"\0" * 64
    dyn_off = (decoy_off + len(decoy) + 7) // 8 * 8
    dyn = [(5, decoy_off), (5, str_off), (1, at["libc.so.6"]),
           *([(1, at[named])] if named else []), (29, at["/nowhere1"]),
           (29, at["/nowhere2"]), (0, 0), (1, at[secret]), (29, at["/nowhere3"])]
    dyn_b = b"".join(struct.pack("<qQ", t, v) for t, v in dyn)
    size = dyn_off + len(dyn_b)
    head = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    head += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", elf.PT_INTERP, 4, interp_off, interp_off, interp_off,
                     len(interp_b), len(interp_b), 1)
    ph += struct.pack("<IIQQQQQQ", elf.PT_LOAD, 5, 0, 0, 0, size, size, 4096)
    ph += struct.pack("<IIQQQQQQ", elf.PT_DYNAMIC, 6, dyn_off, dyn_off, dyn_off, len(dyn_b),
                      len(dyn_b), 8)
    body = bytes(head) + ph + interp_b + strings + decoy
    path.write_bytes(body + b"\0" * (dyn_off - len(body)) + dyn_b)
    path.chmod(0o755)


def test_the_dynamic_section_ends_at_dt_null(tmp_path: Path, driver: Path) -> None:  # noqa: F811
    secret = tmp_path / "secret-elf"
    shutil.copy("/bin/true", secret)
    prog = tmp_path / "synthetic"
    _synthetic(prog, str(secret))
    info = elf.read(str(prog))
    assert info is not None
    assert info.needed == ("libc.so.6",) and info.runpath == ("/nowhere2",), \
        (info.needed, info.runpath)
    n, fast, diffs = compare(driver, [(str(prog), "stdio rpath", ())])
    assert not diffs, diffs
    got = native(driver, [(str(prog), "stdio rpath", ())])[0]
    assert str(secret) not in "\t".join(got), got


@pytest.mark.parametrize("what", ["a directory", "a text file", "/"])
def test_a_needed_name_with_a_slash_is_unveiled_only_as_an_elf(
        tmp_path: Path, driver: Path, what: str) -> None:  # noqa: F811
    """A DT_NEEDED naming a path (ld.so takes it as named) gave the Python command's
    default unveil whatever it named, directory or not ("/" read everything under
    "stdio rpath"); the launcher's discovery kept only an ELF file of the program's
    machine, as the name search does: so does the Python one now."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("key\n")
    named = {"a directory": str(secret), "a text file": str(secret / "key.txt"), "/": "/"}[what]
    prog = tmp_path / "synthetic"
    _synthetic(prog, str(tmp_path / "unused"), named=named)
    info = elf.read(str(prog))
    assert info is not None and named in info.needed
    assert named not in elf.Resolver().closure([str(prog)])
    n, fast, diffs = compare(driver, [(str(prog), "stdio rpath", ())])
    assert not diffs, diffs
