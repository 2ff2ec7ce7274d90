"""What a projection reads: events with their place in the log and both times.

`ledger.envelope.RecordedEvent` satisfies this protocol; tests build inline lists of it. Every
projection replays in the one deterministic order `(effective_at, seq)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

from ledger.events import EventModel, EventRetracted


class LoggedEvent(Protocol):
    """An event as the log holds it: seq (recording order), both time axes, and its payload."""

    @property
    def seq(self) -> int: ...

    @property
    def event_id(self) -> str: ...

    @property
    def effective_at(self) -> datetime: ...

    @property
    def recorded_at(self) -> datetime: ...

    @property
    def actor(self) -> str: ...

    @property
    def payload(self) -> EventModel: ...


def known_by(events: Iterable[LoggedEvent], known_at: datetime | None) -> Iterator[LoggedEvent]:
    """Yield the events recorded at or before `known_at` (transaction time), all if None.

    recorded_at never decreases along seq, so this is a prefix of the log.
    """
    for e in events:
        if known_at is not None and e.recorded_at > known_at:
            return
        yield e


def replay_key(e: LoggedEvent) -> tuple[datetime, int]:
    """Return the one deterministic replay order key, `(effective_at, seq)`."""
    return (e.effective_at, e.seq)


def visible(events: Iterable[LoggedEvent], known_at: datetime | None) -> list[LoggedEvent]:
    """Return the events that count as known at `known_at`, in replay order.

    That is the log prefix recorded by `known_at` (transaction time), without the retractions
    themselves and without every event a retraction in that prefix names.
    """
    known = list(known_by(events, known_at))
    retracted = {e.payload.retracts for e in known if isinstance(e.payload, EventRetracted)}
    kept = [
        e
        for e in known
        if e.event_id not in retracted and not isinstance(e.payload, EventRetracted)
    ]
    kept.sort(key=replay_key)
    return kept
