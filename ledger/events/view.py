"""What the domain rules read of an event: its `RuleView`.

The rules (`ledger.rules`) judge an event by a handful of its fields: its type, family and
stream, the deal and the account it names, a stage, an ARR amount, the event a retraction names,
and, for `ledger_configured`, the configuration itself. A view holds exactly those, by the
fields' names in the catalog, so it follows the catalog as it grows. It is made from a typed
event (`view_of`), or from stored payload JSON without building the typed event
(`views_of_stored`); the rule state keeps one per event of every stream it has loaded, and an
import's parsing process sends them along with the texts it parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from ledger.events.base import EventModel
from ledger.events.catalog import EVENT_TYPES
from ledger.events.ledger_stream import LedgerConfigured
from ledger.events.stored import decode_stored_many, parse_current

CONFIGURED = "ledger_configured"


class RuleView(NamedTuple):
    """The fields of one event that the rules read (None where the event has no such field).

    `family` is "deal", "account" or "ledger"; `config` is the typed configuration of a
    `ledger_configured` event. Immutable: a named tuple, made in one step.
    """

    type: str
    family: str
    stream_id: str
    deal_id: str | None = None
    account_id: str | None = None
    stage: str | None = None
    arr: Decimal | None = None
    retracts: str | None = None
    config: LedgerConfigured | None = None


def view_of(event: EventModel) -> RuleView:
    """Return the view of a typed event."""
    d = event.__dict__
    return RuleView(
        d["type"],
        event.family,
        event.stream_id(),
        d.get("deal_id"),
        d.get("account_id"),
        d.get("stage"),
        d.get("arr"),
        d.get("retracts"),
        event if isinstance(event, LedgerConfigured) else None,
    )


def views_of_stored(items: Sequence[tuple[str, int, str, str]]) -> list[RuleView]:
    """Return the views of stored events given as (type, schema_version, payload JSON,
    stream_id).

    A payload at its type's current version is read as JSON (it was validated when appended
    and is in canonical form: money as decimal text); a configuration, and a payload at an
    older version (upcast first), are decoded into their typed event.
    """
    types = EVENT_TYPES
    out: list[RuleView] = []
    parsed = parse_current([(t, v, p) for t, v, p, _ in items])
    for (t, v, p, stream), d in zip(items, parsed, strict=True):
        if d is None or t == CONFIGURED:
            out.append(view_of(decode_stored_many([(t, v, p)])[0]))
            continue
        arr = d.get("arr")
        out.append(
            RuleView(
                t,
                types[t].family,
                stream,
                d.get("deal_id"),
                d.get("account_id"),
                d.get("stage"),
                None if arr is None else Decimal(arr),
                d.get("retracts"),
            )
        )
    return out
