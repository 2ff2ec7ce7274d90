"""The forecast-change audit: how a period's forecast changed between two views, deal by deal.

Definition `revledger.forecast-diff/2`. A view is a valid-time bound (the close of an as-of
day) and a transaction time (known-at). View A is "from", view B is "to"; the audit replays the
deals in both and, for every deal whose contribution to the period's forecast
(`projections.forecast.Contribution`: closed won, unweighted, weighted, commit, best case)
differs, gives its delta (B − A), exactly one category, and the events that caused it.

**Category.** Let M be the view (as-of of A, known-at of B): A's business period seen with B's
knowledge. If the deal contributes the same in M as in B, everything that changed is knowledge
(events recorded late, i.e. backdated, retractions, or a reconfigured pipeline): `restated`.
Otherwise the first that applies, comparing the deal in M (X) with the deal in B (Y):
1. `won` — Y is won, X was not;
2. `lost` — Y is lost or not yet opened, X was open or won;
3. `new` — Y is open, X was not (not yet opened, or lost and since reopened);
both open from here on:
4. `pulled_in` — the expected close moved into the period;
5. `pushed_out` — the expected close moved out of the period;
both in the period from here on:
6. `stage_forward` / 7. `stage_backward` — a later / earlier stage in the pipeline order (a
   move from or to a stage the pipeline no longer has is neither, as for `regressions`);
8. `amount_up` / 9. `amount_down`;
10. `category_change` — the forecast category or the win probability changed (overrides).
`restated` (11.) is last in that order and decided first: it is the category of a change no
event effective between the two as-of days explains.

**Causes.** The events cited for a deal are the forecast-relevant events of that deal (opened,
stage changed, amount / expected close / category / probability updated, signed, lost,
reopened) that count in one view and not in the other, plus the pipeline configurations that
differ when the pipelines do. Each is cited as itself when it lies between the two views —
effective between the two as-of bounds (axis `valid`) or recorded between the two known-at
instants (axis `known`) — and otherwise through the retraction, recorded between the two
known-at instants, that took it out (axis `known`, `retracts` naming it). A change that cannot
be explained this way is an integrity error.

**Calendars.** Each view reads the period's days and the day of a signature in the
configuration it knows (time zone, fiscal year start), as `forecast` at that known-at does; M
reads them as B. When A's calendar differs from B's, the configurations that differ between
the views are causes of every change, as when the pipelines differ: a deal signed on the last
evening of a quarter in UTC falls in the next quarter in Tokyo, which is `restated`.

**Invariant.** forecast(A) + Σ deltas = forecast(B), for every figure, checked on every call;
a violation raises `IntegrityError` instead of returning numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args

from ledger.errors import IntegrityError
from ledger.events import (
    ContractSigned,
    DealLost,
    DealOpened,
    DealReopened,
    DealUpdated,
    EventRetracted,
    LedgerConfigured,
    StageChanged,
)
from ledger.periods import Period
from ledger.timeutil import shown_instant
from projections.deals import Deal, DealBook, Pipeline, Status, replay_deals
from projections.forecast import (
    FIGURES,
    NOTHING,
    Calendar,
    Contribution,
    DayOf,
    Forecast,
    contribution,
    forecast,
    in_period,
    utc_day,
)
from projections.logged import LoggedEvent, visible

DEFINITION = "revledger.forecast-diff/2"
Category = Literal[
    "won",
    "lost",
    "new",
    "pulled_in",
    "pushed_out",
    "stage_forward",
    "stage_backward",
    "amount_up",
    "amount_down",
    "category_change",
    "restated",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
"""The categories in order of precedence."""
Axis = Literal["valid", "known"]
_FORECAST_FIELDS = ("amount", "expected_close", "forecast_category", "probability")


@dataclass(frozen=True, slots=True)
class View:
    """One side of the audit: an exclusive valid-time bound and a transaction time (None: all)."""

    bound: datetime
    known_at: datetime | None


@dataclass(frozen=True, slots=True)
class Cause:
    """An event that lies between the two views and changed a deal's contribution.

    `axis` says how it lies between: `valid` (effective between the two as-of bounds) or
    `known` (recorded between the two known-at instants). For a retraction, `retracts` is the
    event it took out.
    """

    event: LoggedEvent
    axis: Axis
    retracts: LoggedEvent | None = None


@dataclass(frozen=True, slots=True)
class DealChange:
    """One deal whose contribution changed: its category, delta (B − A), states and causes."""

    deal_id: str
    category: Category
    delta: Contribution
    before: Deal | None
    after: Deal | None
    causes: list[Cause]


@dataclass(frozen=True, slots=True)
class ForecastDiff:
    """The audit of a period's forecast from view A to view B.

    `changes` are ordered by category precedence, then deal id; `by_category` sums their deltas
    per category in the same order.
    """

    period: Period
    before: Forecast
    after: Forecast
    changes: list[DealChange]
    by_category: dict[Category, Contribution]
    pipeline_before: Pipeline
    pipeline_after: Pipeline


def _forecast_relevant(e: LoggedEvent) -> bool:
    p = e.payload
    if isinstance(p, DealUpdated):
        return any(getattr(p, f) is not None for f in _FORECAST_FIELDS)
    return isinstance(
        p, DealOpened | StageChanged | ContractSigned | DealLost | DealReopened | LedgerConfigured
    )


def _later(a: datetime | None, b: datetime | None) -> bool:
    """Return whether the known-at `a` is later than `b` (None: everything, the latest)."""
    if a is None:
        return b is not None
    return b is not None and a > b


class _Between:
    """Decides whether an event lies between two views, and on which axis."""

    def __init__(self, a: View, b: View, a_bound_in_b: datetime) -> None:
        self.lo_bound, self.hi_bound = sorted((a_bound_in_b, b.bound))
        self.lo_shift, self.hi_shift = sorted((a.bound, a_bound_in_b))
        self.lo_known, self.hi_known = a.known_at, b.known_at
        if _later(a.known_at, b.known_at):
            self.lo_known, self.hi_known = b.known_at, a.known_at

    def axis(self, e: LoggedEvent) -> Axis | None:
        """Return `valid` if `e` is effective between the bounds, else `known` if it was
        recorded between the known-at instants, else None. A configuration counts from when
        it is recorded, so it lies between the views only on the `known` axis."""
        configuration = isinstance(e.payload, LedgerConfigured)
        if not configuration and self.lo_bound <= e.effective_at < self.hi_bound:
            return "valid"
        return "known" if self.recorded_between(e) else None

    def shifted(self, e: LoggedEvent) -> bool:
        """Return whether `e` is effective between the close of A's as-of day as A's time
        zone reads it and as B's: it counts in one view only by the calendars."""
        return self.lo_shift <= e.effective_at < self.hi_shift

    def recorded_between(self, e: LoggedEvent) -> bool:
        """Return whether `e` was recorded after the earlier known-at and by the later one."""
        after_lo = self.lo_known is not None and e.recorded_at > self.lo_known
        return after_lo and (self.hi_known is None or e.recorded_at <= self.hi_known)


