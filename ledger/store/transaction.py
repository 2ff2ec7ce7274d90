"""The write transaction on the driver connection: its lock and head, the lookups of a chunk's
idempotency keys and event ids, and the rows' insert (executemany, or COPY on PostgreSQL) and
commit.

The append path runs these statements as plain SQL on the driver connection: through
SQLAlchemy's execution each cost ten to twenty times the statement itself on SQLite (16 µs
against 1.5 µs for the head). On PostgreSQL a small append's first statements go out as one
script, in one round trip (see `begin`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from ledger.canonical import GENESIS_HASH
from ledger.envelope import StagedEvent
from ledger.store.engine import READ_COMMITTED, SQLITE_BUSY_TIMEOUT_MS, begin_immediate
from ledger.store.facts import MARKS, chunks, one_of
from ledger.store.schema import ROW_COLUMNS

COPY_THRESHOLD = 2000
"""Chunks of at least this many rows go into PostgreSQL by COPY, the others by executemany."""


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of the log: its seq, hash and recorded_at (seq 0 for an empty log)."""

    seq: int
    hash: str
    recorded_at: str | None


class Stored(NamedTuple):
    """A stored event that a chunk's idempotency key or event id names."""

    # The business content (type, effective_at, payload JSON). Comparing it is comparing the
    # content digest of `canonical.content_digest`, without hashing every event of a batch.
    content: tuple[str, str, str]
    seq: int
    event_id: str
    type: str
    stream_id: str
    stream_version: int
    where: str | None = None
    """Where the batch that writes it was given it ("line 3"), for an event of the same batch."""


Row = tuple[Any, ...]
"""An events row as inserted: its values in `ROW_COLUMNS` order."""

WRITE_LOCK_WAIT_S = SQLITE_BUSY_TIMEOUT_MS // 1000
"""How long a write waits for the ledger's write lock on PostgreSQL before it fails (as SQLite's
busy timeout does), instead of waiting for ever on a session left open in a transaction; only
the lock's own wait, not the write's other statements."""
LOCK_STATEMENTS = (
    f"SET LOCAL lock_timeout = '{WRITE_LOCK_WAIT_S}s'",
    # An advisory lock keyed by the events table (its OID, so one lock per ledger schema): it
    # serialises the appends, so seq order is commit order, and asks for no privilege on the
    # table, so a role that may only SELECT and INSERT can append.
    "SELECT pg_advisory_xact_lock(1919249481, 'events'::regclass::oid::int4)",
    # The rest of the write (an import's ANALYZE behind a VACUUM, say) waits as it always did.
    "SET LOCAL lock_timeout TO DEFAULT",
)
"""The statements that take the ledger's write lock on PostgreSQL, at a write's start."""
LOCK_SQL = "; ".join(LOCK_STATEMENTS)
CREATE_LOCK_SQL = "SELECT pg_advisory_xact_lock(1919249481, hashtext(current_schema()))"
"""Taken on PostgreSQL by a write that finds no events table (creating a ledger): two
`revledger init` at once on a new database create its tables one after the other, the second
finding them made, instead of racing in the catalog."""
ANALYZE_SQL = "ANALYZE events (stream_id, idempotency_key, event_id, account_id, type)"
"""Run between the chunks of a long batch on PostgreSQL, whenever the rows the batch has written
have doubled since the last time: statistics that count the rows this transaction wrote (ANALYZE
samples its own uncommitted rows). Without them the planner takes the events table for the size
it last analysed, and the next chunk's stream lookups (of hundreds of ids each) become full
scans of a table that grows with every chunk. Doubling keeps the estimate within a factor of
two of the truth at a logarithmic number of ANALYZEs (ten for a million rows in chunks of ten
thousand). Only the columns that the append's lookups and facts queries filter on are analysed:
the wide ones (payload, hashes, source) cost as much again to sample, and the autovacuum
daemon analyses the whole table after the commit."""
SAMPLE_SQL = "SET LOCAL default_statistics_target = 10"
"""Set before the first of those ANALYZEs, for the rest of the transaction: each then samples
3,000 rows instead of 30,000 (13 ms instead of 125 ms at 100k rows). The lookups need only the
table's size and whether a column is unique or how many distinct values it holds, which such a
sample tells as well; the autovacuum daemon's ANALYZE after the commit keeps the full target."""
# A lookup's rows start with the name of the column that matched.
HEAD_SQL = "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1"
STORED_BY_SQL = (
    "SELECT '{column}', {column}, type, effective_at, payload, seq, event_id, stream_id, "
    "stream_version FROM events WHERE {where}"
)


