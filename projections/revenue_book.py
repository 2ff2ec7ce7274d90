"""The revenue read model: every account's revenue facts, absorbed in seq order.

`RevenueBook` is a pure, incremental replay: `absorb` takes events in recording (seq) order and
files each revenue fact under its account in business order `(effective_at, seq)`, so a
backdated event simply lands in its place and a retraction marks its target. Because recorded_at
never decreases along seq, "as known at k" is a prefix of the log, and `view(upto_seq)` answers
for any prefix from the same book. Absorbing a log in any number of steps gives the same book as
absorbing it at once (tested), which is what makes a persisted checkpoint safe to extend.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.events import (
    Churn,
    Contraction,
    ContractSigned,
    DealOpened,
    DealUpdated,
    EventRetracted,
    Expansion,
    GoLive,
)
from projections.account_timeline import (
    CHURN,
    CONTRACT,
    EXPAND,
    LIVE,
    SIGNED,
    AccountTimeline,
    RevenueFact,
    fold_account,
)
from projections.logged import LoggedEvent, known_by

FORMAT_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RevenueView:
    """Every account's timeline for one log prefix (`upto_seq`, None = the whole book)."""

    accounts: dict[str, AccountTimeline]
    upto_seq: int


class RevenueBook:
    """Incremental, pure replay of the log into per-account revenue facts."""

    def __init__(self) -> None:
        self.absorbed_seq = 0
        # deal -> [account, channel, [[seq, segment], ...]]: the segment as it changed in seq
        # order, so a view of a log prefix groups by the segment known then.
        self.deals: dict[str, list[Any]] = {}
        self.accounts: dict[str, list[RevenueFact]] = {}
        self._by_event: dict[str, str] = {}  # event_id -> account of a revenue fact
        self._timelines: dict[str, AccountTimeline] = {}

    # -- absorbing --------------------------------------------------------------------------
    def absorb(self, events: Iterable[LoggedEvent]) -> RevenueBook:
        """Take `events` (seq order, continuing after `absorbed_seq`) into the book; return it."""
        for e in events:
            if e.seq <= self.absorbed_seq:
                raise ValueError(f"seq {e.seq} was already absorbed (book at {self.absorbed_seq})")
            self._absorb_one(e)
            self.absorbed_seq = e.seq
        return self

    def _absorb_one(self, e: LoggedEvent) -> None:
        p = e.payload
        if isinstance(p, DealOpened):
            self.deals[p.deal_id] = [p.account_id, p.channel, [[e.seq, p.segment]]]
        elif isinstance(p, DealUpdated) and p.segment is not None and p.deal_id in self.deals:
            self.deals[p.deal_id][2].append([e.seq, p.segment])
        elif isinstance(p, ContractSigned):
            account = p.account_id or self._deal_account(p.deal_id)
            if p.deal_id not in self.deals:
                self.deals[p.deal_id] = [account, None, [[e.seq, None]]]
            self._file(
                account, RevenueFact(e.effective_at, e.seq, SIGNED, p.deal_id, p.arr, e.event_id)
            )
        elif isinstance(p, GoLive):
            self._file(
                p.account_id,
                RevenueFact(e.effective_at, e.seq, LIVE, p.deal_id, Decimal(0), e.event_id),
            )
        elif isinstance(p, Expansion):
            self._file(
                p.account_id, RevenueFact(e.effective_at, e.seq, EXPAND, None, p.arr, e.event_id)
            )
        elif isinstance(p, Contraction):
            self._file(
                p.account_id, RevenueFact(e.effective_at, e.seq, CONTRACT, None, p.arr, e.event_id)
            )
        elif isinstance(p, Churn):
            self._file(
                p.account_id,
                RevenueFact(e.effective_at, e.seq, CHURN, None, Decimal(0), e.event_id),
            )
        elif isinstance(p, EventRetracted):
            owner = self._by_event.get(p.retracts)
            if owner is not None:
                for f in self.accounts[owner]:
                    if f.event_id == p.retracts:
                        f.retracted_seq = e.seq
                self._timelines.pop(owner, None)

    def _deal_account(self, deal_id: str) -> str:
        info = self.deals.get(deal_id)
        if info is None or info[0] is None:
            raise ValueError(
                f"contract for deal {deal_id} names no account and the deal is unknown"
            )
        return str(info[0])

    def _file(self, account: str, fact: RevenueFact) -> None:
        facts = self.accounts.setdefault(account, [])
        key = (fact.effective_at, fact.seq)
        if facts and (facts[-1].effective_at, facts[-1].seq) > key:
            bisect.insort(facts, fact, key=lambda f: (f.effective_at, f.seq))
        else:
            facts.append(fact)
        self._by_event[fact.event_id] = account
        self._timelines.pop(account, None)

    # -- views ------------------------------------------------------------------------------
    def _attributes(
        self, facts: list[RevenueFact], upto_seq: int | None
    ) -> tuple[str | None, str | None]:
        """Return (segment, channel) of the account: those of its first signed deal.

        The segment is the deal's latest as of the log prefix ending at `upto_seq`.
        """
        for f in facts:
            if f.kind == SIGNED and f.deal_id in self.deals:
                _account, channel, segments = self.deals[f.deal_id]
                known = [seg for seq, seg in segments if upto_seq is None or seq <= upto_seq]
                return (known[-1] if known else None), channel
        return None, None

    def timeline(self, account: str, upto_seq: int | None = None) -> AccountTimeline:
        """Return one account's timeline for the log prefix ending at `upto_seq`."""
        if upto_seq is None or upto_seq >= self.absorbed_seq:
            cached = self._timelines.get(account)
            if cached is None:
                cached = self._fold(account, None)
                self._timelines[account] = cached
            return cached
        return self._fold(account, upto_seq)

    def _fold(self, account: str, upto_seq: int | None) -> AccountTimeline:
        facts = [f for f in self.accounts[account] if f.counts_at(upto_seq)]
        segment, channel = self._attributes(facts, upto_seq)
        return fold_account(account, facts, segment=segment, channel=channel)

    def view(self, upto_seq: int | None = None) -> RevenueView:
        """Return every account's timeline as known at the log prefix ending at `upto_seq`."""
        timelines = (self.timeline(a, upto_seq) for a in self.accounts)
        accounts = {t.account_id: t for t in timelines if t.effective}
        limit = self.absorbed_seq if upto_seq is None else min(upto_seq, self.absorbed_seq)
        return RevenueView(accounts, limit)

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        """Return the book as JSON text (times as epoch microseconds, money as decimal text)."""
        accounts = {
            a: [
                [
                    (f.effective_at - _EPOCH) // _US,
                    f.seq,
                    f.kind,
                    f.deal_id,
                    str(f.amount),
                    f.event_id,
                    f.retracted_seq,
                ]
                for f in facts
            ]
            for a, facts in self.accounts.items()
        }
        doc = {
            "format": FORMAT_VERSION,
            "absorbed_seq": self.absorbed_seq,
            "deals": self.deals,
            "accounts": accounts,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RevenueBook:
        """Return the book stored by `to_json`; raise ValueError for another format version."""
        doc: dict[str, Any] = json.loads(text)
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"read model format {doc.get('format')} is not {FORMAT_VERSION}")
        book = cls()
        book.absorbed_seq = int(doc["absorbed_seq"])
        book.deals = doc["deals"]
        for account, rows in doc["accounts"].items():
            facts = [
                RevenueFact(_EPOCH + us * _US, seq, kind, deal, Decimal(amount), eid, retracted)
                for us, seq, kind, deal, amount, eid, retracted in rows
            ]
            book.accounts[account] = facts
            for f in facts:
                book._by_event[f.event_id] = account
        return book


def revenue_view(events: Iterable[LoggedEvent], known_at: datetime | None = None) -> RevenueView:
    """Return every account's revenue timeline from `events` as known at `known_at`.

    `events` are in seq order; `known_at` bounds recorded_at (None: everything).
    """
    return RevenueBook().absorb(known_by(events, known_at)).view()
