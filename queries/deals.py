"""Reading what deal questions need: deal, go-live, configuration, quota, forecast-call and
retraction events of the log prefix a query stands at, replayed by `projections.deals`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.envelope import LoggedRecord
from ledger.events import EVENT_TYPES, LedgerConfigured
from ledger.gc_pause import gc_paused
from ledger.periods import parse_period
from ledger.store import LedgerStore
from projections.deals import DealBook, replay_deals
from projections.forecast import forecast_events
from queries.common import TimeFrame, time_frame

DEAL_QUESTION_TYPES: tuple[str, ...] = (
    *(name for name, cls in EVENT_TYPES.items() if cls.family == "deal"),
    "go_live",
    "churn",
    "ledger_configured",
    "quota_set",
    "forecast_submitted",
    "event_retracted",
)
"""The event types deal projections read (expansions and contractions are left out)."""


@dataclass(frozen=True, slots=True)
class DealFrame:
    """A query's time frame and the deal-relevant events of the log prefix it stands at."""

    time: TimeFrame
    events: list[LoggedRecord]

    def for_period(self, label: str) -> DealFrame:
        """Return this frame with only the events a forecast of the period `label` reads
        (`projections.forecast.forecast_events`), the period read with every fiscal year start
        the ledger was configured with (a view known earlier may read it with another)."""
        starts = {self.time.config.fiscal_year_start_month} | {
            e.payload.fiscal_year_start_month
            for e in self.events
            if isinstance(e.payload, LedgerConfigured)
        }
        periods = [parse_period(label, start) for start in sorted(starts)]
        return DealFrame(self.time, forecast_events(self.events, periods))

    def book(self, as_of: date) -> DealBook:
        """Return every deal at the close of `as_of` (valid time), as known in this frame."""
        with gc_paused():
            return replay_deals(self.events, self.time.bound(as_of), self.time.known_at)


def deal_frame(store: LedgerStore, known_at_text: str | None) -> DealFrame:
    """Return the frame of a deal question at `--known-at` and the events it reads."""
    frame = time_frame(store, known_at_text)
    upto = frame.head.seq
    with gc_paused(keep=True):
        events = list(store.read_logged(upto_seq=upto, types=DEAL_QUESTION_TYPES, most_types=True))
    return DealFrame(frame, events)
