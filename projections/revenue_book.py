"""The revenue read model: every account's revenue facts, absorbed in seq order.

`RevenueBook` is a pure, incremental replay: `absorb` takes events in recording (seq) order and
files each revenue fact under its account in business order `(effective_at, seq)`, so a
backdated event simply lands in its place and a retraction marks its target. Because recorded_at
never decreases along seq, "as known at k" is a prefix of the log, and `view(upto_seq)` answers
for any prefix from the same book. Absorbing a log in any number of steps gives the same book as
absorbing it at once (tested), which is what makes a persisted checkpoint safe to extend.

Both the book and a view serialise to flat JSON (parallel lists, joined id strings) so that a
checkpoint of a million-event ledger loads in a fraction of a second.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import accumulate, islice
from operator import attrgetter
from typing import Any

from ledger.envelope import StoredPayload
from ledger.events.stored import decode_stored, parse_current
from ledger.timeutil import read_instant
from projections.account_timeline import (
    CHURN,
    CONTRACT,
    EXPAND,
    LIVE,
    SIGNED,
    AccountTimeline,
    RevenueFact,
    TimelineColumns,
    fold_account,
    to_cents,
    to_us,
    visible_in_prefix,
)
from projections.logged import LoggedEvent, known_by
from projections.packed import pack_ints, unpack_ints

FORMAT_VERSION = 8
_DECODE_BATCH = 5000
_KINDS = {
    "contract_signed": SIGNED,
    "go_live": LIVE,
    "expansion": EXPAND,
    "contraction": CONTRACT,
    "churn": CHURN,
}
_PRICED = frozenset({SIGNED, EXPAND, CONTRACT})
_SEP = "\n"  # identifiers never contain control characters


def batched(items: Iterable[StoredPayload], size: int) -> Iterator[Sequence[StoredPayload]]:
    """Yield `items` in lists of at most `size`."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _join(items: Iterable[str]) -> str:
    return _SEP.join(items)


def _split(text: str) -> list[str]:
    return text.split(_SEP) if text else []


_ATTR_FIELDS = ("seq", "event_id", "segment", "channel", "retracted_seq")
_FACT_FIELDS = ("effective_us", "seq", "kind", "deal_id", "cents", "event_id", "retracted_seq")


def _same_length(*columns: Sequence[Any]) -> tuple[Sequence[Any], ...]:
    """Return `columns`, or raise ValueError if they differ in length (a damaged checkpoint)."""
    if len({len(c) for c in columns}) > 1:
        raise ValueError("read model columns differ in length")
    return columns


def _columns(fields: tuple[str, ...], objects: list[Any]) -> list[list[Any]]:
    """Return the `fields` of `objects` as one list per field."""
    if not objects:
        return [[] for _ in fields]
    return [list(column) for column in zip(*map(attrgetter(*fields), objects), strict=True)]


# Optional columns: an absent text is written as "" (identifiers and slugs are never empty) and
# an absent seq as 0 (seqs start at 1); joined text and packed integers load far faster than
# JSON lists of strings, numbers and nulls.
def _join_optional(items: Iterable[str | None]) -> list[str] | str:
    values = [v or "" for v in items]
    return _join(values) if values else []


def _split_optional(stored: list[str] | str) -> list[str | None]:
    return [v or None for v in (stored.split(_SEP) if isinstance(stored, str) else stored)]


def _pack_optional(items: Iterable[int | None]) -> str | list[int]:
    return pack_ints([v or 0 for v in items])


def _unpack_optional(stored: str | list[int]) -> list[int | None]:
    return [v or None for v in unpack_ints(stored)]


@dataclass(slots=True)
class DealAttributes:
    """A deal's segment and/or channel as one event set them (`deal_opened`, `deal_updated`)."""

    seq: int
    event_id: str
    segment: str | None
    channel: str | None
    retracted_seq: int | None = None

    def counts_at(self, upto_seq: int | None) -> bool:
        """Return whether this fact is part of the log prefix ending at `upto_seq`."""
        return visible_in_prefix(self.seq, self.retracted_seq, upto_seq)


