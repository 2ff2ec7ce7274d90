"""Pipeline coverage of a period's quota, unweighted and weighted by win probability.

`revledger.coverage/3`, for a period P (fiscal when configured) at the as-of bound:
- open pipeline = Σ amount of the deals open at the bound whose `expected_close` lies in P and
  whose forecast category (the deal's override, else its stage's) is not `omitted`, the deals
  the period's forecast counts; weighted pipeline = Σ amount × probability (the deal's
  override, else its stage's), each deal's product in cents (half-even), as the forecast's;
- closed won = Σ contract ARR of the deals won on a day of P (ledger time zone) before the bound;
- remaining = quota − closed won, the quota being the last `quota_set` for P in replay order;
- coverage = open pipeline / remaining; weighted coverage = weighted pipeline / remaining.
Without a quota, or once the quota is met (remaining ≤ 0), there is no coverage ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ledger.periods import Period
from projections.deals import DealBook
from projections.stats import in_cents, ratio

DEFINITION = "revledger.coverage/3"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Coverage:
    """A period's quota, what was won in it, and the open pipeline expected to close in it."""

    period: Period
    quota: Decimal | None
    closed_won: Decimal
    won_deals: int
    open_deals: int
    pipeline: Decimal
    weighted: Decimal

    @property
    def remaining(self) -> Decimal | None:
        """Return quota − closed won (None without a quota)."""
        return None if self.quota is None else self.quota - self.closed_won

    @property
    def coverage(self) -> Decimal | None:
        """Return open pipeline / remaining quota (None without a quota or once it is met)."""
        return self._of(self.pipeline)

    @property
    def weighted_coverage(self) -> Decimal | None:
        """Return weighted pipeline / remaining quota (None without a quota or once it is met)."""
        return self._of(self.weighted)

    def _of(self, amount: Decimal) -> Decimal | None:
        remaining = self.remaining
        return ratio(amount, remaining) if remaining is not None and remaining > 0 else None


def coverage(book: DealBook, period: Period, day_of: Callable[[datetime], date]) -> Coverage:
    """Return the coverage of `period` at the book's bound; `day_of` names an instant's day."""
    won = [
        d
        for d in book.deals.values()
        if d.status == "won"
        and d.contract is not None
        and d.closed_at is not None
        and period.start <= day_of(d.closed_at) < period.end
    ]
    pipeline = [
        d
        for d in book.deals.values()
        if d.status == "open"
        and d.expected_close is not None
        and period.start <= d.expected_close < period.end
        and d.category(book.pipeline) != "omitted"
    ]
    return Coverage(
        period,
        book.quotas.get(period.label),
        sum((d.contract.arr for d in won if d.contract is not None), ZERO),
        len(won),
        len(pipeline),
        sum((d.amount for d in pipeline), ZERO),
        # Amount × probability has as many places as the two together: each deal's in cents.
        sum((in_cents(d.amount * d.stage_probability(book.pipeline)) for d in pipeline), ZERO),
    )
