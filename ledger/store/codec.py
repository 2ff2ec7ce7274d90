"""Conversions between stored rows and envelopes, and the derived index columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger.envelope import ENVELOPE_COLUMNS, LoggedRecord, RecordedEvent
from ledger.events import ContractSigned, DealEvent, DealOpened, EventModel, EventRetracted
from ledger.events.stored import decode_stored_many
from ledger.gc_pause import gc_paused

fromisoformat = datetime.fromisoformat  # reads a canonical stored instant (`read_instant`)
make = tuple.__new__  # a named tuple from its values in field order, without __new__'s call

SELECT_ORDER = ENVELOPE_COLUMNS
"""The envelope columns, in the order every read selects them."""


def rows_to_events(rows: Sequence[Sequence[Any]]) -> list[RecordedEvent]:
    """Return the typed envelopes of rows selected in SELECT_ORDER, in the same order.

    Payloads are decoded as stored payloads (`decode_stored_many`: validated at append,
    guarded by the hash chain), with the garbage collector paused while the objects are made.
    """
    with gc_paused():
        payloads = decode_stored_many([(r[2], r[3], r[11]) for r in rows])
        return [
            make(
                RecordedEvent,
                (*r[:6], fromisoformat(r[6]), fromisoformat(r[7]), *r[8:11], payload, *r[12:]),
            )
            for r, payload in zip(rows, payloads, strict=True)
        ]


def rows_to_logged(rows: Sequence[Sequence[Any]]) -> list[LoggedRecord]:
    """Return the `LoggedRecord`s of rows selected in LOGGED_COLUMNS, in the same order
    (payloads decoded as in `rows_to_events`)."""
    with gc_paused():
        payloads = decode_stored_many([(r[2], r[3], r[7]) for r in rows])
        return [
            make(
                LoggedRecord, (r[0], r[1], r[2], fromisoformat(r[4]), fromisoformat(r[5]), r[6], p)
            )
            for r, p in zip(rows, payloads, strict=True)
        ]


class DealAccounts:
    """Tracks which account each deal belongs to while walking the log in seq order.

    A deal's account is named by its `deal_opened` or by a `contract_signed` that gives one;
    the rules keep every live naming event of a deal on one account. A retraction takes its
    event's naming away, so a deal whose opening was retracted and recorded again for another
    account belongs to that account from then on, as it did when the events were appended.
    This map yields the `account_id` index column of every deal event.
    """

    def __init__(self) -> None:
        self._naming: dict[str, dict[str, str]] = {}  # deal -> {event_id: account} in seq order
        self._deal_of: dict[str, str] = {}  # event_id of a naming event -> its deal

    def index_refs(self, event: EventModel, event_id: str) -> tuple[str | None, str | None]:
        """Return the (deal_id, account_id) index columns of `event`, learning as it goes."""
        if isinstance(event, DealEvent):
            deal = event.deal_id
            if isinstance(event, DealOpened | ContractSigned) and event.account_id:
                self._naming.setdefault(deal, {})[event_id] = event.account_id
                self._deal_of[event_id] = deal
            named = self._naming.get(deal)
            return deal, next(iter(named.values())) if named else None
        if isinstance(event, EventRetracted):
            deal_of = self._deal_of.pop(event.retracts, None)
            if deal_of is not None:
                del self._naming[deal_of][event.retracts]
        return event.deal_ref(), event.account_ref()


def envelope_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return the arguments of `canonical.envelope_bytes` taken from a stored row mapping."""
    return {k: row[k] for k in SELECT_ORDER if k not in ("prev_hash", "hash")}
