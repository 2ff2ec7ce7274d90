"""Forecast calls: each `forecast_submitted` for a period next to the pipeline as known then.

Definition `revledger.forecast-calls/2`. A call counts when it is known at the query's known-at
(not retracted by then) and effective before the query's valid-time bound. For each call, the
pipeline-derived forecast is the period's `projections.forecast.forecast` at the close of the
call's effective day, as known at the moment the call was recorded: what the ledger said when
the call was made, in the configuration known then (its time zone gives the call's day and the
close of it, its fiscal year start the period's days). A call's `commit` and `best_case` are
compared with the pipeline's closed won + commit and closed won + commit + best case. Once the
period is over (the query's as-of is on or after its last day) the outcome is the closed-won
ARR of the period at its last day, as known at the query's known-at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ledger.events import ForecastSubmitted
from ledger.periods import Period
from projections.deals import replay_deals
from projections.forecast import DayOf, Forecast, forecast
from projections.logged import LoggedEvent, visible

DEFINITION = "revledger.forecast-calls/2"


@dataclass(frozen=True, slots=True)
class CallCalendar:
    """How a configuration reads a call: the period's days, the ledger day of an instant and
    the exclusive bound at the close of a day."""

    period: Period
    day_of: DayOf
    bound_of: Callable[[date], datetime]


@dataclass(frozen=True, slots=True)
class ForecastCall:
    """One submitted call (on the ledger day `submitted`) and the pipeline forecast as known
    when it was recorded."""

    event: LoggedEvent
    call: ForecastSubmitted
    submitted: date
    pipeline: Forecast

    @property
    def pipeline_commit(self) -> Decimal:
        """Return the pipeline's commit call then: closed won + open commit."""
        return self.pipeline.total.closed_won + self.pipeline.total.commit

    @property
    def pipeline_best_case(self) -> Decimal:
        """Return the pipeline's best case then: closed won + open commit + open best case."""
        return self.pipeline_commit + self.pipeline.total.best_case

    @property
    def pipeline_weighted(self) -> Decimal:
        """Return closed won + the weighted open forecast then."""
        return self.pipeline.total.closed_won + self.pipeline.total.weighted


@dataclass(frozen=True, slots=True)
class CallHistory:
    """The calls submitted for a period, oldest first, and its outcome once it is over."""

    period: Period
    calls: list[ForecastCall] = field(default_factory=list)
    outcome: Decimal | None = None


def forecast_calls(
    events: Sequence[LoggedEvent],
    period: Period,
    *,
    bound: datetime,
    known_at: datetime | None,
    bound_of: Callable[[date], datetime],
    day_of: DayOf,
    over: bool,
    calendar_at: Callable[[datetime], CallCalendar] | None = None,
) -> CallHistory:
    """Return the calls for `period` effective before `bound` and known at `known_at`.

    `events` are in seq order (deal-question events); `bound_of(d)` is the exclusive bound at
    the close of day `d` and `day_of` the ledger day of an instant, as the query's configuration
    reads them; `calendar_at(t)` is how the configuration known at transaction time `t` reads
    them (default: as the query's). With `over`, the outcome is the period's closed won at the
    close of its last day.
    """
    now = CallCalendar(period, day_of, bound_of)
    calls: list[ForecastCall] = []
    for e in sorted(visible(events, known_at), key=lambda x: x.seq):
        p = e.payload
        if not isinstance(p, ForecastSubmitted) or p.period != period.label:
            continue
        if e.effective_at >= bound:
            continue
        then = calendar_at(e.recorded_at) if calendar_at is not None else now
        submitted = then.day_of(e.effective_at)
        book = replay_deals(events, then.bound_of(submitted), e.recorded_at)
        calls.append(ForecastCall(e, p, submitted, forecast(book, then.period, then.day_of)))
    outcome = None
    if over:
        final = replay_deals(events, bound_of(period.last_day), known_at)
        outcome = forecast(final, period, day_of).total.closed_won
    return CallHistory(period, calls, outcome)
