"""Shared fixtures: every store test runs on a SQLite file and on PostgreSQL.

PostgreSQL tests use the server at $REVLEDGER_TEST_PG_URL, each in a schema of its own that is
dropped afterwards; without the variable they are skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from cli.main import cli
from ledger.envelope import NewEvent
from ledger.events import LedgerConfigured
from ledger.jsonl import ImportParser
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant

# Property tests judge correctness, not speed: on a busy two-core machine generating a history
# can be slow, which must not fail a run.
settings.register_profile("revledger", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("revledger")

PG_URL = os.environ.get("REVLEDGER_TEST_PG_URL")
PG_SKIP_REASON = "REVLEDGER_TEST_PG_URL is not set, so the PostgreSQL variant is skipped"
BACKENDS = ["sqlite", "postgresql"]


def pg_schema_url(schema: str) -> str:
    """Return the test server URL with `schema` as its search_path."""
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """Yield a fresh PostgreSQL schema name, dropped (with its tables) afterwards."""
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    schema = f"rl_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database location for a new ledger: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    schema = request.getfixturevalue("pg_schema")
    return pg_schema_url(schema)


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    """An initialised ledger (default pipeline, UTC) on each backend."""
    s = LedgerStore.open(db_url, create=True)
    s.append(NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "test", "test"))
    yield s
    s.close()


def events_from(lines: list[str], *, start_line: int = 1) -> list[NewEvent]:
    """Return NewEvents parsed from JSON import lines (UTC, actor 'test')."""
    parser = ImportParser(timezone="UTC", actor="test", source_name="inline.jsonl")
    return [parser.parse(line, n) for n, line in enumerate(lines, start=start_line)]


CLOCK_MODULES = ("ledger.store.batch", "ledger.operations", "queries.common")
"""The modules whose `utc_now` a CLI test pins (recording time, and "today" of queries)."""


@pytest.fixture
def cli_at_clock(
    monkeypatch: pytest.MonkeyPatch, db_url: str, clock: list[datetime]
) -> Callable[..., Result]:
    """Run `revledger --db <test ledger> ARGS` in-process, the clock pinned to `clock[0]`.

    Each test module defines `clock` (its starting time); a test may move `clock[0]`.
    """
    for where in CLOCK_MODULES:
        monkeypatch.setattr(f"{where}.utc_now", lambda: clock[0])

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args], prog_name="revledger")

    return invoke
