"""Reading JSON a user gave (import lines, export lines, stages files): one sentence for
every way it can be wrong, the duplicate key and the too-deep nesting included."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ledger.errors import InputError


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


_PLAIN = json.JSONDecoder(object_pairs_hook=_unique_keys)
_DECIMALS = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=Decimal)


def decode_json(
    text: str,
    where: str,
    *,
    decimals: bool = False,
    position: Callable[[json.JSONDecodeError], str] = lambda e: f"at column {e.colno}",
) -> Any:
    """Return the JSON value of `text` (floats as Decimal when `decimals`, else as float, which
    decimal fields then refuse); raise InputError naming `where` when it is not JSON (with the
    `position` of the fault), when an object repeats a key, or when it nests too deeply."""
    try:
        return (_DECIMALS if decimals else _PLAIN).decode(text)
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
