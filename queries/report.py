"""The ledger report: the revenue and pipeline answers a board pack or a QBR shows, in one frame.

Every answer stands at the same log prefix (the head known at `--known-at`) and comes from the
projection that owns its definition; this module only picks the questions:
- at each of the last `quarters` (fiscal) quarter ends and at the as-of day: ARR, backlog,
  projected churn and CARR; the ARR bridge from the point before; NRR and GRR over the 12 months
  before it (live ARR);
- at the as-of day: ARR by segment, revenue and logo retention by quarter of first go-live,
  the open pipeline by stage (the deals `aging --days 0` lists, summed per stage), time in
  stage, the forecast of the as-of day's quarter and of the next one;
- over the 12 months up to the as-of day (`[start of the day after as_of − 12 months, close of
  as_of)`, from 1900-01-01 at the earliest): regressions, win rates by segment, and the
  health-tech metrics.
Quarters are fiscal quarters when the ledger's fiscal year starts in another month than
January. Near the limits of the years a ledger's dates may have, the report keeps within them:
fewer points, a shorter window, no forecast of a next quarter labelled after the year
`MAX_YEAR`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from ledger.errors import InputError
from ledger.periods import Period, next_period, period_of
from ledger.store import LedgerStore
from ledger.timeutil import MAX_YEAR, MIN_YEAR, read_instant
from projections import arr as arr_p
from projections import cohorts as cohorts_p
from projections import forecast as forecast_p
from projections import health as health_p
from projections import movements as movements_p
from projections import regressions as regressions_p
from projections import retention as retention_p
from projections import stages as stages_p
from projections import win_rate as win_rate_p
from projections.slices import Span
from projections.windows import parse_window
from queries.common import Provenance, TimeFrame, TimeQuery, parse_day, time_frame
from queries.deals import streamed_book
from queries.readmodel import revenue_view

DEFINITION = "revledger.report/1"
DEFAULT_QUARTERS = 8
MAX_QUARTERS = 40
YEAR = parse_window("12m")


@dataclass(frozen=True, slots=True)
class Point:
    """The revenue answers at the close of one day: a quarter end, or the as-of day.

    `bridge` runs from the close of the point before (the quarter end before the first point);
    `retention` is None when its 12 months reach back before the ledger's first year.
    """

    label: str
    day: date
    revenue: arr_p.ArrLine
    bridge: movements_p.Bridge
    retention: retention_p.RetentionLine | None


@dataclass(frozen=True, slots=True)
class StagePipeline:
    """The deals open at the as-of day in one stage: how many, and their amounts summed."""

    stage: str
    deals: int
    amount: Decimal


def open_pipeline(lines: list[stages_p.AgingLine], order: list[str]) -> list[StagePipeline]:
    """Return the open deals of `lines` summed per stage, in the stage order `order`."""
    sums: dict[str, tuple[int, Decimal]] = {}
    for x in lines:
        n, amount = sums.get(x.stage or "", (0, Decimal(0)))
        sums[x.stage or ""] = (n + 1, amount + x.amount)
    return [StagePipeline(stage, *sums[stage]) for stage in order if stage in sums]


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """Every answer of the report; days are ledger-time-zone days, each read at its close.

    `known_at` is the transaction time the report stands at: the earlier of the one asked for
    and the recording time of the head it read (a `--known-at` day means its end, which may
    lie ahead), so asking again at it reads the same log prefix whatever is recorded later.
    """

    as_of: date
    known_at: datetime | None
    timezone: str
    fiscal_start: int
    quarter: Period
    points: list[Point]
    by_segment: arr_p.ArrSnapshot
    cohorts: list[cohorts_p.CohortRow]
    forecasts: list[forecast_p.Forecast]
    pipeline: list[StagePipeline]
    stages: list[stages_p.StageLine]
    year_from: date
    regressions: regressions_p.RegressionLine
    win_rates: win_rate_p.WinRates
    health: list[health_p.HealthLine]


def point_days(as_of: date, quarters: int, fiscal_start: int) -> list[tuple[str, date]]:
    """Return the report's points, oldest first, and before them the day its first bridge
    starts from: the last `quarters` quarter ends before `as_of`'s quarter, then `as_of`
    (labelled as its quarter when it is that quarter's last day, else "… to date").

    The walk back ends at the first quarter that starts before the year `MIN_YEAR`, the
    earliest a ledger's dates may have.
    """
    current = period_of(as_of, "quarter", fiscal_start)
    days: list[tuple[str, date]] = []
    p = current
    for _ in range(quarters + 1):
        p = period_of(p.start - timedelta(days=1), "quarter", fiscal_start)
        days.append((p.label, p.last_day))
        if p.start.year < MIN_YEAR:
            break
    days.reverse()
    label = current.label if as_of == current.last_day else f"{current.label} to date"
    return [*days, (label, as_of)]


def stood_at(frame: TimeFrame) -> datetime | None:
    """Return the earlier of the frame's transaction time and its head's recording time."""
    recorded = read_instant(frame.head.recorded_at) if frame.head.recorded_at else None
    times = [t for t in (frame.known_at, recorded) if t is not None]
    return min(times) if times else None


def report_query(
    store: LedgerStore, when: TimeQuery, *, quarters: int = DEFAULT_QUARTERS
) -> tuple[LedgerReport, Provenance]:
    """Return the report at the close of `as_of` (valid time), as known at `known_at`, and its
    provenance (the log head every answer of it reads)."""
    if not 1 <= quarters <= MAX_QUARTERS:
        raise InputError(
            f"must be a number of quarters from 1 to {MAX_QUARTERS}",
            field="--quarters",
            value=quarters,
            has_value=True,
        )
    frame = time_frame(store, when.known_at)
    # The revenue view of the same head as the deal events: one log prefix for every answer.
    view, _ = revenue_view(store, frame.head.seq)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    fiscal = frame.config.fiscal_year_start_month
    days = point_days(as_of, quarters, fiscal)
    points: list[Point] = []
    for (_, before), (label, day) in pairwise(days):
        at = frame.bound(day)
        year_before = YEAR.before(day)
        kept = (
            retention_p.retention(view, frame.bound(year_before), at).total
            if year_before.year >= MIN_YEAR
            else None
        )
        bridge = movements_p.movements(view, frame.bound(before), at).total
        points.append(Point(label, day, arr_p.arr_snapshot(view, at).total, bridge, kept))
    until = frame.bound(as_of)
    year_from = max(YEAR.before(as_of) + timedelta(days=1), date(MIN_YEAR, 1, 1))
    span = Span(frame.start_bound(year_from), until)
    book = streamed_book(store, frame, until)
    open_deals = stages_p.aging(book, until, 0)
    quarter = period_of(as_of, "quarter", fiscal)
    report = LedgerReport(
        as_of=as_of,
        known_at=stood_at(frame),
        timezone=frame.config.timezone,
        fiscal_start=fiscal,
        quarter=quarter,
        points=points,
        by_segment=arr_p.arr_snapshot(view, until, "segment"),
        cohorts=cohorts_p.cohorts(
            view,
            until,
            grain="quarter",
            fiscal_start=fiscal,
            day_of=frame.day_of,
            bound_of=frame.start_bound,
        ),
        forecasts=[
            forecast_p.forecast(book, p, frame.day_of)
            for p in (quarter, next_period(quarter, fiscal))
            if p is quarter or int(p.label[:4]) <= MAX_YEAR
        ],
        pipeline=open_pipeline(
            open_deals, stages_p.stage_order(book.pipeline, {x.stage or "" for x in open_deals})
        ),
        stages=stages_p.time_in_stage(book, until),
        year_from=year_from,
        regressions=regressions_p.regressions(book, span).total,
        win_rates=win_rate_p.win_rates(book, span, "segment"),
        health=health_p.health(book, until, span),
    )
    return report, frame.provenance(
        "report",
        DEFINITION,
        as_of,
        quarters=quarters,
        quarter=quarter.label,
        window_from=year_from.isoformat(),
    )
