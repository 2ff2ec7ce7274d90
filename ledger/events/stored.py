"""Decoding stored payloads into typed events, without re-running the input checks.

A payload in the log was validated when it was appended and is written in the canonical
encoding (`ledger.canonical`), which is already the normalised form every input check
produces; the hash chain (`revledger verify`) guards it from there on. Reading it back only has
to turn the JSON into the same typed model: strings stay strings, money becomes `Decimal`,
dates `date`, arrays tuples, absent fields take their defaults. `decode_stored` does exactly
that, with a plan derived once per event class from the class's own pydantic schema (so it
follows every change to the catalog), and builds the instance as `model_construct` would.
A class whose schema holds something the plan does not cover, or a payload that is not in the
class's shape, goes through the class's core schema instead, and a payload at an older schema
version is upcast and fully validated. `ledger.events.catalog.decode_payload` keeps the full
validation for untrusted input (restore, `verify`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

from ledger.events.base import EventModel
from ledger.events.catalog import EVENT_TYPES, upcast
from ledger.events.fields import STORED

Convert = Callable[[Any], Any]
_CHECKS = frozenset({"function-before", "function-after", "function-wrap"})
_AS_IS = frozenset({"str", "int", "bool", "literal"})
_new = object.__new__
_set = object.__setattr__


class _Unplanned(Exception):
    """A schema the decoding plan does not cover."""


def without_checks(schema: Any) -> Any:
    """Return a copy of a pydantic core schema with its function validators unwrapped."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in _CHECKS:
            return without_checks(schema["schema"])
        return {key: without_checks(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [without_checks(item) for item in schema]
    return schema


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to build one model class from its canonical JSON object."""

    cls: type[BaseModel]
    defaults: dict[str, Any]  # every field, in declaration order (required ones as None)
    names: frozenset[str]
    required: frozenset[str]
    convert: tuple[tuple[str, Convert], ...]  # fields whose JSON value needs converting
    fallback: SchemaValidator  # the class's core schema without its checks

    def build(self, fields: dict[str, Any]) -> Any:
        """Return the model instance of `fields` (a decoded canonical JSON object)."""
        keys = fields.keys()
        if not (keys <= self.names and self.required <= keys):
            return self.fallback.validate_python(fields)
        for name, convert in self.convert:
            value = fields.get(name)
            if value is not None:
                fields[name] = convert(value)
        values = self.defaults.copy()
        values.update(fields)
        model = _new(self.cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", set(keys))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model


def _model_schema(schema: dict[str, Any]) -> dict[str, Any]:
    while schema["type"] != "model":
        if schema["type"] not in _CHECKS:
            raise _Unplanned(schema["type"])
        schema = schema["schema"]
    return schema


def _plan_for(cls: type[BaseModel]) -> _Plan:
    schema = _model_schema(cls.__pydantic_core_schema__)  # type: ignore[arg-type]
    fields_schema = without_checks(schema["schema"])
    if fields_schema["type"] != "model-fields" or fields_schema.get("computed_fields"):
        raise _Unplanned(fields_schema["type"])
    defaults: dict[str, Any] = {}
    required: set[str] = set()
    convert: list[tuple[str, Convert]] = []
    for name, field in fields_schema["fields"].items():
        inner = field["schema"]
        if inner["type"] == "default":
            if "default" not in inner:
                raise _Unplanned("default factory")
            defaults[name] = inner["default"]
        else:
            defaults[name] = None
            required.add(name)
        step = _converter(inner)
        if step is not None:
            convert.append((name, step))
    return _Plan(
        cls,
        defaults,
        frozenset(defaults),
        frozenset(required),
        tuple(convert),
        _unchecked(schema, cls),
    )


def _converter(schema: dict[str, Any]) -> Convert | None:
    """Return the function turning a JSON value into the field's value (None: as it is)."""
    kind = schema["type"]
    if kind in ("default", "nullable"):
        return _converter(schema["schema"])
    if kind in _AS_IS:
        return None
    if kind == "decimal":
        return Decimal
    if kind == "date":
        return date.fromisoformat
    if kind == "tuple" and len(schema["items_schema"]) == 1 and schema["variadic_item_index"] == 0:
        item = _converter(schema["items_schema"][0])
        if item is None:
            return tuple
        return lambda values: tuple([item(v) for v in values])
    if kind == "model":
        nested = _plan_for(schema["cls"])
        return nested.build
    raise _Unplanned(kind)


def _unchecked(schema: Any, cls: type[BaseModel]) -> SchemaValidator:
    """Return a validator for a class's core schema `schema`, with its checks unwrapped."""
    return SchemaValidator(without_checks(schema), cls.model_config)  # type: ignore[arg-type]


def _plans() -> dict[str, Callable[[dict[str, Any]], Any]]:
    out: dict[str, Callable[[dict[str, Any]], Any]] = {}
    for name, cls in EVENT_TYPES.items():
        try:
            out[name] = _plan_for(cls).build
        except _Unplanned:
            out[name] = _unchecked(cls.__pydantic_core_schema__, cls).validate_python
    return out


_PLANS = _plans()


def decode_stored(type_name: str, version: int, payload_json: str) -> EventModel:
    """Return the typed event of a payload read from the log (stored at schema `version`)."""
    return decode_stored_many([(type_name, version, payload_json)])[0]


def parse_current(items: Sequence[tuple[str, int, str]]) -> list[dict[str, Any] | None]:
    """Return the JSON object of each (type, schema_version, payload JSON) stored at its type's
    current version, None for one stored at an older version (it needs its upcasters).

    The current payloads are parsed as one JSON array: a parser call per small payload costs
    more than the parsing.
    """
    types = EVENT_TYPES
    current = [types[t].schema_version == v for t, v, _ in items]
    parsed = iter(
        json.loads(
            "[" + ",".join([p for (_, _, p), c in zip(items, current, strict=True) if c]) + "]"
        )
    )
    return [next(parsed) if c else None for c in current]


def decode_stored_many(items: Sequence[tuple[str, int, str]]) -> list[EventModel]:
    """Return the typed events of (type, schema_version, payload JSON) read from the log.

    Payloads at their type's current version are built by their class's plan; older ones are
    upcast and fully validated.
    """
    plans = _PLANS
    out: list[EventModel] = []
    for (type_name, version, payload), fields in zip(items, parse_current(items), strict=True):
        if fields is not None:
            out.append(plans[type_name](fields))
        else:
            data = upcast(type_name, version, json.loads(payload, parse_float=Decimal))
            out.append(EVENT_TYPES[type_name].model_validate(data, context=STORED))
    return out
