"""One account's revenue over valid time: live and pending ARR after each of its facts.

A timeline is folded from the account's revenue facts in `(effective_at, seq)` order:
- `contract_signed` adds the contract's ARR to pending (it is not live until its own go-live);
- `go_live` moves that contract's ARR from pending to live;
- `expansion` adds to live; `contraction` takes from live (never below zero);
- `churn` sets live and pending to zero.
Values "at t" count facts effective strictly before the exclusive bound `t`.

Timelines are stored in columns shared by every account of a view (times as epoch
microseconds, money as integer cents — exact, since amounts have at most two decimal places),
so a view loads and answers fast; every value handed out is a `Decimal` again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import MutableSequence, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

SIGNED, LIVE, EXPAND, CONTRACT, CHURN = "S", "L", "E", "C", "X"
"""Kinds of revenue fact: contract signed, go-live, expansion, contraction, churn."""


Attributes = tuple[tuple[int, str | None, str | None], ...]
"""An account's segment and channel over valid time: `(effective µs, segment, channel)` from
each change on, in business order. Before its first change the first entry's values hold; an
account without any has the empty tuple (no segment, no channel)."""


def to_us(t: datetime) -> int:
    """Return an aware instant as integer microseconds since the Unix epoch."""
    return (t - _EPOCH) // _US


def attributes_at(attributes: Attributes, bound_us: int) -> tuple[str | None, str | None]:
    """Return (segment, channel) as they stood at the exclusive valid-time bound `bound_us`
    (epoch µs): those of the last change effective before it, else of the first change."""
    if not attributes:
        return None, None
    chosen = attributes[0]
    for entry in attributes[1:]:
        if entry[0] >= bound_us:
            break
        chosen = entry
    return chosen[1], chosen[2]


def from_us(us: int) -> datetime:
    """Return the aware UTC instant of epoch microseconds `us`."""
    return _EPOCH + us * _US


def to_cents(amount: Decimal) -> int:
    """Return a money amount (at most two decimal places) as exact integer cents."""
    c = amount * 100
    if c != c.to_integral_value():
        raise ValueError(f"{amount} has more than two decimal places")
    return int(c)


def money(cents: int) -> Decimal:
    """Return integer cents as an exact Decimal amount (12345 -> 123.45, 500 -> 5)."""
    return Decimal(cents) / 100


def visible_in_prefix(seq: int, retracted_seq: int | None, upto_seq: int | None) -> bool:
    """Return whether the event at `seq`, retracted at `retracted_seq` (if ever), counts in the
    log prefix ending at `upto_seq` (None: the whole log)."""
    if upto_seq is None:
        return retracted_seq is None
    if seq > upto_seq:
        return False
    return retracted_seq is None or retracted_seq > upto_seq


RevenueFact = tuple[int, int, str, str | None, int, str, int | None]
"""A revenue fact of one account, in the compact form the read model keeps: the tuple
(effective_us, seq, kind, deal_id, cents, event_id, retracted_seq).

