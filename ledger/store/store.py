"""The event store: append (single, batch, restore), read back in order, and the log head.

Every write runs in one transaction that first takes the ledger's write lock (BEGIN IMMEDIATE on
SQLite, a SHARE ROW EXCLUSIVE table lock on PostgreSQL), so `seq` is gapless and its order is
commit order under any number of concurrent writers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Select, and_, or_, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from ledger.canonical import (
    GENESIS_HASH,
    chain_hash,
    envelope_bytes,
)
from ledger.envelope import NewEvent, RecordedEvent, StagedEvent, StoredPayload
from ledger.errors import ConflictError, InputError, StorageError
from ledger.events import LedgerConfigured, decode_payload
from ledger.gc_pause import gc_paused
from ledger.ids import EventIds
from ledger.rules import Fact, RuleBook
from ledger.store.checkpoints import (
    Checkpoint,
    drop_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from ledger.store.codec import SELECT_ORDER, rows_to_events
from ledger.store.engine import (
    WRITE_OPTION,
    database_reason,
    driver_connection,
    make_engine,
    resolve_url,
    shown,
    sqlite_path,
)
from ledger.store.facts import MARKS, SqlFacts, chunks, one_of
from ledger.store.schema import (
    ROW_COLUMNS,
    create_schema,
    events,
    migrate,
    stored_version,
    up_to_date,
)
from ledger.timeutil import format_instant, read_instant, utc_now

COPY_THRESHOLD = 2000
WARM_BATCH = 1000
"""Batches up to this size leave their rule state warm for the next append (see `_warm`)."""
WARM_SIZE = 200_000
"""A warm rule state larger than this (`RuleBook.size`) is dropped rather than kept."""
RULE_STATE_FACTS = 500_000
"""A long batch whose rule state holds more facts than this sheds its least recently used
streams down to four fifths of it between two chunks (`RuleBook.shed`); they are read again
from the rows written when an event needs them. Without it the state would hold every event of
the batch, about 0.85 KB each (its `RuleView` and `Fact`, and the book's index entries): a
million-event import peaked at 1.03 GiB; with it, at 0.65 GiB in the same time (51 s into
SQLite). Shedding at 250,000 facts took 0.47 GiB and 25 % longer."""
RESTORE_CHUNK = 10_000
"""Envelopes of an export checked and written at a time by `LedgerStore.restore`."""
DECODE_SLICE = 128
"""Events decoded at a time by `read`: the objects of a small slice are made, handed over and
mostly freed again before the garbage collector's next young-generation pass has to walk them
(whole fetched batches read back 5-8% slower)."""
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of the log: its seq, hash and recorded_at (seq 0 for an empty log)."""

    seq: int
    hash: str
    recorded_at: str | None


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


class _Stored(NamedTuple):
    # The business content (type, effective_at, payload JSON). Comparing it is comparing the
    # content digest of `canonical.content_digest`, without hashing every event of a batch.
    content: tuple[str, str, str]
    seq: int
    event_id: str
    type: str
    stream_id: str
    stream_version: int


class LedgerStore:
    """An open ledger database."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        # The rule state after this store's last committed append, and the head it left. An
        # append that finds the same head under the write lock knows nothing was written since,
        # so the state is still exact and only what it lacks is read from the database.
        self._warm: tuple[Head, RuleBook] | None = None
        # The pool's connection that appends run on: taken at the first append and kept until
        # `close` (taking one from the pool and giving it back cost about 25 µs, a tenth of a
        # single append on SQLite). Appends from threads sharing this store take turns on it.
        self._writer: Any = None
        self._writer_lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, db: str, *, create: bool = False) -> LedgerStore:
        """Open the ledger at `db` (a SQLite path or SQLAlchemy URL); create it if `create`.

        Raises StorageError when there is no ledger there (and `create` is false), when the
        database cannot be reached, or when its schema is newer than this release.
        """
        url = resolve_url(db)
        path = sqlite_path(url)
        if path is not None and not create and not os.path.exists(path):
            raise StorageError(
                f"there is no ledger at {shown(db)}; run `revledger init` or point --db at one"
            )
        if path is not None and create:
            parent = os.path.dirname(path)
            if parent and not os.path.isdir(parent):
                raise StorageError(f"cannot create {shown(db)}: the folder {parent} does not exist")
        store = cls(make_engine(url), url)
        try:
            # A ledger at this release's schema version opens in a read transaction, so that a
            # command never waits for another process's long write (an import, say). Creating
            # or migrating the schema takes the write lock, and looks again under it.
            with store._read() as conn:
                found = stored_version(conn)
            if found is None and not create:
                raise StorageError(f"{shown(db)} is not a revledger ledger")
            if not up_to_date(found):
                with store._write() as conn:
                    found = stored_version(conn)
                    if found is None:
                        _refuse_foreign(conn, db)
                        create_schema(conn)
                    else:
                        migrate(conn, found)
        except (OperationalError, DBAPIError, store.engine.dialect.loaded_dbapi.Error) as exc:
            store.close()
            raise StorageError(
                f"cannot open the database {shown(db)}: {database_reason(exc)}"
            ) from exc
        except StorageError:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the database connections."""
        with self._writer_lock:
            self._release_writer()
        self.engine.dispose()

    def _release_writer(self) -> None:
        """Give the kept write connection back to the pool (which resets or discards it)."""
        fairy, self._writer = self._writer, None
        if fairy is not None:
            fairy.close()

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """Return 'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        conn_ = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        with conn_ as conn, conn.begin():
            if conn.dialect.name == "postgresql" and _has_events(conn):
                driver_connection(conn).execute(_LOCK_SQL)
            yield conn

    @contextmanager
    def _driver_write(self) -> Iterator[Any]:
        """Yield a driver connection for one write transaction (see `_begin` and `_finish`).

        An append runs on the driver connection this store keeps for its appends (taken from
        SQLAlchemy's pool at the first), without SQLAlchemy's connection and transaction
        objects around it: for a single append they cost more than the statements it runs. On
        an exception the transaction is rolled back, and a database failure becomes a
        StorageError; a connection left in a transaction, or that failed, goes back to the
        pool, and the next append takes another.
        """
        backend = self.backend
        with self._writer_lock:
            if self._writer is None:
                self._writer = self.engine.raw_connection()
            dbapi: Any = self._writer.driver_connection
            if backend == "postgresql":
                # The transaction is opened and ended by statements of our own (see `_begin`),
                # so that its first statements go out as one script: psycopg, left to itself,
                # sends its BEGIN alone first, one more round trip.
                dbapi.autocommit = True
            drop = False
            try:
                yield dbapi
            except BaseException as exc:
                _rollback(dbapi, backend)
                if isinstance(exc, self.engine.dialect.loaded_dbapi.Error):
                    drop = True
                    raise StorageError(f"database error: {database_reason(exc)}") from exc
                drop = _in_transaction(dbapi, backend)
                raise
            finally:
                if backend == "postgresql":
                    # Between appends the connection is as the pool hands it out, should it go
                    # back unannounced (a store dropped without `close`).
                    with suppress(Exception):  # a broken connection: the pool discards it
                        dbapi.autocommit = False
                if drop:
                    self._release_writer()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- head and configuration ----------------------------------------------------------------
    def head(self) -> Head:
        """Return the last event's seq, hash and recorded_at (transaction time)."""
        with self._read() as conn:
            return _head(driver_connection(conn))

    def config(self, known_at: datetime | None = None) -> LedgerConfigured | None:
        """Return the configuration in force as known at `known_at` (default: now)."""
        with self._read() as conn:
            q = select(*[events.c[c] for c in SELECT_ORDER]).where(
                events.c.type.in_(("ledger_configured", "event_retracted"))
            )
            if known_at is not None:
                q = q.where(events.c.recorded_at <= format_instant(known_at))
            rows = rows_to_events(list(conn.execute(q.order_by(events.c.seq))))
        retracted = {
            getattr(r.payload, "retracts", None) for r in rows if r.type == "event_retracted"
        }
        configs = [r for r in rows if r.type == "ledger_configured" and r.event_id not in retracted]
        return configs[-1].payload if configs else None  # type: ignore[return-value]

    def head_known_at(self, known_at: datetime) -> Head:
        """Return the last event recorded at or before `known_at` (the head of that view)."""
        with self._read() as conn:
            row = conn.execute(
                select(events.c.seq, events.c.hash, events.c.recorded_at)
                .where(events.c.recorded_at <= format_instant(known_at))
                .order_by(events.c.seq.desc())
                .limit(1)
            ).first()
        if row is None:
            return Head(0, GENESIS_HASH, None)
        return Head(int(row[0]), row[1], row[2])

    def event_with_key(self, idempotency_key: str) -> RecordedEvent | None:
        """Return the stored event appended with `idempotency_key`, if there is one."""
        with self._read() as conn:
            rows = conn.execute(
                select(*[events.c[c] for c in SELECT_ORDER]).where(
                    events.c.idempotency_key == idempotency_key
                )
            ).all()
        found = rows_to_events([tuple(r) for r in rows])
        return found[0] if found else None

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Return the read-model checkpoint `name` if it still matches the log."""
        return load_checkpoint(self.engine, name)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Persist a read-model checkpoint (kept only if it covers more than the stored one)."""
        save_checkpoint(self.engine, checkpoint)

    def drop_checkpoints(self) -> int:
        """Delete all read-model checkpoints; return how many there were."""
        return drop_checkpoints(self.engine)

    def count(self) -> int:
        """Return the number of events in the log."""
        return self.head().seq

    # -- appending -----------------------------------------------------------------------------
    def append(self, new: NewEvent) -> Appended:
        """Append one event (or return the original it duplicates by idempotency key)."""
        return self.append_batch([new]).results[0]

    def append_batch(
        self,
        news: Sequence[NewEvent],
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Append every event of `news` in one transaction, or none of them.

        Each event is validated against the stored state plus the events before it in the
        batch. All events of a batch share one recorded_at (transaction time), except backfilled
        events: those that supply their own `recorded_at` (history from another system) keep
        it, provided it is not in the future, not before the log's last recorded_at and not
        before the previous event's; their `source` is marked with the prefix `backfill:`.
        With `dry_run` everything is checked and nothing is written.
        """
        return self.append_chunks([news], dry_run=dry_run, progress=progress)

    def append_chunks(
        self,
        chunks_: Iterable[Sequence[NewEvent | StagedEvent]],
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        counts_only: bool = False,
    ) -> BatchResult:
        """Append the events of every chunk as one batch (see `append_batch`): all or none.

        The chunks are taken one at a time, and each is written (inside the one transaction)
        before the next is asked for, so a long import never holds all its events and rows at
        once. A dry run writes them too, then rolls everything back, so it finds exactly what
        the real run would (a line repeating one many chunks before it, say). With
        `counts_only` the result holds no `Appended` per event (a million of them take about
        150 MB), only the counts.
        """
        warm, self._warm = self._warm, None
        backend = self.backend
        pending = (_staged(chunk) for chunk in chunks_)
        first = next(pending, [])
        with (
            gc_paused(),
            self._driver_write() as dbapi,
            _CopyStream(dbapi, backend) as stream,
        ):
            head, found = _begin(dbapi, backend, first)
            kept = warm[1] if warm is not None and warm[0] == head else None
            book = _reading(kept, dbapi, backend, stream)
            writer = _BatchWriter(dbapi, backend, head, book, progress, stream, counts_only)
            # Each chunk's rows are written before the next chunk is checked (its lookups must
            # see them); the last chunk's rows go with the commit.
            rows = writer.prepare(first, found)
            analysed = 0  # rows this transaction had written when it last analysed the table
            for chunk in pending:
                stream.close()
                _insert(dbapi, backend, rows)
                written = writer.seq - head.seq
                if backend == "postgresql" and written >= max(1, 2 * analysed):
                    if not analysed:
                        dbapi.execute(_SAMPLE)
                    dbapi.execute(_ANALYZE)
                    analysed = written
                if book.facts_held > RULE_STATE_FACTS:
                    # Every row so far is written, so what the book forgets can be read again;
                    # a new reader, as the old one's cache knew old versions of those streams.
                    book.shed(RULE_STATE_FACTS * 4 // 5)
                    _reading(book, dbapi, backend, stream)
                rows = writer.prepare(chunk)
            stream.close()
            _finish(dbapi, backend, rows, commit=not dry_run)
            if not dry_run and writer.requested <= WARM_BATCH and book.size <= WARM_SIZE:
                self._warm = (writer.head, book)
        return BatchResult(writer.results, writer.head, dry_run, writer.appended, writer.duplicates)

    # -- reading -------------------------------------------------------------------------------
    def read(
        self,
        *,
        known_at: datetime | None = None,
        after_seq: int = 0,
        upto_seq: int | None = None,
        stream_id: str | None = None,
        deal_id: str | None = None,
        account_id: str | None = None,
        types: Sequence[str] | None = None,
        types_with_field: Mapping[str, str] | None = None,
        effective_from: datetime | None = None,
        effective_before: datetime | None = None,
        most_types: bool = False,
        batch: int = 2_000,
    ) -> Iterator[RecordedEvent]:
        """Yield typed events in seq order, filtered; `known_at` bounds recorded_at (inclusive).

        `effective_from` (inclusive) and `effective_before` (exclusive) bound valid time;
        `types` and `types_with_field` (type -> payload field it must have) select types.
        `most_types` says the types make up much of the log: the read then walks the seq range
        instead of gathering the rows from the type index and sorting them back into order.
        """
        q = _filtered(
            select(*[events.c[c] for c in SELECT_ORDER]),
            after_seq=after_seq,
            upto_seq=upto_seq,
            known_at=known_at,
            stream_id=stream_id,
            deal_id=deal_id,
            account_id=account_id,
            types=types,
            types_with_field=types_with_field,
            effective_from=effective_from,
            effective_before=effective_before,
            in_seq_order=most_types,
        )
        for partition in self._partitions(q.order_by(events.c.seq), batch):
            for i in range(0, len(partition), DECODE_SLICE):
                yield from rows_to_events(partition[i : i + DECODE_SLICE])

    def read_stored(
        self,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        types: Sequence[str] | None = None,
        types_with_field: Mapping[str, str] | None = None,
        deal_ids: Collection[str] | None = None,
        deals_with: tuple[str, Collection[str]] | None = None,
        batch: int = 10_000,
    ) -> Iterator[StoredPayload]:
        """Yield (seq, event_id, type, schema_version, effective_at, payload) in seq order.

        The payload is the stored canonical JSON text and effective_at the stored instant text
        (valid time), not decoded: for read models that need a few fields of many events.
        Payloads were validated at append and are covered by the hash chain (`verify`).
        `deal_ids` keeps only those deals' events; `deals_with` = (type, gated types) keeps the
        events of the gated types only for deals that have an event of that type at or before
        `upto_seq`.
        """
        q = _filtered(
            select(*[events.c[c] for c in STORED_PAYLOAD_COLUMNS]),
            after_seq=after_seq,
            upto_seq=upto_seq,
            types=types,
            types_with_field=types_with_field,
            in_seq_order=True,
        )
        if deal_ids is not None:
            q = q.where(events.c.deal_id.in_(list(deal_ids)))
        if deals_with is not None:
            gate, gated = deals_with
            having = select(_GATE.c.deal_id).where(_GATE.c.type == gate)
            if upto_seq is not None:
                having = having.where(_GATE.c.seq <= upto_seq)
            q = q.where(or_((events.c.type + "").not_in(list(gated)), events.c.deal_id.in_(having)))
        yield from self._stream(q.order_by(events.c.seq), batch)

    def deals_with(self, type_name: str, *, after_seq: int = 0, upto_seq: int) -> set[str]:
        """Return the deal ids of the events of type `type_name` in the seq range
        (`after_seq`, `upto_seq`]."""
        q = (
            select(events.c.deal_id)
            .distinct()
            .where(events.c.type == type_name, events.c.deal_id.is_not(None))
            .where(events.c.seq > after_seq, events.c.seq <= upto_seq)
        )
        with self.engine.connect() as conn:
            return {deal for (deal,) in conn.execute(q)}

    def raw_rows(self, *, batch: int = 10_000) -> Iterator[dict[str, Any]]:
        """Yield every stored envelope as a mapping of SELECT_ORDER columns, in seq order."""
        q = select(*[events.c[c] for c in SELECT_ORDER]).order_by(events.c.seq)
        for row in self._stream(q, batch):
            yield dict(zip(SELECT_ORDER, row, strict=True))

    def _stream(self, q: Select[Any], batch: int) -> Iterator[Any]:
        for partition in self._partitions(q, batch):
            yield from partition

    def _partitions(self, q: Select[Any], batch: int) -> Iterator[Sequence[Any]]:
        """Yield the rows of `q` as lists of up to `batch` plain tuples.

        The rows come straight from the driver (SQLAlchemy's result rows cost a tenth of a full
        read-back; no events column has a result processor). PostgreSQL reads through a
        server-side cursor, fetching the next batch while the caller works on this one.
        """
        with self.engine.connect() as conn:
            conn.begin()
            sql, params = _driver_sql(q, conn)
            driver = driver_connection(conn)
            if conn.dialect.name == "sqlite":
                cursor = driver.execute(sql, params)
                while rows := cursor.fetchmany(batch):
                    yield rows
                return
            with driver.cursor(name="revledger_read") as cursor:
                cursor.execute(sql, params)
                yield from _read_ahead(iter(partial(cursor.fetchmany, batch), []))

    def index_rows(self, *, batch: int = 10_000) -> Iterator[tuple[int, str | None, str | None]]:
        """Yield (seq, deal_id, account_id) index columns in seq order (for `verify`)."""
        q = select(events.c.seq, events.c.deal_id, events.c.account_id).order_by(events.c.seq)
        for row in self._stream(q, batch):
            yield row[0], row[1], row[2]

    def restore(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> Head:
        """Insert exported envelopes verbatim into an empty ledger, checking the chain as they
        come: every one, or none.

        `rows` pairs a location (for messages) with an envelope mapping; it is taken
        `RESTORE_CHUNK` at a time, each checked and written inside the one transaction, so a
        large export is never all in memory. Raises ConflictError if the ledger is not empty
        and IntegrityError/InputError on a bad row (and then nothing is written).
        """
        from ledger.store.verify import check_restore_rows

        with gc_paused(), self._write() as conn:
            dbapi, backend = driver_connection(conn), conn.dialect.name
            if _head(dbapi).seq != 0:
                raise ConflictError(
                    "restore needs an empty ledger: this one already has events "
                    "(restore into a new --db without running init)"
                )
            checked = check_restore_rows(rows)
            while chunk := list(islice(checked, RESTORE_CHUNK)):
                _insert(dbapi, backend, [_row_values(r) for r in chunk])
            return _head(dbapi)


class _CopyStream:
    """Rows written into a PostgreSQL COPY as they are made (on other backends: off).

    The server inserts what it has received while the caller makes the next rows. The COPY is
    opened by the first row and must be closed (`close`, which waits for the server to finish)
    before the connection runs any other statement; a row after that opens a new COPY. On an
    exception the COPY is ended with an error, so the server discards it.
    """

    def __init__(self, dbapi: Any, backend: str) -> None:
        self._dbapi = dbapi
        self.on = backend == "postgresql"
        self._cursor: Any = None
        self._open: Any = None  # the context manager of the open COPY
        self._copy: Any = None

    def write(self, row: Row) -> None:
        """Send one row (in `ROW_COLUMNS` order), opening a COPY if none is open."""
        if self._copy is None:
            self._cursor = self._dbapi.cursor()
            self._open = self._cursor.copy(_COPY_SQL)
            self._copy = self._open.__enter__()
        self._copy.write_row(row)

    def close(self, exc: BaseException | None = None) -> None:
        """End the open COPY, if any: when the server has written every row (or, given `exc`,
        discarded them)."""
        opened, cursor = self._open, self._cursor
        self._open = self._copy = self._cursor = None
        if opened is not None:
            try:
                opened.__exit__(type(exc) if exc else None, exc, None)
            finally:
                cursor.close()

    def __enter__(self) -> _CopyStream:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, _tb: object) -> None:
        if exc is None:
            self.close()
        else:
            with suppress(Exception):  # the caller's error is the one to report
                self.close(exc)


class _BatchWriter:
    """One append transaction, chunk by chunk: the rows of each chunk, and what carries over.

    Carried over: seq and hash of the last row, the batch's recorded_at, the rule book and the
    results. Each chunk's idempotency keys and event ids are looked up in the database, which
    already holds the earlier chunks' rows (same transaction), and among the chunk's own events.
    """

    def __init__(
        self,
        dbapi: Any,
        backend: str,
        head: Head,
        book: RuleBook,
        progress: Progress | None,
        stream: _CopyStream,
        counts_only: bool = False,
    ) -> None:
        self.dbapi, self.backend, self.book, self.progress = dbapi, backend, book, progress
        self.stream = stream
        self.counts_only = counts_only
        self.appended = self.duplicates = 0
        self.now = format_instant(utc_now())
        self.recorded = max(self.now, head.recorded_at or self.now)
        self.last_recorded = head.recorded_at or ""
        self.seq, self.prev = head.seq, head.hash
        self.ids = EventIds()
        self.results: list[Appended] = []
        self.requested = 0

    @property
    def head(self) -> Head:
        """Return the head the batch leaves (seq, hash and recorded_at of its last event)."""
        return Head(self.seq, self.prev, self.last_recorded or None)

    def prepare(self, news: Sequence[StagedEvent], found: Found | None = None) -> list[Row]:
        """Admit the events of one chunk; return their rows to insert (raise on any error).

        `found` is what the chunk's idempotency keys and event ids already name in the log
        (see `_lookups`), when the caller looked them up already.
        """
        book, progress, results = self.book, self.progress, self.results
        self.requested += len(news)
        if found is None:
            self.stream.close()
            found = _found(
                self.dbapi.execute(sql, params).fetchall()
                for sql, params in _lookups(self.backend, news)
            )
        by_key, by_id = found
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
            original = _original(n, content, by_key, by_id)
            if original is not None:
                duplicates += 1
                if keep:
                    results.append(Appended.duplicate_of(original))
                continue
            seq += 1
            event_id = n.event_id or self.ids.new()
            when, source = self.recorded, n.source
            if n.recorded_at is not None:
                when = _backfilled_at(n, last_recorded, self.now)
                if not source.startswith(BACKFILL_PREFIX):
                    source = BACKFILL_PREFIX + source
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
            stored = _Stored(content, seq, event_id, typ, stream_id, admitted.stream_version)
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


STORED_PAYLOAD_COLUMNS = ("seq", "event_id", "type", "schema_version", "effective_at", "payload")
_GATE = events.alias("gate")


def _staged(news: Sequence[NewEvent | StagedEvent]) -> list[StagedEvent]:
    """Return the events of one chunk as the batch writer takes them."""
    return [n.staged() if isinstance(n, NewEvent) else n for n in news]


def _reading(book: RuleBook | None, dbapi: Any, backend: str, stream: _CopyStream) -> RuleBook:
    """Return `book` (a new one if None) reading the log through a new `SqlFacts` on the write
    transaction's driver connection, whose queries first end `stream`'s COPY."""
    facts = SqlFacts(dbapi, backend, before_query=stream.close)
    if book is None:
        book = RuleBook(facts)
    else:
        book.rebind(facts)
    facts.follow_retractions(book.retracted)
    return book


def _read_ahead(parts: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """Yield `parts`, fetching each next one in a thread while the caller works on this one.

    For PostgreSQL, where a fetch mostly waits on the server (with the GIL released), so a
    long read's server time overlaps the caller's decoding. One fetch runs at a time, so the
    connection is never used by two threads at once; if the caller stops early, the fetch
    under way finishes before the connection is given back.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="revledger-read") as fetcher:
        pending = fetcher.submit(next, parts, None)
        while (part := pending.result()) is not None:
            pending = fetcher.submit(next, parts, None)
            yield part


def _driver_sql(q: Select[Any], conn: Connection) -> tuple[str, Any]:
    """Return `q` as SQL text and parameters for `conn`'s driver (a list for positional
    parameter marks, a mapping for named ones)."""
    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        return str(compiled), [params[name] for name in compiled.positiontup]
    return str(compiled), params


def _filtered(
    q: Select[Any],
    *,
    after_seq: int = 0,
    upto_seq: int | None = None,
    known_at: datetime | None = None,
    stream_id: str | None = None,
    deal_id: str | None = None,
    account_id: str | None = None,
    types: Sequence[str] | None = None,
    types_with_field: Mapping[str, str] | None = None,
    effective_from: datetime | None = None,
    effective_before: datetime | None = None,
    in_seq_order: bool = False,
) -> Select[Any]:
    """Return `q` restricted by the filters of `LedgerStore.read`.

    With `in_seq_order` the type filter is kept off the type index (`type || ''` is the same
    value): for a read of a large share of the log, walking the seq range and filtering is
    faster than gathering rows from the index and sorting them back into seq order.
    """
    q = q.where(events.c.seq > after_seq)
    if upto_seq is not None:
        q = q.where(events.c.seq <= upto_seq)
    if known_at is not None:
        q = q.where(events.c.recorded_at <= format_instant(known_at))
    if stream_id is not None:
        q = q.where(events.c.stream_id == stream_id)
    if deal_id is not None:
        q = q.where(events.c.deal_id == deal_id)
    if account_id is not None:
        q = q.where(events.c.account_id == account_id)
    if types or types_with_field:
        # `types_with_field` adds events of a type only when their payload has that field;
        # the canonical payload encoding writes every key as `"name":`, so this is exact.
        type_ = events.c.type + "" if in_seq_order else events.c.type
        wanted: list[ColumnElement[bool]] = [type_.in_(list(types or ()))]
        wanted += [
            and_(type_ == t, events.c.payload.like(f'%"{name}":%'))
            for t, name in (types_with_field or {}).items()
        ]
        q = q.where(or_(*wanted))
    if effective_from is not None:
        q = q.where(events.c.effective_at >= format_instant(effective_from))
    if effective_before is not None:
        q = q.where(events.c.effective_at < format_instant(effective_before))
    return q


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


def _refuse_foreign(conn: Connection, db: str) -> None:
    """Raise StorageError when the SQLite database a new ledger would go into holds tables of
    something else: a ledger gets a file of its own. (A PostgreSQL schema may be shared.)"""
    if conn.dialect.name != "sqlite":
        return
    from sqlalchemy import inspect

    names = sorted(inspect(conn).get_table_names())
    if names:
        raise StorageError(
            f"{shown(db)} is a database of something else (it holds tables "
            f"{', '.join(names[:3])}{', …' if len(names) > 3 else ''}); give the ledger a new file"
        )


def _has_events(conn: Connection) -> bool:
    from sqlalchemy import inspect

    return inspect(conn).has_table("events")


# Statements of the append path, built once (see `ledger.store.facts`).
_LOCK_SQL = "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"
_ANALYZE = "ANALYZE events (stream_id, idempotency_key, event_id, account_id, type)"
"""Run between the chunks of a long batch on PostgreSQL, whenever the rows the batch has written
have doubled since the last time: statistics that count the rows this transaction wrote (ANALYZE
samples its own uncommitted rows). Without them the planner takes the events table for the size
it last analysed, and the next chunk's stream lookups (of hundreds of ids each) become full
scans of a table that grows with every chunk. Doubling keeps the estimate within a factor of
two of the truth at a logarithmic number of ANALYZEs (ten for a million rows in chunks of ten
thousand). Only the columns that the append's lookups and facts queries filter on are analysed:
the wide ones (payload, hashes, source) cost as much again to sample, and the autovacuum
daemon analyses the whole table after the commit."""
_SAMPLE = "SET LOCAL default_statistics_target = 10"
"""Set before the first of those ANALYZEs, for the rest of the transaction: each then samples
3,000 rows instead of 30,000 (13 ms instead of 125 ms at 100k rows). The lookups need only the
table's size and whether a column is unique or how many distinct values it holds, which such a
sample tells as well; the autovacuum daemon's ANALYZE after the commit keeps the full target."""
# The statements every append makes, as plain SQL for the driver (see `_driver_write`): through
# SQLAlchemy's execution each cost ten to twenty times the statement itself on SQLite (16 µs
# against 1.5 µs for the head). A lookup's rows start with the name of the column that matched.
_HEAD_SQL = "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1"
_STORED_BY_SQL = (
    "SELECT '{column}', {column}, type, effective_at, payload, seq, event_id, stream_id, "
    "stream_version FROM events WHERE {where}"
)


def _head(dbapi: Any) -> Head:
    """Return the head of the log, read on a driver connection."""
    return _as_head(dbapi.execute(_HEAD_SQL).fetchone())


def _as_head(row: Sequence[Any] | None) -> Head:
    """Return the head a `_HEAD_SQL` row describes (None: the log is empty)."""
    if row is None:
        return Head(0, GENESIS_HASH, None)
    return Head(int(row[0]), row[1], row[2])


def _in_transaction(dbapi: Any, backend: str) -> bool:
    """True when the driver connection is not idle outside a transaction (or cannot tell)."""
    try:
        if backend == "postgresql":
            from psycopg.pq import TransactionStatus

            return dbapi.info.transaction_status != TransactionStatus.IDLE  # type: ignore[no-any-return]
        return dbapi.in_transaction  # type: ignore[no-any-return]
    except Exception:  # a broken connection
        return True


def _rollback(dbapi: Any, backend: str) -> None:
    """Roll back the driver connection's transaction, if it still has one."""
    with suppress(Exception):  # a broken connection: the pool discards it
        if backend == "postgresql":
            dbapi.execute("ROLLBACK")
        else:
            dbapi.rollback()


Found = tuple[dict[str, "_Stored"], dict[str, "_Stored"]]
"""The stored events a chunk's idempotency keys and event ids name: (by key, by event id)."""


def _lookups(backend: str, news: Sequence[StagedEvent]) -> list[tuple[str, list[Any]]]:
    """Return the statements (SQL, parameters) finding the stored events that the idempotency
    keys and event ids of `news` name; each row starts with the column that matched."""
    out: list[tuple[str, list[Any]]] = []
    for column, values in (
        ("idempotency_key", {n.idempotency_key for n in news if n.idempotency_key}),
        ("event_id", {n.event_id for n in news if n.event_id}),
    ):
        for chunk in chunks(values):
            where, params = one_of(backend, column, chunk)
            out.append((_STORED_BY_SQL.format(column=column, where=where), params))
    return out


def _found(results: Iterable[list[Any]]) -> Found:
    """Return the rows of `_lookups`' statements as (by idempotency key, by event id)."""
    by_key: dict[str, _Stored] = {}
    by_id: dict[str, _Stored] = {}
    for rows in results:
        for column, value, typ, eff, payload, seq, eid, stream, sver in rows:
            found = by_key if column == "idempotency_key" else by_id
            found[value] = _Stored((typ, eff, payload), seq, eid, typ, stream, sver)
    return by_key, by_id


SCRIPT_LOOKUPS = 20
"""A batch of at most this many events looks up its idempotency keys and event ids in the same
round trip as the lock and the head, on PostgreSQL (see `_begin`)."""


def _begin(dbapi: Any, backend: str, news: Sequence[StagedEvent]) -> tuple[Head, Found | None]:
    """Open the write transaction on a driver connection: take the ledger's write lock, read
    the head, and (for a small first chunk `news`) look up its keys and event ids.

    On PostgreSQL these statements, with BEGIN, go out as one script in one round trip (the
    simple query protocol, so the looked-up values are written into it as literals, see
    `_script`). Returns the head and what the lookups found (None when they are left to
    `_BatchWriter.prepare`).
    """
    lookups = _lookups(backend, news) if len(news) <= SCRIPT_LOOKUPS else None
    statements = [(_HEAD_SQL, []), *(lookups or ())]
    if backend == "postgresql":
        cursor = dbapi.execute(_script(dbapi, [("BEGIN", []), (_LOCK_SQL, []), *statements]))
        cursor.nextset()  # past BEGIN and LOCK TABLE, to the head
        results = []
        while cursor.nextset():
            results.append(cursor.fetchall())
    else:
        dbapi.execute("BEGIN IMMEDIATE")
        results = [dbapi.execute(sql, params).fetchall() for sql, params in statements]
    head = _as_head(results[0][0] if results[0] else None)
    return head, (_found(results[1:]) if lookups is not None else None)


def _script(dbapi: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> bytes:
    """Return PostgreSQL statements (with `%s` marks) as one script, their parameters written in
    as literals: text quoted and escaped by libpq (`PQescapeLiteral`), integers as numbers."""
    from psycopg.pq import Escaping

    quote = Escaping(dbapi.pgconn).escape_literal
    encoding = dbapi.info.encoding
    out: list[bytes] = []
    for sql, params in statements:
        parts = sql.split("%s")
        out.append(parts[0].encode(encoding))
        for value, part in zip(params, parts[1:], strict=True):
            if value is None:
                out.append(b"NULL")
            elif type(value) is int:
                out.append(str(value).encode())
            else:
                out.append(_literal_text(quote, value, encoding))
            out.append(part.encode(encoding))
        out.append(b"; ")
    return b"".join(out)


def _literal_text(quote: Callable[[bytes], bytes], value: str, encoding: str) -> bytes:
    """Return `value` as a quoted PostgreSQL string literal."""
    text_ = value.encode(encoding)
    if b"\0" in text_:  # libpq would stop quoting there; psycopg refuses it too
        from psycopg import DataError

        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return quote(text_)


def _finish(dbapi: Any, backend: str, rows: list[Row], *, commit: bool) -> None:
    """Write the last rows of a write transaction, then commit it (or roll it back).

    On PostgreSQL a single row's INSERT and the COMMIT go out as one script, in one round trip.
    """
    if backend == "postgresql" and commit and len(rows) == 1:
        dbapi.execute(_script(dbapi, [(_INSERT_SQL[backend], rows[0]), ("COMMIT", [])]))
        return
    _insert(dbapi, backend, rows)
    if backend == "postgresql":
        dbapi.execute("COMMIT" if commit else "ROLLBACK")
    elif commit:
        dbapi.commit()
    else:
        dbapi.rollback()


def _original(
    n: StagedEvent,
    content: tuple[str, str, str],
    by_key: dict[str, _Stored],
    by_id: dict[str, _Stored],
) -> _Stored | None:
    """Return the stored event `n` duplicates, None if it is new; raise on a conflict."""
    found: _Stored | None = None
    if n.idempotency_key and n.idempotency_key in by_key:
        found = by_key[n.idempotency_key]
        if found.content != content:
            raise ConflictError(
                f"idempotency key '{n.idempotency_key}' was already used by event seq "
                f"{found.seq} with different content",
                where=n.where,
            )
    if n.event_id and n.event_id in by_id:
        same = by_id[n.event_id]
        if same.content != content:
            raise ConflictError(
                f"event_id {n.event_id} already exists (seq {same.seq}) with different content",
                where=n.where,
            )
        found = found or same
    return found


Row = tuple[Any, ...]
"""An events row as inserted: its values in `ROW_COLUMNS` order."""

_row_values = itemgetter(*ROW_COLUMNS)
_INSERT_SQL = {
    dialect: f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join([mark] * len(ROW_COLUMNS))})"
    for dialect, mark in MARKS.items()
}


def _insert(dbapi: Any, backend: str, rows: list[Row]) -> None:
    """Insert `rows` on a driver connection, in its current transaction."""
    if not rows:
        return
    if backend == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_rows(dbapi, rows)
        return
    if len(rows) == 1:  # a single append
        dbapi.execute(_INSERT_SQL[backend], rows[0])
        return
    # Positional rows straight to the driver: SQLAlchemy's per-row parameter handling was a
    # large share of a bulk import, and no events column has a bind processor. (psycopg sends
    # an executemany's statements pipelined; each holds one row, far below the size at which
    # a pipeline can stall on a full socket buffer.)
    if backend == "sqlite":
        for chunk in chunks(rows, 5000):
            dbapi.executemany(_INSERT_SQL[backend], chunk)
        return
    with dbapi.cursor() as cursor:
        for chunk in chunks(rows, 5000):
            cursor.executemany(_INSERT_SQL[backend], chunk)


_COPY_SQL = f"COPY events ({', '.join(ROW_COLUMNS)}) FROM STDIN"


def _copy_rows(dbapi: Any, rows: list[Row]) -> None:
    """Insert with PostgreSQL COPY, in the current transaction (fastest bulk path)."""
    with _CopyStream(dbapi, "postgresql") as stream:
        for r in rows:
            stream.write(r)


__all__ = [
    "Appended",
    "BatchResult",
    "Head",
    "LedgerStore",
    "decode_payload",
    "read_instant",
]
