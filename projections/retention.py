"""Net and gross revenue retention as of a valid time, over a look-back window.

Definition `revledger.retention/2`: the cohort C is the accounts with live ARR > 0 at the start
(as-of − window), whatever the basis. NRR = Σ_C value(end) / Σ_C value(start); GRR = Σ_C
min(value(end), value(start)) / Σ_C value(start), so expansion never offsets another account's
loss. The value is live ARR (`basis='arr'`) or contracted ARR (`basis='carr'`: live + pending −
projected churn, known at the query's known-at, so a churn recorded by then is already out of a
cohort account's start value). With an empty cohort both ratios are undefined (None).
(`/1` took the cohort by the basis's value: on `carr` it left out live customers whose churn was
recorded and took in accounts with backlog only.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from projections.account_timeline import ZERO, AccountTimeline
from projections.arr import By, group_names
from projections.money_sums import Tallies, places
from projections.revenue_book import RevenueView

DEFINITION = "revledger.retention/2"
Basis = Literal["arr", "carr"]


def value_at(t: AccountTimeline, at: datetime, basis: Basis) -> Decimal:
    """Return an account's retention value at the exclusive bound `at` on `basis`."""
    return t.live_at(at) if basis == "arr" else t.carr_at(at)


@dataclass(slots=True)
class RetentionLine:
    """Retention of one account or group: its cohort's start, end and retained values."""

    key: str
    accounts: int = 0
    start: Decimal = ZERO
    end: Decimal = ZERO
    retained: Decimal = ZERO

    @property
    def nrr(self) -> Decimal | None:
        return self.end / self.start if self.start else None

    @property
    def grr(self) -> Decimal | None:
        return self.retained / self.start if self.start else None


@dataclass(frozen=True, slots=True)
class Retention:
    """NRR and GRR between the bounds `start` and `end`, in total and per group."""

    start: datetime
    end: datetime
    basis: Basis
    total: RetentionLine
    lines: list[RetentionLine] = field(default_factory=list)


def values_at(view: RevenueView, at: datetime, basis: Basis) -> list[tuple[int, int]]:
    """Return each account's retention value at the exclusive bound `at` as (cents, places).

    In the view's account order; the same amounts as `value_at` (see `projections.money_sums`).
    """
    if basis == "arr":
        return [(live, places(live)) for live, _p, _c in view.states_at(at, churn=False)]
    states = view.states_at(at)
    return [
        (live + pending - churn, max(places(live), places(pending), places(churn)))
        for live, pending, churn in states
    ]


def retention(
    view: RevenueView, start: datetime, end: datetime, basis: Basis = "arr", by: By | None = None
) -> Retention:
    """Return NRR and GRR of the cohort live at `start` (live ARR > 0), valued on `basis` at
    `start` and `end` (exclusive bounds).

    Sums are taken in cents in one pass over the view's columns.
    """
    tallies = Tallies()
    starts = values_at(view, start, basis)
    live = starts if basis == "arr" else values_at(view, start, "arr")
    for key, (s, ps), (e, pe), (cohort, _) in zip(
        group_names(view, by, end), starts, values_at(view, end, basis), live, strict=True
    ):
        if cohort > 0:
            # min(start, end) of Decimals: the start value unless the end one is less
            r, pr = (e, pe) if e < s else (s, ps)
            tallies.add(key, s, ps, e, pe, r, pr)
    lines = [RetentionLine(key, *sums) for key, sums in tallies.lines().items()]
    ordered = sorted(lines, key=lambda line: (-line.start, line.key))
    return Retention(
        start, end, basis, RetentionLine("total", *tallies.total()), ordered if by else []
    )
