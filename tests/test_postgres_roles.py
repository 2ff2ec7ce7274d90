"""PostgreSQL for teams: a role that may only read and insert appends; a reader whose
transactions are read-only (a hot standby, `default_transaction_read_only`) gets every answer;
a write that waits too long for the ledger's write lock fails instead of waiting for ever."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bench.generate import write_import
from cli.main import cli
from ledger.envelope import NewEvent
from ledger.errors import EXIT_STORAGE, StorageError
from ledger.events import QuotaSet
from ledger.operations import import_file, verify_ledger
from ledger.store import LedgerStore
from ledger.store import transaction as transaction_module
from ledger.store.engine import database_reason, is_locked, is_read_only, write_refused
from ledger.timeutil import parse_instant
from tests.conftest import PG_URL, pg_schema_url

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample-ledger.jsonl"


def invoke(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], prog_name="revledger")


@pytest.fixture
def ledger(pg_schema: str) -> str:
    """The sample ledger in a schema of its own, written by the server's superuser."""
    db = pg_schema_url(pg_schema)
    assert invoke(db, "init").exit_code == 0
    assert invoke(db, "import", str(SAMPLE)).exit_code == 0
    return db


@pytest.fixture
def role_url(pg_schema: str) -> Iterator[Callable[..., str]]:
    """Return a maker of URLs for new login roles granted `privileges` on the schema's tables;
    the roles are dropped afterwards."""
    assert PG_URL
    engine = create_engine(PG_URL)
    made: list[str] = []

    def make(privileges: str, *, options: str = "") -> str:
        role = f"rl_role_{uuid.uuid4().hex[:10]}"
        made.append(role)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA {pg_schema} TO {role}"))
            conn.execute(text(f"GRANT {privileges} ON ALL TABLES IN SCHEMA {pg_schema} TO {role}"))
        url = make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3D{pg_schema}{options}"

    yield make
    with engine.begin() as conn:
        for role in made:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


def test_a_role_that_may_only_select_and_insert_appends(ledger: str, role_url) -> None:
    writer = role_url("SELECT, INSERT")

    done = invoke(writer, "record", "quota_set", "--period", "2026-Q4", "--amount", "100")

    assert done.exit_code == 0, done.stderr
    assert invoke(writer, "verify").stdout.startswith("ok: 44 events, hash chain intact")


def test_a_reader_in_read_only_transactions_answers_from_a_read_model_it_cannot_save(
    ledger: str, role_url
) -> None:
    reader = role_url("SELECT", options="%20-cdefault_transaction_read_only%3Don")
    assert invoke(ledger, "arr", "--as-of", "2026-06-30").exit_code == 0  # saves the read model
    assert (
        invoke(ledger, "record", "quota_set", "--period", "2026-Q4", "--amount", "1").exit_code == 0
    )

    answers = [
        invoke(db, "arr", "--as-of", "2026-06-30", "--format", "json") for db in (reader, ledger)
    ]

    assert answers[0].exit_code == 0, answers[0].stderr
    assert json.loads(answers[0].stdout)["rows"] == json.loads(answers[1].stdout)["rows"]
    refused = invoke(reader, "record", "quota_set", "--period", "2026-Q4", "--amount", "2")
    assert refused.exit_code == EXIT_STORAGE
    assert refused.stderr.endswith(
        "(cannot execute INSERT in a read-only transaction): recording and importing need a "
        "session that may write (not a standby server, nor one with "
        "default_transaction_read_only); an import's --dry-run needs only to read it.\n"
    )
    checked = invoke(reader, "import", str(SAMPLE), "--dry-run")
    assert (checked.exit_code, checked.stderr) == (0, "")
    assert checked.stdout.startswith("sample-ledger.jsonl: 42 events read, would append 0, 42 ")
    rebuilt = invoke(reader, "rebuild")
    assert rebuilt.exit_code == EXIT_STORAGE
    assert rebuilt.stderr.endswith(
        "(cannot execute DELETE in a read-only transaction): rebuilding them needs a session "
        "that may write (not a standby server, nor one with default_transaction_read_only)\n"
    )


