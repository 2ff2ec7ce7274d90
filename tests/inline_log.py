"""Inline ledgers for projection tests: typed events with seq and both times, no database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from ledger.envelope import RecordedEvent
from ledger.events import build_event
from ledger.timeutil import parse_instant


class InlineLog:
    """Builds a log in recording order. Each event is recorded one hour after the previous one
    unless `recorded` says otherwise (recorded_at never goes backwards)."""

    def __init__(self, first_recorded: str = "2020-01-01T00:00:00Z") -> None:
        self.events: list[RecordedEvent] = []
        self._clock = parse_instant(first_recorded)

    def add(
        self, type_name: str, effective: str, *, recorded: str | None = None, **fields: Any
    ) -> RecordedEvent:
        """Append an event effective at `effective` (date or instant); return it."""
        when = parse_instant(recorded) if recorded else self._clock + timedelta(hours=1)
        assert when >= self._clock, "recorded_at must not go backwards"
        self._clock = when
        event = RecordedEvent(
            seq=len(self.events) + 1,
            event_id=str(uuid.uuid4()),
            type=type_name,
            schema_version=1,
            stream_id="",
            stream_version=0,
            effective_at=parse_instant(effective),
            recorded_at=when,
            actor="test",
            source="inline",
            idempotency_key=None,
            payload=build_event(type_name, fields),
            prev_hash="",
            hash="",
        )
        self.events.append(event)
        return event

    def signed_and_live(
        self, account: str, deal: str, arr: str, signed: str, live: str, **extra: Any
    ) -> None:
        """Open a deal, sign it and take it live (a new customer or a second contract)."""
        self.add(
            "deal_opened",
            signed,
            deal_id=deal,
            account_id=account,
            stage="negotiation",
            amount=arr,
            expected_close=signed,
            **extra,
        )
        self.add("contract_signed", signed, deal_id=deal, arr=arr)
        self.add("go_live", live, account_id=account, deal_id=deal)

    @property
    def now(self) -> datetime:
        """Return the recorded_at of the last event."""
        return self._clock


def day(text: str) -> datetime:
    """Return the exclusive bound 'at the close of' a UTC day."""
    return parse_instant(text) + timedelta(days=1)
