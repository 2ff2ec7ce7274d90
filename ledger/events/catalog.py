"""The event catalog: one discriminated union of every event type, and its upcasters.

Type names are stable. When a payload's shape changes, its class's `schema_version` goes up and
an upcaster is registered that turns the stored older payload (a dict) into the current shape;
stored bytes are never rewritten, so hashes stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from difflib import get_close_matches
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from ledger.errors import InputError
from ledger.events.account import ACCOUNT_EVENTS
from ledger.events.base import EventModel
from ledger.events.deal import DEAL_EVENTS
from ledger.events.fields import STORED
from ledger.events.ledger_stream import LEDGER_EVENTS, StageSpec

ALL_EVENT_CLASSES: tuple[type[EventModel], ...] = (*DEAL_EVENTS, *ACCOUNT_EVENTS, *LEDGER_EVENTS)

EVENT_TYPES: dict[str, type[EventModel]] = {
    cls.model_fields["type"].default: cls for cls in ALL_EVENT_CLASSES
}

DEAL_TYPES: tuple[str, ...] = tuple(
    name for name, cls in EVENT_TYPES.items() if cls.family == "deal"
)
"""The type names of the events of a deal's stream (`DEAL_EVENTS`), in catalog order."""

Event = Annotated[Union[tuple(ALL_EVENT_CLASSES)], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
"""Any event of the catalog, discriminated by its `type` field."""

EVENT_ADAPTER: TypeAdapter[EventModel] = TypeAdapter(Event)  # type: ignore[arg-type]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(type, stored schema_version) -> function returning the payload one version later."""


def register_upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` to turn a stored `type_name` payload of `from_version` into the next one."""

    def decorate(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return decorate


def upcast(type_name: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Return `payload` brought from `version` up to the type's current schema version."""
    current = EVENT_TYPES[type_name].schema_version
    while version < current:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise InputError(
                f"no upcaster registered for {type_name} schema_version {version} -> {version + 1}"
            )
        payload = step(dict(payload))
        version += 1
    return payload


def event_class(type_name: Any, *, where: str | None = None) -> type[EventModel]:
    """Return the event class for `type_name`, or raise an InputError naming the known types."""
    cls = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise InputError(
            "is not an event type; known types: " + ", ".join(sorted(EVENT_TYPES)),
            where=where,
            field="type",
            value=type_name,
            has_value=True,
        )
    return cls


def _unknown_field(loc: list[str], cls: type[EventModel], also: Collection[str]) -> str:
    """Return the message for a field `cls` does not have, naming the one probably meant
    (among its fields and the keys in `also`, an import line's envelope keys, say); for a key
    of a stage (`stages.0.nmae`), among a stage's fields."""
    if len(loc) == 3 and loc[0] == "stages":
        near = get_close_matches(loc[2], list(StageSpec.model_fields), n=1, cutoff=0.6)
        hint = f" (the nearest is '{near[0]}')" if near else ""
        return f"is not a field of a stage{hint}"
    known = [name for name in cls.model_fields if name != "type"] + sorted(also)
    near = get_close_matches(loc[0], known, n=1, cutoff=0.6) if len(loc) == 1 else []
    hint = f" (the nearest is '{near[0]}')" if near else ""
    return f"is not a field of this event{hint}"


def _first_error(
    exc: ValidationError,
    data: Mapping[str, Any],
    where: str | None,
    cls: type[EventModel],
    also: Collection[str],
) -> InputError:
    errors = exc.errors(include_url=False)
    # A misspelt field is also a missing one: name the key the line gives, with the field meant.
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith("function-")]
    kind = err.get("type", "")
    msg = str(err.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind == "extra_forbidden":
        return InputError(_unknown_field(loc, cls, also), where=where, field=".".join(loc) or None)
    if kind == "missing":
        return InputError("is required", where=where, field=".".join(loc) or None)
    if kind == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    elif kind in ("tuple_type", "list_type"):
        msg = "must be a list"
    elif kind in ("model_type", "dict_type"):
        msg = "must be an object"
    if not loc:
        return InputError(msg, where=where)
    value: Any = data
    for part in loc:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = err.get("input")
            break
    # Never quote free text (`reason`, `note`): refused for any reason, it may hold PHI; nor
    # an id the PHI guard refused.
    echo = kind not in ("free_text", "phi")
    return InputError(msg, where=where, field=".".join(loc), value=value, has_value=echo)


def build_event(
    type_name: Any,
    fields: Mapping[str, Any],
    *,
    where: str | None = None,
    stored: bool = False,
    other_keys: Collection[str] = (),
) -> EventModel:
    """Return the validated event of `type_name` with payload `fields`, or raise InputError.

    `stored`: the fields come from the log, not from a user, so the checks of what a user may
    enter now (the PHI guard, invisible characters, ISO 4217 currencies, …) are not applied.
    `other_keys` are the other keys the fields came with (an import line's `effective_at`, …),
    which an unknown field's message may name as the one meant.
    """
    cls = event_class(type_name, where=where)
    data = fields if type(fields) is dict else dict(fields)
    try:
        # What `cls.model_validate` runs, without its per-call argument handling (1.3 µs of
        # the 8 µs an import line's event takes to validate).
        return cls.__pydantic_validator__.validate_python(  # type: ignore[no-any-return]
            data, context=STORED if stored else None
        )
    except ValidationError as exc:
        raise _first_error(exc, fields, where, cls, other_keys) from None


def decode_payload(type_name: str, version: int, payload_json: str) -> EventModel:
    """Return the typed event stored as canonical `payload_json` at schema `version`."""
    cls = EVENT_TYPES[type_name]
    if version == cls.schema_version:
        # What `cls.model_validate_json` runs, without its per-call argument checks: this is
        # the innermost step of reading the log back.
        return cls.__pydantic_validator__.validate_json(payload_json, context=STORED)  # type: ignore[no-any-return]
    data = upcast(type_name, version, json.loads(payload_json, parse_float=Decimal))
    return cls.model_validate(data, context=STORED)
