"""Integer columns packed for read-model checkpoints: 64-bit little-endian, base64 text.

A checkpoint of a million-event ledger holds columns of hundreds of thousands of integers;
decoding them from JSON number lists costs more than the query that reads them. Packed, a column
loads as one `array` straight from its bytes. A column with a value outside 64 bits stays a
plain list (exact integers, never truncated).
"""

from __future__ import annotations

import sys
from array import array
from base64 import b64decode, b64encode
from collections.abc import Iterable, MutableSequence

_TYPECODE = "q"
_BIG_ENDIAN = sys.byteorder == "big"


def pack_ints(values: Iterable[int]) -> str | list[int]:
    """Return `values` as base64 text of 64-bit little-endian integers (a list if too big)."""
    items = values if isinstance(values, list) else list(values)
    try:
        packed = array(_TYPECODE, items)
    except OverflowError:
        return items
    if _BIG_ENDIAN:
        packed.byteswap()
    return b64encode(packed.tobytes()).decode("ascii")


def unpack_ints(stored: str | list[int]) -> MutableSequence[int]:
    """Return the integers that `pack_ints` stored as `stored`."""
    if isinstance(stored, list):
        return stored
    if not isinstance(stored, str):
        raise TypeError(f"a packed integer column is text or a list, not {type(stored).__name__}")
    unpacked = array(_TYPECODE, b64decode(stored, validate=True))
    if _BIG_ENDIAN:
        unpacked.byteswap()
    return unpacked
