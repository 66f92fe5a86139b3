"""The pledge command's notes say what is true: the promises a program held when the
filter killed it, one message when the command itself could not set it up, and where a
refused relative path is."""

from __future__ import annotations

import re

import pytest

from tests.cprogs import compiled
from tests.test_command_unveil import pledge


@pytest.mark.parametrize(("flags", "promises"), [((), "stdio"),
                                                  (("-static",), "stdio rpath")])
def test_a_sigsys_kill_names_the_promises_held_not_the_loaders(
        flags: tuple[str, ...], promises: str) -> None:
    # (static glibc reads /proc/self/exe at start-up: rpath)
    with compiled(("x32_getpid", flags)) as built:
        r = pledge("-p", promises, str(built["x32_getpid"]))
    assert r.returncode == 128 + 31 and "survived" not in r.stdout, r.stderr
    said = re.findall(r'killed by SIGSYS: .*?promises \("([^"]*)"\)', r.stderr)
    assert [set(s.split()) for s in said] == [set(promises.split())], r.stderr
