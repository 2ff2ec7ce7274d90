"""A PostgreSQL ledger takes and gives back any text, whatever the client's encoding says, and
a database that cannot hold any text is refused in one sentence.

PostgreSQL converts text between the database's encoding and the session's client encoding,
which libpq takes from PGCLIENTENCODING (or a database's own setting). The ledger's
connections always speak UTF-8, and a ledger lives only in a UTF8 database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cli.main import cli
from ledger.errors import EXIT_STORAGE
from tests.conftest import PG_SKIP_REASON, PG_URL, pg_schema_url

NAMES = ("Dé-日本 €", "Ä-Ωmega ✓")


def invoke(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], prog_name="revledger")


@pytest.mark.parametrize("client_encoding", ["LATIN1", "SQL_ASCII", "WIN1252"])
def test_ids_beyond_the_client_encoding_are_written_and_read_back(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch, client_encoding: str
) -> None:
    db = pg_schema_url(pg_schema)
    assert invoke(db, "init").exit_code == 0
    monkeypatch.setenv("PGCLIENTENCODING", client_encoding)
    deal, account = NAMES
    opened = invoke(
        db, "record", "deal_opened", "--deal-id", deal, "--account-id", account,
        "--stage", "qualification", "--amount", "5", "--expected-close", "2027-01-31",
        "--effective", "2026-12-01",
    )  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    shown = invoke(db, "log", "--account", account, "--format", "csv")
    assert shown.exit_code == 0, shown.stderr
    assert f"deal:{deal}" in shown.stdout.splitlines()[1]
    assert invoke(db, "verify").exit_code == 0


@pytest.fixture
def database_in() -> Iterator[object]:
    """Return a maker of new databases in a given encoding (dropped afterwards), as URLs."""
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(encoding: str) -> str:
        name = f"rl_enc_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(
                text(
                    f"CREATE DATABASE {name} ENCODING '{encoding}' TEMPLATE template0 "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
        made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_a_ledger_is_not_made_in_a_database_that_is_not_utf8(
    database_in, encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database_in(encoding)
    made = invoke(db, "init")
    assert (made.exit_code, made.stdout) == (EXIT_STORAGE, "")
    assert made.stderr == (
        f"revledger: the PostgreSQL database stores text as {encoding}, and a ledger needs a "
        "UTF8 database: create one with CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0.\n"
    )
    assert "there is no ledger at" in invoke(db, "arr").stderr
    # A ledger an earlier release made there still opens and answers.
    monkeypatch.setattr("ledger.store.store.check_server_encoding", lambda dbapi: None)
    assert invoke(db, "init").exit_code == 0
    monkeypatch.undo()
    assert invoke(db, "verify").exit_code == 0
    assert invoke(db, "arr", "--format", "csv").exit_code == 0
