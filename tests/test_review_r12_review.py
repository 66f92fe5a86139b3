"""Round-12 second review: what the merged round's new allowances handed out that OpenBSD
refuses (each test failed on main before its fix), against the running kernel.

tmppath's creates under the command run with ``CONTINUE`` after the supervisor read the
path; the kernel then resolves whatever the program's memory (or a symlink in /tmp)
names, and only Landlock stands between that and the rest of the unveil. A symlink
placed in /tmp by the test stands in for the racing thread: the supervisor reads the
same ``/tmp/...`` string, the kernel opens the same other file, deterministically."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledgepy.backends.linux.exec import tmpcreate
from tests.cprogs import compiled
from tests.pledged import under
from tests.test_command_unveil import SYSTEM_PYTHON, pledge
from tests.test_review_r12_reallib import no_tsync

SECRET = "not-for-a-program-without-rpath\n"


@pytest.fixture
def secret() -> Iterator[tuple[Path, str]]:
    """A directory outside /tmp holding a file only a ``-v`` names, and a link to that
    file in /tmp."""
    where = Path(tempfile.mkdtemp(prefix="pledgepy-review-", dir="/var/tmp"))
    link = Path(tempfile.mkdtemp(prefix="pledgepy-review-", dir="/tmp")) / "link"
    try:
        (where / "secret").write_text(SECRET)
        link.symlink_to(where / "secret")
        yield where, str(link)
    finally:
        shutil.rmtree(where)
        shutil.rmtree(link.parent)


@pytest.fixture(scope="module")
def prog() -> Iterator[Path]:
    with compiled(("tmp_create_read", ())) as built:
        yield built["tmp_create_read"]


def test_a_read_only_create_reads_nothing_without_rpath(secret: tuple[Path, str], prog: Path) -> None:
    """``open("/tmp/...", O_RDONLY|O_CREAT)`` under ``stdio tmppath``: redirected to an
    existing file it creates nothing, and Landlock lets it read whatever the unveil gives
    "r" (a ``-v r:``, the default unveil's libraries, /etc/ssl under inet), so on main it
    printed a ``-v r:`` file the program, without rpath, may not open (its direct open
    is a violation). Now such a create stays a violation without rpath; with rpath it
    runs and reads only what rpath lets it read anyway."""
    r = pledge("-q", "-p", "stdio tmppath", "-v", f"r:{secret[0]}", str(prog), "r",
               secret[1])
    assert SECRET not in r.stdout, r.stdout
    assert r.returncode == 134, (r.returncode, r.stdout, r.stderr)
    assert 'O_RDONLY|O_CREAT) needs "rpath' in r.stderr, r.stderr
    r = pledge("-q", "-p", "stdio rpath tmppath", "-v", f"r:{secret[0]}", str(prog), "r",
               secret[1])
    assert r.returncode == 0 and r.stdout == SECRET, (r.stdout, r.stderr)


def test_a_read_write_create_reads_nothing_with_wpath_alone(secret: tuple[Path, str], prog: Path) -> None:
    """``stdio wpath tmppath`` with ``-v rw:DIR``: main let tmppath's creates run (the
    note keyed on wpath alone), and ``O_RDWR|O_CREAT`` of a /tmp path that leads into
    DIR read its file without rpath. Now the creates stay violations and a note says
    why at start."""
    r = pledge("-p", "stdio wpath tmppath", "-v", f"rw:{secret[0]}", str(prog), "rw",
               secret[1])
    assert SECRET not in r.stdout, r.stdout
    assert r.returncode == 134, (r.returncode, r.stdout, r.stderr)
    assert f"tmppath: -v rw:{secret[0]} lets a racing thread" in r.stderr, r.stderr


def test_dev_tty_is_writable_anyway_only_under_tty() -> None:
    """OpenBSD lets /dev/tty be opened read-write under tty only: ``-v w:/dev/tty``
    without tty and wpath let a redirected create open the terminal for writing (main
    found nothing against it)."""
    held = frozenset({"stdio", "tmppath"})
    assert tmpcreate.refusal(held, False, (("/dev/tty", "w"),), 7) is not None
    assert tmpcreate.refusal(held | {"tty"}, False, (("/dev/tty", "w"),), 7) is None


#: the handler's call site, called directly (as tests/test_path_allowances.py does)
SITE = """
import ctypes
from pledgepy.backends.linux import native
SITE = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_char_p,
                        ctypes.c_long, ctypes.c_long)(native.handler_ip() - 17)
"""


@no_tsync
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the call site's layout is x86_64's")
def test_a_kept_layer_leaves_no_writing_to_the_call_site() -> None:
    """pledge("stdio tmppath tty"), a thread, pledge("stdio tty") on ABI < 8: main kept the
    first allowance layer (it covers tty's) and reported that code calling the handler's
    call site "can still read" the dropped /tmp; but tty's rules let that site open for
    writing and creating, and the kept layer grants /tmp both: it created and wrote
    /tmp files after tmppath was dropped. Now such a layer is not kept (the allowances
    are refused, as strict does) and the site's create fails."""
    made = Path("/tmp", f"pledgepy-review-kept-{os.getpid()}")
    body = f"""
fd = SITE(257, -100, {str(made).encode()!r}, os.O_WRONLY | os.O_CREAT, 0o600)
print("fd", fd >= 0)
"""
    setup = SITE + """
import threading, time
pledgepy.pledge("stdio tmppath tty")
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
"""
    try:
        r = under("stdio tty", body, setup=setup)
        assert r.stdout.split() == ["fd", "False"], r.explain()
        assert not made.exists()
    finally:
        if made.exists():
            made.unlink()


def test_a_chain_of_links_prog_made_leaves_its_status_its_own(place: Path) -> None:
    """When PROG fails, the command names the arguments its unveil hides, resolving each
    after PROG ran. A PROG with cpath made its argument a chain of 1,200 links (each
    hop within the kernel's limit of 40 per walk, so nothing stops it): on main
    posixpath.realpath's recursion raised RecursionError in the supervisor, which then
    said "killed: the supervisor failed" and exited 70 instead of PROG's 3. Now the
    argument is left out of the note."""
    place.chmod(0o777)
    code = ("import os, sys\n"
            "d = sys.argv[1].rsplit('/', 1)[0]\n"
            "open(d + '/l0', 'w').close()\n"
            "os.rename(d + '/l0', d + '/t')\n"
            "os.symlink('t', d + '/l0')\n"
            "for i in range(1, 1201):\n"
            "    os.symlink(f'l{i - 1}', f'{d}/l{i}')\n"
            "sys.exit(3)\n")
    r = pledge("-p", "stdio rpath wpath cpath", "-v", f"rwc:{place}", SYSTEM_PYTHON, "-c",
               code, str(place / "l1200"))
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "supervisor failed" not in r.stderr, r.stderr
