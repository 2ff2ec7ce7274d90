"""ARR, backlog, projected churn and CARR at one valid time, in total and by group.

Definitions (`revledger.arr/1`): ARR = Σ live; backlog = Σ pending (signed, not live);
projected churn = live ARR that churns and contractions known at `known_at` but effective after
the as-of bound will remove; CARR = ARR + backlog − projected churn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from typing import Literal

from projections.account_timeline import ZERO, AccountTimeline
from projections.money_sums import summed
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


def group_key(by: By | None, at: datetime) -> Callable[[AccountTimeline], str]:
    """Return the function naming an account's group for `by` (None: one group, 'total'); a
    segment or channel is the one the account had at the exclusive valid-time bound `at`."""
    if by == "account":
        return lambda t: t.account_id
    if by == "segment":
        return lambda t: t.attributes_at(at)[0] or "(none)"
    if by == "channel":
        return lambda t: t.attributes_at(at)[1] or "(none)"
    return lambda t: "total"


def group_names(view: RevenueView, by: By | None, at: datetime) -> Iterable[str]:
    """Return the group of each account of `view` for `by` at the bound `at`, in the view's
    account order: the same names as `group_key` gives for each account's timeline."""
    if by == "account":
        return view.ids
    if by == "segment":
        return [s or "(none)" for s, _c in view.attributes_at(at)]
    if by == "channel":
        return [c or "(none)" for _s, c in view.attributes_at(at)]
    return repeat("total", len(view.ids))


def arr_snapshot(view: RevenueView, at: datetime, by: By | None = None) -> ArrSnapshot:
    """Return ARR, backlog, projected churn and CARR counting facts effective before `at`.

    Accounts with nothing live, pending or churning are left out of the lines. Sums are
    taken in cents in one pass over the view's columns (see `projections.money_sums`).
    """
    states = view.states_at(at)
    if by is None:
        return ArrSnapshot(at, _line("total", list(filter(any, states))))
    groups: dict[str, list[tuple[int, int, int]]] = {}
    for key, state in zip(group_names(view, by, at), states, strict=True):
        if any(state):
            groups.setdefault(key, []).append(state)
    total = _line("total", [state for rows in groups.values() for state in rows])
    lines = sorted(
        (_line(key, rows) for key, rows in groups.items()), key=lambda x: (-x.arr, x.key)
    )
    return ArrSnapshot(at, total, lines)


def _line(key: str, states: list[tuple[int, int, int]]) -> ArrLine:
    """Return the line of the accounts in `states` ((live, pending, projected churn) cents)."""
    if not states:
        return ArrLine(key)
    arr, backlog, churn = zip(*states, strict=True)
    return ArrLine(key, len(states), summed(arr), summed(backlog), summed(churn))
