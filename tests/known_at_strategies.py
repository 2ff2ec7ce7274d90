"""Logs recorded in batches, instants at and around their recording times, and what counts as
known at such an instant, written out from the definition for the properties of `known_at`.

"As known at k" means: the events recorded at or before k (recorded_at <= k, an inclusive
bound), without the retractions among them and without every event one of those retractions
names. A retraction recorded after k retracts nothing yet. The functions here spell that out
over plain lists, so the properties never ask the projections which events count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from ledger.envelope import NewEvent, RecordedEvent
from ledger.events import ContractSigned, DealOpened, EventRetracted

RECORDED_FROM = datetime(2030, 1, 1, tzinfo=UTC)

BATCH_GAPS: tuple[timedelta, ...] = (
    timedelta(hours=1),
    timedelta(seconds=1),
    timedelta(microseconds=1),
)
"""How far apart two batches are recorded: far, or as close as an offset of `AROUND` reaches."""

AROUND: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(microseconds=-1),
    timedelta(seconds=-1),
    timedelta(seconds=1),
)
"""Where a drawn instant falls relative to the recording of an event: exactly at it (first, so
examples shrink to the boundary), a microsecond or a second before it, or a second after it."""


def as_recorded(news: Sequence[NewEvent], recorded_at: Sequence[datetime]) -> list[RecordedEvent]:
    """Return the events as a log would hold them: seq 1.., each recorded at its instant."""
    return [
        RecordedEvent(
            seq=i,
            event_id=n.event_id or f"generated-{i}",
            type=n.event.event_type,
            schema_version=1,
            stream_id=n.event.stream_id(),
            stream_version=0,
            effective_at=n.effective_at,
            recorded_at=at,
            actor=n.actor,
            source=n.source,
            idempotency_key=n.idempotency_key,
            payload=n.event,
            prev_hash="",
            hash="",
        )
        for i, (n, at) in enumerate(zip(news, recorded_at, strict=True), start=1)
    ]


@st.composite
def batched_logs(draw: st.DrawFn, news: Sequence[NewEvent]) -> list[RecordedEvent]:
    """Draw a log of `news` appended in batches: the events of one batch share one recorded_at
    (as one transaction records them), and each batch is recorded an hour, a second or a
    microsecond after the one before. Anything from one batch to one batch per event."""
    starts = draw(
        st.one_of(
            st.lists(st.booleans(), min_size=len(news) - 1, max_size=len(news) - 1),
            st.just([True] * (len(news) - 1)),
        )
    )
    at = RECORDED_FROM
    times = [at]
    for new_batch in starts:
        if new_batch:
            at += draw(st.sampled_from(BATCH_GAPS))
        times.append(at)
    return as_recorded(news, times)


def around_recordings(log: Sequence[RecordedEvent]) -> st.SearchStrategy[datetime]:
    """Instants exactly at, just before or just after the recording of some event of `log`."""
    return st.builds(
        lambda e, offset: e.recorded_at + offset, st.sampled_from(log), st.sampled_from(AROUND)
    )


def known_ats(log: Sequence[RecordedEvent]) -> st.SearchStrategy[datetime | None]:
    """None (everything recorded) about as often as any one event's recording instant, else an
    instant exactly at, just before or just after the recording of some event of `log`."""

    def instant(at: datetime | None, offset: timedelta) -> datetime | None:
        return None if at is None else at + offset

    recordings = sorted({e.recorded_at for e in log})
    return st.builds(instant, st.sampled_from([*recordings, None]), st.sampled_from(AROUND))


def recorded_by(log: Sequence[RecordedEvent], known_at: datetime | None) -> list[RecordedEvent]:
    """Return the events of `log` recorded at or before `known_at` (all if None), in seq order."""
    return [e for e in log if known_at is None or e.recorded_at <= known_at]


def retracted_by(log: Sequence[RecordedEvent], known_at: datetime | None) -> set[str]:
    """Return the ids of the events named by a retraction recorded at or before `known_at`."""
    return {
        e.payload.retracts
        for e in recorded_by(log, known_at)
        if isinstance(e.payload, EventRetracted)
    }


def counting(log: Sequence[RecordedEvent], known_at: datetime | None) -> list[RecordedEvent]:
    """Return the events that count as known at `known_at` (None: everything recorded), in
    business order `(effective_at, seq)`: recorded by then, not a retraction, and not named by
    a retraction recorded by then."""
    gone = retracted_by(log, known_at)
    kept = [
        e
        for e in recorded_by(log, known_at)
        if not isinstance(e.payload, EventRetracted) and e.event_id not in gone
    ]
    return sorted(kept, key=lambda e: (e.effective_at, e.seq))


def account_of(log: Sequence[RecordedEvent], e: RecordedEvent) -> str | None:
    """Return the account an event is about: its own `account_id`, or for a contract that
    names none the account its deal was opened for (None for events of no account)."""
    p = e.payload
    account = getattr(p, "account_id", None)
    if account is None and isinstance(p, ContractSigned):
        opened = [x.payload for x in log if isinstance(x.payload, DealOpened)]
        account = next((o.account_id for o in opened if o.deal_id == p.deal_id), None)
    return account
