"""The revenue read model: every account's revenue facts, absorbed in seq order.

`RevenueBook` is a pure, incremental replay: `absorb` takes events in recording (seq) order and
files each revenue fact under its account in business order `(effective_at, seq)`, so a
backdated event simply lands in its place and a retraction marks its target. Because recorded_at
never decreases along seq, "as known at k" is a prefix of the log, and `view(upto_seq)` answers
for any prefix from the same book. Absorbing a log in any number of steps gives the same book as
absorbing it at once (tested), which is what makes a persisted checkpoint safe to extend.

Both the book and a view serialise to flat JSON of packed columns (`projections.packed`: integers
as packed arrays, identifiers joined and deflated) so that a checkpoint of a million-event ledger
is written and loaded in a fraction of a second.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import accumulate, islice, pairwise
from typing import Any, Final

from ledger.envelope import StoredPayload
from ledger.events.stored import decode_stored, parse_current
from ledger.timeutil import read_instant
from projections.account_timeline import (
    CHURN,
    CONTRACT,
    EXPAND,
    FACT_DEAL,
    FACT_EFFECTIVE,
    FACT_EVENT,
    FACT_KIND,
    FACT_RETRACTED,
    FACT_SEQ,
    LIVE,
    SIGNED,
    AccountTimeline,
    Attributes,
    RevenueFact,
    TimelineColumns,
    attributes_at,
    fact_counts_at,
    fold_account,
    to_cents,
    to_us,
    visible_in_prefix,
)
from projections.logged import LoggedEvent, known_by
from projections.packed import pack_ints, pack_texts, unpack_ints, unpack_texts

FORMAT_VERSION = 12
"""The format of a saved book and view. It goes up whenever what they hold changes, in layout
or in meaning, so that a read model an earlier release saved is built again rather than read
with its old meaning: 12 keeps a deal's latest account (format 11 books kept the first account
of a deal signed again for another, and their views grouped that account's segment wrongly)."""
_DECODE_BATCH = 5000
_KINDS = {
    "contract_signed": SIGNED,
    "go_live": LIVE,
    "expansion": EXPAND,
    "contraction": CONTRACT,
    "churn": CHURN,
}
_PRICED = frozenset({SIGNED, EXPAND, CONTRACT})
REVENUE_FACT_TYPES: tuple[str, ...] = tuple(_KINDS)
"""The event types that file a revenue fact (the others the book reads: `deal_opened` and
`deal_updated` for segment and channel, and retractions)."""


def _effective_us(effective_at: datetime | str) -> int:
    """Return an effective time (an instant, or its stored text) as epoch microseconds."""
    return to_us(read_instant(effective_at) if type(effective_at) is str else effective_at)  # type: ignore[arg-type]


def batched(items: Iterable[StoredPayload], size: int) -> Iterator[Sequence[StoredPayload]]:
    """Yield `items` in lists of at most `size`."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _columns(width: int, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Return the `width`-tuples `rows` as one list per position."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


# Optional columns: an absent text is written as "" (identifiers and slugs are never empty) and
# an absent seq as 0 (seqs start at 1); packed text and integers load far faster than JSON
# lists of strings, numbers and nulls.
def _pack_optional_texts(items: Iterable[str | None]) -> str:
    return pack_texts([v or "" for v in items])


def _unpack_optional_texts(stored: str) -> list[str | None]:
    return [v or None for v in unpack_texts(stored)]


def _pack_optional(items: Iterable[int | None]) -> str | list[int]:
    return pack_ints([v or 0 for v in items])


def _unpack_optional(stored: str | list[int]) -> list[int | None]:
    return [v or None for v in unpack_ints(stored)]


def _pack_attributes(attributes: Sequence[Attributes]) -> dict[str, Any]:
    """Return the accounts' attribute histories as packed columns (entries per account, then
    each entry's effective µs, segment and channel)."""
    entries = [e for history in attributes for e in history]
    return {
        "attr_counts": pack_ints([len(history) for history in attributes]),
        "attr_effective": pack_ints([e[0] for e in entries]),
        "attr_segments": _pack_optional_texts(e[1] for e in entries),
        "attr_channels": _pack_optional_texts(e[2] for e in entries),
    }


def _document(text: str) -> dict[str, Any]:
    """Return the JSON object a read model was saved as; raise ValueError for anything else."""
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("a read model is saved as a JSON object")
    return doc


