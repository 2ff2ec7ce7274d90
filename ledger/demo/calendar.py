"""The revenue calendar: a bookings quota for every quarter and three forecast calls in it.

Quotas are set ten days before their quarter from the plan (a little above what the quarter
will really book). Forecast calls come in weeks 1, 5 and 9: the commit starts cautious and
converges on the outcome, the best case stays above it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from random import Random

from ledger.demo.catalogue import REVOPS, TIMEZONE
from ledger.demo.deals import round_to
from ledger.demo.draft import Draft, at_work
from ledger.events import ContractSigned, ForecastSubmitted, QuotaSet
from ledger.periods import Period, next_period, period_of
from ledger.timeutil import zone

CALL_WEEKS: tuple[tuple[int, float, float], ...] = ((1, 0.7, 0.95), (5, 0.8, 1.0), (9, 0.9, 1.03))
"""Forecast calls: (week of the quarter, lowest and highest commit as a share of the outcome)."""
CALL_NOTES: tuple[str, ...] = (
    "commit holds; health-system deals in legal review",
    "one payer deal slipped to next quarter",
    "partner-sourced clinic deals ahead of plan",
    "security reviews are the risk this quarter",
    "best case assumes two IDN signatures",
)


def bookings(drafts: list[Draft]) -> dict[str, Decimal]:
    """Return the ARR signed per calendar quarter label (company time zone)."""
    out: dict[str, Decimal] = {}
    for d in drafts:
        if isinstance(d.event, ContractSigned):
            day = d.effective_at.astimezone(zone(TIMEZONE)).date()
            label = period_of(day, "quarter").label
            out[label] = out.get(label, Decimal(0)) + d.event.arr
    return out


def quarters(first_day: date, today: date) -> list[Period]:
    """Return the quarters from the one holding `first_day` to the one holding `today`."""
    out = [period_of(first_day, "quarter")]
    while out[-1].end <= today:
        out.append(next_period(out[-1]))
    return out


def calendar_drafts(
    rng: Random, first_day: date, today: date, booked: dict[str, Decimal], begins: datetime
) -> list[Draft]:
    """Return the quota and forecast-call drafts of every quarter, none before `begins`."""
    out: list[Draft] = []
    for q in quarters(first_day, today):
        actual = booked.get(q.label, Decimal(0))
        quota = max(Decimal(250_000), round_to(float(actual) * rng.uniform(1.0, 1.25), 10_000))
        set_at = max(at_work(rng, q.start - timedelta(days=10)), begins + timedelta(minutes=5))
        out.append(Draft(QuotaSet(period=q.label, amount=quota), set_at, REVOPS))
        for week, low, high in CALL_WEEKS:
            when = at_work(rng, q.start + timedelta(days=7 * (week - 1) + rng.randint(0, 2)))
            if when <= begins:
                continue
            commit = round_to(float(actual) * rng.uniform(low, high), 10_000)
            best = max(commit, round_to(float(actual) * rng.uniform(1.05, 1.35), 10_000))
            call = ForecastSubmitted(
                period=q.label, commit=commit, best_case=best, note=rng.choice(CALL_NOTES)
            )
            out.append(Draft(call, when, REVOPS))
    return out
