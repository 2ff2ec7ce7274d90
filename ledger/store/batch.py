"""One append batch: the rows of its chunks as the rules admit them, and the results.

`BatchWriter` checks each event of a chunk against what is stored and what the batch has
admitted before it (idempotency keys, event ids, the domain rules), gives it its seq, id,
recorded_at and place in the hash chain, and returns the rows to insert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ledger.canonical import chain_hash, envelope_bytes
from ledger.envelope import NewEvent, StagedEvent
from ledger.errors import ConflictError, InputError
from ledger.ids import EventIds
from ledger.rules import Fact, RuleBook, check_omitted_settings
from ledger.store.facts import SqlFacts
from ledger.store.transaction import (
    COPY_THRESHOLD,
    CopyStream,
    Found,
    Head,
    Row,
    Stored,
    found_rows,
    lookups,
)
from ledger.timeutil import format_instant, utc_now

Progress = Callable[[int], None]
"""Told how many more events of a batch have been checked."""


class Appended(NamedTuple):
    """What one requested append became: a new event, or the original it duplicates.

    Immutable; a named tuple because an import makes one per event.
    """

    seq: int
    event_id: str
    type: str
    stream_id: str
    stream_version: int
    duplicate: bool
    retracted_by: int | None = None
    """For a duplicate whose original a retraction took out since: that retraction's seq (set
    by `ledger.operations.record_event`; an append itself leaves it None)."""

    @classmethod
    def duplicate_of(cls, original: Any) -> Appended:
        """Return the result of an append that found `original` (a stored event: anything
        with its seq, event_id, type, stream_id and stream_version) already recorded."""
        o = original
        return cls(o.seq, o.event_id, o.type, o.stream_id, o.stream_version, True)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of a batch: how many events were new and how many duplicates, the head
    after it, and one `Appended` per request (unless the caller asked for the counts only)."""

    results: list[Appended]
    head: Head
    dry_run: bool
    appended: int
    duplicates: int
    retracted_duplicates: int = 0
    """Of the duplicates, those whose original a retraction has taken out (they do not count)."""
    first_retracted: str | None = None
    """Where the first of those was given ("line 3"), if it was given a place."""
    repeated: int = 0
    """Of the duplicates, those of an event that an earlier request of this batch made (two
    identical lines of one file)."""
    first_repeated: str | None = None
    """Where the first of those was given ("line 4"), if it was given a place."""


class BatchWriter:
    """One append transaction, chunk by chunk: the rows of each chunk, and what carries over.

    Carried over: seq and hash of the last row, the batch's recorded_at, the rule book and the
    results. Each chunk's idempotency keys and event ids are looked up in the database, which
    already holds the earlier chunks' rows (same transaction), and among the chunk's own events;
    in a batch that writes no rows (`holds_own`), among all the batch's events so far.
    """

    def __init__(
        self,
        dbapi: Any,
        backend: str,
        head: Head,
        book: RuleBook,
        progress: Progress | None,
        stream: CopyStream,
        counts_only: bool = False,
        *,
        holds_own: bool = False,
    ) -> None:
        self.dbapi, self.backend, self.book, self.progress = dbapi, backend, book, progress
        self.stream = stream
        self.counts_only = counts_only
        self.appended = self.duplicates = self.retracted_duplicates = 0
        self.first_retracted: str | None = None
        self.repeated = 0
        self.first_repeated: str | None = None
        self.now = format_instant(utc_now())
        self.recorded = max(self.now, head.recorded_at or self.now)
        self.last_recorded = head.recorded_at or ""
        self.seq, self.prev = head.seq, head.hash
        self.first_seq = book.first_new = head.seq + 1
        self.ids = EventIds()
        self.results: list[Appended] = []
        self.requested = 0
        self.own: Found | None = ({}, {}) if holds_own else None
        """With `holds_own` (a batch whose rows are not written: a dry run), the stored events
        found by key and by event id so far, and the batch's own: a later chunk's lookups, which
        do not see the batch's rows, are completed from them."""

    @property
    def head(self) -> Head:
        """Return the head the batch leaves (seq, hash and recorded_at of its last event)."""
        return Head(self.seq, self.prev, self.last_recorded or None)

    def prepare(self, news: Sequence[StagedEvent], found: Found | None = None) -> list[Row]:
        """Admit the events of one chunk; return their rows to insert (raise on any error).

        `found` is what the chunk's idempotency keys and event ids already name in the log
        (see `lookups`), when the caller looked them up already.
        """
        book, progress, results = self.book, self.progress, self.results
        self.requested += len(news)
        if found is None:
            self.stream.close()
            found = found_rows(
                self.dbapi.execute(sql, params).fetchall()
                for sql, params in lookups(self.backend, news)
            )
        by_key, by_id = found
        if self.own is not None:
            self.own[0].update(by_key)
            self.own[1].update(by_id)
            by_key, by_id = self.own
        book.prefetch(n.view for n in news)
        seq, prev, last_recorded = self.seq, self.prev, self.last_recorded
        keep, duplicates = not self.counts_only, 0
        rows: list[Row] = []
        # A large chunk's rows stream into a PostgreSQL COPY as they are made, so the server
        # writes them while the next ones are checked; otherwise they are returned.
        stream = self.stream.write if self.stream.on and len(news) >= COPY_THRESHOLD else None
        for i, n in enumerate(news):
            if progress is not None and i and i % 1000 == 0:
                progress(1000)
            view, pj, eff = n.view, n.payload, n.effective
            typ = view.type
            content = (typ, eff, pj)
            original = _original(n, content, by_key, by_id, self.first_seq)
            if original is not None:
                duplicates += 1
                if original.seq >= self.first_seq:
                    self.repeated += 1
                    self.first_repeated = self.first_repeated or n.where
                if original.event_id in book.retracted:
                    self.retracted_duplicates += 1
                    self.first_retracted = self.first_retracted or n.where
                if keep:
                    results.append(Appended.duplicate_of(original))
                continue
            if n.omitted:
                check_omitted_settings(book.config, n.omitted, n.where)
            seq += 1
            event_id = n.event_id or self.ids.new()
            when, source = self.recorded, n.source
            if n.recorded_at is not None:
                when = _backfilled_at(n, last_recorded, self.now)
                if not source.startswith(BACKFILL_PREFIX):
                    source = BACKFILL_PREFIX + source
            elif source.startswith(BACKFILL_PREFIX):
                raise InputError(
                    f"starts with {BACKFILL_PREFIX!r}, which marks an event whose recorded_at "
                    "came from another system; this one is recorded now",
                    field="source",
                    value=source,
                    has_value=True,
                    where=n.where,
                )
            last_recorded = when
            admitted = book.admit(
                Fact(n.effective_at, seq, event_id, view),
                expected_version=n.expected_version,
                where=n.where,
            )
            stream_id = view.stream_id
            version = n.schema_version
            sv = admitted.stream_version
            key = n.idempotency_key
            h = chain_hash(
                prev,
                envelope_bytes(
                    seq=seq,
                    event_id=event_id,
                    type=typ,
                    schema_version=version,
                    stream_id=stream_id,
                    stream_version=sv,
                    effective_at=eff,
                    recorded_at=when,
                    actor=n.actor,
                    source=source,
                    idempotency_key=key,
                    payload=pj,
                ),
            )
            deal, account = admitted.deal_id, admitted.account_id
            # In the column order of the events table (ROW_COLUMNS).
            row = (
                seq, event_id, typ, version, stream_id, sv, eff, when, n.actor, source, key,
                pj, prev, h, deal, account,
            )  # fmt: skip
            if stream is None:
                rows.append(row)
            else:
                stream(row)
            prev = h
            stored = Stored(
                content, seq, event_id, typ, stream_id, admitted.stream_version, n.where
            )
            if key:
                by_key[key] = stored
            by_id[event_id] = stored
            if keep:
                results.append(
                    Appended(seq, event_id, typ, stream_id, admitted.stream_version, False)
                )
        if progress is not None and news:
            progress(len(news) % 1000 or 1000)
        self.seq, self.prev, self.last_recorded = seq, prev, last_recorded
        self.appended += len(news) - duplicates
        self.duplicates += duplicates
        return rows


