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