`effective_us` is valid time in epoch microseconds, `cents` the amount; `retracted_seq` is the
seq of the retraction that removed it, if any (transaction time). Plain tuples, so that a
million of them are made, compared in business order `(effective_us, seq)` (seqs are unique,
so the comparison never goes further), transposed and rebuilt at C speed.
"""
FACT_EFFECTIVE: Final = 0
FACT_SEQ: Final = 1
FACT_KIND: Final = 2
FACT_DEAL: Final = 3
FACT_CENTS: Final = 4
FACT_EVENT: Final = 5
FACT_RETRACTED: Final = 6


def fact_counts_at(fact: RevenueFact, upto_seq: int | None) -> bool:
    """Return whether `fact` is part of the log prefix ending at `upto_seq` (None: all)."""
    return visible_in_prefix(fact[FACT_SEQ], fact[FACT_RETRACTED], upto_seq)


class TimelineColumns:
    """Columns holding the timelines of many accounts, one row per fact.

    Each row holds the fact's effective time, live and pending ARR after it, its kind, and
    `ahead`: what the account's facts from this row on take from live ARR, -1 if one of them
    is a churn, else the cents their contractions took (lists while folding; a loaded view may
    hold arrays).
    """

    __slots__ = ("ahead", "effective", "kinds", "live", "pending")

    def __init__(self) -> None:
        self.effective: MutableSequence[int] = []
        self.live: MutableSequence[int] = []
        self.pending: MutableSequence[int] = []
        self.kinds: list[str] = []
        self.ahead: MutableSequence[int] = []

    def projected_churn(self, i: int, hi: int, live: int) -> int:
        """Return the cents of `live` that the churns and contractions in rows [i, hi) remove.

        Rows [i, hi) are the rest of one account's rows.
        """
        if live <= 0 or i >= hi:
            return 0
        ahead = self.ahead[i]
        return live if ahead < 0 else min(ahead, live)

    def states_at(
        self, los: Sequence[int], his: Sequence[int], at_us: int, *, churn: bool = True
    ) -> list[tuple[int, int, int]]:
        """Return (live, pending, projected churn) in cents of each account's rows [lo, hi).

        Each counts the facts effective before the valid-time bound `at_us` (epoch µs);
        projected churn is 0 throughout when `churn` is False (not asked for).
        """
        effective, live, pending = self.effective, self.live, self.pending
        out: list[tuple[int, int, int]] = []
        for lo, hi in zip(los, his, strict=True):
            i = bisect_left(effective, at_us, lo, hi)
            if i == lo:
                out.append((0, 0, 0))
                continue
            now = live[i - 1]
            later = self.projected_churn(i, hi, now) if churn and now > 0 else 0
            out.append((now, pending[i - 1], later))
        return out


class AccountTimeline:
    """Live and pending ARR of one account after each fact, for lookups at any valid time."""

    __slots__ = (
        "_c",
        "_first_live",
        "_first_live_known",
        "_hi",
        "_lo",
        "account_id",
        "attributes",
    )

    def __init__(
        self,
        account_id: str,
        columns: TimelineColumns,
        lo: int,
        hi: int,
        attributes: Attributes = (),
    ) -> None:
        self.account_id = account_id
        self.attributes = attributes
        self._c = columns
        self._lo = lo
        self._hi = hi
        self._first_live: int | None = None
        self._first_live_known = False

    def _first_live_us(self) -> int | None:
        """Return the first instant after whose facts, taken together, live ARR is > 0.

        A go-live undone at its own instant (a churn effective at the same time) leaves the
        account never live: no valid-time bound sees live ARR from it.
        """
        if not self._first_live_known:
            c = self._c
            effective, live, last = c.effective, c.live, self._hi - 1
            self._first_live = next(
                (
                    effective[i]
                    for i in range(self._lo, self._hi)
                    if live[i] > 0 and (i == last or effective[i + 1] != effective[i])
                ),
                None,
            )
            self._first_live_known = True
        return self._first_live

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def segment(self) -> str | None:
        """Return the account's segment after its last change (in business order)."""
        return self.attributes[-1][1] if self.attributes else None

    @property
    def channel(self) -> str | None:
        """Return the account's channel after its last change (in business order)."""
        return self.attributes[-1][2] if self.attributes else None

    def attributes_at(self, bound: datetime) -> tuple[str | None, str | None]:
        """Return (segment, channel) as they stood at the exclusive valid-time bound `bound`."""
        return attributes_at(self.attributes, to_us(bound))

    def span(self) -> tuple[TimelineColumns, int, int]:
        """Return the columns holding this timeline and its rows [lo, hi) in them."""
        return self._c, self._lo, self._hi

    def _index(self, bound: datetime) -> int:
        return bisect_left(self._c.effective, to_us(bound), self._lo, self._hi)

    def live_at(self, bound: datetime) -> Decimal:
        """Return live ARR counting facts effective before `bound`."""
        i = self._index(bound)
        return money(self._c.live[i - 1]) if i > self._lo else ZERO

    def pending_at(self, bound: datetime) -> Decimal:
        """Return signed-not-live ARR (backlog) counting facts effective before `bound`."""
        i = self._index(bound)
        return money(self._c.pending[i - 1]) if i > self._lo else ZERO

    def live_path(self, start: datetime, end: datetime) -> list[Decimal]:
        """Return live ARR at the bound `start`, then after each instant in `[start, end)` at
        which the account's facts changed it (same-instant facts taken together), so the last
        value is live ARR at `end`."""
        c = self._c
        effective, live = c.effective, c.live
        i, stop = self._index(start), self._index(end)
        path = [live[i - 1] if i > self._lo else 0]
        while i < stop:
            at = effective[i]
            while i + 1 < stop and effective[i + 1] == at:
                i += 1
            if live[i] != path[-1]:
                path.append(live[i])
            i += 1
        return [money(v) for v in path]

    def was_live_before(self, bound: datetime) -> bool:
        """Return whether the account had live ARR at any point before `bound`."""
        first = self._first_live_us()
        return first is not None and first < to_us(bound)

    def first_live(self) -> datetime | None:
        """Return the first valid time at which the account's live ARR became > 0 (the facts
        of one instant taken together)."""
        first = self._first_live_us()
        return None if first is None else from_us(first)

    def projected_churn(self, bound: datetime) -> Decimal:
        """Return the live ARR at `bound` that known later churns and contractions remove."""
        i = self._index(bound)
        live = self._c.live[i - 1] if i > self._lo else 0
        if live <= 0:
            return ZERO
        return money(self._c.projected_churn(i, self._hi, live))

    def carr_at(self, bound: datetime) -> Decimal:
        """Return contracted ARR: live + pending - projected churn, at `bound`."""
        return self.live_at(bound) + self.pending_at(bound) - self.projected_churn(bound)

    def rows(self) -> list[tuple[datetime, str, Decimal, Decimal]]:
        """Return (effective_at, kind, live, pending) after each fact, for people and tests."""
        c = self._c
        return [
            (from_us(c.effective[i]), c.kinds[i], money(c.live[i]), money(c.pending[i]))
            for i in range(self._lo, self._hi)
        ]

    def _key(self) -> tuple[Any, ...]:
        c, lo, hi = self._c, self._lo, self._hi
        return (
            self.account_id,
            self.attributes,
            list(c.effective[lo:hi]),
            list(c.live[lo:hi]),
            list(c.pending[lo:hi]),
            c.kinds[lo:hi],
            list(c.ahead[lo:hi]),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccountTimeline) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.account_id)

    def __repr__(self) -> str:
        return f"AccountTimeline({self.account_id!r}, {self.rows()!r})"


