"""A strict worker starts when its promises close the gaps Landlock leaves open: the
unveil rules are judged against the worker's promises, not as if it were unpledged."""

from __future__ import annotations

import sys

import pytest

import pledgepy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")


def test_a_strict_stdio_worker_starts() -> None:
    with pledgepy.Worker("tests.programs.worker_r3", promises="stdio", strict=True,
                         unveil=[("/etc/hostname", "r")]) as w:
        assert w.call("echo", 5) == 5
        assert not any("chmod" in g for g in w.status().not_enforced)


def test_a_strict_worker_still_refuses_what_its_promises_leave_open() -> None:
    # "fattr" lets chmod() through, which Landlock does not restrict outside the rules
    with pytest.raises(pledgepy.UnsupportedError, match="chmod"):
        pledgepy.Worker("tests.programs.worker_r3", promises="stdio fattr", strict=True,
                        unveil=[("/etc/hostname", "r")]).start()
