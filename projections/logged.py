"""What a projection reads: events with their place in the log and both times.

`ledger.envelope.RecordedEvent` satisfies this protocol; tests build inline lists of it. Every
projection replays in the one deterministic order `(effective_at, seq)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

from ledger.events import EventModel


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
    def payload(self) -> EventModel: ...


def known_by(events: Iterable[LoggedEvent], known_at: datetime | None) -> Iterator[LoggedEvent]:
    """Yield the events recorded at or before `known_at` (transaction time), all if None.

    recorded_at never decreases along seq, so this is a prefix of the log.
    """
    for e in events:
        if known_at is not None and e.recorded_at > known_at:
            return
        yield e
