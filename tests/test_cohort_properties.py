"""Properties of cohort retention over random valid ledgers (no database), in any time zone,
fiscal year start and grain.

A cohort is the accounts whose first go-live falls in one period. Every account that has gone
live by the as-of bound is in exactly one cohort, so the cohorts' live ARR to date sums to the
ARR of the whole ledger; and a period that is over is over: a later as-of never changes who is
in a cohort that had ended, nor its ARR at the end of a period that had ended.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.periods import Grain
from ledger.timeutil import end_of_day, zone
from projections.arr import arr_snapshot
from projections.cohorts import CohortRow, cohorts
from projections.revenue_book import RevenueView, revenue_view
from tests.strategies import TIMEZONES, GeneratedLedger, ledgers
from tests.test_revenue_properties import SETTINGS, after_go_lives, log_of


def cohorts_at(
    view: RevenueView, as_of: datetime, grain: Grain, fiscal_start: int, tz: str
) -> list[CohortRow]:
    """Return the cohorts at the bound `as_of`, days read in the time zone `tz`."""

    def day_of(t: datetime) -> date:
        return t.astimezone(zone(tz)).date()

    def bound_of(d: date) -> datetime:
        return end_of_day(d - timedelta(days=1), tz)

    return cohorts(
        view, as_of, grain=grain, fiscal_start=fiscal_start, day_of=day_of, bound_of=bound_of
    )


COHORT_CASES = given(
    ledgers(min_events=10, revenue_lifecycle=True),
    st.data(),
    st.sampled_from(["month", "quarter"]),
    st.integers(1, 12),
    st.sampled_from(TIMEZONES),
)
"""A ledger, a draw of instants, a grain, a fiscal year's first month and a time zone."""


@settings(parent=SETTINGS, max_examples=100)
@COHORT_CASES
def test_cohorts_partition_the_accounts_gone_live_and_their_arr_to_date_is_the_arr(
    ledger: GeneratedLedger, data: st.DataObject, grain: Grain, fiscal_start: int, tz: str
) -> None:
    log = log_of(ledger)
    view = revenue_view(log)
    as_of = data.draw(after_go_lives(view, log))
    rows = cohorts_at(view, as_of, grain, fiscal_start, tz)
    gone_live = [
        t.account_id for t in view.accounts.values() if (f := t.first_live()) and f < as_of
    ]
    event(f"cohorts: {min(len(rows), 3)}+")
    assert sum(r.accounts for r in rows) == len(gone_live)
    assert sum((r.arr[-1] for r in rows), Decimal(0)) == arr_snapshot(view, as_of).total.arr
    for r in rows:
        assert r.arr[0] == r.start_arr
        assert r.revenue[0] == (Decimal(1) if r.start_arr else None)
        assert all(n is None or n >= 0 for n in r.logos)


@settings(parent=SETTINGS, max_examples=100)
@COHORT_CASES
def test_a_later_as_of_never_changes_a_cohort_whose_periods_had_ended(
    ledger: GeneratedLedger, data: st.DataObject, grain: Grain, fiscal_start: int, tz: str
) -> None:
    """At t1 <= t2: a cohort whose first period had ended by t1 has the same accounts at t2,
    and the same ARR at the end of every period that had ended by t1 (each column but the
    last, which is "to date")."""
    log = log_of(ledger)
    view = revenue_view(log)
    t1, t2 = sorted([data.draw(after_go_lives(view, log)), data.draw(after_go_lives(view, log))])
    earlier = cohorts_at(view, t1, grain, fiscal_start, tz)
    later = {r.cohort.label: r for r in cohorts_at(view, t2, grain, fiscal_start, tz)}
    for r in earlier:
        if len(r.arr) < 2:
            continue  # the first period may still be running at t1: its cohort may grow
        event("a cohort whose first period had ended")
        again = later[r.cohort.label]
        assert again.accounts == r.accounts
        assert again.start_arr == r.start_arr
        assert again.arr[: len(r.arr) - 1] == r.arr[:-1]  # every column but "to date"
