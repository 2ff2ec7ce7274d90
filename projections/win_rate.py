"""Win rate (by count and by value) and sales cycle of the deals closed in a window.

`revledger.win_rate/1`. A deal is *closed in the window* when, at the as-of bound, it is won
(`contract_signed`) or lost (`deal_lost`) and that close is effective in `[start of --from,
close of --to)`; a lost deal reopened before the bound is open again and does not count.
- win rate by count = won / (won + lost);
- win rate by value = won value / (won value + lost value), where a won deal is worth its
  contract ARR and a lost deal its last amount;
- sales cycle = days from the first `deal_opened` to `contract_signed` of each won deal (time
  spent lost before a reopening included); won deals never opened have no cycle. Median, mean
  and p90 are over the won deals that have one.
Slices: segment, channel, persona (overlapping) and persona combination (see
`projections.slices`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from projections.deals import Deal, DealBook
from projections.slices import TOTAL, By, Span, group_keys, ordered_groups
from projections.stats import Summary, ratio, summarize

DEFINITION = "revledger.win_rate/1"
ZERO = Decimal(0)


def sales_cycle(deal: Deal) -> timedelta | None:
    """Return open → signed time of a won deal (None if not won or never opened)."""
    if deal.status != "won" or deal.opened_at is None or deal.closed_at is None:
        return None
    return deal.closed_at - deal.opened_at


def closed_in(book: DealBook, span: Span) -> list[Deal]:
    """Return the deals won or lost within `span` (status at the book's bound), by deal id."""
    return [
        book.deals[k]
        for k in sorted(book.deals)
        if book.deals[k].status != "open" and book.deals[k].closed_at in span
    ]


@dataclass(slots=True)
class WinLine:
    """Closed deals of one group: counts, values and the sales cycles of the won ones."""

    key: str
    won: int = 0
    lost: int = 0
    won_value: Decimal = ZERO
    lost_value: Decimal = ZERO
    cycles: list[timedelta] = field(default_factory=list)

    def add(self, deal: Deal) -> None:
        """Count one closed deal."""
        if deal.status == "won" and deal.contract is not None:
            self.won += 1
            self.won_value += deal.contract.arr
            cycle = sales_cycle(deal)
            if cycle is not None:
                self.cycles.append(cycle)
        else:
            self.lost += 1
            self.lost_value += deal.amount

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> Decimal | None:
        """Return won / closed by count (None when nothing closed)."""
        return ratio(self.won, self.closed)

    @property
    def value_win_rate(self) -> Decimal | None:
        """Return won value / closed value (None when the closed value is zero)."""
        return ratio(self.won_value, self.won_value + self.lost_value)

    @property
    def cycle(self) -> Summary:
        """Return the sales-cycle summary of the won deals (days)."""
        return summarize(self.cycles)


@dataclass(frozen=True, slots=True)
class WinRates:
    """The total and, when sliced, one line per group."""

    total: WinLine
    lines: list[WinLine]


def win_rates(book: DealBook, span: Span, by: By | None = None) -> WinRates:
    """Return win rates and sales cycles of the deals closed in `span`, in total and by group."""
    total = WinLine(TOTAL)
    groups: dict[str, WinLine] = {}
    for deal in closed_in(book, span):
        total.add(deal)
        if by is not None:
            for key in group_keys(deal, by):
                groups.setdefault(key, WinLine(key)).add(deal)
    return WinRates(total, [groups[k] for k in ordered_groups(set(groups))])
