"""Attacker's review (round 5): the /proc/self/maps descriptor the unveil lock keeps open.

A program (or a library that closes descriptors it does not own) can put another file at
the kept number; pledge() must not read that file as this process's mappings and so judge
writable+executable memory absent while it is mapped (strict would accept).
"""

from __future__ import annotations

import sys

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

REPLACE = """
import mmap, os, tempfile, pledgepy, warnings
from pledgepy.backends.linux import maps
warnings.simplefilter("ignore")
d = tempfile.mkdtemp()
pledgepy.unveil(d, "rwc")
pledgepy.unveil(None, None)  # the lock keeps /proc/self/maps open
kept = maps._kept[0]
assert kept >= 0
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
fake = os.open(os.path.join(d, "maps"), os.O_RDWR | os.O_CREAT)
os.write(fake, b"00400000-00401000 r-xp 00000000 fd:01 1 /usr/bin/true\\n")
{replace}
try:
    pledgepy.pledge("stdio rpath wpath", strict=True)
    print("ACCEPTED")
except pledgepy.UnsupportedError as exc:
    print("REFUSED", exc)
"""


@pytest.mark.parametrize("replace", [
    "os.dup2(fake, kept)",                     # dup2 over the kept number
    "os.close(kept); assert os.dup(fake) == kept",  # closed, and the number reused
])
def test_replaced_maps_descriptor_is_not_trusted(replace: str) -> None:
    r = run(REPLACE.format(replace=replace))
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "writable and executable memory" in r.stdout, r.explain()


def test_kept_descriptor_still_used_when_untouched() -> None:
    """The fix keeps the point of the kept descriptor: the rwx page is named, not 'unknown'."""
    r = run(REPLACE.format(replace="pass"))
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and "rwx" in r.stdout and "unknown" not in r.stdout, r.explain()
