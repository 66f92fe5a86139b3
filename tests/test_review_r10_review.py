"""Round-10 second review (attacker's read): what a hostile script made the pledge
command do, as root, before anything was confined. Each test failed on main before its
fix, against the running kernel."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from pledgepy.command import discover, elf
from tests.test_command_unveil import pledge


class _Writer:
    """A writer blocked in open(FIFO, O_WRONLY): that open returns only once someone
    opens the FIFO for reading, so whether it returned tells whether anyone did (a
    device's open is where its side effects are: /dev/watchdog arms, a tape rewinds, a
    serial line raises DTR; a FIFO's is the one a test can watch)."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._open, daemon=True)
        self.thread.start()

    def _open(self) -> None:
        fd = os.open(self.fifo, os.O_WRONLY)
        self.opened.set()
        os.close(fd)

    def release(self) -> None:
        if not self.opened.is_set():  # open it ourselves so that the thread ends
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.opened.wait(5)
            os.close(fd)
        self.thread.join(5)


def _fifo(place: Path) -> tuple[Path, _Writer]:
    fifo = place / "fifo"
    os.mkfifo(fifo)
    return fifo, _Writer(fifo)


def test_a_shebang_naming_a_fifo_is_never_opened_by_the_command(place: Path) -> None:
    """``#!FIFO``: round 10 opened it O_NONBLOCK (so it no longer hung) and then checked
    it was regular: the open itself, as root, is what a device's side effects hang on.
    On main the blocked writer was released (the command opened the FIFO)."""
    fifo, writer = _fifo(place)
    script = place / "prog"
    script.write_text(f"#!{fifo}\n")
    script.chmod(0o755)
    try:
        r = pledge("-q", "-p", "stdio", str(script))
        assert r.returncode != 0, r
        assert not writer.opened.wait(0.3), "the pledge command opened the FIFO"
    finally:
        writer.release()


@pytest.mark.parametrize("reader", [elf.read, discover.shebang], ids=["elf", "shebang"])
def test_discovery_reads_never_open_a_non_regular_file(place: Path, reader: object) -> None:
    """elf.read (a DT_NEEDED or PROG itself) and shebang (a #! line) of a FIFO: not
    opened at all. On main both opened it (the writer was released)."""
    fifo, writer = _fifo(place)
    try:
        assert callable(reader)
        assert reader(str(fifo)) is None
        assert not writer.opened.wait(0.3), "discovery opened the FIFO"
    finally:
        writer.release()


def test_open_regular_still_reads_a_regular_file_and_refuses_a_directory(place: Path) -> None:
    (place / "f").write_bytes(b"#!/bin/sh\n")
    with elf.open_regular(str(place / "f")) as f:
        assert f.read() == b"#!/bin/sh\n"
    with pytest.raises(OSError):
        elf.open_regular(str(place))
    with pytest.raises(OSError):
        elf.open_regular(str(place / "missing"))


def test_a_tree_every_user_may_write_is_no_interpreters_tree(place: Path) -> None:
    """A "python3" in SHARED/bin, SHARED a directory all may write (/tmp/bin/python3:
    anyone can make /tmp/bin): its tree was SHARED, /tmp whole, so its answer naming
    SHARED unveiled every other user's file there to the program. On main the program
    read the other user's file; now such a tree is not believed (a note says so)."""
    from tests.cprogs import compiled
    from tests.test_command_unveil import ENV

    shared = place / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = shared / "someone-elses"
    victim.write_text("PRIVATE\n")
    victim.chmod(0o644)
    (shared / "bin").mkdir()
    with compiled(("fake_host", ())) as progs:
        prog = shared / "bin" / "python3"
        shutil.copy(progs["fake_host"], prog)
        r = pledge("-p", "stdio rpath", str(prog), "-", str(victim),
                   env={**ENV, "FAKE_OUTSIDE": str(shared), "FAKE_TREE": str(shared)})
    assert r.returncode == 0, r.stderr
    assert "PRIVATE" not in r.stdout and f"{victim}: Permission denied" in r.stdout, r.stdout
    assert "not unveiled, outside its own tree" in r.stderr, r.stderr
