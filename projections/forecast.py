"""The forecast of a period from one DealBook: closed-won ARR and the open pipeline closing in it.

Definition `revledger.forecast/2`, for a period P, from deals replayed to a valid-time
bound as known at a transaction time:
- closed won = Σ the contract ARR of deals won on a day in P (ledger time zone);
- the open forecast counts open deals whose `expected_close` lies in P and whose forecast
  category (the deal's override, else its stage's) is not `omitted`:
  unweighted = Σ amount; weighted = Σ amount × probability (the deal's override, else its
  stage's), each deal's product rounded half-even to cents, as a CRM's expected revenue is, so
  that the deals' weighted amounts add up to the weighted figure as shown; commit = Σ amount
  of those in category `commit`; best case = Σ amount of those in category `best_case`. An
  `omitted` deal is listed but adds nothing.
- quota = the period's `quota_set`, attainment = closed won / quota, coverage = unweighted /
  (quota − closed won) and weighted coverage = weighted / (quota − closed won), undefined (None)
  without a quota or once closed won reaches it.
Every figure is an exact Decimal sum; each deal's part of it is its `Contribution`, and the
figures are the sums of those parts (the forecast-change audit relies on that).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from ledger.events import ContractSigned, DealEvent, DealOpened, DealUpdated
from ledger.periods import Period
from projections.deals import ZERO, Deal, DealBook, Pipeline, Status
from projections.logged import LoggedEvent
from projections.stats import in_cents

DEFINITION = "revledger.forecast/2"
FIGURES = ("closed_won", "unweighted", "weighted", "commit", "best_case")
"""The figures of a forecast, each the sum of every deal's contribution to it."""

DayOf = Callable[[datetime], date]


def utc_day(t: datetime) -> date:
    """Return the UTC day of the instant `t` (the default ledger time zone)."""
    return t.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class Calendar:
    """How one view reads a period: its days (fiscal quarters follow the fiscal year start the
    view knows) and the ledger day of an instant (in the time zone the view knows)."""

    period: Period
    day_of: DayOf = utc_day


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one deal (or a set of deals) adds to each figure of a period's forecast."""

    closed_won: Decimal = ZERO
    unweighted: Decimal = ZERO
    weighted: Decimal = ZERO
    commit: Decimal = ZERO
    best_case: Decimal = ZERO

    def __add__(self, other: Contribution) -> Contribution:
        return Contribution(*(getattr(self, f) + getattr(other, f) for f in FIGURES))

    def __sub__(self, other: Contribution) -> Contribution:
        return Contribution(*(getattr(self, f) - getattr(other, f) for f in FIGURES))


NOTHING = Contribution()
assert tuple(f.name for f in fields(Contribution)) == FIGURES


@dataclass(frozen=True, slots=True)
class DealLine:
    """One deal behind a forecast: its state in the view and what it contributes.

    `close` is the day it was won (won deals) or its expected close (open deals);
    `probability` is the effective win probability of an open deal (None for a won one).
    """

    deal_id: str
    account_id: str | None
    status: Status
    stage: str | None
    category: str
    close: date | None
    probability: Decimal | None
    amount: Decimal
    contribution: Contribution


@dataclass(frozen=True, slots=True)
class Forecast:
    """A period's forecast in one view: the totals, the quota and the deals behind them."""

    period: Period
    total: Contribution
    won_deals: int
    open_deals: int
    omitted_deals: int
    quota: Decimal | None
    lines: list[DealLine] = field(default_factory=list)

    @property
    def attainment(self) -> Decimal | None:
        """Return closed won / quota (None without a positive quota)."""
        return self.total.closed_won / self.quota if self.quota else None

    def _coverage(self, pipeline: Decimal) -> Decimal | None:
        if self.quota is None or self.quota <= self.total.closed_won:
            return None
        return pipeline / (self.quota - self.total.closed_won)

    @property
    def coverage(self) -> Decimal | None:
        """Return the unweighted open forecast / the quota still to close (None: undefined)."""
        return self._coverage(self.total.unweighted)

    @property
    def weighted_coverage(self) -> Decimal | None:
        """Return the weighted open forecast / the quota still to close (None: undefined)."""
        return self._coverage(self.total.weighted)


def in_period(d: date | None, period: Period) -> bool:
    """Return whether the day `d` lies in `period` ([start, end) in days)."""
    return d is not None and period.start <= d < period.end


