"""Attacker's review (round 5): unveil_many(), all or nothing, and what it cannot undo.

Bad input anywhere in the list adds nothing. OpenBSD's kernel takes rules one at a time
and cannot take one back: when it refuses a rule mid-list (E2BIG at its limit on unveiled
paths), the rules before it are in force; status() must say so, not report none.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest

from pledgepy import api
from tests.test_bsd_fakes import openbsd, use  # noqa: F401  (use: the fixture)


def test_kernel_refusal_mid_list_records_what_the_kernel_took(use: Any) -> None:  # noqa: F811
    be, lib = openbsd()
    use(be)
    lib.fail[("unveil", b"/c")] = errno.E2BIG
    with pytest.raises(OSError) as info:
        api.unveil_many([("/a", "r"), ("/b", "rw"), ("/c", "r"), ("/d", "r")])
    assert info.value.errno == errno.E2BIG and "2 rule(s) before it" in str(info.value)
    assert [c[1] for c in lib.calls] == [b"/a", b"/b", b"/c"]
    assert api.status().unveil.rules == (("/a", "r"), ("/b", "rw"))


def test_kernel_refusal_of_the_first_rule_adds_nothing(use: Any) -> None:  # noqa: F811
    be, lib = openbsd()
    use(be)
    lib.fail[("unveil", b"/a")] = errno.ENOENT
    with pytest.raises(FileNotFoundError):
        api.unveil_many([("/a", "r"), ("/b", "r")])
    assert api.status().unveil.rules == ()


@pytest.mark.parametrize("bad", [
    ("/x", 3), (b"/x", "r"), ("/x", "rq"), ("", "r"), ("/x\0y", "r"), ("/x",), None,
    ("/x", None),
])
def test_bad_input_anywhere_adds_nothing(use: Any, bad: object) -> None:  # noqa: F811
    be, lib = openbsd()
    use(be)
    with pytest.raises((TypeError, ValueError)):
        api.unveil_many([("/a", "r"), bad, ("/b", "r")])  # type: ignore[list-item]
    assert lib.calls == [] and api.status().unveil.rules == ()


def test_a_generator_that_raises_adds_nothing(use: Any) -> None:  # noqa: F811
    be, lib = openbsd()
    use(be)

    def rules() -> Any:
        yield ("/a", "r")
        raise RuntimeError("midway")

    with pytest.raises(RuntimeError):
        api.unveil_many(rules())
    assert lib.calls == [] and api.status().unveil.rules == ()


def test_duplicates_the_later_wins_once(use: Any) -> None:  # noqa: F811
    be, lib = openbsd()
    use(be)
    api.unveil_many([("/a", "r"), ("/a", "rw")])
    assert api.status().unveil.rules == (("/a", "rw"),)
