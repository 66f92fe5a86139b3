"""Helpers for Linux enforcement tests: run code under a pledge in a child."""

from __future__ import annotations

import textwrap

from tests.childproc import Result, run

PRELUDE = """
import errno, os, sys, pledgepy
def attempt(fn, *a):
    try:
        r = fn(*a)
        print("OK", flush=True)
        return r
    except OSError as e:
        print("ERR", errno.errorcode.get(e.errno, e.errno), flush=True)
"""


def under(promises: str, body: str, *, setup: str = "", execpromises: str | None = None,
          **kw: object) -> Result:
    """Run *setup*, then ``pledge(promises)``, then *body*, in a fresh child."""
    ex = "None" if execpromises is None else repr(execpromises)
    code = (PRELUDE + textwrap.dedent(setup) + f"\npledgepy.pledge({promises!r}, {ex})\n"
            + textwrap.dedent(body))
    return run(code, **kw)  # type: ignore[arg-type]


def killed(result: Result) -> bool:
    """Died of SIGABRT after a pledge message: OpenBSD's penalty."""
    return result.returncode == -6 and "pledge: " in result.stderr
