"""The history of one deal or account stream in both orders, with retractions marked.

Definition `revledger.history/1`. The events are those of the stream known at `known_at`, with
the retractions (recorded by then) that name them. Each line has its place in business order
(`happened`: by `(effective_at, seq)`) and in recording order (`recorded`: by seq), and its
`lag_days`: recorded_at − effective_at in days (`projections.stats.to_days`; negative for an
event recorded ahead of its effective time, such as a churn notice). An event is `out_of_order`
when an event of the stream recorded before it happened after it: there the two orders differ.
A retracted event names the retraction that took it out (and so when that was recorded); a
retraction names the event it took out. Retractions are listed too (their effective time is
when they were written) but are never out of order themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ledger.events import EventRetracted
from projections.logged import LoggedEvent, known_by, replay_key
from projections.stats import to_days

DEFINITION = "revledger.history/1"


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One event of the stream with its place in both orders and its retraction marks."""

    event: LoggedEvent
    happened: int
    recorded: int
    lag_days: Decimal
    out_of_order: bool
    retracted_by: LoggedEvent | None = None
    retracts: LoggedEvent | None = None


def stream_history(events: Iterable[LoggedEvent], known_at: datetime | None) -> list[HistoryLine]:
    """Return the stream's history as known at `known_at`, in business (happened) order.

    `events` are the stream's events and the retractions naming them, in seq order.
    """
    known = list(known_by(events, known_at))
    by_id = {e.event_id: e for e in known}
    retracted_by: dict[str, LoggedEvent] = {}
    for e in known:
        if isinstance(e.payload, EventRetracted):
            retracted_by[e.payload.retracts] = e
    out_of_order: set[int] = set()
    latest: datetime | None = None
    for e in known:
        if isinstance(e.payload, EventRetracted):
            continue
        if latest is not None and e.effective_at < latest:
            out_of_order.add(e.seq)
        latest = e.effective_at if latest is None else max(latest, e.effective_at)
    recorded_rank = {e.seq: i for i, e in enumerate(known, start=1)}
    lines = []
    for rank, e in enumerate(sorted(known, key=replay_key), start=1):
        p = e.payload
        target = by_id.get(p.retracts) if isinstance(p, EventRetracted) else None
        lines.append(
            HistoryLine(
                e,
                rank,
                recorded_rank[e.seq],
                to_days(e.recorded_at - e.effective_at),
                e.seq in out_of_order,
                retracted_by.get(e.event_id),
                target,
            )
        )
    return lines
