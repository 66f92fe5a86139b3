"""What every unveil child starts with: try a call and name its errno, read, write, show.

Imported with ``from tests.programs.attempts import *`` at the top of a child program.
"""

import errno
import os
import sys
import warnings

import pledgepy
from pledgepy.errors import PledgeWarning, UnsupportedError

warnings.simplefilter("ignore", PledgeWarning)

__all__ = ["PledgeWarning", "UnsupportedError", "attempt", "errno", "os", "pledgepy", "read",
           "show", "sys", "warnings", "write"]


def attempt(fn: object, *args: object, **kw: object) -> str:
    """``"ok"``, or the errno name of the OSError that calling *fn* raised."""
    try:
        fn(*args, **kw)  # type: ignore[operator]
    except OSError as e:
        return errno.errorcode.get(e.errno or 0, str(e.errno))
    return "ok"


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def write(path: str, text: str = "x", mode: str = "w") -> None:
    with open(path, mode) as f:
        f.write(text)


def show(key: str, value: object) -> None:
    print(f"{key}={value}")