def _explain(
    differing: Iterable[LoggedEvent], between: _Between, retractions: dict[str, LoggedEvent]
) -> list[Cause]:
    causes: list[Cause] = []
    for e in differing:
        axis = between.axis(e)
        if axis is not None:
            causes.append(Cause(e, axis))
            continue
        if between.shifted(e):
            continue  # the configuration recorded between the views (a cause) explains it
        r = retractions.get(e.event_id)
        if r is None or not between.recorded_between(r):
            raise IntegrityError(
                f"event seq {e.seq} ({e.payload.event_type}) counts in one view of the audit "
                "and not in the other, yet lies between neither their as-of days nor their "
                "known-at times"
            )
        causes.append(Cause(r, "known", e))
    causes.sort(key=lambda c: c.event.seq)
    return causes


def _relevant_events(deal: Deal | None) -> dict[str, LoggedEvent]:
    if deal is None:
        return {}
    return {e.event_id: e for e in deal.events if _forecast_relevant(e)}


def _symmetric(a: dict[str, LoggedEvent], b: dict[str, LoggedEvent]) -> list[LoggedEvent]:
    return [e for k, e in a.items() if k not in b] + [e for k, e in b.items() if k not in a]


def _configurations(
    events: Sequence[LoggedEvent], known_at: datetime | None
) -> dict[str, LoggedEvent]:
    """Return the pipeline configurations that count at `known_at` (retractions applied)."""
    return {
        e.event_id: e for e in visible(events, known_at) if isinstance(e.payload, LedgerConfigured)
    }