def test_a_write_that_waits_too_long_for_the_lock_fails(
    ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait, lock, restore = transaction_module.LOCK_STATEMENTS
    assert wait.startswith("SET LOCAL lock_timeout")
    monkeypatch.setattr(
        transaction_module,
        "LOCK_STATEMENTS",
        ("SET LOCAL lock_timeout = '200ms'", lock, restore),
    )
    holder = create_engine(ledger)
    with holder.connect() as conn, conn.begin(), LedgerStore.open(ledger) as store:
        conn.execute(text(lock))  # a session that took the write lock and sits on it
        head = store.head()
        with pytest.raises(StorageError) as refused:
            store.append(
                NewEvent(
                    QuotaSet(period="2026-Q4", amount=5), parse_instant("2026-01-01"), "t", "t"
                )
            )
        assert store.head() == head
    holder.dispose()
    assert "another process held the ledger's write lock for more than 120 s" in str(refused.value)


def test_a_role_that_may_only_select_is_told_what_writing_needs_and_may_dry_run(
    ledger: str, role_url, tmp_path: Path
) -> None:
    reader = role_url("SELECT")
    head = invoke(ledger, "verify").stdout
    lines = tmp_path / "one.jsonl"
    lines.write_text(
        '{"type":"quota_set","effective_at":"2026-10-01","period":"2026-Q4","amount":"9"}\n'
    )
    for args in (
        ("record", "quota_set", "--period", "2026-Q4", "--amount", "2"),
        ("import", str(lines)),
    ):
        refused = invoke(reader, *args)
        assert (refused.exit_code, refused.stdout) == (EXIT_STORAGE, "")
        assert refused.stderr == (
            "revledger: this connection may not write to the ledger (permission denied for table "
            "events): recording and importing need INSERT on the events table; an import's "
            "--dry-run needs only to read it.\n"
        )
    checked = invoke(reader, "import", str(lines), "--dry-run")
    assert (checked.exit_code, checked.stderr) == (0, "")
    assert checked.stdout.startswith("one.jsonl: 1 event read, would append 1, 0 already recorded")
    assert invoke(ledger, "verify").stdout == head


def test_checking_the_read_model_needs_to_read_it(ledger: str, role_url) -> None:
    assert invoke(ledger, "arr").exit_code == 0  # saves the read model
    reader = role_url("SELECT")
    assert invoke(reader, "rebuild", "--check").exit_code == 0
    engine = create_engine(ledger)
    with engine.begin() as conn:
        conn.execute(text(f"REVOKE SELECT ON checkpoints FROM {make_url(reader).username}"))
    engine.dispose()
    assert invoke(reader, "arr").exit_code == 0  # answers from the log
    not_rebuilt = invoke(reader, "rebuild")
    assert (not_rebuilt.exit_code, not_rebuilt.stderr) == (
        EXIT_STORAGE,
        "revledger: this connection may not change the saved read models (permission denied "
        "for table checkpoints): rebuilding them needs DELETE, INSERT and UPDATE on "
        "checkpoints.\n",
    )
    refused = invoke(reader, "rebuild", "--check")
    assert (refused.exit_code, refused.stdout) == (EXIT_STORAGE, "")
    assert refused.stderr == (
        "revledger: this connection may not read the saved read models (permission denied for "
        "table checkpoints): checking them needs SELECT on checkpoints.\n"
    )


def test_verify_as_a_role_allowed_one_connection_says_so_and_ends(ledger: str, role_url) -> None:
    reader = role_url("SELECT")
    engine = create_engine(ledger)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER ROLE {make_url(reader).username} CONNECTION LIMIT 1"))
    engine.dispose()

    # verify reads the log and its index columns at once, on two connections.
    with LedgerStore.open(reader) as store:
        with pytest.raises(OperationalError, match="too many connections for role"):
            verify_ledger(store)
        # The read that had started is closed, its connection back in the pool: left to the
        # garbage collector, it was closed in its read-ahead thread, which then waited for
        # itself, and the command never ended.
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    refused = invoke(reader, "verify")
    assert refused.exit_code == EXIT_STORAGE
    assert refused.stderr.endswith(
        f'too many connections for role "{make_url(reader).username}".\n'
    )


def test_a_search_path_naming_no_schema_is_said(pg_schema: str) -> None:
    db = pg_schema_url(f"{pg_schema}_missing")
    asked, created = invoke(db, "arr"), invoke(db, "init")

    assert (asked.exit_code, created.exit_code) == (EXIT_STORAGE, EXIT_STORAGE)
    assert asked.stderr.endswith(
        f"is not a revledger ledger: its search_path ({pg_schema}_missing) names no schema that "
        "exists or that this role may use.\n"
    )
    assert created.stderr.endswith(
        "the search_path (of the URL, or the one set for the database or role) names no schema "
        "that exists or that this role may use (create the schema first, or grant its use)\n"
    )


def test_a_search_path_that_the_role_sets_naming_no_schema_is_said(role_url) -> None:
    role = make_url(role_url("SELECT")).username
    assert PG_URL
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER ROLE {role} SET search_path = ''"))
    engine.dispose()
    bare = make_url(PG_URL).set(username=role).render_as_string(hide_password=False)

    created = invoke(bare, "init")

    assert created.exit_code == EXIT_STORAGE
    assert created.stderr.endswith(
        ": the search_path (of the URL, or the one set for the database or role) names no "
        "schema that exists or that this role may use (create the schema first, or grant its "
        "use)\n"
    )


def test_a_role_that_may_not_create_in_the_schema_is_told_what_init_needs(
    pg_schema: str, role_url
) -> None:
    refused = invoke(role_url("SELECT"), "init")

    assert (refused.exit_code, refused.stdout) == (EXIT_STORAGE, "")
    assert refused.stderr == (
        "revledger: this connection may not create the ledger's tables (permission denied for "
        f"schema {pg_schema}): init needs CREATE on the schema the search_path names first (and "
        "on the default_tablespace, where the database or role sets one)\n"
    )


def _driver_error(error: Exception) -> Exception:
    """Return `error`, a psycopg error, as SQLAlchemy raises it."""
    from psycopg import errors

    return DBAPIError.instance("INSERT INTO events …", None, error, errors.Error)


def test_postgresql_errors_are_recognised_in_the_language_the_server_speaks() -> None:
    from psycopg import errors

    # As a server with lc_messages = 'de_DE.UTF-8' words them: known by their SQLSTATE.
    denied = _driver_error(errors.InsufficientPrivilege("Keine Berechtigung für Tabelle events"))
    read_only = _driver_error(
        errors.ReadOnlySqlTransaction("kann INSERT nicht in einer Read-only-Transaktion ausführen")
    )
    locked = _driver_error(
        errors.LockNotAvailable("Abbruch des Befehls wegen Zeitüberschreitung einer Sperre")
    )
    no_schema = _driver_error(
        errors.InvalidSchemaName("kein Schema für die Objekterzeugung ausgewählt")
    )

    assert is_read_only(denied) and is_read_only(read_only)
    assert str(write_refused(denied, "postgresql")).startswith(
        "this connection may not write to the ledger (Keine Berechtigung für Tabelle events): "
        "recording and importing need INSERT on the events table"
    )
    assert "need a session that may write" in str(write_refused(read_only, "postgresql"))
    assert is_locked(locked) and not is_locked(denied)
    assert database_reason(locked).startswith("another process held the ledger's write lock")
    assert database_reason(no_schema).startswith("the search_path (of the URL, or the one set")


def test_a_lock_on_the_events_table_held_beyond_the_lock_timeout_of_the_role_is_said(
    ledger: str, role_url
) -> None:
    writer = role_url("SELECT, INSERT", options="%20-clock_timeout%3D50ms")
    holder = create_engine(ledger)
    with holder.connect() as conn, conn.begin():
        conn.execute(text("LOCK TABLE events IN SHARE MODE"))  # INSERT waits for it
        refused = invoke(writer, "record", "quota_set", "--period", "2026-Q4", "--amount", "1")
    holder.dispose()

    assert (refused.exit_code, refused.stdout) == (EXIT_STORAGE, "")
    assert refused.stderr == (
        "revledger: database error: another process held the ledger's write lock for more than "
        "120 s, or a lock on its tables for longer than the lock_timeout that the database, the "
        "role or the URL sets; try again when it has finished.\n"
    )


def test_a_statement_timeout_is_named() -> None:
    from psycopg import errors

    cancelled = _driver_error(errors.QueryCanceled("canceling statement due to statement timeout"))

    assert database_reason(cancelled) == (
        "canceling statement due to statement timeout (a statement ran longer than the "
        "statement_timeout that the database, the role or the URL sets, or an administrator "
        "cancelled it; a longer one for the ledger's connections can be given in the URL: "
        "?options=-cstatement_timeout%3D0)"
    )


def test_an_empty_schema_is_no_ledger_yet_and_one_with_other_tables_is_not_a_ledger(
    pg_schema: str,
) -> None:
    db = pg_schema_url(pg_schema)
    empty = invoke(db, "arr")
    assert (empty.exit_code, empty.stdout) == (EXIT_STORAGE, "")
    assert empty.stderr.endswith(
        f"(schema {pg_schema} has no tables); run `revledger init` or point --db at one.\n"
    )
    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id integer)"))
    engine.dispose()
    foreign = invoke(db, "arr")
    assert foreign.exit_code == EXIT_STORAGE
    assert foreign.stderr.endswith("is not a revledger ledger.\n")


