"""The self-test's verdicts, and a real run on this machine."""

from __future__ import annotations

import sys

import pytest

from pledgepy import selftest as st


def _check(name: str) -> st.Check:
    return next(c for c in st.CHECKS if c.name.startswith(name))


@pytest.mark.parametrize("platform,out,want", [
    ("linux", st.Outcome(-6, "LEVEL full\n", "pledge: open\n"), "enforced"),
    ("openbsd", st.Outcome(134, "LEVEL full\n", ""), "enforced"),
    ("freebsd", st.Outcome(0, "LEVEL partial\nERRNO 94\n", ""), "enforced"),
    ("linux", st.Outcome(0, "LEVEL full\nOK\n", ""), "FAIL: not enforced although"),
    ("darwin", st.Outcome(0, "LEVEL none\nOK\n", ""), "not enforced (status says none)"),
    ("freebsd", st.Outcome(-6, "LEVEL partial\n", ""), "FAIL: expected"),
])
def test_verdicts(platform: str, out: st.Outcome, want: str) -> None:
    assert st.verdict(_check("stdio: open()"), platform, out).startswith(want)


def test_positive_check_fails_when_denied() -> None:
    out = st.Outcome(-6, "LEVEL full\n", "")
    assert st.verdict(_check("stdio rpath: reading"), "linux", out).startswith("FAIL")


@pytest.mark.skipif(not sys.platform.startswith(("linux", "openbsd", "freebsd")),
                    reason="no enforcing backend on this platform")
def test_selftest_passes_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert st.main() == 0, capsys.readouterr().out
