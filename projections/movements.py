"""ARR movements between two valid times: the bridge from start ARR to end ARR.

Definition `revledger.movements/2`: over `(t0, t1]`, per account on live ARR, every change of
it in the window counts (the facts of one instant taken together) — `new` (0 → > 0 for an
account never live before), `reactivation` (0 → > 0 for an account live before: a win-back
after a churn), `expansion` / `contraction` (> 0 → more / less), `churn` (> 0 → 0). So a
customer lost and won back inside the window shows its churn and its reactivation, and one
won and lost inside it its new ARR and its churn. (`/1` compared each account's start and end
only, netting such changes out.) The bridge
start + new + reactivation + expansion − contraction − churn = end is checked on every call;
a violation raises instead of returning a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

from ledger.errors import IntegrityError
from projections.account_timeline import ZERO
from projections.arr import By, group_key
from projections.revenue_book import RevenueView

DEFINITION = "revledger.movements/2"


@dataclass(slots=True)
class Bridge:
    """Start and end ARR of one account or group and the movements between."""

    key: str
    start: Decimal = ZERO
    new: Decimal = ZERO
    reactivation: Decimal = ZERO
    expansion: Decimal = ZERO
    contraction: Decimal = ZERO
    churn: Decimal = ZERO
    end: Decimal = ZERO

    def bridged_end(self) -> Decimal:
        """Return start + new + reactivation + expansion − contraction − churn."""
        return (
            self.start
            + self.new
            + self.reactivation
            + self.expansion
            - self.contraction
            - self.churn
        )

    def add(self, other: Bridge) -> None:
        for name in ("start", "new", "reactivation", "expansion", "contraction", "churn", "end"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class Movements:
    """The ARR bridge over `(start, end]` in total and per group."""

    start: datetime
    end: datetime
    total: Bridge
    lines: list[Bridge] = field(default_factory=list)


def account_bridge(key: str, path: Sequence[Decimal], was_live: bool) -> Bridge:
    """Return the movements of one account whose live ARR took the values of `path` in turn
    (at the window's start, after each change, at its end); `was_live`: it had live ARR before
    the window."""
    b = Bridge(key, start=path[0], end=path[-1])
    for before, after in pairwise(path):
        if before == 0 and after > 0:
            if was_live:
                b.reactivation += after
            else:
                b.new += after
        elif before > 0 and after == 0:
            b.churn += before
        elif after > before:
            b.expansion += after - before
        elif after < before:
            b.contraction += before - after
        was_live = was_live or after > 0
    return b


def movements(view: RevenueView, start: datetime, end: datetime, by: By | None = None) -> Movements:
    """Return the ARR bridge between the exclusive valid-time bounds `start` and `end`.

    Raises IntegrityError if the bridge does not sum, in total or for any group.
    """
    if end < start:
        raise ValueError("the end of a movements window must not precede its start")
    key = group_key(by, end)
    total = Bridge("total")
    lines: dict[str, Bridge] = {}
    end_total = ZERO
    for t in view.accounts.values():
        path = t.live_path(start, end)
        end_total += path[-1]
        if len(path) == 1 and path[0] == 0:
            continue
        b = account_bridge(t.account_id, path, t.was_live_before(start))
        total.add(b)
        lines.setdefault(key(t), Bridge(key(t))).add(b)
    for b in [total, *lines.values()]:
        if b.bridged_end() != b.end:
            raise IntegrityError(
                f"the ARR bridge for {b.key} does not sum: start {b.start} + movements gives "
                f"{b.bridged_end()}, but end ARR is {b.end}"
            )
    if end_total != total.end:
        raise IntegrityError(f"end ARR {end_total} differs from the bridged total {total.end}")
    ordered = sorted(lines.values(), key=lambda b: (-b.end, b.key))
    return Movements(start, end, total, ordered if by else [])
