"""ARR movements between two valid times: the bridge from start ARR to end ARR.

Definition `revledger.movements/1`: over `(t0, t1]`, per account on live ARR — `new` (0 → > 0
for an account never live before t0), `reactivation` (0 → > 0 for an account live before),
`expansion` / `contraction` (> 0 → more / less), `churn` (> 0 → 0). The bridge
start + new + reactivation + expansion − contraction − churn = end is checked on every call;
a violation raises instead of returning a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ledger.errors import IntegrityError
from projections.account_timeline import ZERO
from projections.arr import By, group_key
from projections.revenue_book import RevenueView

DEFINITION = "revledger.movements/1"
KINDS = ("new", "reactivation", "expansion", "contraction", "churn")


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


def account_bridge(key: str, start: Decimal, end: Decimal, was_live: bool) -> Bridge:
    """Return the movement of one account whose live ARR went from `start` to `end`."""
    b = Bridge(key, start=start, end=end)
    if start == 0 and end > 0:
        if was_live:
            b.reactivation = end
        else:
            b.new = end
    elif start > 0 and end == 0:
        b.churn = start
    elif end > start:
        b.expansion = end - start
    elif end < start:
        b.contraction = start - end
    return b


def movements(view: RevenueView, start: datetime, end: datetime, by: By | None = None) -> Movements:
    """Return the ARR bridge between the exclusive valid-time bounds `start` and `end`.

    Raises IntegrityError if the bridge does not sum, in total or for any group.
    """
    if end < start:
        raise ValueError("the end of a movements window must not precede its start")
    key = group_key(by)
    total = Bridge("total")
    lines: dict[str, Bridge] = {}
    end_total = ZERO
    for t in view.accounts.values():
        s, e = t.live_at(start), t.live_at(end)
        end_total += e
        if s == 0 and e == 0:
            continue
        b = account_bridge(t.account_id, s, e, t.was_live_before(start))
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
