"""Database engines: a SQLite file by default (WAL, serialised writers) or PostgreSQL by URL."""

from __future__ import annotations

import os
import re
import sqlite3
import time
import warnings
from contextlib import suppress
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SAWarning
from sqlalchemy.util import asbool

from ledger.errors import StorageError

DEFAULT_DB = "revledger.db"
WRITE_OPTION = "revledger_write"
"""Execution option of a connection whose transactions write: BEGIN IMMEDIATE on SQLite, READ
COMMITTED on PostgreSQL (see `READ_COMMITTED`)."""
WAIT_OPTION = "revledger_lock_wait_ms"
"""Execution option of a write connection: how long it waits for a lock — SQLite's write lock
(its BEGIN IMMEDIATE; default `SQLITE_BUSY_TIMEOUT_MS`), PostgreSQL's row and table locks (its
lock_timeout; default the database's)."""
SQLITE_BUSY_TIMEOUT_MS = 120_000
LOCK_POLL_MS = 100
"""SQLite's write lock is waited for in slices this long (see `begin_immediate`)."""
SQLITE_CACHE_KIB = 65_536
"""Page cache per connection: a bulk import touches every index; the default 2 MiB thrashes."""
SQLITE_DRIVER_PARAMETERS = frozenset(
    {"uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
)
"""The parameters of a sqlite:/// URL that Python's sqlite3 driver takes; with `uri=true` the
others are SQLite's own URI parameters (`mode`, `immutable`, `cache`, …)."""
READ_COMMITTED = "ISOLATION LEVEL READ COMMITTED"
"""The isolation of every PostgreSQL write transaction, whatever `default_transaction_isolation`
the database or role sets. A write's statements after the ledger's write lock must see what the
writer before it committed; at REPEATABLE READ or SERIALIZABLE the snapshot would be taken by the
statement that waits for the lock, so two concurrent appends would read the same head and one
would fail (a duplicate seq, or a serialization failure), as would two queries saving the same
read model."""


def driver_connection(conn: Connection) -> Any:
    """Return the database driver's connection under `conn` (in the transaction `conn` holds),
    for statements that run too often to go through SQLAlchemy's execution."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    return dbapi


def resolve_url(db: str) -> str:
    """Return an SQLAlchemy URL for `db`: a SQLite file path or a URL given as is."""
    if not db.strip():
        raise StorageError(
            "no database given: --db (or REVLEDGER_DB) is empty; give a SQLite file path or an "
            "SQLAlchemy URL"
        )
    if "://" in db:
        try:
            make_url(db)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise StorageError(
                f"'{shown(db)}' is not a database path or an SQLAlchemy URL"
            ) from None
        return db
    # Quoted: a URL reads `%41` as `A` and ends the path at `?` or `#`; a file name may hold them.
    return f"sqlite:///{quote(os.path.abspath(db))}"


def shown(db: str) -> str:
    """Return `db` as messages show it: a URL with its password masked, a path as given."""
    if "://" not in db:
        return db
    try:
        u = make_url(db)
        # Rendered again only to mask a password: rendering quotes other characters (`:memory:`).
        text = db if u.password is None else u.render_as_string(hide_password=True)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", text)
    except Exception:  # not a URL SQLAlchemy can read: mask whatever comes before the host
        scheme, _, rest = db.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else db


def read_only_url(path: str) -> str:
    """Return the URL that reads the SQLite file at `path` as an immutable, read-only file
    (no locks, no shared-memory file), for a ledger in a folder that cannot be written."""
    # Quoted twice: the URL's path is unquoted once, and SQLite's URI once more.
    return f"sqlite:///file:{quote(quote(os.path.abspath(path)))}?mode=ro&immutable=1&uri=true"


def sqlite_path(url: str) -> str | None:
    """Return the file path of a SQLite URL, or None for other backends and memory databases.
    With `uri=true` a database written as a SQLite URI (`file:ledger.db`) names the file of
    the URI's path."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    if not _sqlite_uri(u):
        return u.database
    # SQLite's URI: `file:`, an optional `//` and authority (empty or `localhost`), the path
    # up to a query or fragment, percent-encoded once more than the URL's path.
    path = u.database.removeprefix("file:")
    if path.startswith("//"):
        path = "/" + path[2:].partition("/")[2]
    path = unquote(re.split(r"[?#]", path, maxsplit=1)[0])
    if u.query.get("mode") == "memory" or path in ("", ":memory:"):
        return None
    return path


def sqlite_url_in_file(url: str, path: str) -> str:
    """Return the SQLite URL `url` opening the file `path` in place of its own, with the same
    parameters: written as a SQLite URI (`file:PATH`) when `url` writes its database as one,
    so that SQLite still takes the URI's parameters (`mode`, `cache`, …)."""
    u = make_url(url)
    database = f"file:{quote(path, safe='/')}" if _sqlite_uri(u) else path
    return u.set(database=database).render_as_string(hide_password=False)


def _uri_true(u: URL) -> bool:
    """Return whether the SQLite URL `u` says `uri=true` (as the driver reads it)."""
    given = u.query.get("uri", "false")
    return bool(asbool(given[-1] if isinstance(given, tuple) else given))


def _sqlite_uri(u: URL) -> bool:
    """Return whether the SQLite URL `u` opens its database as a SQLite URI: `uri=true` and a
    database written `file:…` (SQLite reads any other name as a plain file name)."""
    return _uri_true(u) and (u.database or "").startswith("file:")


def same_ledger(a: str, b: str) -> bool:
    """True when the databases `a` and `b` (paths or URLs) name the same ledger: the same
    SQLite file however its path is written, or the same URL."""
    if a == b:
        return True
    try:
        path_a, path_b = sqlite_path(resolve_url(a)), sqlite_path(resolve_url(b))
    except StorageError:  # not a URL: the command says so later
        return False
    if path_a is None or path_b is None:
        return False
    return os.path.realpath(path_a) == os.path.realpath(path_b)


def make_engine(url: str, *, named: str | None = None) -> Engine:
    """Return an engine for `url` configured for the ledger's transaction discipline; its
    errors name the database `named` (default: `url`).

    SQLite: WAL journal, full fsync at commit, foreign keys on, a 64 MiB page cache, and write
    transactions opened with BEGIN IMMEDIATE so concurrent writers queue instead of failing.
    PostgreSQL: write transactions take an advisory lock (see the store) so `seq` order is commit
    order.
    """
    try:
        u = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise StorageError(f"'{shown(url)}' is not a database path or an SQLAlchemy URL") from exc
    if u.drivername == "postgres":  # as Heroku and others write it
        u = u.set(drivername="postgresql")
    backend = u.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, url if named is None else named)
    if backend == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        if u.drivername != "postgresql+psycopg":
            raise StorageError(
                f"revledger talks to PostgreSQL through psycopg 3, not {u.get_driver_name()}: "
                "write the URL as postgresql+psycopg://… (or postgresql://…)"
            )
        try:
            # Text goes to and from the server as UTF-8 whatever PGCLIENTENCODING or the
            # database's settings say: a ledger's ids and notes may hold any character.
            engine = create_engine(u, pool_pre_ping=False, connect_args={"client_encoding": "utf8"})
        except ModuleNotFoundError as exc:
            raise StorageError(
                "PostgreSQL needs the psycopg driver: pip install 'psycopg[binary]' (or, in the "
                "project's folder, pip install -e '.[postgres]')"
            ) from exc

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get(WRITE_OPTION, False):
                # psycopg opens the transaction with its first statement, so these lead it.
                dbapi = driver_connection(conn)
                dbapi.execute(f"SET TRANSACTION {READ_COMMITTED}")
                wait_ms = options.get(WAIT_OPTION)
                if wait_ms is not None:
                    dbapi.execute(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'")

        return engine
    raise StorageError(f"unsupported database backend '{backend}'; use SQLite or PostgreSQL")


def _sqlite_engine(url: str, named: str) -> Engine:
    u = make_url(url)
    uri_parameters = sorted(set(u.query) - SQLITE_DRIVER_PARAMETERS)
    if uri_parameters and _uri_true(u) and not _sqlite_uri(u):
        # The driver appends them to the name, and SQLite, reading a name that does not
        # begin with `file:` as a plain file name, would open (or make) `ledger.db?mode=ro`.
        listed = ", ".join(f"'{name}'" for name in uri_parameters)
        raise StorageError(
            f"cannot open the database {shown(named)}: SQLite takes its URI parameter(s) "
            f"{listed} only from a database written as a URI (file:PATH), such as "
            "sqlite:///file:ledger.db?mode=ro&uri=true"
        )
    with warnings.catch_warnings():
        # A URL parameter the driver would ignore (`?mode=ro` without `uri=true`) is refused,
        # not dropped with a warning: the ledger would be opened otherwise than it asks.
        warnings.simplefilter("error", SAWarning)
        try:
            engine = create_engine(url)
        except SAWarning as exc:
            text = str(exc).partition(" (Background")[0]
            names = re.search(r"argument\(s\) (.+?) are not accepted", text)
            if names:
                text = (
                    f"the SQLite driver does not take the URL parameter(s) {names[1]} (SQLite's "
                    "own URI parameters need the database written as a URI and uri=true, such "
                    "as sqlite:///file:ledger.db?mode=ro&uri=true)"
                )
            raise StorageError(f"cannot open the database {shown(named)}: {text}") from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        # Straight to the driver: this runs for every transaction, appends included.
        if options.get(WRITE_OPTION, False):
            begin_immediate(driver_connection(conn), wait_ms=options.get(WAIT_OPTION))
        else:
            driver_connection(conn).execute("BEGIN")

    return engine


def check_server_encoding(dbapi: Any) -> None:
    """Raise StorageError when the PostgreSQL database under the driver connection `dbapi`
    does not store text as UTF-8 (a LATIN1 or SQL_ASCII database cannot hold every id and
    note a ledger takes, or does not check them)."""
    name = dbapi.info.parameter_status("server_encoding") or "an unknown encoding"
    if name.upper() != "UTF8":
        raise StorageError(
            f"the PostgreSQL database stores text as {name}, and a ledger needs a UTF8 "
            "database: create one with CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0"
        )


def begin_immediate(dbapi: Any, *, wait_ms: int | None = None) -> None:
    """Begin a write transaction on the SQLite driver connection `dbapi`, waiting up to
    `wait_ms` (default `SQLITE_BUSY_TIMEOUT_MS`) for the write lock, then raising SQLite's
    "database is locked".

    The wait is taken in slices of `LOCK_POLL_MS`: SQLite's own busy wait is one call that
    returns only when it ends, so a Ctrl-C or SIGTERM during a wait of two minutes would be
    handled only after it; between slices the interpreter runs the signal's handler.
    """
    if wait_ms is None:
        wait_ms = SQLITE_BUSY_TIMEOUT_MS
    deadline = time.monotonic() + wait_ms / 1000
    dbapi.execute(f"PRAGMA busy_timeout = {min(LOCK_POLL_MS, wait_ms)}")
    try:
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
    finally:
        with suppress(sqlite3.Error):  # a broken connection: its own error says so
            dbapi.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def database_reason(exc: BaseException) -> str:
    """Return the first line of a database failure's message (of the driver's error, when
    SQLAlchemy wraps one), said plainly when it is a full disk, a wait for a lock running out
    (SQLite's busy timeout, PostgreSQL's lock_timeout), a search_path naming no schema, or
    PostgreSQL's statement_timeout. PostgreSQL's errors are recognised by their SQLSTATE, so
    also when the server speaks another language (`lc_messages`)."""
    reason = _first_line(exc)
    state = _sqlstate(exc)
    if is_disk_full(exc):
        where = "the database server's disk" if state else "the disk holding the ledger"
        return f"{where} is full ({reason}); free space on it and try again"
    if state == _PG_INVALID_SCHEMA:
        return (
            "the search_path (of the URL, or the one set for the database or role) names no "
            "schema that exists or that this role may use (create the schema first, or grant "
            "its use)"
        )
    if reason == _LOCKED:
        return (
            "another process holds the ledger's write lock and did not release it within "
            f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s; try again when it has finished"
        )
    if state == _PG_LOCK_NOT_AVAILABLE:
        # The same error whichever lock it waited for: the ledger's write lock, waited for
        # 120 s, or a lock on its tables (someone's LOCK TABLE, say), waited for as long as the
        # lock_timeout that the database or role sets.
        return (
            "another process held the ledger's write lock for more than "
            f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s, or a lock on its tables for longer than the "
            "lock_timeout that the database, the role or the URL sets; try again when it has "
            "finished"
        )
    if state == _PG_QUERY_CANCELED:
        return (
            f"{reason} (a statement ran longer than the statement_timeout that the database, "
            "the role or the URL sets, or an administrator cancelled it; a longer one for the "
            "ledger's connections can be given in the URL: ?options=-cstatement_timeout%3D0)"
        )
    return reason


_LOCKED = "database is locked"
_PG_INSUFFICIENT_PRIVILEGE = "42501"
_PG_READ_ONLY_TRANSACTION = "25006"
_PG_LOCK_NOT_AVAILABLE = "55P03"
_PG_INVALID_SCHEMA = "3F000"
_PG_QUERY_CANCELED = "57014"
_PG_DISK_FULL = "53100"
_SQLITE_DISK_FULL = ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE")
"""SQLite's errors of a full disk: a write that found no room, and the shared-memory file
(`-shm`) that a connection reads a WAL ledger through, which could not be grown."""


def _sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a PostgreSQL error (of the driver's error, when SQLAlchemy wraps
    one); None for other errors."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig if orig is not None else exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` says the disk holding the database is full: SQLite's SQLITE_FULL or
    SQLITE_IOERR_SHMSIZE, PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = getattr(exc, "orig", None)
    name = getattr(orig if orig is not None else exc, "sqlite_errorname", None)
    return name in _SQLITE_DISK_FULL or _sqlstate(exc) == _PG_DISK_FULL


def is_read_only(exc: BaseException) -> bool:
    """True when `exc` says this connection may not write: a SQLite file or folder it cannot
    write, a PostgreSQL role without the privilege, or a read-only PostgreSQL transaction (a
    hot standby, `default_transaction_read_only`)."""
    return _first_line(exc).startswith("attempt to write a readonly database") or _sqlstate(
        exc
    ) in (_PG_INSUFFICIENT_PRIVILEGE, _PG_READ_ONLY_TRANSACTION)


def access_refused(exc: BaseException, action: str, needs: str) -> StorageError:
    """Return the error of a connection refused what `action` needs (`exc`, one that
    `is_read_only` recognises), saying what it would take."""
    return StorageError(f"this connection may not {action} ({database_reason(exc)}): {needs}")


def write_needs(exc: BaseException, backend: str, privileges: str) -> str:
    """Return what a write refused with `exc` needs: a session that may write (in a read-only
    one), the PostgreSQL `privileges`, or on SQLite a ledger file and folder it may write."""
    if _sqlstate(exc) == _PG_READ_ONLY_TRANSACTION:
        return (
            "a session that may write (not a standby server, nor one with "
            "default_transaction_read_only)"
        )
    if backend == "postgresql":
        return privileges
    return "a ledger file and folder it may write"


def write_refused(exc: BaseException, backend: str) -> StorageError:
    """Return the error of an append refused for want of write access, saying what recording
    and importing need on `backend` (or in a read-only session)."""
    needs = write_needs(exc, backend, "INSERT on the events table")
    return access_refused(
        exc,
        "write to the ledger",
        f"recording and importing need {needs}; an import's --dry-run needs only to read it",
    )


def is_locked(exc: BaseException) -> bool:
    """True when `exc` is a lock wait running out: SQLite's busy timeout (another connection
    held the database's write lock) or PostgreSQL's `lock_timeout`."""
    return _first_line(exc) == _LOCKED or _sqlstate(exc) == _PG_LOCK_NOT_AVAILABLE