def deal_line(deal: Deal, pipeline: Pipeline, period: Period, day_of: DayOf) -> DealLine | None:
    """Return the deal's line in the period's forecast, or None when it has no place in it.

    A won deal has a place when it was won on a day in the period (`day_of` maps the valid-time
    instant to a ledger day); an open deal when its expected close lies in the period.
    """
    category = deal.category(pipeline)
    if deal.status == "won" and deal.contract is not None and deal.closed_at is not None:
        signed = day_of(deal.closed_at)
        if not in_period(signed, period):
            return None
        arr = deal.contract.arr
        part = Contribution(closed_won=arr)
        return DealLine(
            deal.deal_id,
            deal.account_id,
            "won",
            deal.stage,
            category,
            signed,
            None,
            arr,
            part,
        )
    if deal.status != "open" or deal.opened_at is None:
        return None
    if not in_period(deal.expected_close, period):
        return None
    probability = deal.stage_probability(pipeline)
    if category == "omitted":
        part = NOTHING
    else:
        part = Contribution(
            unweighted=deal.amount,
            weighted=in_cents(deal.amount * probability),
            commit=deal.amount if category == "commit" else ZERO,
            best_case=deal.amount if category == "best_case" else ZERO,
        )
    return DealLine(
        deal.deal_id,
        deal.account_id,
        "open",
        deal.stage,
        category,
        deal.expected_close,
        probability,
        deal.amount,
        part,
    )


def contribution(
    deal: Deal | None, pipeline: Pipeline, period: Period, day_of: DayOf
) -> Contribution:
    """Return what `deal` (None: a deal not in the view) adds to the period's forecast."""
    line = deal_line(deal, pipeline, period, day_of) if deal is not None else None
    return line.contribution if line is not None else NOTHING


_ORDER = {"won": 0, "commit": 1, "best_case": 2, "pipeline": 3, "omitted": 4}


def forecast(book: DealBook, period: Period, day_of: DayOf = utc_day) -> Forecast:
    """Return the forecast of `period` in the view `book` was replayed for.

    Lines are ordered won first, then by category (commit, best case, pipeline, omitted), then
    by expected close and deal id.
    """
    lines = [
        line
        for deal in book.deals.values()
        if (line := deal_line(deal, book.pipeline, period, day_of)) is not None
    ]
    lines.sort(
        key=lambda x: (
            _ORDER["won"] if x.status == "won" else _ORDER.get(x.category, 3),
            x.close or date.max,
            x.deal_id,
        )
    )
    total = NOTHING
    for line in lines:
        total += line.contribution
    won = sum(1 for x in lines if x.status == "won")
    omitted = sum(1 for x in lines if x.status == "open" and x.category == "omitted")
    return Forecast(
        period,
        total,
        won,
        len(lines) - won - omitted,
        omitted,
        book.quotas.get(period.label),
        lines,
    )


E = TypeVar("E", bound=LoggedEvent)
_DAY = timedelta(days=1)


FORECAST_DAY_TYPES = ("contract_signed", "deal_opened", "deal_updated")
"""The event types that can give a deal a day in a period (`forecast_deals`)."""


def forecast_deals(events: Iterable[LoggedEvent], periods: Collection[Period]) -> set[str]:
    """Return the deals that can have a line in the forecast of one of `periods` in some view
    (valid or transaction time) of `events`: those an expected close given of which lies in
    the period (open), or a contract of which was signed on a day of it (won). The day of an
    instant depends on the time zone, so a signature within a day of the period counts.
    Events of other types than `FORECAST_DAY_TYPES` are passed over."""
    spans = [(p.start - _DAY, p.last_day + _DAY) for p in periods]

    def near(day: date) -> bool:
        return any(lo <= day <= hi for lo, hi in spans)

    kept: set[str] = set()
    for e in events:
        p = e.payload
        if isinstance(p, ContractSigned):
            day: date | None = e.effective_at.astimezone(UTC).date()
        elif isinstance(p, DealOpened | DealUpdated):
            day = p.expected_close
        else:
            continue
        if day is not None and near(day):
            kept.add(p.deal_id)
    return kept


def forecast_events(events: Sequence[E], periods: Collection[Period]) -> list[E]:
    """Return `events` without those of the deals that have no line in the forecast of any of
    `periods` in any view (`forecast_deals`), so a forecast replays only the rest. Events of
    no deal (configurations, retractions, quotas, calls, go-lives) are all kept.
    """
    kept = forecast_deals(events, periods)
    return [e for e in events if not isinstance(e.payload, DealEvent) or e.payload.deal_id in kept]
