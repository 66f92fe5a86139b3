"""The OpenBSD promise vocabulary and the parser for promise strings."""

from __future__ import annotations

#: Every promise OpenBSD's pledge(2) documents, in the manual's order.
VOCABULARY: tuple[str, ...] = (
    "stdio", "rpath", "wpath", "cpath", "dpath", "tmppath", "inet", "mcast",
    "fattr", "chown", "flock", "unix", "dns", "getpw", "sendfd", "recvfd",
    "tape", "tty", "proc", "exec", "prot_exec", "settime", "ps", "vminfo",
    "id", "pf", "route", "wroute", "audio", "video", "bpf", "unveil", "error",
)

_KNOWN = frozenset(VOCABULARY)

Promises = frozenset[str]


def closest(word: str) -> str:
    """The valid promise nearest to *word* (always one, even if far): the most
    characters in common, in order, for their length (difflib's ratio, by the longest
    common subsequence; a tie to the word difflib would give). Nothing is imported:
    a pledge in force may refuse loading a module, and a typo must still be a
    ValueError then, not a violation."""
    text = word.lower()

    def common(other: str) -> int:
        row = [0] * (len(other) + 1)
        for a in text:
            prev = 0
            for j, b in enumerate(other):
                prev, row[j + 1] = row[j + 1], prev + 1 if a == b else max(row[j + 1], row[j])
        return row[-1]

    return max(VOCABULARY, key=lambda w: (2 * common(w) / (len(text) + len(w) or 1), w))


def parse(value: object, argument: str = "promises") -> Promises | None:
    """Parse a space-separated promise string; ``None`` stays ``None``.

    Raises ``TypeError`` for a non-string, ``ValueError`` for a NUL byte or an
    unknown word (naming it and the closest valid one). Words are
    case-sensitive and separated by spaces, as on OpenBSD.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(
            f"{argument} must be a str or None, not {type(value).__name__}"
        )
    if "\0" in value:
        raise ValueError(f"{argument} contains a NUL byte")
    words = [w for w in value.split(" ") if w]
    for word in words:
        if word not in _KNOWN:
            raise ValueError(
                f"unknown promise {word!r} in {argument} "
                f"(did you mean {closest(word)!r}?)"
            )
    return frozenset(words)


def bits(promises: Promises) -> int:
    """Promises as a bitmask: bit i is ``VOCABULARY[i]``."""
    return sum(1 << i for i, p in enumerate(VOCABULARY) if p in promises)


def format_promises(promises: Promises | None) -> str | None:
    """Promises as a string in vocabulary order (``None`` stays ``None``)."""
    if promises is None:
        return None
    return " ".join(p for p in VOCABULARY if p in promises)
