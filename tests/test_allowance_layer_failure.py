"""When the path allowances' Landlock layer cannot be entered after the filter (the
kernel refuses landlock_restrict_self: ENOMEM), the pledge still holds, the allowances
are violations, and status() says so: never silently."""

from __future__ import annotations

from tests.childproc import run

CODE = """
import errno, os, pledgepy
from pledgepy.backends.linux.landlock import allowances
def refuse(*a, **k):
    raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
allowances.enter = refuse  # what the kernel would answer: the call itself is made no more
pledgepy.pledge("stdio tmppath")
notes = pledgepy.status().notes
print("noted", any("could not be entered" in n and "tmppath" in n for n in notes), flush=True)
open("/tmp/pledgepy-layer-failure-never", "w")
"""


def test_a_failed_allowance_layer_is_reported_and_its_opens_are_violations() -> None:
    r = run(CODE)
    assert r.stdout.split() == ["noted", "True"], r.explain()
    assert r.returncode == -6 and 'needs "wpath cpath"' in r.stderr, r.explain()
