"""The canonical encoding that the hash chain is computed over. Specified once, here.

Payload JSON
    The event's fields except `type`, fields whose value is null omitted, as JSON with keys
    sorted, separators `,` and `:` (no spaces), non-ASCII characters kept as UTF-8. Decimals are
    written as JSON strings in plain notation without trailing zeros (`"120000.5"`), dates as
    `"YYYY-MM-DD"`, tuples as arrays. This text is what the `payload` column stores.

Envelope bytes
    The UTF-8 bytes of a JSON object with exactly these keys, sorted: actor, effective_at,
    event_id, idempotency_key (null when absent), payload (the payload JSON above, embedded as an
    object), recorded_at, schema_version, seq, source, stream_id, stream_version, type. Instants
    are fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.ffffffZ`; integers are plain JSON numbers.

Hash
    `hash = sha256(prev_hash || envelope bytes)` as lower-case hex, where `prev_hash` is the
    64 ASCII hex characters of the previous event's hash, and of 64 zeros for seq 1.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from pydantic import PlainSerializer, WrapSerializer

from ledger.events.base import EventModel
from ledger.events.fields import normalize_decimal

GENESIS_HASH = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(normalize_decimal(value), "f")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} canonically")


def canonical_json(data: Any) -> str:
    """Return `data` as canonical JSON text (sorted keys, no spaces, decimals as strings)."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def payload_json(event: EventModel) -> str:
    """Return the canonical payload JSON of `event` (the stored `payload` column)."""
    cls = type(event)
    try:
        plan = _PLANS[cls]
    except KeyError:
        plan = _PLANS[cls] = _plan(cls)
    if plan is not None and not event.__pydantic_extra__:
        values = event.__dict__
        try:
            return (
                "{"
                + ",".join([k + _value(v) for n, k in plan if (v := values[n]) is not None])
                + "}"
            )
        except _NotPlain:
            pass
    return canonical_json(event.model_dump(mode="python", exclude={"type"}, exclude_none=True))


# The fast path of `payload_json` writes the same text as the general one (model_dump, then
# `canonical_json`) for the value types events hold: str, bool, int, Decimal, date and tuples or
# lists of them. Anything else (a nested model, a float, a subclass) takes the general path.
_PLANS: dict[type[EventModel], tuple[tuple[str, str], ...] | None] = {}


class _NotPlain(Exception):
    """A value the fast path does not encode."""


def _plan(cls: type[EventModel]) -> tuple[tuple[str, str], ...] | None:
    """Return (field, `"field":`) pairs in key order, or None if the class dumps specially."""
    decorators = cls.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers or cls.model_computed_fields:
        return None
    fields = cls.model_fields
    for info in fields.values():
        if (
            info.exclude
            or getattr(info, "exclude_if", None) is not None
            or info.alias
            or info.serialization_alias
            or any(isinstance(m, PlainSerializer | WrapSerializer) for m in info.metadata)
        ):
            return None
    return tuple((n, encode_basestring(n) + ":") for n in sorted(fields) if n != "type")


def _value(value: Any) -> str:
    # `encode_basestring` is what `json.dumps(..., ensure_ascii=False)` encodes a str with.
    t = type(value)
    if t is str:
        return encode_basestring(value)
    if t is Decimal or t is date:
        return encode_basestring(_default(value))
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return int.__repr__(value)
    if t is tuple or t is list:
        return "[" + ",".join([_value(v) for v in value]) + "]"
    raise _NotPlain


def _s(text: str | None) -> str:
    if text is None:
        return "null"
    if type(text) is str:
        return encode_basestring(text)
    return json.dumps(text, ensure_ascii=False)


def envelope_bytes(
    *,
    seq: int,
    event_id: str,
    type: str,
    schema_version: int,
    stream_id: str,
    stream_version: int,
    effective_at: str,
    recorded_at: str,
    actor: str,
    source: str,
    idempotency_key: str | None,
    payload: str,
) -> bytes:
    """Return the canonical envelope bytes of one event (see the module docstring)."""
    text = (
        f'{{"actor":{_s(actor)},"effective_at":"{effective_at}","event_id":{_s(event_id)},'
        f'"idempotency_key":{_s(idempotency_key)},"payload":{payload},'
        f'"recorded_at":"{recorded_at}","schema_version":{int(schema_version)},'
        f'"seq":{int(seq)},"source":{_s(source)},"stream_id":{_s(stream_id)},'
        f'"stream_version":{int(stream_version)},"type":{_s(type)}}}'
    )
    return text.encode("utf-8")


def chain_hash(prev_hash: str, envelope: bytes) -> str:
    """Return sha256(prev_hash || envelope) as lower-case hex."""
    h = hashlib.sha256(prev_hash.encode("ascii"))
    h.update(envelope)
    return h.hexdigest()


def content_digest(type_name: str, effective_at: str, payload: str) -> str:
    """Return the digest of an event's business content, used for idempotency comparisons.

    Two appends carry the same content when type, effective_at and payload are equal; actor,
    source and recording time are circumstances of the append, not content.
    """
    return hashlib.sha256(f"{type_name}\n{effective_at}\n{payload}".encode()).hexdigest()
