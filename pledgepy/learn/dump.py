"""JSON values and shell words for the learn report, without the json and shlex modules;
and its text lines made safe for a terminal (:func:`printable`).

Both import re (and re enum): ~7 ms of every ``pledge --learn`` run's start-up. The
text is byte for byte what json.dumps (its default settings) and shlex.join write
(tests/test_learn_units.py compares them).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

try:  # the C function json.encoder itself uses
    from _json import encode_basestring_ascii as _string
except ImportError:  # pragma: no cover (a Python built without the accelerator)
    from json.encoder import encode_basestring_ascii as _string

_make_encoder: Any
try:  # json.dumps's own encoder, in C: a report has a row per path (thousands)
    from _json import make_encoder as _make_encoder
except ImportError:  # pragma: no cover (a Python built without the accelerator)
    _make_encoder = None

_INFINITY = float("inf")
#: What shlex.quote leaves unquoted (its [^\w@%+=:,./-] under re.ASCII).
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def _float(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (_INFINITY, -_INFINITY):
        return "Infinity" if v > 0 else "-Infinity"
    return float.__repr__(v)


def _key(k: object) -> str:
    if isinstance(k, str):
        return str(_string(k))
    if k is True or k is False or k is None:
        return {True: '"true"', False: '"false"', None: '"null"'}[k]
    if isinstance(k, int):
        return f'"{int.__repr__(k)}"'
    if isinstance(k, float):
        return f'"{_float(k)}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _unknown(v: object) -> object:
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


#: json.dumps's defaults (json.encoder.JSONEncoder.iterencode builds the same one):
#: no indent, ": " and ", ", keys unsorted, none skipped, NaN allowed.
_encoder = None if _make_encoder is None else _make_encoder(
    None, _unknown, _string, None, ": ", ", ", False, False, True)


def value(v: object) -> str:
    """*v* as ``json.dumps(v)`` writes it."""
    if _encoder is not None:
        return "".join(_encoder(v, 0))
    return _value(v)


def _value(v: object) -> str:
    if isinstance(v, str):
        return str(_string(v))
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join([_value(x) for x in v]) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join([f"{_key(k)}: {_value(x)}" for k, x in v.items()]) + "}"
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def quote(word: str) -> str:
    """*word* as ``shlex.quote`` writes it."""
    if not word:
        return "''"
    if all(c in _SAFE for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def join(words: list[str]) -> str:
    """*words* as ``shlex.join`` writes them."""
    return " ".join(quote(w) for w in words)


def shell_join(words: list[str]) -> str:
    """*words* for a person to copy into a shell: as :func:`join`, but a word with a
    character that is not printable (a newline, an escape, a byte os.fsdecode could not
    decode) as ``$'...'`` with ``\\xNN`` escapes, which bash, zsh, ksh and POSIX.1-2024
    sh read back to the same bytes. (shlex's quotes hold the raw character, which the
    terminal-safe text report spells as four printable ones: a copied command would
    name another path. The JSON keeps shlex's form, which shlex.split reads.)"""
    return " ".join(quote(w) if w.isprintable() else _ansi_c(w) for w in words)


def _ansi_c(word: str) -> str:
    try:
        raw = os.fsencode(word)
    except UnicodeEncodeError:  # a surrogate no file name decodes to: kept, not lost
        raw = word.encode("utf-8", "surrogatepass")
    out = []
    for byte in raw:
        c = chr(byte)
        if c in "\\'":
            out.append("\\" + c)
        elif 0x20 <= byte < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def printable(line: str) -> str:
    """*line* with what a terminal would act on spelled out (``\\xNN``): the paths are
    anyone's names (a newline, an escape sequence would forge or hide report lines)."""
    if line.isprintable():
        return line
    out = []
    for c in line:
        if c.isprintable():
            out.append(c)
        elif "\udc80" <= c <= "\udcff":  # a byte os.fsdecode could not decode
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)