def read_head(dbapi: Any) -> Head:
    """Return the head of the log, read on a driver connection."""
    return as_head(dbapi.execute(HEAD_SQL).fetchone())


def as_head(row: Sequence[Any] | None) -> Head:
    """Return the head a `HEAD_SQL` row describes (None: the log is empty)."""
    if row is None:
        return Head(0, GENESIS_HASH, None)
    return Head(int(row[0]), row[1], row[2])


def in_transaction(dbapi: Any, backend: str) -> bool:
    """True when the driver connection is not idle outside a transaction (or cannot tell)."""
    try:
        if backend == "postgresql":
            from psycopg.pq import TransactionStatus

            return dbapi.info.transaction_status != TransactionStatus.IDLE  # type: ignore[no-any-return]
        return dbapi.in_transaction  # type: ignore[no-any-return]
    except Exception:  # a broken connection
        return True


def rollback(dbapi: Any, backend: str) -> None:
    """Roll back the driver connection's transaction, if it still has one."""
    with suppress(Exception):  # a broken connection: the pool discards it
        if backend == "postgresql":
            dbapi.execute("ROLLBACK")
        else:
            dbapi.rollback()


Found = tuple[dict[str, "Stored"], dict[str, "Stored"]]
"""The stored events a chunk's idempotency keys and event ids name: (by key, by event id)."""


def lookups(backend: str, news: Sequence[StagedEvent]) -> list[tuple[str, list[Any]]]:
    """Return the statements (SQL, parameters) finding the stored events that the idempotency
    keys and event ids of `news` name; each row starts with the column that matched."""
    out: list[tuple[str, list[Any]]] = []
    for column, values in (
        (
            "idempotency_key",
            {n.idempotency_key for n in news if n.idempotency_key}
            | {key for n in news for key in n.alternates},
        ),
        ("event_id", {n.event_id for n in news if n.event_id}),
    ):
        for chunk in chunks(values):
            where, params = one_of(backend, column, chunk)
            out.append((STORED_BY_SQL.format(column=column, where=where), params))
    return out


def found_rows(results: Iterable[list[Any]]) -> Found:
    """Return the rows of `lookups`' statements as (by idempotency key, by event id)."""
    by_key: dict[str, Stored] = {}
    by_id: dict[str, Stored] = {}
    for rows in results:
        for column, value, typ, eff, payload, seq, eid, stream, sver in rows:
            found = by_key if column == "idempotency_key" else by_id
            found[value] = Stored((typ, eff, payload), seq, eid, typ, stream, sver)
    return by_key, by_id


SCRIPT_LOOKUPS = 20
"""A batch of at most this many events looks up its idempotency keys and event ids in the same
round trip as the lock and the head, on PostgreSQL (see `begin`)."""


def begin(
    dbapi: Any, backend: str, news: Sequence[StagedEvent], *, write: bool = True
) -> tuple[Head, Found | None]:
    """Open the write transaction on a driver connection: take the ledger's write lock, read
    the head, and (for a small first chunk `news`) look up its keys and event ids. Without
    `write` (a dry run) a read-only transaction is opened instead, without the lock: on
    PostgreSQL at REPEATABLE READ, so that every statement of it reads the log as it stood at
    its first (as a SQLite read transaction does).

    On PostgreSQL these statements, with BEGIN (at READ COMMITTED), go out as one script in one
    round trip (the simple query protocol, so the looked-up values are written into it as
    literals, see `script`). Returns the head and what the lookups found (None when they are left to
    `BatchWriter.prepare`).
    """
    wanted = lookups(backend, news) if len(news) <= SCRIPT_LOOKUPS else None
    statements = [(HEAD_SQL, []), *(wanted or ())]
    if backend == "postgresql":
        opening: list[tuple[str, Sequence[Any]]] = (
            [(f"BEGIN {READ_COMMITTED}", []), *((sql, []) for sql in LOCK_STATEMENTS)]
            if write
            else [(READ_ONLY_BEGIN, [])]
        )
        cursor = dbapi.execute(script(dbapi, [*opening, *statements]))
        for _ in opening[1:]:
            cursor.nextset()  # past BEGIN and the lock, to the head
        results = []
        while cursor.nextset():
            results.append(cursor.fetchall())
    else:
        if write:
            begin_immediate(dbapi)
        else:
            dbapi.execute("BEGIN")
        results = [dbapi.execute(sql, params).fetchall() for sql, params in statements]
    head = as_head(results[0][0] if results[0] else None)
    return head, (found_rows(results[1:]) if wanted is not None else None)


