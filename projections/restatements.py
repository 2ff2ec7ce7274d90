"""Restatements: a metric as reported at a past transaction time, as known now, and each event
recorded in between that moved it.

Definition `revledger.restatements/1`. The metric is computed for one as-of day on the log
prefix known at `reported_at` (the value reported then) and on the prefix known now. Every
event recorded in between that can move the metric is replayed in recording (seq) order; its
effect is the metric on the prefix ending with it minus the metric on the prefix just before
it. Events whose effect is zero are left out, and the effects telescope:
reported + Σ effects = now, checked on every call (an `IntegrityError` otherwise).

Metrics: `arr` and `carr` (`projections.arr`), `nrr` and `grr` (`projections.retention`, live-ARR
basis, over a window) from the revenue book, and `forecast` (closed won, unweighted and
weighted forecast of a period, `projections.forecast`) from the deal replay. A ratio has no
value with an empty cohort (None); an effect to or from None is None, and such steps are shown
but not summed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from ledger.errors import IntegrityError
from ledger.events import EventRetracted, LedgerConfigured
from projections.arr import arr_snapshot
from projections.deals import replay_deals
from projections.forecast import NOTHING, Calendar, Contribution, contribution
from projections.logged import LoggedEvent
from projections.money_sums import as_decimal, places
from projections.retention import retention
from projections.revenue_book import RevenueBook, RevenueView

DEFINITION = "revledger.restatements/1"
Values = dict[str, Decimal | None]
RevenueMetric = str
REVENUE_FIGURES: dict[str, tuple[str, ...]] = {
    "arr": ("arr",),
    "carr": ("carr",),
    "nrr": ("nrr",),
    "grr": ("grr",),
}
FORECAST_FIGURES = ("closed_won", "unweighted", "weighted")
_PRECISION = 60  # exact differences and sums of 28-digit ratios


@dataclass(frozen=True, slots=True)
class Effect:
    """One event recorded in between and what it changed in each figure (None: undefined):
    from `before` to `after`, the metric on the log prefixes just before and ending with it.

    `retracts` is the event a retraction took out.
    """

    event: LoggedEvent
    effect: Values
    before: Values
    after: Values
    retracts: LoggedEvent | None = None


@dataclass(frozen=True, slots=True)
class Restatement:
    """A metric as reported and as known now, and the events in between that moved it."""

    figures: tuple[str, ...]
    reported: Values
    now: Values
    effects: list[Effect] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Return whether the value known now differs from the value reported."""
        return self.reported != self.now


def _difference(after: Decimal | None, before: Decimal | None) -> Decimal | None:
    if after is None or before is None:
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return after - before


def restate(
    figures: tuple[str, ...],
    reported: Values,
    now: Values,
    steps: Iterable[tuple[LoggedEvent, Values]],
    targets: Mapping[str, LoggedEvent],
) -> Restatement:
    """Return the restatement from `reported` to `now` through `steps`.

    `steps` are the events recorded in between, in seq order, each with the metric on the log
    prefix ending with it; `targets` maps event ids to events (to name what a retraction took
    out). Raises IntegrityError unless the last step's value is `now` and, for every figure
    defined throughout, reported + Σ effects = now.
    """
    effects: list[Effect] = []
    previous = reported
    for e, value in steps:
        if value != previous:
            retracts = (
                targets.get(e.payload.retracts) if isinstance(e.payload, EventRetracted) else None
            )
            delta = {f: _difference(value[f], previous[f]) for f in figures}
            effects.append(Effect(e, delta, previous, value, retracts))
        previous = value
    if previous != now:
        raise IntegrityError(
            f"the restatement does not reach the value known now: {previous} after the last "
            f"event, {now} known now"
        )
    for f in figures:
        start, end = reported[f], now[f]
        if start is None or end is None or any(x.effect[f] is None for x in effects):
            continue
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            total = start + sum((x.effect[f] or Decimal(0) for x in effects), Decimal(0))
        if total != end:
            raise IntegrityError(
                f"the restatement of {f} does not sum: {start} reported + effects gives "
                f"{total}, but {end} is known now"
            )
    return Restatement(figures, reported, now, effects)


