"""What an exec'd program is told it inherited: a hint in its environment.

The kernel keeps the filters across execve but offers no way to read them back,
so the caller also leaves ``PLEDGEPY_INHERITED`` ("<promises>;<locked|open>", then
";handler" when the inherited filters let a SIGSYS handler be installed: the
spawner's) in the program's environment. Anyone who starts the program can forge it, so the
program never trusts it to be lenient: it reads it only when the kernel says
filters are in force (Seccomp: 2), drops words it does not know, and enforces
what it read with a filter of its own before reporting it (a forged hint can only
make the program stricter: a forged ";handler" under filters that refuse installing
one kills the program at its first pledge, without a message).
"""

from __future__ import annotations

from ....promises import VOCABULARY

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

NAME = "PLEDGEPY_INHERITED"


def encode(promises: frozenset[str], unveil_locked: bool, handler: bool = False) -> str:
    """The hint for a program exec'd under *promises* (*handler*: its filters allow
    installing a SIGSYS handler)."""
    return (" ".join(sorted(promises)) + (";locked" if unveil_locked else ";open")
            + (";handler" if handler else ""))


def decode(text: str | None) -> tuple[frozenset[str], bool, bool] | None:
    """(promises, unveil locked, a SIGSYS handler may be installed) from a hint; None
    when there is none.

    Unknown words are dropped and anything but ``open`` counts as locked: both
    only narrow what the program will believe and enforce.
    """
    if text is None:
        return None
    words, _, rest = text.partition(";")
    lock, _, extra = rest.partition(";")
    promises = frozenset(words.split()) & frozenset(VOCABULARY)
    return (promises, lock.strip() != "open" or "unveil" not in promises,
            extra.strip() == "handler" and "stdio" in promises)


def with_hint(env: Mapping[Any, Any] | None, promises: frozenset[str],
              unveil_locked: bool, handler: bool = False) -> dict[Any, Any]:
    """A copy of *env* (None: this process's) carrying the hint."""
    import os

    out: dict[Any, Any] = dict(os.environ if env is None else env)
    value = encode(promises, unveil_locked, handler)
    if any(isinstance(key, bytes) for key in out):
        out[NAME.encode()] = value.encode()
    else:
        out[NAME] = value
    return out