def fold_account(
    account_id: str,
    facts: list[RevenueFact],
    columns: TimelineColumns,
    *,
    attributes: Attributes = (),
) -> AccountTimeline:
    """Append the timeline of `facts` (visible, in (effective_at, seq) order) to `columns`."""
    live = 0
    pending: dict[str | None, int] = {}
    amounts: list[int] = []  # what each contraction took, then what is ahead of each row
    lo = len(columns.effective)
    kinds: list[str] = []
    for when, _seq, kind, deal_id, cents, _event, _retracted in facts:
        amount = 0
        if kind == SIGNED:
            pending[deal_id] = cents
        elif kind == LIVE:
            live += pending.pop(deal_id, 0)
        elif kind == EXPAND:
            live += cents
        elif kind == CONTRACT:
            amount = min(cents, live)
            live -= amount
        elif kind == CHURN:
            live = 0
            pending.clear()
        columns.effective.append(when)
        columns.live.append(live)
        columns.pending.append(sum(pending.values()) if pending else 0)
        kinds.append(kind)
        amounts.append(amount)
    ahead = 0
    for j in range(len(amounts) - 1, -1, -1):  # from the account's last fact back
        if kinds[j] == CHURN:
            ahead = -1
        elif ahead >= 0:
            ahead += amounts[j]
        amounts[j] = ahead
    columns.kinds.extend(kinds)
    columns.ahead.extend(amounts)
    return AccountTimeline(account_id, columns, lo, len(columns.effective), attributes)
