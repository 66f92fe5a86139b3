"""A handler retry trapped by an older stacked filter is explained, never a silent death.

The handler makes an allowance's call again from its call site; a filter from an earlier
pledge that had no allowance layer (e.g. one holding exec, where Landlock's read checks at
execve rule the layer out) traps that retry too. SIGSYS was blocked inside the handler, so
the kernel killed the process with SIGSYS and no message. Now the retry runs with SIGSYS
unblocked: the nested trap comes back to the handler, which reports the program's call and
why (exit 134, the traceback), or, where the older filter allows it, the call just works.
"""

from __future__ import annotations

import pytest

from tests.childproc import run
from tests.pledged import killed

pytest.importorskip("pledgepy.backends.linux.native._sigsys")

WHY = "an earlier pledge() without the allowance refuses it"


def narrowed(sequence: list[str], body: str, setup: str = "") -> str:
    pledges = "".join(f"pledgepy.pledge({p!r})\n" for p in sequence)
    return ("import os, sys, warnings, pledgepy\nwarnings.simplefilter('ignore')\n" + setup
            + pledges + "print('pledged', flush=True)\n" + body)


@pytest.mark.parametrize("sequence,body,shown", [
    (["stdio exec", "stdio"], "open('/etc/localtime', 'rb')",
     'openat("/etc/localtime", O_RDONLY)'),
    (["stdio dns exec", "stdio exec", "stdio"], "open('/usr/share/zoneinfo/UTC', 'rb')",
     'openat("/usr/share/zoneinfo/UTC", O_RDONLY)'),
    (["stdio dns exec", "stdio dns"], "open('/etc/resolv.conf')",
     'openat("/etc/resolv.conf", O_RDONLY)'),
    (["stdio exec", "stdio"], "os.stat('/usr/share/zoneinfo/UTC')",
     'newfstatat("/usr/share/zoneinfo/UTC")'),
    (["stdio tmppath exec", "stdio tmppath"], "os.open('/tmp/pp-retry-x', os.O_RDWR | os.O_CREAT)",
     'openat("/tmp/pp-retry-x", O_RDWR|O_CREAT)'),
])
def test_trapped_retry_is_explained(sequence: list[str], body: str, shown: str) -> None:
    r = run(narrowed(sequence, body))
    assert r.stdout == "pledged\n" and killed(r), r.explain()
    line = next(x for x in r.stderr.splitlines() if x.startswith("pledge: "))
    assert shown in line and WHY in line, r.stderr
    assert "Stack (most recent call first)" in r.stderr, r.stderr


@pytest.mark.parametrize("sequence", [["stdio rpath", "stdio"], ["stdio rpath exec", "stdio"],
                                      ["stdio rpath wpath", "stdio rpath", "stdio"]])
def test_retry_an_older_filter_allows_works(sequence: list[str]) -> None:
    body = "print(len(open('/etc/localtime', 'rb').read()) > 0, flush=True)\n"
    r = run(narrowed(sequence, body))
    assert r.returncode == 0 and r.stdout == "pledged\nTrue\n", r.explain()


def test_stat_of_localtime_needs_no_retry_after_narrowing() -> None:
    # answered from a descriptor opened before the filter: no retry an older filter can trap
    r = run(narrowed(["stdio exec", "stdio"], "os.stat('/etc/localtime'); print('ok')\n"))
    assert r.returncode == 0 and r.stdout.endswith("ok\n"), r.explain()
