"""The event store: append (single, batch, restore), read back in order, and the log head.

Every write runs in one transaction that first takes the ledger's write lock (BEGIN IMMEDIATE on
SQLite, an advisory lock keyed by the events table on PostgreSQL), so `seq` is gapless and its
order is commit order under any number of concurrent writers.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections.abc import (
    Callable,
    Collection,
    Container,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import partial
from itertools import islice
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, func, or_, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from ledger.canonical import GENESIS_HASH
from ledger.envelope import (
    LOGGED_COLUMNS,
    KeyedPayload,
    LoggedRecord,
    NewEvent,
    RecordedEvent,
    StagedEvent,
    StoredPayload,
)
from ledger.errors import ConflictError, InputError, IntegrityError, StorageError
from ledger.events import DEAL_TYPES, LedgerConfigured
from ledger.gc_pause import gc_paused
from ledger.rules import RuleBook
from ledger.store.batch import (
    Appended,
    BatchResult,
    BatchWriter,
    Progress,
    reading,
    staged,
)
from ledger.store.checkpoints import (
    Checkpoint,
    drop_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from ledger.store.codec import SELECT_ORDER, rows_to_events, rows_to_logged
from ledger.store.engine import (
    WRITE_OPTION,
    access_refused,
    check_server_encoding,
    database_reason,
    driver_connection,
    is_read_only,
    make_engine,
    read_only_url,
    resolve_url,
    shown,
    sqlite_path,
    sqlite_url_in_file,
    write_needs,
    write_refused,
)
from ledger.store.facts import chunks, one_of
from ledger.store.reads import (
    GATE,
    KEYED_PAYLOAD_COLUMNS,
    STORED_PAYLOAD_COLUMNS,
    driver_sql,
    filtered,
    read_ahead,
)
from ledger.store.schema import (
    SCHEMA_VERSION,
    create_schema,
    events,
    migrate,
    stored_version,
    up_to_date,
)
from ledger.store.transaction import (
    ANALYZE_SQL,
    CREATE_LOCK_SQL,
    LOCK_SQL,
    SAMPLE_SQL,
    CopyStream,
    Head,
    begin,
    finish,
    in_transaction,
    insert_rows,
    read_head,
    rollback,
    row_values,
)
from ledger.timeutil import TimeParseError, format_instant, zone

DAMAGE_LINES = 3
"""The problems `storage_damage` names at most."""
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


LATE_BATCH = 500
"""Late events read back at a time by seq (`LedgerStore._in_replay_order`)."""

DEAL_STREAM_TYPES = frozenset(DEAL_TYPES)


def _of_deals(deals: Container[str], rows: Sequence[Any]) -> list[LoggedRecord]:
    """Return the `LoggedRecord`s of rows selected in LOGGED_COLUMNS and then `deal_id`,
    without those of deal streams (an event whose family is `deal`) of other deals than
    `deals`, which are not decoded."""
    kinds = DEAL_STREAM_TYPES
    return rows_to_logged([r for r in rows if r[2] not in kinds or r[8] in deals])


T = TypeVar("T")


def _check_sqlite_file(db: str, path: str, *, create: bool) -> None:
    """Raise StorageError when the SQLite file `path` cannot be the ledger asked for: missing
    (unless `create`), a folder, an empty file, or to be created in a folder that is not one
    or that this user, or a read-only disk, does not let it write."""
    if not create and not os.path.exists(path):
        raise StorageError(
            f"there is no ledger at {shown(db)}; run `revledger init` or point --db at one"
        )
    if os.path.isdir(path):
        raise StorageError(f"{shown(db)} is a folder; a ledger is a file: give the file's path")
    if not create and os.path.getsize(path) == 0:
        # SQLite would take an empty file for an empty database, and write one into it.
        raise StorageError(f"{shown(db)} is an empty file, not a revledger ledger")
    if create:
        parent = os.path.dirname(path)
        if parent and os.path.exists(parent) and not os.path.isdir(parent):
            raise StorageError(f"cannot create {shown(db)}: {parent} is a file, not a folder")
        if parent and not os.path.isdir(parent):
            raise StorageError(f"cannot create {shown(db)}: the folder {parent} does not exist")
        if not os.path.exists(path):  # SQLite would say no more than "unable to open"
            folder = parent or os.curdir
            if _read_only_mount(folder):
                raise StorageError(
                    f"cannot create {shown(db)}: the folder {os.path.abspath(folder)} lies on "
                    "a read-only disk; give a path on a disk that can be written"
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StorageError(
                    f"cannot create {shown(db)}: the folder {os.path.abspath(folder)} cannot be "
                    "written by this user; give a path in a folder you can write"
                )


def _read_as_immutable(db: str, path: str) -> bool:
    """Return whether the SQLite ledger at `path`, which SQLite could not open, is to be read
    as an immutable file: on a read-only disk or share with no write-ahead log beside it,
    SQLite cannot create the shared-memory file it reads through, but the file alone is the
    whole ledger and nobody can change it. Raise StorageError saying why when it lies in a
    folder it could not create that file in otherwise; False when the failure is another."""
    if _frozen(path):
        return True
    folder = os.path.dirname(os.path.abspath(path))
    if _read_only_mount(folder):
        raise StorageError(
            f"cannot read the ledger {shown(db)}: it lies on a read-only disk with its "
            f"write-ahead log ({os.path.basename(path)}-wal) beside it, which SQLite reads "
            "through a shared-memory file it cannot create there; copy the ledger and its -wal "
            "file into a folder you can write"
        )
    if os.access(folder, os.W_OK):
        return False
    raise StorageError(
        f"cannot read the ledger {shown(db)}: SQLite reads it through a shared-memory file it "
        f"must create beside it, and the folder {folder} cannot be written by this user; ask "
        "for write access to the folder, or copy the ledger into one you can write"
    )


def _not_a_ledger(store: LedgerStore, db: str) -> str:
    """Return why `db` holds no ledger: on PostgreSQL, a search_path naming no schema that
    exists or that the role may use, or a schema without tables (a new database: nothing
    there yet); else that the database is not a revledger ledger."""
    not_one = f"{shown(db)} is not a revledger ledger"
    if store.backend != "postgresql":
        return not_one
    with store._read() as conn:
        schema, path, tables = conn.execute(
            text(
                "SELECT current_schema(), current_setting('search_path'), (SELECT count(*) "
                "FROM pg_tables WHERE schemaname = current_schema())"
            )
        ).one()
    if schema is None:
        return (
            f"{not_one}: its search_path ({path}) names no schema that exists or that this "
            "role may use"
        )
    if not tables:
        return (
            f"there is no ledger at {shown(db)} (schema {schema} has no tables); run "
            "`revledger init` or point --db at one"
        )
    return not_one


def _create_refused(exc: BaseException) -> StorageError:
    """Return the error of a PostgreSQL connection that may not create a new ledger's tables
    (`exc`, one that `is_read_only` recognises), saying what it would take."""
    privilege = (
        "CREATE on the schema the search_path names first (and on the default_tablespace, where "
        "the database or role sets one)"
    )
    return access_refused(
        exc, "create the ledger's tables", f"init needs {write_needs(exc, 'postgresql', privilege)}"
    )


def _frozen(path: str) -> bool:
    """Return whether the SQLite ledger file at `path` lies on a file system mounted read-only
    and has no write-ahead log beside it: all it holds is in the file, and nobody writes it.
    (A folder merely closed to this user may still be written by another, which an immutable
    read would not see.)"""
    folder = os.path.dirname(os.path.abspath(path))
    wal = f"{path}-wal"
    return _read_only_mount(folder) and (not os.path.exists(wal) or os.path.getsize(wal) == 0)


def _read_only_mount(folder: str) -> bool:
    """Return whether `folder` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _readable_zone(name: str) -> None:
    """Raise StorageError when this machine's time zone database lacks the ledger's time
    zone `name`."""
    try:
        zone(name)
    except TimeParseError:
        raise StorageError(
            f"the ledger's time zone '{name}' is not in this machine's time zone database, so "
            "its days cannot be read here; update the tzdata package (pip install -U tzdata), "
            "or record the zone's IANA name with `revledger record ledger_configured "
            "--timezone` where it is known"
        ) from None


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
    def open(cls, db: str, *, create: bool = False, in_file: str | None = None) -> LedgerStore:
        """Open the ledger at `db` (a SQLite path or SQLAlchemy URL); create it if `create`.
        With `in_file`, the SQLite file of that path is opened in its place (messages still
        name `db`).

        Raises StorageError when there is no ledger there (and `create` is false), when the
        database cannot be reached, or when its schema is newer than this release.
        """
        url = resolve_url(db)
        if in_file is not None:  # the URL's parameters still apply
            url = sqlite_url_in_file(url, in_file)
        path = sqlite_path(url)
        if path is not None:
            _check_sqlite_file(db, path, create=create)
        elif url.startswith("sqlite"):
            raise StorageError(
                f"{shown(db)} is an in-memory SQLite database, gone when the command ends; "
                "give the path of the ledger's file"
            )
        store = cls(make_engine(url, named=db), url)
        try:
            # A ledger at this release's schema version opens in a read transaction, so that a
            # command never waits for another process's long write (an import, say). Creating
            # or migrating the schema takes the write lock, and looks again under it.
            try:
                found = store._schema_version(creating=create)
            except OperationalError:
                if path is None or create or not _read_as_immutable(db, path):
                    raise
                store.close()
                store = cls(make_engine(read_only_url(path)), url)
                found = store._schema_version(creating=False)
            if found is None and not create:
                raise StorageError(_not_a_ledger(store, db))
            if not up_to_date(found):
                store._bring_up_to_date(db, found)
        except (OperationalError, DBAPIError, store.engine.dialect.loaded_dbapi.Error) as exc:
            store.close()
            raise StorageError(
                f"cannot open the database {shown(db)}: {database_reason(exc)}"
            ) from exc
        except StorageError:
            store.close()
            raise
        return store

    def _schema_version(self, *, creating: bool) -> int | None:
        """Return the schema version the database records (None: not a ledger), read in a
        read transaction; raise StorageError when `creating` a ledger in a PostgreSQL
        database that is not UTF8 (one an earlier release made there still opens)."""
        with self._read() as conn:
            found = stored_version(conn)
            if found is None and creating and conn.dialect.name == "postgresql":
                check_server_encoding(driver_connection(conn))
            return found

    def _bring_up_to_date(self, db: str, found: int | None) -> None:
        """Create the schema of a new ledger, or migrate one at schema version `found`, under
        the write lock (looking again there); a connection that may not change the tables of
        an older ledger is told who may."""
        try:
            with self._write() as conn:
                found = stored_version(conn)
                if found is None:
                    _refuse_foreign(conn, db)
                    create_schema(conn)
                else:
                    migrate(conn, found)
        except (OperationalError, DBAPIError) as exc:
            denied = is_read_only(exc)  # also "must be owner": SQLSTATE 42501
            if found is None and denied and self.backend == "postgresql":
                raise _create_refused(exc) from None
            if found is None or not denied:
                raise
            who = (
                "may not write to it (a read-only file, disk or share); open it once where it "
                "can be written, a copy on a writable disk say (opening it migrates it)"
                if self.engine.dialect.name == "sqlite"
                else "may not change its tables; run any command once as the owner of the "
                "ledger's tables (opening it migrates it)"
            )
            raise StorageError(
                f"{shown(db)} holds a ledger of schema version {found}, which this release "
                f"reads once it is migrated to version {SCHEMA_VERSION}, and this connection "
                f"{who}"
            ) from None

    def fold_write_ahead_log(self) -> None:
        """Move what a SQLite ledger's write-ahead log holds into its file and empty the log,
        so that the file alone holds the whole ledger (nothing to do on PostgreSQL)."""
        if self.backend != "sqlite":
            return
        with self.engine.connect() as conn:
            busy = driver_connection(conn).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy is None or busy[0]:
            raise StorageError(
                "the ledger's write-ahead log could not be moved into its file: another "
                "connection is reading it"
            )

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
            if conn.dialect.name == "postgresql":
                locking = LOCK_SQL if _has_events(conn) else CREATE_LOCK_SQL
                driver_connection(conn).execute(locking)
            yield conn

    @contextmanager
    def _driver_write(self) -> Iterator[Any]:
        """Yield a driver connection for one write transaction (see `begin` and `finish`).

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
                # The transaction is opened and ended by statements of our own (see `begin`),
                # so that its first statements go out as one script: psycopg, left to itself,
                # sends its BEGIN alone first, one more round trip.
                dbapi.autocommit = True
            drop = False
            try:
                yield dbapi
            except BaseException as exc:
                rollback(dbapi, backend)
                if isinstance(exc, self.engine.dialect.loaded_dbapi.Error):
                    drop = True
                    if is_read_only(exc):
                        raise write_refused(exc, backend) from exc
                    raise StorageError(f"database error: {database_reason(exc)}") from exc
                drop = in_transaction(dbapi, backend)
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
            return read_head(driver_connection(conn))

    def config(self, known_at: datetime | None = None) -> LedgerConfigured | None:
        """Return the configuration in force as known at `known_at` (default: now).

        Raises StorageError as `configs_in_force` does.
        """
        configs = self.configs_in_force(known_at)
        return configs[-1][1] if configs else None

    def time_zones(self) -> set[str]:
        """Return every time zone a configuration of the ledger has named, retracted ones too
        (an import may have read dates in any of them)."""
        return {
            getattr(e.payload, "timezone", "UTC") for e in self.read(types=["ledger_configured"])
        }

    def configs_in_force(
        self, known_at: datetime | None = None
    ) -> list[tuple[str, LedgerConfigured]]:
        """Return the configurations that no retraction took out as known at `known_at`
        (default: now), in seq order (the last one is in force), with their event ids.

        Raises StorageError when this machine's time zone database lacks the time zone of the
        one in force (one an earlier release took, or a zone newer than the database), whose
        days nothing here could read.
        """
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
        configs: list[tuple[str, LedgerConfigured]] = [
            (r.event_id, r.payload)  # type: ignore[misc]
            for r in rows
            if r.type == "ledger_configured" and r.event_id not in retracted
        ]
        if configs:
            _readable_zone(configs[-1][1].timezone)
        return configs

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

    def events_with_keys(self, keys: Collection[str]) -> dict[str, RecordedEvent]:
        """Return the stored events appended with any of `keys`, by key."""
        found: dict[str, RecordedEvent] = {}
        with self._read() as conn:
            for some in chunks(keys):
                rows = conn.execute(
                    select(*[events.c[c] for c in SELECT_ORDER]).where(
                        events.c.idempotency_key.in_(some)
                    )
                ).all()
                for e in rows_to_events([tuple(r) for r in rows]):
                    found[e.idempotency_key or ""] = e
        return found

    def retractions_keyed(self, key_prefix: str) -> list[tuple[int, str, str, str, str | None]]:
        """Return (seq, idempotency key, source, payload JSON, event_id of the event keyed by
        the rest of the key, None if there is none) of the retractions whose key starts with
        `key_prefix`, in seq order."""
        r, t = events.alias("r"), events.alias("t")
        rest = func.substr(r.c.idempotency_key, len(key_prefix) + 1)
        with self._read() as conn:
            rows = conn.execute(
                select(r.c.seq, r.c.idempotency_key, r.c.source, r.c.payload, t.c.event_id)
                .select_from(r.outerjoin(t, t.c.idempotency_key == rest))
                .where(
                    r.c.type == "event_retracted",
                    r.c.idempotency_key.startswith(key_prefix, autoescape=True),
                )
                .order_by(r.c.seq)
            ).all()
        return [(int(seq), str(k), str(src), str(p), target) for seq, k, src, p, target in rows]

    def keys_of_ids(self, event_ids: Collection[str]) -> dict[str, str | None]:
        """Return the idempotency key (None: none) of each stored event of `event_ids` there
        is, by event_id."""
        found: dict[str, str | None] = {}
        with self._read() as conn:
            for some in chunks(event_ids):
                rows = conn.execute(
                    select(events.c.event_id, events.c.idempotency_key).where(
                        events.c.event_id.in_(some)
                    )
                ).all()
                found.update((str(event_id), key) for event_id, key in rows)
        return found

    def retractions(self, upto_seq: int | None = None) -> dict[str, int]:
        """Return the retracted events of the log prefix ending at `upto_seq` (None: the whole
        log): each one's event_id with the seq of the retraction that took it out."""
        found = self.read(upto_seq=upto_seq, types=["event_retracted"])
        return {getattr(e.payload, "retracts", ""): e.seq for e in found}

    def load_checkpoint(self, name: str, *, strict: bool = False) -> Checkpoint | None:
        """Return the read-model checkpoint `name` if it still matches the log. A connection
        that may not read the checkpoints gets None, or with `strict` a StorageError."""
        return load_checkpoint(self.engine, name, strict=strict)

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
        once. With `counts_only` the result holds no `Appended` per event (a million of them
        take about 150 MB), only the counts.

        A dry run writes nothing and takes no write lock: it reads the log in one read-only
        transaction (so a connection that may only read can run it), and finds the batch's own
        earlier events among those it has admitted, which it holds in memory for the whole
        batch, with their rule state (see `RULE_STATE_FACTS`), so it finds exactly what the
        real run would (a line repeating one many chunks before it, say).
        """
        warm, self._warm = self._warm, None
        backend = self.backend
        write = not dry_run
        pending = (staged(chunk) for chunk in chunks_)
        first = next(pending, [])
        with (
            gc_paused(),
            self._driver_write() as dbapi,
            CopyStream(dbapi, backend, on=write) as stream,
        ):
            head, found = begin(dbapi, backend, first, write=write)
            kept = warm[1] if warm is not None and warm[0] == head else None
            book = reading(kept, dbapi, backend, stream)
            writer = BatchWriter(
                dbapi, backend, head, book, progress, stream, counts_only, holds_own=dry_run
            )
            # Each chunk's rows are written before the next chunk is checked (its lookups must
            # see them); the last chunk's rows go with the commit.
            rows = writer.prepare(first, found)
            analysed = 0  # rows this transaction had written when it last analysed the table
            for chunk in pending:
                if write:
                    stream.close()
                    insert_rows(dbapi, backend, rows)
                    written = writer.seq - head.seq
                    if backend == "postgresql" and written >= max(1, 2 * analysed):
                        if not analysed:
                            dbapi.execute(SAMPLE_SQL)
                        dbapi.execute(ANALYZE_SQL)
                        analysed = written
                    if book.facts_held > RULE_STATE_FACTS:
                        # Every row so far is written, so what the book forgets can be read
                        # again; a new reader, as the old one's cache knew old versions of
                        # those streams.
                        book.shed(RULE_STATE_FACTS * 4 // 5)
                        reading(book, dbapi, backend, stream)
                rows = writer.prepare(chunk)
            stream.close()
            finish(dbapi, backend, rows if write else [], commit=write)
            if write and writer.requested <= WARM_BATCH and book.size <= WARM_SIZE:
                self._warm = (writer.head, book)
        return BatchResult(
            writer.results,
            writer.head,
            dry_run,
            writer.appended,
            writer.duplicates,
            writer.retracted_duplicates,
            writer.first_retracted,
            writer.repeated,
            writer.first_repeated,
        )

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
        q = filtered(
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
        return self._decoded(q, rows_to_events, batch)

    def read_with_retractions(
        self,
        *,
        upto_seq: int,
        deal_id: str | None = None,
        account_id: str | None = None,
        types: Sequence[str] | None = None,
        effective_from: datetime | None = None,
        effective_before: datetime | None = None,
        retracted: Mapping[str, int] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Yield in seq order the events up to `upto_seq` that `read` selects by `deal_id` and
        `account_id`, and among them the retractions (on the ledger's own stream) that took
        out one of that deal's or account's events up to `upto_seq`. `types` and the effective
        bounds (valid time) select a retraction by its own type and effective time, as any
        event. `retracted` is `retractions(upto_seq)`, when the caller has read it already."""
        own = self.read(
            upto_seq=upto_seq,
            deal_id=deal_id,
            account_id=account_id,
            types=types,
            effective_from=effective_from,
            effective_before=effective_before,
        )
        if retracted is None:
            retracted = self.retractions(upto_seq)
        if not retracted or (deal_id is None and account_id is None):
            return own
        q = filtered(
            select(events.c.event_id), upto_seq=upto_seq, deal_id=deal_id, account_id=account_id
        )
        with self._read() as conn:
            ids = conn.execute(q).scalars().all()
        seqs = sorted(retracted[i] for i in ids if i in retracted)
        if not seqs:
            return own

        def retractions() -> Iterator[RecordedEvent]:
            for chunk in chunks(seqs):
                yield from self._decoded(
                    filtered(
                        select(*[events.c[c] for c in SELECT_ORDER]).where(events.c.seq.in_(chunk)),
                        types=types,
                        effective_from=effective_from,
                        effective_before=effective_before,
                    ),
                    rows_to_events,
                    len(chunk),
                )

        return heapq.merge(own, retractions(), key=attrgetter("seq"))

    def read_logged(
        self,
        *,
        upto_seq: int | None = None,
        types: Sequence[str] | None = None,
        types_with_field: Mapping[str, str] | None = None,
        most_types: bool = False,
        effective_before: datetime | None = None,
        replay_order: bool = False,
        deals: Container[str] | None = None,
        batch: int = 2_000,
    ) -> Iterator[LoggedRecord]:
        """Yield the events of the given `types` up to `upto_seq` in seq order as projections
        read them (`LoggedRecord`: without the envelope's chain, stream and source columns);
        `types_with_field` and `most_types` as for `read`.

        `effective_before` keeps only the events effective before that instant (valid time);
        `replay_order` yields them in replay order, `(effective_at, seq)`, instead (see
        `_in_replay_order`). `deals` keeps the events of deal streams only for those deals,
        and leaves the others undecoded.
        """
        where = partial(
            filtered,
            upto_seq=upto_seq,
            types=types,
            types_with_field=types_with_field,
            effective_before=effective_before,
            in_seq_order=most_types,
        )
        q = where(select(*[events.c[c] for c in LOGGED_COLUMNS], events.c.deal_id))
        decode = rows_to_logged if deals is None else partial(_of_deals, deals)
        if replay_order:
            return self._in_replay_order(
                q, where(select(events.c.seq, events.c.effective_at)), decode, batch
            )
        return self._decoded(q, decode, batch)

    def _in_replay_order(
        self,
        q: Select[Any],
        keys: Select[Any],
        decode: Callable[[Sequence[Any]], list[LoggedRecord]],
        batch: int,
    ) -> Iterator[LoggedRecord]:
        """Yield the events of `q` (LOGGED_COLUMNS first) in replay order, `(effective_at, seq)`.

        A log is mostly recorded in business order, so the events are read in seq order
        and only the late ones are held: an event is late when an event recorded before it
        is effective after it. Their seqs come from a first read of `keys` (seq and
        effective_at of the same events; the stored instant texts are fixed-width UTC, so
        they compare as the instants do); they are read and sorted first, and merged into
        the others as those come. Sorting every event in the database instead (`ORDER BY
        effective_at, seq`) sorted whole rows, and took longer than the reads.
        """
        late: list[int] = []
        latest = ""
        for part in self._partitions(keys.order_by(events.c.seq), 10_000):
            for seq, effective in part:
                if effective < latest:
                    late.append(seq)
                else:
                    latest = effective
        if not late:
            yield from self._decoded(q, decode, batch)
            return
        held: list[LoggedRecord] = []
        for i in range(0, len(late), LATE_BATCH):
            held.extend(
                self._decoded(q.where(events.c.seq.in_(late[i : i + LATE_BATCH])), decode, batch)
            )
        held.sort(key=lambda e: (e.effective_at, e.seq))
        skipped = set(late)
        on_time = self._decoded(
            q, lambda rows: decode([r for r in rows if r[0] not in skipped]), batch
        )
        i, n = 0, len(held)
        for e in on_time:
            key = (e.effective_at, e.seq)
            while i < n and (held[i].effective_at, held[i].seq) < key:
                yield held[i]
                i += 1
            yield e
        yield from held[i:]

    def _decoded(
        self, q: Select[Any], decode: Callable[[Sequence[Any]], list[T]], batch: int
    ) -> Iterator[T]:
        """Yield the rows of `q` in seq order (after any order `q` has), decoded
        `DECODE_SLICE` at a time by `decode`."""
        for partition in self._partitions(q.order_by(events.c.seq), batch):
            for i in range(0, len(partition), DECODE_SLICE):
                yield from decode(partition[i : i + DECODE_SLICE])

    def read_stored(
        self,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        types: Sequence[str] | None = None,
        types_with_field: Mapping[str, str] | None = None,
        deal_ids: Collection[str] | None = None,
        deals_with: tuple[str, Collection[str]] | None = None,
        event_ids: Collection[str] | None = None,
        batch: int = 10_000,
    ) -> Iterator[StoredPayload]:
        """Yield (seq, event_id, type, schema_version, effective_at, payload) in seq order.

        The payload is the stored canonical JSON text and effective_at the stored instant text
        (valid time), not decoded: for read models that need a few fields of many events.
        Payloads were validated at append and are covered by the hash chain (`verify`).
        `deal_ids` keeps only those deals' events, `event_ids` only those events; `deals_with` =
        (type, gated types) keeps the events of the gated types only for deals that have an
        event of that type at or before `upto_seq`.
        """
        q = filtered(
            select(*[events.c[c] for c in STORED_PAYLOAD_COLUMNS]),
            after_seq=after_seq,
            upto_seq=upto_seq,
            types=types,
            types_with_field=types_with_field,
            in_seq_order=True,
        )
        if deal_ids is not None:
            q = q.where(events.c.deal_id.in_(list(deal_ids)))
        if event_ids is not None:
            q = q.where(events.c.event_id.in_(list(event_ids)))
        if deals_with is not None:
            gate, gated = deals_with
            having = select(GATE.c.deal_id).where(GATE.c.type == gate)
            if upto_seq is not None:
                having = having.where(GATE.c.seq <= upto_seq)
            q = q.where(or_((events.c.type + "").not_in(list(gated)), events.c.deal_id.in_(having)))
        yield from self._stream(q.order_by(events.c.seq), batch)

    def read_keyed(
        self, *, types: Sequence[str], deal_ids: Collection[str] | None = None
    ) -> Iterator[KeyedPayload]:
        """Yield (seq, event_id, idempotency_key, type, effective_at, payload, deal_id) of the
        events of `types` (of `deal_ids` only, when given) in seq order, as stored (see
        `read_stored`)."""
        q = select(*[events.c[c] for c in KEYED_PAYLOAD_COLUMNS])
        if deal_ids is None:
            q = q.where(events.c.type.in_(list(types)))
        else:  # through the deal_id index, not the type index (`type || ''` is the same value)
            q = q.where((events.c.type + "").in_(list(types)), events.c.deal_id.in_(list(deal_ids)))
        yield from self._stream(q.order_by(events.c.seq), 10_000)

    def deals_keyed(self, type_name: str, key_prefix: str) -> set[str]:
        """Return the deal ids of the events of type `type_name` whose idempotency key starts
        with `key_prefix` (letters, digits and `:` only)."""
        q = (
            select(events.c.deal_id)
            .distinct()
            .where(events.c.type == type_name, events.c.deal_id.is_not(None))
            .where(events.c.idempotency_key.startswith(key_prefix, autoescape=True))
        )
        with self.engine.connect() as conn:
            return {deal for (deal,) in conn.execute(q)}

    def ids_differing_in_case(self, column: str, value: str, *, upto_seq: int) -> list[str]:
        """Return, sorted, the ids in `column` (`deal_id` or `account_id`) of the log prefix
        ending at `upto_seq` that equal `value` when case is ignored but are not `value`."""
        col = events.c[column]
        q = select(col).distinct().where(col.is_not(None), events.c.seq <= upto_seq)
        folded = value.casefold()
        with self._read() as conn:
            found = (str(v) for (v,) in conn.execute(q))
            return sorted(v for v in found if v != value and v.casefold() == folded)

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

    def raw_rows(self, *, batch: int = 10_000) -> Generator[dict[str, Any], None, None]:
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
        server-side cursor, fetching the next batch while the caller works on this one. A
        reader that stops early (on an error of its own, say) closes the read quietly, even
        when the connection is gone by then: the error it reports is its own.
        """
        fetched = self._fetched(q, batch)
        try:
            for part in fetched:  # noqa: UP028  # `yield from` would close `fetched` unguarded
                yield part
        finally:
            with suppress(Exception):
                fetched.close()

    def _fetched(self, q: Select[Any], batch: int) -> Generator[Sequence[Any], None, None]:
        with self.engine.connect() as conn:
            conn.begin()
            sql, params = driver_sql(q, conn)
            driver = driver_connection(conn)
            if conn.dialect.name == "sqlite":
                cursor = driver.execute(sql, params)
                while rows := cursor.fetchmany(batch):
                    yield rows
                return
            with driver.cursor(name="revledger_read") as cursor:
                cursor.execute(sql, params)
                yield from read_ahead(iter(partial(cursor.fetchmany, batch), []))

    def storage_damage(self) -> str | None:
        """Return what SQLite's `PRAGMA quick_check` finds wrong in the database file (its
        pages and b-trees: the table's and every index's), or None when it finds nothing or
        the ledger is on PostgreSQL (whose pages its own data checksums guard)."""
        if self.backend != "sqlite":
            return None
        with self._read() as conn:
            rows = conn.exec_driver_sql(f"PRAGMA quick_check({DAMAGE_LINES})").all()
        found = [line for (row,) in rows for line in str(row).splitlines()]
        if found == ["ok"]:
            return None
        return "; ".join(line for line in found if not line.startswith("*** in database"))

    def index_rows(
        self, *, batch: int = 10_000
    ) -> Generator[tuple[int, str | None, str | None], None, None]:
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
            if read_head(dbapi).seq != 0:
                raise ConflictError(
                    "restore needs an empty ledger: this one already has events "
                    "(restore into a new --db without running init)"
                )
            checked = check_restore_rows(rows)
            while True:
                chunk: list[tuple[str, dict[str, Any]]] = []
                try:
                    chunk.extend(islice(checked, RESTORE_CHUNK))
                except (InputError, IntegrityError):
                    # A bad envelope ends the chunk early: a repeat before it is named first.
                    _refuse_repeats(dbapi, backend, chunk)
                    raise
                _refuse_repeats(dbapi, backend, chunk)
                if not chunk:
                    return read_head(dbapi)
                insert_rows(dbapi, backend, [row_values(r) for _, r in chunk])


UNIQUE_TEXTS = ("event_id", "idempotency_key")
"""The envelope texts a log holds at most once each."""


def _refuse_repeats(dbapi: Any, backend: str, chunk: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Raise InputError for the first envelope of `chunk` (location, row) whose event_id or
    idempotency key an earlier envelope of the export holds: in the chunk, or among the rows
    the restore wrote before it. A log holds each once (the database would refuse the row
    with an error that names neither the line nor the seq)."""
    stored: dict[str, dict[str, int]] = {}
    for column in UNIQUE_TEXTS:
        values = {row[column] for _, row in chunk if row[column] is not None}
        found: dict[str, int] = {}
        for part in chunks(values):
            condition, params = one_of(backend, column, part)
            sql = f"SELECT {column}, seq FROM events WHERE {condition}"
            found.update(dbapi.execute(sql, params).fetchall())
        stored[column] = found
    seen: dict[str, dict[str, int]] = {column: {} for column in UNIQUE_TEXTS}
    for where, row in chunk:
        for column in UNIQUE_TEXTS:
            value = row[column]
            if value is None:
                continue
            earlier = stored[column].get(value, seen[column].get(value))
            if earlier is not None:
                _repeated(where, column, earlier)
            seen[column][value] = row["seq"]


def _repeated(where: str, column: str, seq: int) -> None:
    # The value is not quoted: an idempotency key an earlier release stored may hold text
    # that is not to be shown.
    raise InputError(
        f"is that of seq {seq} already; a log holds each once",
        where=where,
        field=column,
    )


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


__all__ = [
    "Appended",
    "BatchResult",
    "Head",
    "LedgerStore",
]
