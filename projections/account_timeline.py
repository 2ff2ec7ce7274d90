"""One account's revenue over valid time: live and pending ARR after each of its facts.

A timeline is folded from the account's revenue facts in `(effective_at, seq)` order:
- `contract_signed` adds the contract's ARR to pending (it is not live until its own go-live);
- `go_live` moves that contract's ARR from pending to live;
- `expansion` adds to live; `contraction` takes from live (never below zero);
- `churn` sets live and pending to zero.
Values "at t" count facts effective strictly before the exclusive bound `t`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)

SIGNED, LIVE, EXPAND, CONTRACT, CHURN = "signed", "live", "expand", "contract", "churn"


@dataclass(slots=True)
class RevenueFact:
    """A revenue-relevant fact of one account, in the compact form the read model keeps.

    `retracted_seq` is the seq of the retraction that removed it, if any (transaction time).
    """

    effective_at: datetime
    seq: int
    kind: str
    deal_id: str | None
    amount: Decimal
    event_id: str
    retracted_seq: int | None = None

    def counts_at(self, upto_seq: int | None) -> bool:
        """Return whether this fact is part of the log prefix ending at `upto_seq`."""
        if upto_seq is None:
            return self.retracted_seq is None
        if self.seq > upto_seq:
            return False
        return self.retracted_seq is None or self.retracted_seq > upto_seq


@dataclass(frozen=True, slots=True)
class AccountTimeline:
    """Live and pending ARR of one account after each fact, for lookups at any valid time."""

    account_id: str
    effective: tuple[datetime, ...]
    live: tuple[Decimal, ...]
    pending: tuple[Decimal, ...]
    kinds: tuple[str, ...]
    amounts: tuple[Decimal, ...]
    segment: str | None = None
    channel: str | None = None

    def _index(self, bound: datetime) -> int:
        return bisect_left(self.effective, bound)

    def live_at(self, bound: datetime) -> Decimal:
        """Return live ARR counting facts effective before `bound`."""
        i = self._index(bound)
        return self.live[i - 1] if i else ZERO

    def pending_at(self, bound: datetime) -> Decimal:
        """Return signed-not-live ARR (backlog) counting facts effective before `bound`."""
        i = self._index(bound)
        return self.pending[i - 1] if i else ZERO

    def was_live_before(self, bound: datetime) -> bool:
        """Return whether the account had live ARR at any point before `bound`."""
        i = self._index(bound)
        return any(v > 0 for v in self.live[:i])

    def first_live(self) -> datetime | None:
        """Return the effective time of the account's first go-live (live ARR > 0)."""
        for when, value in zip(self.effective, self.live, strict=True):
            if value > 0:
                return when
        return None

    def projected_churn(self, bound: datetime) -> Decimal:
        """Return the live ARR at `bound` that known later churns and contractions remove."""
        live = self.live_at(bound)
        if live <= 0:
            return ZERO
        reduction = ZERO
        for kind, amount in zip(
            self.kinds[self._index(bound) :], self.amounts[self._index(bound) :], strict=True
        ):
            if kind == CHURN:
                return live
            if kind == CONTRACT:
                reduction += amount
        return min(reduction, live)

    def carr_at(self, bound: datetime) -> Decimal:
        """Return contracted ARR: live + pending - projected churn, at `bound`."""
        return self.live_at(bound) + self.pending_at(bound) - self.projected_churn(bound)


def fold_account(
    account_id: str,
    facts: list[RevenueFact],
    *,
    segment: str | None = None,
    channel: str | None = None,
) -> AccountTimeline:
    """Return the timeline of `facts` (already in (effective_at, seq) order and visible)."""
    live = ZERO
    pending: dict[str | None, Decimal] = {}
    effective: list[datetime] = []
    lives: list[Decimal] = []
    pendings: list[Decimal] = []
    kinds: list[str] = []
    amounts: list[Decimal] = []
    for f in facts:
        amount = ZERO
        if f.kind == SIGNED:
            pending[f.deal_id] = f.amount
        elif f.kind == LIVE:
            live += pending.pop(f.deal_id, ZERO)
        elif f.kind == EXPAND:
            live += f.amount
        elif f.kind == CONTRACT:
            amount = min(f.amount, live)
            live -= amount
        elif f.kind == CHURN:
            live = ZERO
            pending.clear()
        effective.append(f.effective_at)
        lives.append(live)
        pendings.append(sum(pending.values(), ZERO))
        kinds.append(f.kind)
        amounts.append(amount)
    return AccountTimeline(
        account_id,
        tuple(effective),
        tuple(lives),
        tuple(pendings),
        tuple(kinds),
        tuple(amounts),
        segment,
        channel,
    )
