"""Net and gross revenue retention as of a valid time, over a look-back window.

Definition `revledger.retention/1`: the cohort C is the accounts with value > 0 at the start
(as-of − window). NRR = Σ_C value(end) / Σ_C value(start); GRR = Σ_C min(value(end),
value(start)) / Σ_C value(start), so expansion never offsets another account's loss. The value is
live ARR (`basis='arr'`) or contracted ARR (`basis='carr'`: live + pending − projected churn).
With an empty cohort both ratios are undefined (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from projections.account_timeline import ZERO, AccountTimeline
from projections.arr import By, group_key
from projections.revenue_book import RevenueView

DEFINITION = "revledger.retention/1"
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


def retention(
    view: RevenueView, start: datetime, end: datetime, basis: Basis = "arr", by: By | None = None
) -> Retention:
    """Return NRR and GRR of the cohort live at `start`, measured at `end` (exclusive bounds)."""
    key = group_key(by)
    total = RetentionLine("total")
    lines: dict[str, RetentionLine] = {}
    for t in view.accounts.values():
        s = value_at(t, start, basis)
        if s <= 0:
            continue
        e = value_at(t, end, basis)
        for line in (total, lines.setdefault(key(t), RetentionLine(key(t)))):
            line.accounts += 1
            line.start += s
            line.end += e
            line.retained += min(s, e)
    ordered = sorted(lines.values(), key=lambda line: (-line.start, line.key))
    return Retention(start, end, basis, total, ordered if by else [])