def staged(news: Sequence[NewEvent | StagedEvent]) -> list[StagedEvent]:
    """Return the events of one chunk as the batch writer takes them."""
    return [n.staged() if isinstance(n, NewEvent) else n for n in news]


def reading(book: RuleBook | None, dbapi: Any, backend: str, stream: CopyStream) -> RuleBook:
    """Return `book` (a new one if None) reading the log through a new `SqlFacts` on the write
    transaction's driver connection, whose queries first end `stream`'s COPY."""
    facts = SqlFacts(dbapi, backend, before_query=stream.close)
    if book is None:
        book = RuleBook(facts)
    else:
        book.rebind(facts)
    facts.follow_retractions(book.retracted)
    return book


BACKFILL_PREFIX = "backfill:"
"""The mark on the `source` of an event whose recorded_at came from another system."""


def _backfilled_at(n: StagedEvent, last_recorded: str, now: str) -> str:
    """Return the supplied recorded_at of a backfilled event as stored text, if admissible."""
    assert n.recorded_at is not None
    when = format_instant(n.recorded_at)
    if when > now:
        raise InputError(
            f"is in the future (now is {now}); a backfill cannot record what is not yet known",
            field="recorded_at",
            value=when,
            has_value=True,
            where=n.where,
        )
    if when < last_recorded:
        raise InputError(
            f"is before {last_recorded}, the ledger's last recorded_at; a backfill only goes "
            "into a ledger that has recorded nothing later, in non-decreasing order",
            field="recorded_at",
            value=when,
            has_value=True,
            where=n.where,
        )
    return when


def _original(
    n: StagedEvent,
    content: tuple[str, str, str],
    by_key: dict[str, Stored],
    by_id: dict[str, Stored],
    first_seq: int,
) -> Stored | None:
    """Return the stored event `n` duplicates, None if it is new; raise on a conflict.

    `first_seq` is the first seq of this batch: an event at or after it is one of the batch's
    own, named by where it was given rather than by a seq that no commit has made real yet.
    """
    found: Stored | None = None
    if n.idempotency_key and n.idempotency_key in by_key:
        found = by_key[n.idempotency_key]
        if found.content != content:
            raise ConflictError(
                f"idempotency key '{n.idempotency_key}' was already used by "
                f"{_named(found, first_seq)} with different content",
                where=n.where,
                key=n.idempotency_key,
            )
    if n.event_id and n.event_id in by_id:
        same = by_id[n.event_id]
        if same.content != content:
            raise ConflictError(
                f"event_id {n.event_id} already belongs to {_named(same, first_seq)} with "
                "different content",
                where=n.where,
            )
        found = found or same
    if found is None and n.alternates:
        # The line imported before, when the ledger read its time in another zone: by an
        # earlier import, never another line of this batch (an event of its own at that time).
        found = next(
            (by_key[key] for key in n.alternates if key in by_key and by_key[key].seq < first_seq),
            None,
        )
    return found


def _named(stored: Stored, first_seq: int) -> str:
    """Return how a message names `stored`: by its seq in the log, or as an event the same
    batch gave before (its place, "line 3", when known)."""
    if stored.seq < first_seq:
        return f"event seq {stored.seq}"
    if stored.where:
        return f"{stored.where} of this import"
    return "an earlier event of this import"
