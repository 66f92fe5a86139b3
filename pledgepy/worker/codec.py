"""The wire between a worker and its parent: length-prefixed msgpack of plain data.

Nothing received is ever executed or used to build objects: msgpack decodes
to None, bool, int, float, str, bytes, list and dict only (extension types,
timestamps included, are refused), and every frame's size is checked before
it is read. A reply's number of items (every value, container or not) is
checked before it is decoded: a byte can decode to an ~80-byte object (an empty
list or dict, an int outside the small-int cache), so a reply of 16 MiB of
``0x90`` made the parent allocate 1.3 GiB.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
#: The default largest message either side accepts.
MAX_MESSAGE = 64 << 20
#: The default most items (values at any depth, containers included) a reply may hold:
#: what one reply costs the parent is then at most ~100 bytes an item plus its strings'
#: and bytes' own length.
MAX_ITEMS = 1 << 20
_SCALARS = (type(None), bool, int, float, str, bytes)
_SCALAR_TYPES = frozenset(_SCALARS)
_local = threading.local()


def _refuse(value: Any) -> Any:
    raise CodecError(f"{type(value).__name__} does not cross to or from a worker "
                     "(only None, bool, int, float, str, bytes, list, dict)")


def _packer() -> msgpack.Packer:
    """This thread's packer (a Packer is cheaper than packb, and not thread-safe)."""
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, default=_refuse)
    return packer


class CodecError(ValueError):
    """A value the wire does not carry, or a frame that is not one."""


def check(value: Any) -> None:
    """Raise CodecError unless *value* is plain data (tuples count as lists).

    Only for what msgpack packed or unpacked: its own nesting limit (512) has
    already refused cycles and deep values, so this walk ends.
    """
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return
    if kind is list:  # the usual messages: no walk
        # a reply ["ok", scalar] or a call ["call", name, [scalars], {}]: its items are
        # scalars, lists of scalars or empty dicts (anything else is walked below)
        for x in value:
            kind = type(x)
            if kind in _SCALAR_TYPES or kind is dict and not x:
                continue
            if kind is not list:
                break
            for y in x:
                if type(y) not in _SCALAR_TYPES:
                    break
            else:
                continue
            break
        else:
            return
    todo = [value]
    pop, push = todo.pop, todo.append
    while todo:
        item = pop()
        kind = type(item)
        if kind is list or kind is tuple:
            for x in item:
                if type(x) not in _SCALAR_TYPES:
                    push(x)
        elif kind is dict:
            for k, v in item.items():
                if type(k) not in _SCALAR_TYPES:
                    raise CodecError(f"a dict key of type {type(k).__name__}")
                if type(v) not in _SCALAR_TYPES:
                    push(v)
        else:
            _refuse(item)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise CodecError(f"msgpack extension type {code}")


def encode(value: Any, limit: int = MAX_MESSAGE) -> bytes:
    """One frame holding *value*; CodecError if it is not plain data or over *limit*."""
    try:
        body: bytes = _packer().pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(str(exc)) from None
    check(value)  # after packing: msgpack refused cycles and deep nesting
    if len(body) > limit:
        raise CodecError(f"message of {len(body)} bytes is over the limit of {limit}")
    return HEADER.pack(len(body)) + body


def length(header: bytes | bytearray | memoryview, limit: int = MAX_MESSAGE) -> int:
    """The body length a frame *header* announces; CodecError if over *limit*."""
    n: int = HEADER.unpack(header)[0]
    if n > limit:
        raise CodecError(f"message of {n} bytes announced, over the limit of {limit}")
    return n


_ARRAYS = frozenset(range(0x90, 0xA0)) | {0xDC, 0xDD}
_MAPS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}


def _count(body: bytes | bytearray | memoryview, limit: int) -> None:
    """Raise CodecError if *body* holds more than *limit* items, before any is built.

    msgpack's own limits are per container (and an item takes at least a byte), so
    the count is walked: containers by their headers, everything else skipped
    without being made. It stops at the first item over *limit*.
    """
    unpacker = msgpack.Unpacker(None, max_buffer_size=len(body))
    unpacker.feed(body)
    view = memoryview(body)
    pending = 1  # items announced and not yet walked
    for _ in range(limit):
        pending -= 1
        first = view[unpacker.tell()]
        if first in _ARRAYS:
            pending += unpacker.read_array_header()
        elif first in _MAPS:
            pending += 2 * unpacker.read_map_header()
        else:
            unpacker.skip()
        if not pending:
            return
    raise CodecError(f"a reply of more than {limit} items (values at any depth): "
                     "over the worker's max_items")


def decode(body: bytes | bytearray | memoryview, *, trusted: bool = False,
           items: int = MAX_ITEMS) -> Any:
    """The plain data in a frame's *body*; CodecError for anything else.

    *trusted*: the frame comes from :func:`encode` on the parent's side (the worker
    reading its calls), which checked it already; a reply is never trusted, and may
    hold at most *items* values at any depth (counted only when it is longer than
    that in bytes: every item takes at least one).
    """
    try:
        if not trusted and len(body) > items:
            _count(body, items)
        value = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=False,
                                ext_hook=_refuse_ext, timestamp=0)
    except CodecError:
        raise
    except Exception as exc:  # msgpack raises several kinds for malformed input
        raise CodecError(f"malformed message: {exc}") from None
    if not trusted:
        check(value)
    return value
