"""Sales velocity: how much won ARR the open pipeline produces per day at recent rates.

`revledger.velocity/1`: velocity = open deals × win rate × average won deal size /
average sales cycle days, per group. Open deals are those open at the as-of bound; win rate (by
count), average won deal size (contract ARR) and average sales cycle (mean days, open → signed)
come from the deals closed in the window (`projections.win_rate`). The average deal size and the
velocity (ARR per day) are rounded half-even to cents; a line without closed deals or without a
cycle longer than zero has no velocity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from projections.deals import DealBook
from projections.slices import TOTAL, By, Span, group_keys, ordered_groups
from projections.stats import exact_days, in_cents
from projections.win_rate import WinLine, win_rates

DEFINITION = "revledger.velocity/1"


@dataclass(frozen=True, slots=True)
class VelocityLine:
    """The inputs of sales velocity for one group, and the velocity itself."""

    key: str
    open_deals: int
    closed: WinLine

    @property
    def average_won(self) -> Decimal | None:
        """Return the mean contract ARR of the won deals, in cents (None if none was won)."""
        c = self.closed
        return in_cents(c.won_value / c.won) if c.won else None

    @property
    def velocity(self) -> Decimal | None:
        """Return open × win rate × average won size / average cycle days, in cents per day."""
        c = self.closed
        # The mean cycle exactly, not as rounded for output; only won deals have a cycle, so a
        # line without one (nothing won, or every cycle zero) has no velocity.
        total_days = exact_days(sum(c.cycles, timedelta()))
        if not total_days:
            return None
        mean_days = total_days / len(c.cycles)
        exact = Decimal(self.open_deals) * c.won_value / Decimal(c.closed) / mean_days
        return in_cents(exact)


def velocity(book: DealBook, span: Span, by: By | None = None) -> list[VelocityLine]:
    """Return the velocity per group (sorted, `(none)` last) when sliced, then the total."""
    rates = win_rates(book, span, by)
    open_deals = [d for d in book.deals.values() if d.status == "open"]
    per_group: dict[str, int] = {}
    for deal in open_deals if by is not None else ():
        for key in group_keys(deal, by):
            per_group[key] = per_group.get(key, 0) + 1
    closed = {line.key: line for line in rates.lines}
    keys = ordered_groups(set(closed) | set(per_group))
    lines = [VelocityLine(k, per_group.get(k, 0), closed.get(k, WinLine(k))) for k in keys]
    return [*lines, VelocityLine(TOTAL, len(open_deals), rates.total)]
