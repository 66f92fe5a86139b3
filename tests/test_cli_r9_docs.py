"""The pledge command does what its manual section in the README says."""

from __future__ import annotations

import pytest

from tests.test_cli import pledge


@pytest.mark.parametrize("args", [("--bogus", "true"), ("-M", "lots", "true"),
                                  ("-n", "x", "true"), ("-T", "neither")])
def test_a_bad_option_is_a_usage_error(args: tuple[str, ...]) -> None:
    # the EXIT STATUS table (and --help) say 64, as for a bad promise; not argparse's 2
    r = pledge(*args)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert r.stderr.startswith("usage: pledge ") and "pledge: error: " in r.stderr, r.stderr


def test_unveil_gaps_are_a_note_of_the_command() -> None:
    # "unix" leaves connect() to pathname sockets to Landlock, which does not check
    # it: said as the command's other notes are ("pledge: ..."), not as a Python
    # warning naming pledgepy's source file and pointing at pledgepy.status()
    r = pledge("-p", "stdio rpath unix", "-v", "/etc/hostname", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    assert "pledge: unveil enforced only in part: " in r.stderr, r.stderr
    assert "pathname unix socket" in r.stderr, r.stderr
    assert "PledgeWarning" not in r.stderr and ".py:" not in r.stderr, r.stderr
    assert pledge("-q", "-p", "stdio rpath unix", "-v", "/etc/hostname", "cat",
                  "/etc/hostname").stderr == ""
