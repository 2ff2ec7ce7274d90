"""Columns packed for read-model checkpoints: integers as little-endian, deflated, base64 text;
text columns joined by newlines and deflated where that pays.

A checkpoint of a million-event ledger holds columns of hundreds of thousands of integers;
decoding them from JSON number lists costs more than the query that reads them. Packed, a column
loads as one `array` straight from its bytes; 32-bit items where they fit, and deflating them,
make the checkpoint a fraction of the size to store, fetch and inflate. A column with a value
outside 64 bits stays a plain list (exact integers, never truncated). Identifier columns
deflate well (time-ordered event ids differ in their last digits), which spares encoding,
storing and parsing megabytes of JSON string.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from base64 import b64decode, b64encode
from collections.abc import Iterable, MutableSequence

_WIDTHS = {"i": 4, "q": 8}
"""Array type codes tried in turn (32-bit first) and the bytes of one item each must have."""
_TYPECODES = [code for code, size in _WIDTHS.items() if array(code).itemsize == size]
_BIG_ENDIAN = sys.byteorder == "big"


def pack_ints(values: Iterable[int]) -> str | list[int]:
    """Return `values` as text: the narrowest fitting type code (32 or 64 bits), "z" if the
    little-endian integers are deflated (only where that makes them a quarter smaller) else
    "r", then base64 of the bytes.

    Returns the list itself if a value does not fit in 64 bits.
    """
    items = values if isinstance(values, list) else list(values)
    for code in _TYPECODES:
        try:
            packed = array(code, items)
        except OverflowError:
            continue
        if _BIG_ENDIAN:
            packed.byteswap()
        raw = packed.tobytes()
        deflated = zlib.compress(raw, 1)
        if len(deflated) * 4 < len(raw) * 3:
            return code + "z" + b64encode(deflated).decode("ascii")
        return code + "r" + b64encode(raw).decode("ascii")
    return items


def unpack_ints(stored: str | list[int]) -> MutableSequence[int]:
    """Return the integers that `pack_ints` stored as `stored`; ValueError if damaged."""
    if isinstance(stored, list):
        return stored
    if not isinstance(stored, str):
        raise TypeError(f"a packed integer column is text or a list, not {type(stored).__name__}")
    code, how = stored[:1], stored[1:2]
    if code not in _TYPECODES or how not in ("z", "r"):
        raise ValueError(f"a packed integer column starts with an unknown mark {stored[:2]!r}")
    try:
        raw = b64decode(stored[2:], validate=True)
        unpacked = array(code, zlib.decompress(raw) if how == "z" else raw)
    except zlib.error as e:
        raise ValueError(f"a packed integer column is damaged: {e}") from e
    if _BIG_ENDIAN:
        unpacked.byteswap()
    return unpacked


_TEXT_SEP = "\n"  # identifiers and slugs never contain control characters


def pack_texts(values: Iterable[str]) -> str:
    """Return `values` (none containing a newline) as text: "e" for no values; else the values
    joined by newlines, deflated and base64-encoded after "z" where that makes them a quarter
    smaller, or as they are after "r"."""
    items = values if isinstance(values, list) else list(values)
    if not items:
        return "e"
    joined = _TEXT_SEP.join(items)
    raw = joined.encode("utf-8", "surrogatepass")
    deflated = zlib.compress(raw, 1)
    if len(deflated) * 4 < len(raw) * 3:
        return "z" + b64encode(deflated).decode("ascii")
    return "r" + joined


def unpack_texts(stored: str) -> list[str]:
    """Return the texts that `pack_texts` stored as `stored`; ValueError if damaged."""
    if not isinstance(stored, str):
        raise TypeError(f"a packed text column is text, not {type(stored).__name__}")
    how, body = stored[:1], stored[1:]
    if how == "e" and not body:
        return []
    if how == "r":
        return body.split(_TEXT_SEP)
    if how != "z":
        raise ValueError(f"a packed text column starts with an unknown mark {how!r}")
    try:
        return (
            zlib.decompress(b64decode(body, validate=True))
            .decode("utf-8", "surrogatepass")
            .split(_TEXT_SEP)
        )
    except (zlib.error, UnicodeDecodeError) as e:
        raise ValueError(f"a packed text column is damaged: {e}") from e
