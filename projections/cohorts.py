"""Cohort retention: accounts grouped by the month or quarter of their first go-live.

Definition `revledger.cohorts/1`: revenue retention at offset k = the cohort's live ARR at the
end of its k-th period / at the end of its first period; logo retention likewise on the number
of accounts with live ARR. Periods that have not ended by the as-of bound are measured at the
as-of bound (the last column is "to date").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ledger.periods import Grain, Period, next_period, period_of
from projections.account_timeline import ZERO
from projections.revenue_book import RevenueView

DEFINITION = "revledger.cohorts/1"


@dataclass(frozen=True, slots=True)
class CohortRow:
    """One cohort: its period, size, first-period ARR and retention per offset."""

    cohort: Period
    accounts: int
    start_arr: Decimal
    revenue: list[Decimal | None]
    logos: list[Decimal | None]
    arr: list[Decimal]


def cohorts(
    view: RevenueView,
    as_of: datetime,
    *,
    grain: Grain,
    fiscal_start: int,
    day_of: Callable[[datetime], date],
    bound_of: Callable[[date], datetime],
) -> list[CohortRow]:
    """Return cohort rows up to the exclusive valid-time bound `as_of`.

    `day_of` maps an instant to its day in the ledger's time zone; `bound_of` maps a day to the
    instant it starts (the exclusive bound of the day before).
    """
    members: dict[str, list[str]] = {}
    periods: dict[str, Period] = {}
    for t in view.accounts.values():
        first = t.first_live()
        if first is None or first >= as_of:
            continue
        p = period_of(day_of(first), grain, fiscal_start)
        members.setdefault(p.label, []).append(t.account_id)
        periods[p.label] = p
    rows: list[CohortRow] = []
    for label in sorted(members):
        p = periods[label]
        timelines = [view.accounts[a] for a in members[label]]
        offsets: list[datetime] = []
        current = p
        while bound_of(current.start) < as_of:
            offsets.append(min(bound_of(current.end), as_of))
            current = next_period(current, fiscal_start)
        arr = [sum((t.live_at(b) for t in timelines), ZERO) for b in offsets]
        logos = [sum(1 for t in timelines if t.live_at(b) > 0) for b in offsets]
        base_arr, base_logos = arr[0], logos[0]
        rows.append(
            CohortRow(
                p,
                len(timelines),
                base_arr,
                [a / base_arr if base_arr else None for a in arr],
                [Decimal(n) / base_logos if base_logos else None for n in logos],
                arr,
            )
        )
    return rows