def _unpack_attributes(doc: Mapping[str, Any]) -> list[Attributes]:
    """Return the attribute histories `_pack_attributes` wrote."""
    entries = list(
        zip(
            unpack_ints(doc["attr_effective"]),
            _unpack_optional_texts(doc["attr_segments"]),
            _unpack_optional_texts(doc["attr_channels"]),
            strict=True,
        )
    )
    out: list[Attributes] = []
    at = 0
    for n in unpack_ints(doc["attr_counts"]):
        out.append(tuple(entries[at : at + n]))
        at += n
    if at != len(entries):
        raise ValueError("read model attribute counts do not match its entries")
    return out


DealAttributes = tuple[int, str, str | None, str | None, int | None, int]
"""A deal's segment and/or channel as one event set them (`deal_opened`, `deal_updated`): the
tuple (seq, event_id, segment, channel, retracted_seq, effective µs), a plain tuple like
`RevenueFact`."""
_ATTR_EVENT: Final = 1
_ATTR_EFFECTIVE: Final = 5


class RevenueView:
    """Every account's timeline for one log prefix ending at `upto_seq`, in shared columns.

    Account `ids[k]` owns the rows `los[k]` to `his[k]` (exclusive) of `columns`; its segment
    and channel over valid time are `attributes[k]`. Whole-view questions read the columns in
    one pass (`states_at`); `accounts` hands out one `AccountTimeline` per account.
    """

    __slots__ = ("_accounts", "attributes", "columns", "his", "ids", "los", "upto_seq")

    def __init__(
        self,
        columns: TimelineColumns,
        ids: Sequence[str],
        los: Sequence[int],
        his: Sequence[int],
        attributes: Sequence[Attributes],
        upto_seq: int,
    ) -> None:
        self.columns = columns
        self.ids = ids
        self.los = los
        self.his = his
        self.attributes = attributes
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
            [t.attributes for t in kept],
            upto_seq,
        )
        view._accounts = {t.account_id: t for t in kept}
        return view

    @property
    def accounts(self) -> dict[str, AccountTimeline]:
        """Return each account's timeline by account id (built on first use)."""
        if self._accounts is None:
            self._accounts = {
                a: AccountTimeline(a, self.columns, lo, hi, attrs)
                for a, lo, hi, attrs in zip(
                    self.ids, self.los, self.his, self.attributes, strict=True
                )
            }
        return self._accounts

    def attributes_at(self, bound: datetime) -> list[tuple[str | None, str | None]]:
        """Return (segment, channel) of each account as they stood at the exclusive valid-time
        bound `bound`, in `ids` order."""
        at = to_us(bound)
        return [attributes_at(a, at) for a in self.attributes]

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
            "accounts": pack_texts(self.ids),
            **_pack_attributes(self.attributes),
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
        """Return the view stored by `to_json`; raise ValueError for another format version
        or a state whose parts do not fit together."""
        doc = _document(text)
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"read model format {doc.get('format')} is not {FORMAT_VERSION}")
        cols = TimelineColumns()
        cols.effective = unpack_ints(doc["effective"])
        cols.live = unpack_ints(doc["live"])
        cols.pending = unpack_ints(doc["pending"])
        cols.kinds = list(doc["kinds"])
        cols.ahead = unpack_ints(doc["ahead"])
        bounds = unpack_ints(doc["bounds"])
        ids = unpack_texts(doc["accounts"])
        attributes = _unpack_attributes(doc)
        lengths = {
            len(c) for c in (cols.effective, cols.live, cols.pending, cols.kinds, cols.ahead)
        }
        if (
            lengths != {bounds[-1]}
            or len(bounds) != len(ids) + 1
            or len(attributes) != len(ids)
            or any(lo > hi for lo, hi in pairwise(bounds))
        ):
            raise ValueError("read model columns differ in length")
        return cls(cols, ids, bounds[:-1], bounds[1:], attributes, int(doc["upto_seq"]))


