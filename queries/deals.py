"""Reading what deal questions need: deal, go-live, configuration, quota, forecast-call and
retraction events of the log prefix a query stands at, replayed by `projections.deals`.

A question that replays the deals once (`deal_book`) streams the events it replays from the
store in replay order, stopping at its valid-time bound, and holds none of them: its memory is
the deals, not the log. A forecast question (`period_frame`) holds the events of the deals that
can be in its period, and decodes no others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ledger.envelope import LoggedRecord
from ledger.events import DEAL_TYPES, EventRetracted, LedgerConfigured
from ledger.gc_pause import gc_paused
from ledger.periods import parse_period
from ledger.store import LedgerStore
from projections.deals import DealBook, Pipeline, last_configuration, replay_deals, replay_visible
from projections.forecast import FORECAST_DAY_TYPES, forecast_deals
from projections.logged import visible
from queries.common import TimeFrame, TimeQuery, parse_day, time_frame

DEAL_QUESTION_TYPES: tuple[str, ...] = (
    *DEAL_TYPES,
    "go_live",
    "churn",
    "ledger_configured",
    "quota_set",
    "forecast_submitted",
    "event_retracted",
)
"""The event types deal projections read (expansions and contractions are left out)."""

CONTROL_TYPES = ("ledger_configured", "event_retracted")
"""The events that decide which others count and under which pipeline (few in any log)."""

REPLAYED_TYPES: tuple[str, ...] = tuple(
    t for t in DEAL_QUESTION_TYPES if t not in (*CONTROL_TYPES, "forecast_submitted")
)
"""The event types a deal replay applies (`projections.deals.replay_visible`)."""


@dataclass(frozen=True, slots=True)
class DealFrame:
    """A query's time frame and the deal-relevant events of the log prefix it stands at."""

    time: TimeFrame
    events: list[LoggedRecord]

    def book(self, as_of: date) -> DealBook:
        """Return every deal at the close of `as_of` (valid time), as known in this frame."""
        with gc_paused():
            return replay_deals(self.events, self.time.bound(as_of), self.time.known_at)


def period_frame(store: LedgerStore, frame: TimeFrame, label: str) -> DealFrame:
    """Return the events of a forecast question about the period `label` in `frame`: only
    the events a forecast of the period reads, those of the deals that can be in it
    (`projections.forecast.forecast_deals`) and every event of no deal. The period is read
    with every fiscal year start the ledger was configured with (a view known earlier may
    read it with another)."""
    upto = frame.head.seq
    configs = store.read_logged(upto_seq=upto, types=("ledger_configured",))
    starts = {frame.config.fiscal_year_start_month} | {
        e.payload.fiscal_year_start_month
        for e in configs
        if isinstance(e.payload, LedgerConfigured)
    }
    periods = [parse_period(label, start) for start in sorted(starts)]
    with gc_paused():
        kept = forecast_deals(
            store.read_logged(
                upto_seq=upto,
                types=[t for t in FORECAST_DAY_TYPES if t != "deal_updated"],
                types_with_field={"deal_updated": "expected_close"},  # the others give no day
                most_types=True,
            ),
            periods,
        )
    with gc_paused(keep=True):
        events = list(
            store.read_logged(upto_seq=upto, types=DEAL_QUESTION_TYPES, most_types=True, deals=kept)
        )
    return DealFrame(frame, events)


@dataclass(frozen=True, slots=True)
class DealAnswer:
    """What a question that replays the deals once stands on: its frame, day and deals."""

    time: TimeFrame
    as_of: date
    book: DealBook


def deal_book(store: LedgerStore, when: TimeQuery) -> DealAnswer:
    """Return the frame of a deal question at (`as_of`, `known_at`) and every deal at the
    close of `as_of` as known then, each without its `events`.

    The book is `replay_deals` of the frame's events: the configurations and retractions
    (few) are read first; the events to replay then come from the store in replay order, up to
    the valid-time bound, and are applied as they come, those retracted skipped.
    """
    frame = time_frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    return DealAnswer(frame, as_of, streamed_book(store, frame, frame.bound(as_of)))


def streamed_book(store: LedgerStore, frame: TimeFrame, bound: datetime) -> DealBook:
    """Return the book of `deal_book` in `frame` at the exclusive valid-time `bound`."""
    upto = frame.head.seq
    control = list(store.read_logged(upto_seq=upto, types=CONTROL_TYPES))
    retracted = {e.payload.retracts for e in control if isinstance(e.payload, EventRetracted)}
    pipeline = Pipeline.of(last_configuration(visible(control, frame.known_at)))
    replayed = store.read_logged(
        upto_seq=upto,
        types=REPLAYED_TYPES,
        most_types=True,
        effective_before=bound,
        replay_order=True,
    )
    with gc_paused(keep=True):
        return replay_visible(
            (e for e in replayed if e.event_id not in retracted),
            pipeline,
            bound,
            frame.known_at,
            keep_events=False,
        )