# -- revenue metrics -------------------------------------------------------------------------
def revenue_values(
    metric: RevenueMetric, view: RevenueView, bound: datetime, start: datetime
) -> Values:
    """Return the revenue metric on `view` at the exclusive bound `bound`.

    `start` is the bound of the retention window's start (nrr, grr).
    """
    if metric in ("arr", "carr"):
        line = arr_snapshot(view, bound).total
        return {"arr": line.arr} if metric == "arr" else {"carr": line.carr}
    total = retention(view, start, bound).total
    return {"nrr": total.nrr} if metric == "nrr" else {"grr": total.grr}


class _Sums:
    """Money sums over accounts in cents, each with the decimal places its terms need, kept
    per account so that one account's terms can be replaced: the same Decimals that summing
    every account's amounts gives (`projections.money_sums.summed`), at the cost of the
    accounts that changed."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.terms: dict[str, tuple[int, ...]] = {}
        self.cents = [0] * width
        self.places = [[0, 0, 0] for _ in range(width)]  # accounts per places 0, 1, 2

    def put(self, account: str, terms: tuple[int, ...]) -> None:
        """Make `terms` (cents, one per sum) `account`'s contribution."""
        old = self.terms.pop(account, None)
        if old is not None:
            for i, c in enumerate(old):
                self.cents[i] -= c
                self.places[i][places(c)] -= 1
        if any(terms):
            self.terms[account] = terms
            for i, c in enumerate(terms):
                self.cents[i] += c
                self.places[i][places(c)] += 1

    def total(self, i: int) -> Decimal:
        """Return sum `i` as a Decimal with the most places of its terms."""
        counts = self.places[i]
        most = 2 if counts[2] else 1 if counts[1] else 0
        return as_decimal(self.cents[i], most)


def _terms(
    metric: RevenueMetric, view: RevenueView, bound: datetime, start: datetime
) -> list[tuple[int, ...]]:
    """Return each account's terms of `metric` in `view` (in `view.ids` order), in cents:
    (live) for arr; (live, pending, projected churn) for carr; (start, end, retained) of a
    cohort account for nrr and grr, zeros for an account outside the cohort."""
    if metric == "arr":
        return [(live,) for live, _p, _c in view.states_at(bound, churn=False)]
    if metric == "carr":
        return list(view.states_at(bound))
    ends = view.states_at(bound, churn=False)
    terms: list[tuple[int, ...]] = []
    for (s, _p, _c), (e, _q, _d) in zip(view.states_at(start, churn=False), ends, strict=True):
        terms.append((s, e, e if e < s else s) if s > 0 else (0, 0, 0))
    return terms


def _values(metric: RevenueMetric, sums: _Sums) -> Values:
    if metric == "arr":
        return {"arr": sums.total(0)}
    if metric == "carr":
        return {"carr": sums.total(0) + sums.total(1) - sums.total(2)}
    start, end, retained = sums.total(0), sums.total(1), sums.total(2)
    if metric == "nrr":
        return {"nrr": end / start if start else None}
    return {"grr": retained / start if start else None}


def revenue_steps(
    book: RevenueBook,
    candidates: Iterable[LoggedEvent],
    metric: RevenueMetric,
    bounds_at: Callable[[int], tuple[datetime, datetime]],
) -> Iterator[tuple[LoggedEvent, Values]]:
    """Yield each candidate event with `metric` on the log prefix ending with it, the values
    `revenue_values` gives on that prefix's view.

    `book` has absorbed at least up to the last candidate; `candidates` are in seq order;
    `bounds_at(seq)` is the (as-of, window start) bound pair on the prefix ending at `seq`. A
    step folds and sums again only the accounts its event changed (all of them when the bounds
    move, after a change of time zone), so the cost grows with the events, not with them times
    the accounts.
    """
    events = list(candidates)
    sums = _Sums(1 if metric == "arr" else 3)
    last: tuple[datetime, datetime] | None = None
    prefixes = book.prefix_timelines(e.seq for e in events)
    for e, (seq, timelines, touched, columns) in zip(events, prefixes, strict=True):
        bounds = bounds_at(seq)
        accounts = list(timelines if touched is None or bounds != last else touched)
        view = RevenueView.of([timelines[a] for a in accounts], columns, seq)
        found = dict(zip(view.ids, _terms(metric, view, *bounds), strict=True))
        for account in accounts:
            sums.put(account, found.get(account, ()))
        last = bounds
        yield e, _values(metric, sums)