class RevenueView:
    """Every account's timeline for one log prefix ending at `upto_seq`, in shared columns.

    Account `ids[k]` owns the rows `los[k]` to `his[k]` (exclusive) of `columns`; its segment
    and channel are `segments[k]` and `channels[k]`. Whole-view questions read the columns in
    one pass (`states_at`); `accounts` hands out one `AccountTimeline` per account.
    """

    __slots__ = ("_accounts", "channels", "columns", "his", "ids", "los", "segments", "upto_seq")

    def __init__(
        self,
        columns: TimelineColumns,
        ids: Sequence[str],
        los: Sequence[int],
        his: Sequence[int],
        segments: Sequence[str | None],
        channels: Sequence[str | None],
        upto_seq: int,
    ) -> None:
        self.columns = columns
        self.ids = ids
        self.los = los
        self.his = his
        self.segments = segments
        self.channels = channels
        self.upto_seq = upto_seq
        self._accounts: dict[str, AccountTimeline] | None = None

    @classmethod
    def of(
        cls, timelines: Iterable[AccountTimeline], columns: TimelineColumns, upto_seq: int
    ) -> RevenueView:
        """Return the view of `timelines` (all held in `columns`), leaving out empty ones."""
        kept = [t for t in timelines if len(t)]
        spans = [t.span() for t in kept]
        if any(c is not columns for c, _lo, _hi in spans):
            raise ValueError("every timeline of a view must be held in its columns")
        view = cls(
            columns,
            [t.account_id for t in kept],
            [lo for _c, lo, _hi in spans],
            [hi for _c, _lo, hi in spans],
            [t.segment for t in kept],
            [t.channel for t in kept],
            upto_seq,
        )
        view._accounts = {t.account_id: t for t in kept}
        return view

    @property
    def accounts(self) -> dict[str, AccountTimeline]:
        """Return each account's timeline by account id (built on first use)."""
        if self._accounts is None:
            self._accounts = {
                a: AccountTimeline(a, self.columns, lo, hi, seg, chan)
                for a, lo, hi, seg, chan in zip(
                    self.ids, self.los, self.his, self.segments, self.channels, strict=True
                )
            }
        return self._accounts

    def states_at(self, bound: datetime, *, churn: bool = True) -> list[tuple[int, int, int]]:
        """Return (live, pending, projected churn) in cents of each account, in `ids` order.

        Each counts the facts effective before the exclusive valid-time bound `bound`;
        projected churn is 0 throughout when `churn` is False (not asked for).
        """
        return self.columns.states_at(self.los, self.his, to_us(bound), churn=churn)

    def to_json(self) -> str:
        """Return the view as flat JSON (times in epoch microseconds, money in cents).

        Number columns are packed (`pack_ints`); each account's rows are written contiguously.
        """
        c = self.columns
        rows = [range(lo, hi) for lo, hi in zip(self.los, self.his, strict=True)]
        bounds = [0]
        for r in rows:
            bounds.append(bounds[-1] + len(r))
        order = [i for r in rows for i in r]
        doc = {
            "format": FORMAT_VERSION,
            "upto_seq": self.upto_seq,
            "accounts": _join(self.ids),
            "segments": _join_optional(self.segments),
            "channels": _join_optional(self.channels),
            "bounds": pack_ints(bounds),
            "effective": pack_ints([c.effective[i] for i in order]),
            "live": pack_ints([c.live[i] for i in order]),
            "pending": pack_ints([c.pending[i] for i in order]),
            "kinds": "".join([c.kinds[i] for i in order]),
            "ahead": pack_ints([c.ahead[i] for i in order]),
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RevenueView:
        """Return the view stored by `to_json`; raise ValueError for another format version."""
        doc: dict[str, Any] = json.loads(text)
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"read model format {doc.get('format')} is not {FORMAT_VERSION}")
        cols = TimelineColumns()
        cols.effective = unpack_ints(doc["effective"])
        cols.live = unpack_ints(doc["live"])
        cols.pending = unpack_ints(doc["pending"])
        cols.kinds = list(doc["kinds"])
        cols.ahead = unpack_ints(doc["ahead"])
        bounds = unpack_ints(doc["bounds"])
        ids = _split(doc["accounts"])
        if not len(cols.effective) == len(cols.live) == len(cols.kinds) == bounds[-1]:
            raise ValueError("read model columns differ in length")
        return cls(
            cols,
            ids,
            bounds[:-1],
            bounds[1:],
            _split_optional(doc["segments"]),
            _split_optional(doc["channels"]),
            int(doc["upto_seq"]),
        )