READ_ONLY_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
"""How a dry run's transaction begins on PostgreSQL (see `begin`)."""


def script(dbapi: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> bytes:
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


def finish(dbapi: Any, backend: str, rows: list[Row], *, commit: bool) -> None:
    """Write the last rows of a write transaction, then commit it (or roll it back).

    On PostgreSQL a single row's INSERT and the COMMIT go out as one script, in one round trip.
    """
    if backend == "postgresql" and commit and len(rows) == 1:
        dbapi.execute(script(dbapi, [(INSERT_SQL[backend], rows[0]), ("COMMIT", [])]))
        return
    insert_rows(dbapi, backend, rows)
    if backend == "postgresql":
        dbapi.execute("COMMIT" if commit else "ROLLBACK")
    elif commit:
        dbapi.commit()
    else:
        dbapi.rollback()


row_values = itemgetter(*ROW_COLUMNS)
INSERT_SQL = {
    dialect: f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join([mark] * len(ROW_COLUMNS))})"
    for dialect, mark in MARKS.items()
}


def insert_rows(dbapi: Any, backend: str, rows: list[Row]) -> None:
    """Insert `rows` on a driver connection, in its current transaction."""
    if not rows:
        return
    if backend == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_rows(dbapi, rows)
        return
    if len(rows) == 1:  # a single append
        dbapi.execute(INSERT_SQL[backend], rows[0])
        return
    # Positional rows straight to the driver: SQLAlchemy's per-row parameter handling was a
    # large share of a bulk import, and no events column has a bind processor. (psycopg sends
    # an executemany's statements pipelined; each holds one row, far below the size at which
    # a pipeline can stall on a full socket buffer.)
    if backend == "sqlite":
        for chunk in chunks(rows, 5000):
            dbapi.executemany(INSERT_SQL[backend], chunk)
        return
    with dbapi.cursor() as cursor:
        for chunk in chunks(rows, 5000):
            cursor.executemany(INSERT_SQL[backend], chunk)


COPY_SQL = f"COPY events ({', '.join(ROW_COLUMNS)}) FROM STDIN"


def _copy_rows(dbapi: Any, rows: list[Row]) -> None:
    """Insert with PostgreSQL COPY, in the current transaction (fastest bulk path)."""
    with CopyStream(dbapi, "postgresql") as stream:
        for r in rows:
            stream.write(r)


class CopyStream:
    """Rows written into a PostgreSQL COPY as they are made (on other backends: off).

    The server inserts what it has received while the caller makes the next rows. The COPY is
    opened by the first row and must be closed (`close`, which waits for the server to finish)
    before the connection runs any other statement; a row after that opens a new COPY. On an
    exception the COPY is ended with an error, so the server discards it. A stream made with
    `on` false is off (a dry run's: it writes nothing).
    """

    def __init__(self, dbapi: Any, backend: str, *, on: bool = True) -> None:
        self._dbapi = dbapi
        self.on = on and backend == "postgresql"
        self._cursor: Any = None
        self._open: Any = None  # the context manager of the open COPY
        self._copy: Any = None

    def write(self, row: Row) -> None:
        """Send one row (in `ROW_COLUMNS` order), opening a COPY if none is open."""
        if self._copy is None:
            self._cursor = self._dbapi.cursor()
            self._open = self._cursor.copy(COPY_SQL)
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

    def __enter__(self) -> CopyStream:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, _tb: object) -> None:
        if exc is None:
            self.close()
        else:
            with suppress(Exception):  # the caller's error is the one to report
                self.close(exc)