# -- the forecast ----------------------------------------------------------------------------
def forecast_values(total: Contribution) -> Values:
    """Return the forecast figures a restatement follows."""
    return {f: getattr(total, f) for f in FORECAST_FIGURES}


class _DealSlices:
    """The events of each deal, and those every deal's replay needs (configurations and
    retractions), so a step re-replays only the deals an event touches."""

    def __init__(self, events: Sequence[LoggedEvent]) -> None:
        self.deal_of: dict[str, str] = {}
        self.by_deal: dict[str, list[LoggedEvent]] = {}
        self.shared: list[LoggedEvent] = []
        self.configs: set[str] = set()
        for e in events:
            p = e.payload
            if isinstance(p, EventRetracted | LedgerConfigured):
                self.shared.append(e)
                if isinstance(p, LedgerConfigured):
                    self.configs.add(e.event_id)
                continue
            deal_id = getattr(p, "deal_id", None)
            if deal_id is not None and p.family == "deal":
                self.by_deal.setdefault(deal_id, []).append(e)
                self.deal_of[e.event_id] = deal_id

    def touched(self, e: LoggedEvent) -> set[str] | None:
        """Return the deals whose forecast `e` can change (None: every deal)."""
        p = e.payload
        if isinstance(p, LedgerConfigured):
            return None
        if isinstance(p, EventRetracted):
            if p.retracts in self.configs:
                return None
            deal = self.deal_of.get(p.retracts)
            return {deal} if deal is not None else set()
        deal = self.deal_of.get(e.event_id)
        return {deal} if deal is not None else set()

    def prefix(self, deal_id: str, upto_seq: int) -> list[LoggedEvent]:
        """Return what replaying `deal_id` on the log prefix ending at `upto_seq` reads."""
        mine = [e for e in self.by_deal.get(deal_id, ()) if e.seq <= upto_seq]
        shared = [e for e in self.shared if e.seq <= upto_seq]
        return sorted(mine + shared, key=lambda e: e.seq)


CalendarAt = Callable[[int], tuple[Calendar, datetime]]
"""The calendar of the log prefix ending at a seq, and the close of the as-of day in it."""


def forecast_steps(
    events: Sequence[LoggedEvent], reported_seq: int, calendar_at: CalendarAt
) -> Iterator[tuple[LoggedEvent, Values]]:
    """Yield each event recorded after `reported_seq` that can move the period's forecast at
    the as-of day, with the forecast on the log prefix ending with it, read in that prefix's
    calendar (`calendar_at`: a configuration recorded in between may change it).

    `events` are the deal-question events of the log up to now, in seq order.
    """
    slices = _DealSlices(events)

    def part(deal_id: str, upto: int) -> Contribution:
        calendar, bound = calendar_at(upto)
        book = replay_deals(slices.prefix(deal_id, upto), bound)
        return contribution(
            book.deals.get(deal_id), book.pipeline, calendar.period, calendar.day_of
        )

    parts = {d: part(d, reported_seq) for d in slices.by_deal}
    total = NOTHING
    for c in parts.values():
        total += c
    for e in events:
        if e.seq <= reported_seq:
            continue
        touched = slices.touched(e)
        if touched is not None and not touched:
            continue
        for d in list(parts) if touched is None else touched:
            new = part(d, e.seq)
            total += new - parts[d]
            parts[d] = new
        yield e, forecast_values(total)