class RevenueBook:
    """Incremental, pure replay of the log into per-account revenue facts."""

    def __init__(self) -> None:
        self.absorbed_seq = 0
        self.deal_accounts: dict[str, str] = {}
        # deal -> its attribute facts in seq order, so a view of a log prefix groups by the
        # segment and channel known then, and a retraction takes its fact out.
        self.deal_facts: dict[str, list[DealAttributes]] = {}
        self.accounts: dict[str, list[RevenueFact]] = {}
        self._by_event: dict[str, str] = {}  # event_id -> account of a revenue fact
        self._deal_of: dict[str, str] = {}  # event_id -> deal of an attribute fact
        self._columns = TimelineColumns()
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

    def absorb_stored(self, rows: Iterable[StoredPayload]) -> RevenueBook:
        """Take stored rows (seq order, continuing after `absorbed_seq`) into the book.

        Each row is (seq, event_id, type, schema_version, effective_at text, payload JSON) as
        the store keeps it: the same facts as `absorb` of the decoded events, read from the
        canonical payload's fields without building typed events (payloads were validated at
        append; an older schema version is decoded and upcast first).
        """
        for chunk in batched(rows, _DECODE_BATCH):
            parsed = parse_current([(r[2], r[3], r[5]) for r in chunk])
            for (seq, event_id, type_name, version, effective_at, payload), fields in zip(
                chunk, parsed, strict=True
            ):
                if seq <= self.absorbed_seq:
                    raise ValueError(
                        f"seq {seq} was already absorbed (book at {self.absorbed_seq})"
                    )
                if fields is None:  # stored at an older schema version
                    fields = decode_stored(type_name, version, payload).__dict__
                self._absorb_fields(seq, event_id, type_name, effective_at, fields)
                self.absorbed_seq = seq
        return self

    def _absorb_one(self, e: LoggedEvent) -> None:
        p = e.payload
        self._absorb_fields(e.seq, e.event_id, p.event_type, e.effective_at, p.__dict__)

    def _absorb_fields(
        self,
        seq: int,
        event_id: str,
        type_name: str,
        effective_at: datetime | str,
        f: Mapping[str, Any],
    ) -> None:
        """File one event's revenue fact, given its type and payload fields (by field name).

        The innermost step of building the book from the log, so written out in one piece.
        """
        if type_name == "deal_opened":
            deal = f["deal_id"]
            self.deal_accounts[deal] = f["account_id"]
            self._attribute(deal, DealAttributes(seq, event_id, f.get("segment"), f.get("channel")))
            return
        if type_name == "deal_updated":
            if f.get("segment") is not None:
                self._attribute(f["deal_id"], DealAttributes(seq, event_id, f["segment"], None))
            return
        if type_name == "event_retracted":
            self._retract(f["retracts"], seq)
            return
        kind = _KINDS.get(type_name)
        if kind is None:
            return
        when = to_us(read_instant(effective_at) if type(effective_at) is str else effective_at)  # type: ignore[arg-type]
        if kind == SIGNED:
            deal_id = f["deal_id"]
            account = f.get("account_id") or self._deal_account(deal_id)
            self.deal_accounts.setdefault(deal_id, account)
        else:
            deal_id = f["deal_id"] if kind == LIVE else None
            account = f["account_id"]
        cents = to_cents(Decimal(f["arr"])) if kind in _PRICED else 0
        fact = RevenueFact(when, seq, kind, deal_id, cents, event_id)
        facts = self.accounts.get(account)
        if facts is None:
            self.accounts[account] = [fact]
        elif facts[-1].effective_us > when:
            # Facts arrive in seq order, so only a backdated one goes anywhere but last.
            bisect.insort(facts, fact, key=lambda f: (f.effective_us, f.seq))
        else:
            facts.append(fact)
        self._by_event[event_id] = account
        if self._timelines:
            self._timelines.pop(account, None)

    def _attribute(self, deal_id: str, fact: DealAttributes) -> None:
        facts = self.deal_facts.get(deal_id)
        if facts is None:
            self.deal_facts[deal_id] = [fact]
        else:
            facts.append(fact)
            self._timelines.clear()  # a later change may regroup an account already folded
        self._deal_of[fact.event_id] = deal_id

    def _retract(self, event_id: str, seq: int) -> None:
        deal = self._deal_of.get(event_id)
        if deal is not None:
            for a in self.deal_facts[deal]:
                if a.event_id == event_id:
                    a.retracted_seq = seq
            self._timelines.clear()
        owner = self._by_event.get(event_id)
        if owner is None:
            return
        for f in self.accounts[owner]:
            if f.event_id == event_id:
                f.retracted_seq = seq
        self._timelines.pop(owner, None)

    def _deal_account(self, deal_id: str) -> str:
        account = self.deal_accounts.get(deal_id)
        if account is None:
            raise ValueError(
                f"contract for deal {deal_id} names no account and the deal is unknown"
            )
        return account

    # -- views ------------------------------------------------------------------------------
    def _attributes(
        self, facts: list[RevenueFact], upto_seq: int | None
    ) -> tuple[str | None, str | None]:
        """Return (segment, channel) of the account: those of its first signed deal.

        Each is the deal's latest as of the log prefix ending at `upto_seq`.
        """
        for f in facts:
            if f.kind == SIGNED and f.deal_id is not None:
                segment = channel = None
                for a in self.deal_facts.get(f.deal_id, ()):
                    if a.counts_at(upto_seq):
                        segment = a.segment if a.segment is not None else segment
                        channel = a.channel if a.channel is not None else channel
                return segment, channel
        return None, None

    def _fold(
        self, account: str, upto_seq: int | None, columns: TimelineColumns
    ) -> AccountTimeline:
        facts = [f for f in self.accounts[account] if f.counts_at(upto_seq)]
        segment, channel = self._attributes(facts, upto_seq)
        return fold_account(account, facts, columns, segment=segment, channel=channel)

    def view(self, upto_seq: int | None = None) -> RevenueView:
        """Return every account's timeline as known at the log prefix ending at `upto_seq`.

        Accounts with no visible fact are left out.
        """
        if upto_seq is not None and upto_seq < self.absorbed_seq:
            columns = TimelineColumns()
            timelines = [self._fold(a, upto_seq, columns) for a in self.accounts]
            return RevenueView.of(timelines, columns, upto_seq)
        if len(self._columns.effective) > 4 * sum(len(f) for f in self.accounts.values()) + 64:
            self._columns, self._timelines = TimelineColumns(), {}  # drop stale rows
        for a in self.accounts:
            if a not in self._timelines:
                self._timelines[a] = self._fold(a, None, self._columns)
        return RevenueView.of(self._timelines.values(), self._columns, self.absorbed_seq)

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        """Return the book as flat JSON (times as epoch microseconds, money as cents)."""
        facts = [f for account_facts in self.accounts.values() for f in account_facts]
        bounds = list(accumulate((len(f) for f in self.accounts.values()), initial=0))
        attrs = [a for deal_facts in self.deal_facts.values() for a in deal_facts]
        attr_deals = [deal for deal, deal_facts in self.deal_facts.items() for _ in deal_facts]
        # One pass per object list, transposed into columns by `zip` (C-level attribute reads).
        a_seq, a_ids, a_segments, a_channels, a_retracted = _columns(_ATTR_FIELDS, attrs)
        effective, seqs, kinds, deals, cents, event_ids, retracted = _columns(_FACT_FIELDS, facts)
        doc = {
            "format": FORMAT_VERSION,
            "absorbed_seq": self.absorbed_seq,
            "deal_ids": _join(self.deal_accounts),
            "deal_accounts": _join(self.deal_accounts.values()),
            "attr_deals": _join(attr_deals),
            "attr_seq": pack_ints(a_seq),
            "attr_ids": _join(a_ids),
            "attr_segments": _join_optional(a_segments),
            "attr_channels": _join_optional(a_channels),
            "attr_retracted": _pack_optional(a_retracted),
            "accounts": _join(self.accounts),
            "bounds": pack_ints(bounds),
            "effective": pack_ints(effective),
            "seq": pack_ints(seqs),
            "kinds": "".join(kinds),
            "deals": _join_optional(deals),
            "cents": pack_ints(cents),
            "event_ids": _join(event_ids),
            "retracted": _pack_optional(retracted),
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
        book.deal_accounts = dict(
            zip(_split(doc["deal_ids"]), _split(doc["deal_accounts"]), strict=True)
        )
        attr_deals, attr_ids = _split(doc["attr_deals"]), _split(doc["attr_ids"])
        attrs = list(
            map(
                DealAttributes,
                *_same_length(
                    unpack_ints(doc["attr_seq"]),
                    attr_ids,
                    _split_optional(doc["attr_segments"]),
                    _split_optional(doc["attr_channels"]),
                    _unpack_optional(doc["attr_retracted"]),
                    attr_deals,
                )[:-1],
            )
        )
        for deal, a in zip(attr_deals, attrs, strict=True):
            book.deal_facts.setdefault(deal, []).append(a)
        book._deal_of = dict(zip(attr_ids, attr_deals, strict=True))
        event_ids = _split(doc["event_ids"])
        facts = list(
            map(
                RevenueFact,
                *_same_length(
                    unpack_ints(doc["effective"]),
                    unpack_ints(doc["seq"]),
                    doc["kinds"],
                    _split_optional(doc["deals"]),
                    unpack_ints(doc["cents"]),
                    event_ids,
                    _unpack_optional(doc["retracted"]),
                ),
            )
        )
        bounds = unpack_ints(doc["bounds"])
        accounts = _split(doc["accounts"])
        if len(bounds) != len(accounts) + 1 or bounds[-1] != len(facts):
            raise ValueError("read model account bounds do not match its facts")
        owners: list[str] = []
        for i, account in enumerate(accounts):
            book.accounts[account] = facts[bounds[i] : bounds[i + 1]]
            owners += [account] * (bounds[i + 1] - bounds[i])
        book._by_event = dict(zip(event_ids, owners, strict=True))
        return book


def revenue_view(events: Iterable[LoggedEvent], known_at: datetime | None = None) -> RevenueView:
    """Return every account's revenue timeline from `events` as known at `known_at`.

    `events` are in seq order; `known_at` bounds recorded_at (None: everything).
    """
    return RevenueBook().absorb(known_by(events, known_at)).view()
