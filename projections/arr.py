"""ARR, backlog, projected churn and CARR at one valid time, in total and by group.

Definitions (SPEC §4, `revledger.arr/1`): ARR = Σ live; backlog = Σ pending (signed, not live);
projected churn = live ARR that churns and contractions known at `known_at` but effective after
the as-of bound will remove; CARR = ARR + backlog − projected churn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from projections.account_timeline import ZERO, AccountTimeline
from projections.revenue_book import RevenueView

DEFINITION = "revledger.arr/1"
By = Literal["account", "segment", "channel"]


@dataclass(slots=True)
class ArrLine:
    """ARR figures of one account or group."""

    key: str
    accounts: int = 0
    arr: Decimal = ZERO
    backlog: Decimal = ZERO
    projected_churn: Decimal = ZERO

    @property
    def carr(self) -> Decimal:
        return self.arr + self.backlog - self.projected_churn


@dataclass(frozen=True, slots=True)
class ArrSnapshot:
    """ARR at the exclusive valid-time bound `at`, in total and per group."""

    at: datetime
    total: ArrLine
    lines: list[ArrLine] = field(default_factory=list)


def group_key(by: By | None) -> Callable[[AccountTimeline], str]:
    """Return the function naming an account's group for `by` (None: one group, 'total')."""
    if by == "account":
        return lambda t: t.account_id
    if by == "segment":
        return lambda t: t.segment or "(none)"
    if by == "channel":
        return lambda t: t.channel or "(none)"
    return lambda t: "total"


def arr_snapshot(view: RevenueView, at: datetime, by: By | None = None) -> ArrSnapshot:
    """Return ARR, backlog, projected churn and CARR counting facts effective before `at`.

    Accounts with nothing live, pending or churning are left out of the lines.
    """
    key = group_key(by)
    total = ArrLine("total")
    lines: dict[str, ArrLine] = {}
    for t in view.accounts.values():
        arr, backlog, churn = t.live_at(at), t.pending_at(at), t.projected_churn(at)
        if not (arr or backlog or churn):
            continue
        for line in (total, lines.setdefault(key(t), ArrLine(key(t)))):
            line.accounts += 1
            line.arr += arr
            line.backlog += backlog
            line.projected_churn += churn
    ordered = sorted(lines.values(), key=lambda line: (-line.arr, line.key))
    return ArrSnapshot(at, total, ordered if by else [])