def test_a_ledger_of_an_older_schema_waits_for_a_role_that_may_write_to_migrate_it(
    ledger: str, pg_schema: str, role_url
) -> None:
    assert PG_URL
    engine = create_engine(PG_URL)
    with engine.begin() as conn:  # as a ledger written by the release before version 2 was
        conn.execute(text(f"UPDATE {pg_schema}.revledger_meta SET value = '1'"))
        conn.execute(text(f"DROP TABLE {pg_schema}.checkpoints"))
        conn.execute(text(f"DROP INDEX {pg_schema}.ix_events_recorded_at"))
    engine.dispose()
    reader = role_url("SELECT")

    before = invoke(reader, "arr")
    migrated = invoke(ledger, "verify")
    after = invoke(reader, "arr")

    assert before.exit_code == EXIT_STORAGE
    assert (
        "holds a ledger of schema version 1, which this release reads once it is migrated to "
        "version 2, and this connection may not change its tables" in before.stderr
    )
    assert (migrated.exit_code, after.exit_code) == (0, 0)


def test_only_the_wait_for_the_write_lock_is_bounded_not_the_rest_of_the_write(
    ledger: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A long import analyses the table between its chunks; behind a VACUUM (which holds what
    ANALYZE needs) it waits as long as that takes, as any statement would."""
    _wait, lock, restore = transaction_module.LOCK_STATEMENTS
    monkeypatch.setattr(
        transaction_module,
        "LOCK_STATEMENTS",
        ("SET LOCAL lock_timeout = '200ms'", lock, restore),
    )
    events = tmp_path / "events.jsonl"
    write_import(events, 25_000, 7)
    assert PG_URL
    vacuum = create_engine(PG_URL)
    held = threading.Event()

    def hold() -> None:
        with vacuum.connect() as conn, conn.begin():
            conn.execute(text(f"LOCK TABLE {pg_schema}.events IN SHARE UPDATE EXCLUSIVE MODE"))
            held.set()
            time.sleep(3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with LedgerStore.open(ledger) as store:
        done = import_file(store, events, actor="t")
    holder.join()
    vacuum.dispose()
    assert done.appended == 25_000