def categorize(
    x: Deal | None, y: Deal | None, pipeline: Pipeline, period: Period
) -> Category | None:
    """Return the business category of a deal going from state `x` to `y` (None: none applies).

    Both states are judged with the same `pipeline`; see the module docstring for the order.
    """
    x_status, y_status = _status(x), _status(y)
    if y_status == "won" and x_status != "won":
        return "won"
    if y_status in ("lost", None) and x_status in ("open", "won"):
        return "lost"
    if y_status == "open" and x_status != "open":
        return "new"
    if x is None or y is None or x_status != "open" or y_status != "open":
        return None
    x_in, y_in = in_period(x.expected_close, period), in_period(y.expected_close, period)
    if y_in and not x_in:
        return "pulled_in"
    if x_in and not y_in:
        return "pushed_out"
    if not (x_in and y_in):
        return None
    if x.stage != y.stage and x.stage is not None and y.stage is not None:
        if pipeline.is_forward(x.stage, y.stage):
            return "stage_forward"
        if pipeline.is_backward(x.stage, y.stage):
            return "stage_backward"
    if y.amount > x.amount:
        return "amount_up"
    if y.amount < x.amount:
        return "amount_down"
    if x.category(pipeline) != y.category(pipeline) or x.stage_probability(
        pipeline
    ) != y.stage_probability(pipeline):
        return "category_change"
    return None


def _status(d: Deal | None) -> Status | None:
    """Return the deal's status in a view, None while it is not opened (nor won) there."""
    if d is None or (d.opened_at is None and d.status != "won"):
        return None
    return d.status


def forecast_diff(
    events: Sequence[LoggedEvent],
    period: Period,
    a: View,
    b: View,
    day_of: DayOf = utc_day,
    *,
    a_calendar: Calendar | None = None,
    a_bound_in_b: datetime | None = None,
) -> ForecastDiff:
    """Return the audit of `period`'s forecast from view `a` to view `b`.

    `period` and `day_of` are B's calendar; `a_calendar` is A's when the configuration A knows
    reads days otherwise (another time zone or fiscal year start), else A reads them as B;
    `a_bound_in_b` is then the close of A's as-of day in B's time zone (default `a.bound`).
    The business categories compare B with the middle view (A's as-of day closed as B reads
    it, known at B's known-at), and an event lies between the views on the valid axis when it
    is effective between that close and B's.
    `events` are in seq order and cover both views. Raises IntegrityError when the deltas do not
    sum to forecast(B) − forecast(A) or a change cannot be explained by events between the views.
    """
    cal_b = Calendar(period, day_of)
    cal_a = a_calendar or cal_b
    book_a = replay_deals(events, a.bound, a.known_at)
    book_b = replay_deals(events, b.bound, b.known_at)
    middle = View(a_bound_in_b or a.bound, b.known_at)
    book_m = replay_deals(events, middle.bound, middle.known_at)
    # The middle view with A's own close too: an event between the two closes of A's day
    # (the calendars alone put it in or out) must not make a business change either.
    middles = [book_m]
    if middle.bound != a.bound:
        middles.append(replay_deals(events, a.bound, middle.known_at))
    before = forecast(book_a, cal_a.period, cal_a.day_of)
    after = forecast(book_b, period, day_of)
    between = _Between(a, b, middle.bound)
    retractions = {e.payload.retracts: e for e in events if isinstance(e.payload, EventRetracted)}
    config_causes: list[LoggedEvent] = []
    if book_a.pipeline != book_b.pipeline or a_calendar is not None:
        config_causes = _symmetric(
            _configurations(events, a.known_at), _configurations(events, b.known_at)
        )
    changes = [
        change
        for deal_id in sorted(book_a.deals.keys() | book_b.deals.keys())
        if (change := _change(deal_id, (cal_a, cal_b), book_a, book_b, middles)) is not None
    ]
    explained: list[DealChange] = []
    for ch in changes:
        differing = _symmetric(_relevant_events(ch.before), _relevant_events(ch.after))
        causes = _explain([*differing, *config_causes], between, retractions)
        if not causes:
            raise IntegrityError(
                f"deal {ch.deal_id}'s forecast contribution changed between the views "
                "but no event between them explains it"
            )
        explained.append(DealChange(ch.deal_id, ch.category, ch.delta, ch.before, ch.after, causes))
    explained.sort(key=lambda c: (CATEGORIES.index(c.category), c.deal_id))
    by_category: dict[Category, Contribution] = {}
    for ch in explained:
        by_category[ch.category] = by_category.get(ch.category, NOTHING) + ch.delta
    check_sums(before, after, explained)
    return ForecastDiff(
        period, before, after, explained, by_category, book_a.pipeline, book_b.pipeline
    )


