"""Reading JSON a user gave (import lines, export lines, stages files): one sentence for
every way it can be wrong, the duplicate key and the too-deep nesting included."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ledger.errors import InputError, WrittenFloat


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> str | None:
    """Return the first half of a UTF-16 surrogate pair standing alone in `text`, if any."""
    found = _SURROGATE.search(text)
    return None if found is None else found.group()


def _refuse_lone_surrogates(value: Any, where: str, path: str = "") -> None:
    """Raise InputError naming the key or field of `value` (a decoded JSON value) that holds
    a `\\udXXX` escape with no other half: JSON lets it through, but it is no character."""
    if isinstance(value, str):
        half = _lone_surrogate(value)
        if half is not None:
            raise InputError(
                f"holds \\u{ord(half):04x}, half of a UTF-16 surrogate pair without its other "
                "half (text cut in the middle of an emoji, perhaps), which is no character",
                where=where,
                field=path or None,
                value=value,
                has_value=bool(path),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            half = _lone_surrogate(key)
            if half is not None:
                raise InputError(
                    f"is not valid here: the key {json.dumps(key)} holds \\u{ord(half):04x}, "
                    "half of a UTF-16 surrogate pair without its other half",
                    where=where,
                )
            _refuse_lone_surrogates(item, where, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_lone_surrogates(item, where, f"{path}.{i}" if path else str(i))


_PLAIN = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=WrittenFloat)
_DECIMALS = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=Decimal)


def decode_json(
    text: str,
    where: str,
    *,
    decimals: bool = False,
    position: Callable[[json.JSONDecodeError], str] = lambda e: f"at column {e.colno}",
) -> Any:
    """Return the JSON value of `text` (floats as Decimal when `decimals`, else as a float
    that keeps its text, which decimal fields then refuse); raise InputError naming `where`
    when it is not JSON (with the `position` of the fault), when an object repeats a key, when
    it nests too deeply, when a number has more digits than Python converts, or when a text
    holds half a surrogate pair."""
    try:
        value = (_DECIMALS if decimals else _PLAIN).decode(text)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg.removesuffix(' at')} {position(exc)}"
        raise InputError(f"is not valid JSON ({problem})", where=where) from None
    except _DuplicateKey as exc:
        raise InputError(
            f"is not valid JSON here: the key {json.dumps(exc.key, ensure_ascii=False)} "
            "appears twice in one object",
            where=where,
        ) from None
    except RecursionError:
        raise InputError("is not valid JSON here: it nests too deeply", where=where) from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string …"
        raise InputError(
            f"is not valid here: a number has more than {sys.get_int_max_str_digits()} digits",
            where=where,
        ) from None
    # A lone surrogate can only come from a \\u escape: the file itself is strict UTF-8.
    if "\\ud" in text or "\\uD" in text:
        _refuse_lone_surrogates(value, where)
    return value
