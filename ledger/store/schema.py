"""The database schema: the append-only `events` table, its guard triggers, and a meta table.

`revledger_meta` holds `schema_version`. Opening a ledger brings an older schema up to date by
running the steps in `MIGRATIONS` in order, each in the same transaction as the version bump;
a ledger written by a newer release is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)

from ledger.errors import StorageError

SCHEMA_VERSION = 2

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("event_id", String(36), nullable=False),
    Column("type", String(40), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("stream_id", String(120), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("effective_at", String(27), nullable=False),
    Column("recorded_at", String(27), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(500), nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Index columns derived from the payload (and, for deal events, the deal's account). They
    # are not part of the hash; `verify` recomputes and checks them.
    Column("deal_id", String(100), nullable=True),
    Column("account_id", String(100), nullable=True),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    Index("ix_events_deal_id", "deal_id"),
    Index("ix_events_account_id", "account_id"),
    Index("ix_events_type", "type"),
    Index("ix_events_recorded_at", "recorded_at"),
)

ROW_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)
"""The events columns in table order: the order of an inserted row's values."""

meta = Table(
    "revledger_meta",
    metadata,
    Column("key", String(60), primary_key=True),
    Column("value", Text, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    # Persisted read-model state, keyed by name. Derived data, never part of the log: it can be
    # dropped and rebuilt at any time; `absorbed_seq`/`absorbed_hash` pin the log prefix it
    # was computed from.
    Column("name", String(60), primary_key=True),
    Column("absorbed_seq", BigInteger, nullable=False),
    Column("absorbed_hash", String(64), nullable=False),
    Column("state", Text, nullable=False),
    Column("saved_at", String(27), nullable=False),
)

_APPEND_ONLY = "revledger: the events table is append-only"

SQLITE_GUARDS = [
    f"""CREATE TRIGGER IF NOT EXISTS events_reject_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}; UPDATE is rejected'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS events_reject_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}; DELETE is rejected'); END""",
]

POSTGRES_GUARDS = [
    f"""CREATE OR REPLACE FUNCTION revledger_reject_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{_APPEND_ONLY}; % is rejected', TG_OP; END $$""",
    """CREATE OR REPLACE TRIGGER events_reject_update_delete BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION revledger_reject_change()""",
    """CREATE OR REPLACE TRIGGER events_reject_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION revledger_reject_change()""",
]

Migration = Callable[[Connection], None]


def _v1_to_v2(conn: Connection) -> None:
    """Version 2 adds the read-model checkpoints table and an index on recorded_at."""
    checkpoints.create(conn, checkfirst=True)
    # The table's own index object: a new Index(...) on its column would join the table's
    # metadata, and every ledger this process creates afterwards would create it twice.
    recorded_at = next(i for i in events.indexes if i.name == "ix_events_recorded_at")
    recorded_at.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}
"""from_version -> step that brings the schema to from_version + 1."""


def _guards(conn: Connection) -> list[str]:
    return POSTGRES_GUARDS if conn.dialect.name == "postgresql" else SQLITE_GUARDS


def stored_version(conn: Connection) -> int | None:
    """Return the schema version recorded in the database, or None if it is not a ledger."""
    if not inspect(conn).has_table("revledger_meta"):
        return None
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StorageError(
            f"this ledger's schema version reads {row[0]!r}, which is not a version number; "
            "its revledger_meta table was edited by hand"
        ) from None


def up_to_date(found: int | None) -> bool:
    """True when a ledger at schema version `found` needs neither creating nor migrating."""
    return found == SCHEMA_VERSION


def create_schema(conn: Connection) -> None:
    """Create the tables and guard triggers of a new ledger at the current schema version."""
    metadata.create_all(conn)
    for ddl in _guards(conn):
        conn.execute(text(ddl))
    conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def migrate(conn: Connection, found: int) -> None:
    """Bring a ledger at schema version `found` up to SCHEMA_VERSION, or refuse a newer one."""
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"this ledger has schema version {found}, newer than this revledger understands "
            f"({SCHEMA_VERSION}); upgrade revledger to open it"
        )
    version = found
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StorageError(f"no migration from schema version {version}")
        step(conn)
        version += 1
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))
