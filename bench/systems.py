"""The measured workloads of each system: revledger, eventsourcing and the raw drivers.

Every function opens a fresh database (a SQLite file in a temporary directory, or a new
PostgreSQL schema), does its set-up untimed, and returns what it counted and how long the timed
part took. The timed parts are:

- import: revledger's `ledger.operations.import_file` (read the file, parse and validate every
  line with `ImportParser`, then `LedgerStore.append_batch`: domain rules, idempotency, hash
  chain, one transaction); eventsourcing parses the same file into aggregate method calls and
  saves the aggregates with `Application.save`, 10,000 events per call (see `es_app`).
- single: one event per transaction (`LedgerStore.append`; `Application.save` of one aggregate
  fetched from the repository; one INSERT and COMMIT).
- read: the whole log back as typed events (`LedgerStore.read()`; eventsourcing's recorder and
  mapper decoding every stored event into its domain event class).
- bulk: the raw drivers writing the rows revledger stored (sqlite3 `executemany`, psycopg COPY).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import es_app
from bench.common import pg_conninfo, pg_schema, pg_url, schema_url, temp_dir, timed
from ledger.envelope import NewEvent
from ledger.jsonl import ImportParser
from ledger.operations import import_file, init_ledger
from ledger.store import LedgerStore
from ledger.store.codec import SELECT_ORDER

TIMEZONE = "America/New_York"
ACTOR = "bench"
ROW_COLUMNS: tuple[str, ...] = (*SELECT_ORDER, "deal_id", "account_id")
Row = tuple[Any, ...]


# -- databases ----------------------------------------------------------------------------------
@contextmanager
def ledger_db(backend: str, pg: str) -> Iterator[str]:
    """Yield the location of a new, configured revledger ledger (dropped afterwards)."""
    if backend == "sqlite":
        with temp_dir() as d:
            db = str(d / "ledger.db")
            _init(db)
            yield db
    else:
        with pg_schema(pg) as schema:
            db = schema_url(pg, schema)
            _init(db)
            yield db


def _init(db: str) -> None:
    init_ledger(
        db,
        currency="USD",
        timezone=TIMEZONE,
        fiscal_year_start_month=1,
        stages=None,
        actor=ACTOR,
    )


@contextmanager
def es_application(backend: str, pg: str) -> Iterator[es_app.RevenueApp]:
    """Yield an eventsourcing application on a new database (dropped afterwards)."""
    if backend == "sqlite":
        with temp_dir() as d:
            app = es_app.RevenueApp(
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(d / "es.db"),
                }
            )
            try:
                yield app
            finally:
                app.close()
    else:
        u = pg_url(pg)
        with pg_schema(pg) as schema:
            app = es_app.RevenueApp(
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_DBNAME": str(u.database),
                    "POSTGRES_HOST": u.host or "localhost",
                    "POSTGRES_PORT": str(u.port or 5432),
                    "POSTGRES_USER": u.username or "postgres",
                    "POSTGRES_PASSWORD": u.password or "",
                    "POSTGRES_SCHEMA": schema,
                }
            )
            try:
                yield app
            finally:
                app.close()


# -- revledger ----------------------------------------------------------------------------------
def revledger_import_and_read(
    backend: str, pg: str, path: Path, expected: int, keep_rows: bool
) -> tuple[float, int, float, list[Row]]:
    """Import `path` into a new ledger, then read it all back as typed events.

    Returns (import seconds, events read, read seconds, stored rows if `keep_rows`).
    """
    with ledger_db(backend, pg) as db, LedgerStore.open(db) as store:

        def run_import() -> int:
            summary = import_file(store, path, actor=ACTOR)
            return summary.appended

        appended, import_s = timed(run_import)
        if appended != expected:
            raise RuntimeError(f"revledger appended {appended} of {expected} events")

        def run_read() -> int:
            n = 0
            for _event in store.read():
                n += 1
            return n

        read_n, read_s = timed(run_read)
        if read_n != expected + 1:
            raise RuntimeError(f"revledger read {read_n} events, expected {expected + 1}")
        rows: list[Row] = []
        if keep_rows:
            index = {c: i for i, c in enumerate(SELECT_ORDER)}
            deal_accounts = {seq: (deal, acct) for seq, deal, acct in store.index_rows()}
            for r in store.raw_rows():
                if r["seq"] > 1:
                    t = tuple(r[c] for c in SELECT_ORDER)
                    rows.append((*t, *deal_accounts[t[index["seq"]]]))
        return import_s, read_n, read_s, rows


def revledger_single(backend: str, pg: str, lines: Sequence[str]) -> tuple[int, float]:
    """Append `lines` one by one, each in its own transaction; return (count, seconds)."""
    parser = ImportParser(timezone=TIMEZONE, actor=ACTOR, source_name="single.jsonl")
    news: list[NewEvent] = list(parser.parse_lines(lines))
    with ledger_db(backend, pg) as db, LedgerStore.open(db) as store:

        def run() -> int:
            for n in news:
                store.append(n)
            return len(news)

        return timed(run)


# -- eventsourcing ------------------------------------------------------------------------------
def es_import_and_read(backend: str, pg: str, path: Path) -> tuple[int, float, int, float]:
    """Import `path` with batched `save` calls, then read every event back decoded.

    Returns (events stored, import seconds, events read, read seconds).
    """
    with es_application(backend, pg) as app:
        commands = es_app.Commands(app, from_repository=False)
        app.save(*commands.pending())  # the ledger aggregate, like revledger's init
        before = app.recorder.max_notification_id() or 0

        def run_import() -> int:
            lines = path.read_text(encoding="utf-8").splitlines()
            return es_app.import_batch(app, commands, lines)

        _lines, import_s = timed(run_import)
        stored = (app.recorder.max_notification_id() or 0) - before
        read_n, read_s = timed(lambda: es_app.read_all(app))
        return stored, import_s, read_n, read_s


def es_single(backend: str, pg: str, lines: Sequence[str]) -> tuple[int, float]:
    """Handle `lines` as single commands, one `save` (transaction) each; return (count, s)."""
    objs = list(es_app.parse(lines))
    with es_application(backend, pg) as app:
        commands = es_app.Commands(app, from_repository=True)
        app.save(*commands.pending())
        commands.touched.clear()

        def run() -> int:
            for obj in objs:
                es_app.append_one(app, commands, obj)
            return len(objs)

        return timed(run)


# -- raw drivers --------------------------------------------------------------------------------
BARE_DDL = (
    "CREATE TABLE events_bare (seq BIGINT PRIMARY KEY, event_id TEXT, type TEXT, "
    "schema_version INTEGER, stream_id TEXT, stream_version INTEGER, effective_at TEXT, "
    "recorded_at TEXT, actor TEXT, source TEXT, idempotency_key TEXT, payload TEXT, "
    "prev_hash TEXT, hash TEXT, deal_id TEXT, account_id TEXT)"
)


def _insert_sql(table: str, placeholder: str) -> str:
    cols = ", ".join(ROW_COLUMNS)
    marks = ", ".join([placeholder] * len(ROW_COLUMNS))
    return f"INSERT INTO {table} ({cols}) VALUES ({marks})"


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


@contextmanager
def raw_table(backend: str, pg: str, bare: bool) -> Iterator[tuple[str, Any]]:
    """Yield (table, connection) for an empty events table on a new database.

    Not bare: the ledger's own `events` table with its keys and indexes (created by revledger).
    Bare: the same columns with only a primary key.
    """
    if backend == "sqlite":
        with temp_dir() as d:
            path = d / "raw.db"
            if not bare:
                LedgerStore.open(str(path), create=True).close()
            conn = _sqlite_connect(path)
            if bare:
                conn.execute(BARE_DDL)
            try:
                yield ("events_bare" if bare else "events"), conn
            finally:
                conn.close()
    else:
        with pg_schema(pg) as schema:
            if not bare:
                LedgerStore.open(schema_url(pg, schema), create=True).close()
            with psycopg.connect(pg_conninfo(pg, schema)) as pconn:
                if bare:
                    pconn.execute(BARE_DDL)
                    pconn.commit()
                yield ("events_bare" if bare else "events"), pconn


def raw_bulk(backend: str, pg: str, rows: Sequence[Row], bare: bool) -> tuple[int, float]:
    """Write `rows` in one transaction: sqlite3 executemany, or psycopg COPY."""
    with raw_table(backend, pg, bare) as (table, conn):
        if backend == "sqlite":
            sql = _insert_sql(table, "?")

            def run() -> int:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
                return len(rows)

        else:
            copy_sql = f"COPY {table} ({', '.join(ROW_COLUMNS)}) FROM STDIN"

            def run() -> int:
                with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                    for r in rows:
                        copy.write_row(r)
                conn.commit()
                return len(rows)

        return timed(run)


def raw_single(backend: str, pg: str, rows: Sequence[Row]) -> tuple[int, float]:
    """Write `rows` one per transaction (INSERT, COMMIT) into the ledger's events table."""
    with raw_table(backend, pg, bare=False) as (table, conn):
        if backend == "sqlite":
            sql = _insert_sql(table, "?")

            def run() -> int:
                for r in rows:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(sql, r)
                    conn.execute("COMMIT")
                return len(rows)

        else:
            sql = _insert_sql(table, "%s")

            def run() -> int:
                for r in rows:
                    conn.execute(sql, r)
                    conn.commit()
                return len(rows)

        return timed(run)
