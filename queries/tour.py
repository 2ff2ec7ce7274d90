"""The tour of a ledger: the handful of answers a newcomer sees first.

ARR and CARR at the close of a day, NRR as of the last quarter end before it (12 months, live
ARR), time in stage and the slowest stage (the largest median over completed visits), the
regression rate over the twelve months up to the day, and how the last quarter's forecast
changed from its first day to its last (each view as of and as known at the close of its day).
Each answer comes from the query that owns its definition; this module only picks the
questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ledger.demo import DemoLoad, load_demo
from ledger.errors import IntegrityError
from ledger.operations import verify_ledger
from ledger.periods import Period, period_of
from ledger.store import LedgerStore
from projections.arr import ArrLine
from projections.forecast_diff import ForecastDiff
from projections.regressions import RegressionLine
from projections.retention import RetentionLine
from projections.stages import StageLine
from projections.windows import parse_window
from queries.common import Provenance, TimeQuery
from queries.forecast import AuditViews, forecast_diff_query
from queries.pipeline import regressions_query, stages_query
from queries.revenue import arr_query, retention_query

DEFINITION = "revledger.tour/1"


@dataclass(frozen=True, slots=True)
class Tour:
    """The tour's answers; every day is a ledger-time-zone day, read at its close."""

    today: date
    revenue: ArrLine
    nrr_as_of: date
    retention: RetentionLine
    stages: list[StageLine]
    slowest: StageLine | None
    regressions_from: date
    regressions: RegressionLine
    quarter: Period
    forecast: ForecastDiff


def last_quarter(today: date, fiscal_start: int) -> Period:
    """Return the last (fiscal) quarter that ended before `today`."""
    current = period_of(today, "quarter", fiscal_start)
    return period_of(current.start - timedelta(days=1), "quarter", fiscal_start)


def slowest_stage(lines: list[StageLine]) -> StageLine | None:
    """Return the stage with the largest median completed visit (the earlier one on a tie)."""
    timed = [x for x in lines if x.completed.median is not None]
    return max(timed, key=lambda x: x.completed.median or 0, default=None)


def tour_query(store: LedgerStore, today: date) -> tuple[Tour, Provenance]:
    """Return the tour at the close of `today` (valid time), with everything recorded."""
    as_of = TimeQuery(today.isoformat())
    snap, prov = arr_query(store, as_of)
    config = store.config()
    quarter = last_quarter(today, config.fiscal_year_start_month if config else 1)
    q_start, q_end = quarter.start.isoformat(), quarter.last_day.isoformat()
    kept, _ = retention_query(store, TimeQuery(q_end))
    stages, _ = stages_query(store, as_of)
    since = parse_window("12m").before(today) + timedelta(days=1)
    moved, _ = regressions_query(store, as_of, start=since.isoformat(), end=today.isoformat())
    views = AuditViews(from_as_of=q_start, to_as_of=q_end, from_known_at=q_start, to_known_at=q_end)
    change, _ = forecast_diff_query(store, views, period=quarter.label)
    tour = Tour(
        today=today,
        revenue=snap.total,
        nrr_as_of=quarter.last_day,
        retention=kept.total,
        stages=stages,
        slowest=slowest_stage(stages),
        regressions_from=since,
        regressions=moved.total,
        quarter=quarter,
        forecast=change,
    )
    options = {"nrr_as_of": q_end, "regressions_from": since.isoformat(), "quarter": quarter.label}
    return tour, Provenance(
        "tour", DEFINITION, options, today, prov.known_at, prov.head, prov.currency
    )


@dataclass(frozen=True, slots=True)
class DemoTour:
    """A demo ledger just written (`loaded`), how far its chain verified, and its tour."""

    loaded: DemoLoad
    verified_upto: int
    tour: Tour


def demo_tour(db: str, *, seed: int, today: date) -> DemoTour:
    """Write the demo ledger of `seed` into the new ledger at `db`, its history ending before
    `today` (a ledger-time-zone day), verify its hash chain, and return its tour as of `today`
    as known now. Raises IntegrityError when the chain it wrote does not verify."""
    loaded = load_demo(db, seed=seed, today=today)
    with LedgerStore.open(db) as store:
        report = verify_ledger(store)
        if not report.ok:
            raise IntegrityError(
                f"the new demo ledger failed verification at seq {report.first_bad_seq}: "
                f"{report.problem}"
            )
        tour, _ = tour_query(store, today)
    return DemoTour(loaded, report.head_seq, tour)
