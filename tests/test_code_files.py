"""wpath and the files of mapped code: writing one changes the running code through the
page cache, without prot_exec (like /proc/self/mem). Reported unless unveil forbids it."""

from __future__ import annotations

import sys

import pytest

from tests.pledged import under

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

GAP = "file(s) of code mapped in this process can be written"

# A file of ours mapped executable, as a library would be.
SETUP = """
import mmap, tempfile
d = tempfile.mkdtemp()
CODE = d + "/code.bin"
with open(CODE, "wb") as f:
    f.write(b"A" * 4096)
fd = os.open(CODE, os.O_RDONLY)
M = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_EXEC)
"""


def test_writing_a_mapped_code_file_changes_the_running_code_and_is_reported() -> None:
    body = """
st = pledgepy.status()
print(any(GAP in g and CODE in g for g in st.not_enforced), flush=True)
with open(CODE, "r+b") as f:
    f.write(b"B" * 16)
print(M[:1].decode(), flush=True)   # the executable mapping now holds what was written
""".replace("GAP", repr(GAP))
    # as uid 65534, which can write nothing else that is mapped: the one file is named
    r = under("stdio rpath wpath", body, setup=SETUP, unprivileged=True)
    assert r.returncode == 0 and r.stdout.split() == ["True", "B"], r.explain()
    r = under("stdio rpath wpath", body, setup=SETUP)  # root: the libraries too
    assert r.returncode == 0 and r.stdout.split()[1] == "B", r.explain()
    assert GAP in r.stderr, r.explain()


def test_prot_exec_or_an_unveil_without_w_closes_it() -> None:
    body = "print(any(GAP in g for g in pledgepy.status().not_enforced))".replace("GAP", repr(GAP))
    r = under("stdio rpath wpath prot_exec", body, setup=SETUP)
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.explain()
    r = under("stdio rpath wpath", body, setup=SETUP + "pledgepy.unveil(d + '/out', 'rwc')\n"
              "pledgepy.unveil('/', 'r')\n")
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.explain()


def test_unveil_that_lets_the_file_be_written_keeps_it_reported() -> None:
    body = "print(any(GAP in g for g in pledgepy.status().not_enforced))".replace("GAP", repr(GAP))
    r = under("stdio rpath wpath", body, setup=SETUP + "pledgepy.unveil(d, 'rw')\n")
    assert r.returncode == 0 and r.stdout.split() == ["True"], r.explain()