class RevenueBook:
    """Incremental, pure replay of the log into per-account revenue facts."""

    def __init__(self) -> None:
        self.absorbed_seq = 0
        self.deal_accounts: dict[str, str] = {}
        # deal -> its attribute facts in seq order, so a view of a log prefix groups by the
        # segment and channel known then, and a retraction takes its fact out.
        self.deal_facts: dict[str, list[DealAttributes]] = {}
        self.accounts: dict[str, list[RevenueFact]] = {}
        # event_id -> account of a revenue fact / deal of an attribute fact: built when the
        # first retraction needs them, kept up to date from then on.
        self._by_event: dict[str, str] | None = None
        self._deal_of: dict[str, str] | None = None
        # Deal attributes recorded up to `partial_through` are held only for the deals signed
        # by then (a cold build reads no others: only a signed deal's segment and channel are
        # ever asked for); a deal signed later gets its earlier ones from `add_histories`
        # first. 0: every deal attribute is held.
        self.partial_through = 0
        # Retractions whose target the book does not hold (an event without a revenue fact,
        # or an attribute not read yet), by target id, so a history added later honours them.
        self._orphans: dict[str, int] = {}
        self._columns = TimelineColumns()
        self._timelines: dict[str, AccountTimeline] = {}

    # -- absorbing --------------------------------------------------------------------------
    def absorb(self, events: Iterable[LoggedEvent]) -> RevenueBook:
        """Take `events` (seq order, continuing after `absorbed_seq`) into the book; return it."""
        for e in events:
            if e.seq <= self.absorbed_seq:
                raise ValueError(f"seq {e.seq} was already absorbed (book at {self.absorbed_seq})")
            p = e.payload
            self._absorb_fields(e.seq, e.event_id, p.event_type, e.effective_at, p.__dict__)
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
            if chunk[0][0] <= self.absorbed_seq:
                raise ValueError(
                    f"seq {chunk[0][0]} was already absorbed (book at {self.absorbed_seq})"
                )
            self._absorb_chunk(chunk)
            self.absorbed_seq = chunk[-1][0]
        return self

    def _absorb_chunk(self, chunk: Sequence[StoredPayload]) -> None:
        absorb = self._absorb_fields
        parsed = parse_current([(r[2], r[3], r[5]) for r in chunk])
        for (seq, event_id, type_name, version, effective_at, payload), fields in zip(
            chunk, parsed, strict=True
        ):
            if fields is None:  # stored at an older schema version
                fields = decode_stored(type_name, version, payload).__dict__
            absorb(seq, event_id, type_name, effective_at, fields)

    def needs_histories(self, deal_ids: Iterable[str]) -> list[str]:
        """Return those of `deal_ids` whose attributes recorded up to `partial_through` the book
        lacks (they must be added by `add_histories` before their contracts are absorbed)."""
        if not self.partial_through:
            return []
        return sorted(d for d in deal_ids if d not in self.deal_accounts)

    def add_histories(self, deal_ids: Collection[str], rows: Iterable[StoredPayload]) -> None:
        """Take in the deal attribute events (`deal_opened`, `deal_updated`) of `deal_ids`
        recorded up to `partial_through`: `rows` holds all of them, in seq order, as stored.

        They go before the deals' later attributes; retractions already absorbed apply.
        """
        later = {d: self.deal_facts.pop(d) for d in deal_ids if d in self.deal_facts}
        for chunk in batched(rows, _DECODE_BATCH):
            if chunk[-1][0] > self.partial_through:
                raise ValueError(f"seq {chunk[-1][0]} is not a history before the book's own")
            self._absorb_chunk(chunk)
        for deal, facts in later.items():
            self.deal_facts.setdefault(deal, []).extend(facts)
        # No folded timeline changes: no account's first signed deal is among `deal_ids` yet.

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
        kind = _KINDS.get(type_name)
        if kind is None:
            if type_name == "deal_opened":
                deal = f["deal_id"]
                self.deal_accounts[deal] = f["account_id"]
                when = _effective_us(effective_at)
                attrs = (seq, event_id, f.get("segment"), f.get("channel"), None, when)
                self._attribute(deal, attrs)
            elif type_name == "deal_updated":
                segment = f.get("segment")
                if segment is not None:
                    when = _effective_us(effective_at)
                    self._attribute(f["deal_id"], (seq, event_id, segment, None, None, when))
            elif type_name == "event_retracted":
                self._retract(f["retracts"], seq)
            return
        when = _effective_us(effective_at)
        if kind == SIGNED:
            deal_id = f["deal_id"]
            account = f.get("account_id") or self._deal_account(deal_id)
            # The latest naming wins: the rules keep a deal's live namings on one account, so
            # a contract naming another account follows the retraction of the earlier one.
            self.deal_accounts[deal_id] = account
        else:
            deal_id = f["deal_id"] if kind == LIVE else None
            account = f["account_id"]
        cents = to_cents(Decimal(f["arr"])) if kind in _PRICED else 0
        fact = (when, seq, kind, deal_id, cents, event_id, None)
        facts = self.accounts.get(account)
        if facts is None:
            self.accounts[account] = [fact]
        elif facts[-1][FACT_EFFECTIVE] > when:
            # Facts arrive in seq order, so only a backdated one goes anywhere but last.
            bisect.insort(facts, fact)
        else:
            facts.append(fact)
        if self._by_event is not None:
            self._by_event[event_id] = account
        if self._timelines:
            self._timelines.pop(account, None)

    def _attribute(self, deal_id: str, fact: DealAttributes) -> None:
        if self._orphans:
            retracted = self._orphans.pop(fact[_ATTR_EVENT], None)
            if retracted is not None:
                fact = (fact[0], fact[1], fact[2], fact[3], retracted, fact[5])
        facts = self.deal_facts.get(deal_id)
        if facts is None:
            self.deal_facts[deal_id] = [fact]
        else:
            facts.append(fact)
        if self._timelines:
            # The one account whose first signed deal this may be is grouped anew.
            account = self.deal_accounts.get(deal_id)
            if account is not None:
                self._timelines.pop(account, None)
        if self._deal_of is not None:
            self._deal_of[fact[_ATTR_EVENT]] = deal_id

    def _event_owners(self) -> tuple[dict[str, str], dict[str, str]]:
        """Return (event_id -> account of its revenue fact, event_id -> deal of its attribute
        fact), built from the book on first use."""
        if self._by_event is None or self._deal_of is None:
            self._by_event = {
                f[FACT_EVENT]: account for account, facts in self.accounts.items() for f in facts
            }
            self._deal_of = {
                a[_ATTR_EVENT]: deal for deal, attrs in self.deal_facts.items() for a in attrs
            }
        return self._by_event, self._deal_of

    def _retract(self, event_id: str, seq: int) -> None:
        by_event, deal_of = self._event_owners()
        deal = deal_of.get(event_id)
        if deal is not None:
            attrs = self.deal_facts[deal]
            for i, a in enumerate(attrs):
                if a[_ATTR_EVENT] == event_id:
                    attrs[i] = (a[0], a[1], a[2], a[3], seq, a[5])
            self._timelines.clear()
        owner = by_event.get(event_id)
        if owner is None:
            if deal is None and self.partial_through:
                self._orphans[event_id] = seq
            return
        facts = self.accounts[owner]
        for i, f in enumerate(facts):
            if f[FACT_EVENT] == event_id:
                facts[i] = (f[0], f[1], f[2], f[3], f[4], f[5], seq)
        self._timelines.pop(owner, None)

    def _deal_account(self, deal_id: str) -> str:
        account = self.deal_accounts.get(deal_id)
        if account is None:
            raise ValueError(
                f"contract for deal {deal_id} names no account and the deal is unknown"
            )
        return account

    # -- views ------------------------------------------------------------------------------
    def _attributes(self, facts: list[RevenueFact], upto_seq: int | None) -> Attributes:
        """Return the account's segment and channel over valid time: those of its first signed
        deal, as the deal's events known in the log prefix ending at `upto_seq` set them, in
        business order (effective time, then seq)."""
        for f in facts:
            deal_id = f[FACT_DEAL]
            if f[FACT_KIND] == SIGNED and deal_id is not None:
                visible = sorted(
                    (a[_ATTR_EFFECTIVE], a[0], a[2], a[3])
                    for a in self.deal_facts.get(deal_id, ())
                    if visible_in_prefix(a[0], a[4], upto_seq)
                )
                history: list[tuple[int, str | None, str | None]] = []
                segment = channel = None
                for when, _seq, seg, chan in visible:
                    segment = seg if seg is not None else segment
                    channel = chan if chan is not None else channel
                    if history and history[-1][0] == when:
                        history[-1] = (when, segment, channel)  # the same instant: seq decides
                    elif not history or history[-1][1:] != (segment, channel):
                        history.append((when, segment, channel))
                return tuple(history)
        return ()

    def _fold(
        self, account: str, upto_seq: int | None, columns: TimelineColumns
    ) -> AccountTimeline:
        facts = self.accounts[account]
        if upto_seq is None:
            facts = [f for f in facts if f[FACT_RETRACTED] is None]
        else:
            facts = [f for f in facts if fact_counts_at(f, upto_seq)]
        return fold_account(account, facts, columns, attributes=self._attributes(facts, upto_seq))

    def view(self, upto_seq: int | None = None) -> RevenueView:
        """Return every account's timeline as known at the log prefix ending at `upto_seq`.

        Accounts with no visible fact are left out.
        """
        if upto_seq is not None and upto_seq < self.absorbed_seq:
            columns = TimelineColumns()
            folded = [self._fold(a, upto_seq, columns) for a in self.accounts]
            return RevenueView.of(folded, columns, upto_seq)
        if len(self._columns.effective) > 4 * sum(len(f) for f in self.accounts.values()) + 64:
            self._columns, self._timelines = TimelineColumns(), {}  # drop stale rows
        timelines = self._timelines
        for a in self.accounts:
            if a not in timelines:
                timelines[a] = self._fold(a, None, self._columns)
        if list(timelines) != list(self.accounts):  # accounts folded again came last
            self._timelines = timelines = {a: timelines[a] for a in self.accounts}
        return RevenueView.of(timelines.values(), self._columns, self.absorbed_seq)

    def prefix_views(self, seqs: Iterable[int]) -> Iterator[RevenueView]:
        """Yield `view(seq)` for each of `seqs` (ascending, none beyond `absorbed_seq`); see
        `prefix_timelines`."""
        for seq, timelines, _touched, columns in self.prefix_timelines(seqs):
            yield RevenueView.of([timelines[a] for a in self.accounts], columns, seq)

    def prefix_timelines(
        self, seqs: Iterable[int]
    ) -> Iterator[tuple[int, Mapping[str, AccountTimeline], set[str] | None, TimelineColumns]]:
        """Yield, for each of `seqs` (ascending, none beyond `absorbed_seq`), the seq, every
        account's timeline on the log prefix ending there, the accounts folded again for it
        (None for the first: all) and the columns that hold the timelines.

        For each after the first, only the accounts that the events recorded since the one
        before changed are folded again: a fact added or retracted, or an attribute of a deal
        of theirs. The others keep their timelines, so a walk over many log prefixes (a
        restatement's steps) costs the accounts each event touches, not the whole book.
        """
        changed = self._changes()
        pending = sorted(changed)
        at = 0
        columns = TimelineColumns()
        timelines: dict[str, AccountTimeline] = {}
        previous: int | None = None
        for seq in seqs:
            if previous is not None and seq < previous:
                raise ValueError(f"prefix views go forward: seq {seq} after {previous}")
            touched: set[str] = set()
            while at < len(pending) and pending[at] <= seq:
                touched |= changed[pending[at]]
                at += 1
            # The first view folds every account; each later one those touched since, once.
            for account in self.accounts if previous is None else touched:
                timelines[account] = self._fold(account, seq, columns)
            yield seq, timelines, None if previous is None else touched, columns
            previous = seq

    def _changes(self) -> dict[int, set[str]]:
        """Return, by seq, the accounts whose timeline the event at that seq can change."""
        changed: dict[int, set[str]] = {}
        deal_accounts: dict[str, set[str]] = {}
        for account, facts in self.accounts.items():
            for f in facts:
                changed.setdefault(f[FACT_SEQ], set()).add(account)
                if f[FACT_RETRACTED] is not None:
                    changed.setdefault(f[FACT_RETRACTED], set()).add(account)
                if f[FACT_DEAL] is not None:
                    deal_accounts.setdefault(f[FACT_DEAL], set()).add(account)
        for deal, attrs in self.deal_facts.items():
            for a in attrs:
                for seq in (a[0], a[4]):
                    if seq is not None:
                        changed.setdefault(seq, set()).update(deal_accounts.get(deal, ()))
        return changed

    def adopt(self, view: RevenueView) -> None:
        """Take `view`'s timelines as this book's own, so `view()` folds again only the
        accounts that events absorbed from now on change.

        `view` must be the whole-log view of a book equal to this one (saved from it at
        `absorbed_seq`, say); its columns are copied, so new rows can be added to them.
        """
        if view.upto_seq != self.absorbed_seq:
            raise ValueError(
                f"a view at seq {view.upto_seq} is not this book's ({self.absorbed_seq})"
            )
        c = view.columns
        columns = TimelineColumns()
        columns.effective, columns.live, columns.pending = (
            list(c.effective),
            list(c.live),
            list(c.pending),
        )
        columns.kinds, columns.ahead = list(c.kinds), list(c.ahead)
        self._columns = columns
        self._timelines = {
            a: AccountTimeline(a, columns, lo, hi, attrs)
            for a, lo, hi, attrs in zip(view.ids, view.los, view.his, view.attributes, strict=True)
        }

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        """Return the book as flat JSON (times as epoch microseconds, money as cents)."""
        facts = [f for account_facts in self.accounts.values() for f in account_facts]
        bounds = list(accumulate((len(f) for f in self.accounts.values()), initial=0))
        attrs = [a for deal_facts in self.deal_facts.values() for a in deal_facts]
        attr_deals = [deal for deal, deal_facts in self.deal_facts.items() for _ in deal_facts]
        a_seq, a_ids, a_segments, a_channels, a_retracted, a_effective = _columns(6, attrs)
        effective, seqs, kinds, deals, cents, event_ids, retracted = _columns(7, facts)
        doc = {
            "format": FORMAT_VERSION,
            "absorbed_seq": self.absorbed_seq,
            "partial_through": self.partial_through,
            "orphan_ids": pack_texts(self._orphans),
            "orphan_seqs": pack_ints(list(self._orphans.values())),
            "deal_ids": pack_texts(self.deal_accounts),
            "deal_accounts": pack_texts(self.deal_accounts.values()),
            "attr_deals": pack_texts(attr_deals),
            "attr_seq": pack_ints(a_seq),
            "attr_ids": pack_texts(a_ids),
            "attr_segments": _pack_optional_texts(a_segments),
            "attr_channels": _pack_optional_texts(a_channels),
            "attr_retracted": _pack_optional(a_retracted),
            "attr_effective": pack_ints(a_effective),
            "accounts": pack_texts(self.accounts),
            "bounds": pack_ints(bounds),
            "effective": pack_ints(effective),
            "seq": pack_ints(seqs),
            "kinds": "".join(kinds),
            "deals": _pack_optional_texts(deals),
            "cents": pack_ints(cents),
            "event_ids": pack_texts(event_ids),
            "retracted": _pack_optional(retracted),
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RevenueBook:
        """Return the book stored by `to_json`; raise ValueError for another format version
        or a state whose parts do not fit together."""
        doc = _document(text)
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"read model format {doc.get('format')} is not {FORMAT_VERSION}")
        book = cls()
        book.absorbed_seq = int(doc["absorbed_seq"])
        book.partial_through = int(doc["partial_through"])
        book._orphans = dict(
            zip(unpack_texts(doc["orphan_ids"]), unpack_ints(doc["orphan_seqs"]), strict=True)
        )
        book.deal_accounts = dict(
            zip(unpack_texts(doc["deal_ids"]), unpack_texts(doc["deal_accounts"]), strict=True)
        )
        attr_deals = unpack_texts(doc["attr_deals"])
        attrs: list[DealAttributes] = list(
            zip(
                unpack_ints(doc["attr_seq"]),
                unpack_texts(doc["attr_ids"]),
                _unpack_optional_texts(doc["attr_segments"]),
                _unpack_optional_texts(doc["attr_channels"]),
                _unpack_optional(doc["attr_retracted"]),
                unpack_ints(doc["attr_effective"]),
                strict=True,
            )
        )
        deal_facts = book.deal_facts
        for deal, a in zip(attr_deals, attrs, strict=True):
            held = deal_facts.get(deal)
            if held is None:
                deal_facts[deal] = [a]
            else:
                held.append(a)
        facts: list[RevenueFact] = list(
            zip(
                unpack_ints(doc["effective"]),
                unpack_ints(doc["seq"]),
                doc["kinds"],
                _unpack_optional_texts(doc["deals"]),
                unpack_ints(doc["cents"]),
                unpack_texts(doc["event_ids"]),
                _unpack_optional(doc["retracted"]),
                strict=True,
            )
        )
        bounds = unpack_ints(doc["bounds"])
        accounts = unpack_texts(doc["accounts"])
        if (
            len(bounds) != len(accounts) + 1
            or bounds[-1] != len(facts)
            or any(lo > hi for lo, hi in pairwise(bounds))
        ):
            raise ValueError("read model account bounds do not match its facts")
        for i, account in enumerate(accounts):
            book.accounts[account] = facts[bounds[i] : bounds[i + 1]]
        return book


def revenue_view(events: Iterable[LoggedEvent], known_at: datetime | None = None) -> RevenueView:
    """Return every account's revenue timeline from `events` as known at `known_at`.

    `events` are in seq order; `known_at` bounds recorded_at (None: everything).
    """
    return RevenueBook().absorb(known_by(events, known_at)).view()