def _change(
    deal_id: str,
    calendars: tuple[Calendar, Calendar],
    book_a: DealBook,
    book_b: DealBook,
    middles: list[DealBook],
) -> DealChange | None:
    (cal_a, cal_b) = calendars
    x, y = book_a.deals.get(deal_id), book_b.deals.get(deal_id)
    c_a = contribution(x, book_a.pipeline, cal_a.period, cal_a.day_of)
    c_b = contribution(y, book_b.pipeline, cal_b.period, cal_b.day_of)
    if c_a == c_b:
        return None
    # Restated when some middle view (A's as-of day, B's knowledge and calendar) already
    # contributes what B does; else the business category from the first middle view.
    category: Category | None = "restated"
    if all(
        contribution(book.deals.get(deal_id), book.pipeline, cal_b.period, cal_b.day_of) != c_b
        for book in middles
    ):
        category = categorize(middles[0].deals.get(deal_id), y, book_b.pipeline, cal_b.period)
    if category is None:
        raise IntegrityError(
            f"deal {deal_id}'s forecast contribution changed but fits no audit category"
        )
    return DealChange(deal_id, category, c_b - c_a, x, y, [])


def check_sums(before: Forecast, after: Forecast, changes: list[DealChange]) -> None:
    """Raise IntegrityError unless forecast(A) + Σ deltas = forecast(B) for every figure."""
    seen: set[str] = set()
    total = before.total
    for ch in changes:
        if ch.deal_id in seen:
            raise IntegrityError(f"deal {ch.deal_id} appears twice in the forecast audit")
        seen.add(ch.deal_id)
        total += ch.delta
    for name in FIGURES:
        if getattr(total, name) != getattr(after.total, name):
            raise IntegrityError(
                f"the forecast audit does not sum: {name} {getattr(before.total, name)} + "
                f"deltas gives {getattr(total, name)}, but the forecast in the second view is "
                f"{getattr(after.total, name)}"
            )


def describe(change: DealChange, before: Pipeline, after: Pipeline) -> list[str]:
    """Return what differs in the deal from view A to view B, e.g. `stage demo → negotiation`.

    Probabilities and categories are the effective ones (override, else the stage's), each
    read with its view's pipeline.
    """
    x, y = change.before, change.after
    if x is None or y is None:
        return ["not in view A" if x is None else "not in view B"]
    pairs = [
        ("status", _status(x), _status(y)),
        ("stage", x.stage, y.stage),
        ("amount", x.amount, y.amount),
        ("expected close", x.expected_close, y.expected_close),
        ("category", x.category(before), y.category(after)),
        (
            "probability",
            _percent(x.stage_probability(before)),
            _percent(y.stage_probability(after)),
        ),
    ]
    if all(a == b for _, a, b in pairs):
        # A won deal whose contract was signed again, or only the calendar moved it (the
        # period's days, or the day it was signed, read in another time zone or fiscal year).
        pairs = [
            ("signed ARR", _signed_arr(x), _signed_arr(y)),
            ("closed", x.closed_at, y.closed_at),
        ]
    changed = [f"{name} {_text(a)} → {_text(b)}" for name, a, b in pairs if a != b]
    return changed or ["the same deal, read in another time zone or fiscal year"]


def _signed_arr(d: Deal) -> Decimal | None:
    return d.contract.arr if d.contract is not None else None


def _percent(probability: Decimal) -> str:
    """Return a win probability as a percentage with two places, as tables show one (0.3 is
    `30.00%`; given with at most four places, it needs no rounding)."""
    return f"{probability * 100:.2f}%"


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return shown_instant(value)
    return format(value, "f") if isinstance(value, Decimal) else str(value)
