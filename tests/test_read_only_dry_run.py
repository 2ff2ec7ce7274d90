"""`import --dry-run` only reads: it checks a file against the ledger (schema, rules, what is
recorded) for someone who may only read it — a SQLite file opened read-only, a PostgreSQL role
with SELECT alone — and reports what the import would do, as it does for a writer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cli.main import cli
from ledger import operations
from ledger.errors import EXIT_CONFLICT, EXIT_STORAGE, EXIT_VALIDATION
from tests.conftest import PG_URL

CLOCK = datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)
EXPANSION = "00000000-0000-4000-8000-0000000000e1"
OPEN_D7 = {
    "type": "deal_opened",
    "effective_at": "2026-01-05",
    "deal_id": "D-7",
    "account_id": "A-7",
    "stage": "demo",
    "amount": "1000",
    "expected_close": "2026-06-30",
}
OPEN_D8 = OPEN_D7 | {"deal_id": "D-8", "account_id": "A-8"}
MORE = [
    OPEN_D7,  # recorded before
    OPEN_D8,
    {"type": "contract_signed", "effective_at": "2026-02-01", "deal_id": "D-8", "arr": "900"},
    OPEN_D8,  # the same event as line 2
    {"type": "go_live", "effective_at": "2026-03-01", "account_id": "A-8", "deal_id": "D-8"},
    {
        "type": "expansion",
        "effective_at": "2026-04-01",
        "account_id": "A-8",
        "arr": "50",
        "event_id": EXPANSION,
    },
    {"type": "event_retracted", "effective_at": "2026-04-02", "retracts": EXPANSION, "reason": "x"},
]
"""Checked two lines at a time (see `small_chunks`): the contract, the go-live that stands on
it, the expansion and its retraction, and the repeated line each come chunks after the line
they need."""


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "IMPORT_CHUNK", 2)


@pytest.fixture
def reader(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    """The ledger at `db_url` as someone who may only read it sees it: the SQLite file opened
    read-only (root may write any file, so SQLite itself is told), or a PostgreSQL role with
    USAGE on the ledger's schema and SELECT on its tables (dropped afterwards)."""
    if "://" not in db_url:
        yield f"sqlite:///file:{quote(quote(db_url))}?mode=ro&uri=true"
        return
    assert PG_URL
    schema = request.getfixturevalue("pg_schema")
    role = f"rl_gaps_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        # The ledger's tables, made later by `init`, are readable by the role.
        conn.execute(
            text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}")
        )
    url = make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):
    """Run `revledger --db DB ARGS` in-process at a fixed clock, as actor ana."""
    monkeypatch.setattr("ledger.store.batch.utc_now", lambda: CLOCK)
    monkeypatch.setattr("ledger.operations.utc_now", lambda: CLOCK)
    monkeypatch.setenv("REVLEDGER_ACTOR", "ana")

    def invoke(db: str, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db, *args], prog_name="revledger")

    return invoke


@pytest.fixture
def ledger(at, db_url: str, reader: str, tmp_path: Path) -> str:
    """A ledger holding deal D-7, readable by `reader`."""
    assert at(db_url, "init", "--timezone", "UTC").exit_code == 0
    assert at(db_url, "import", str(write_lines(tmp_path / "base.jsonl", [OPEN_D7]))).exit_code == 0
    return db_url


def test_a_reader_dry_run_reports_what_the_import_would_do_and_writes_nothing(
    at, ledger: str, reader: str, tmp_path: Path, small_chunks: None
) -> None:
    more = write_lines(tmp_path / "more.jsonl", MORE)
    before = at(ledger, "export").stdout

    checked = at(reader, "import", str(more), "--dry-run")
    by_writer = at(ledger, "import", str(more), "--dry-run")

    assert (checked.exit_code, checked.stderr) == (0, "")
    assert (
        checked.stdout
        == by_writer.stdout
        == (
            "more.jsonl: 7 events read, would append 5, 2 already recorded (1 of them the same "
            "event as an earlier line of the file: line 4); head seq 7 (dry run: "
            "nothing written)\n"
        )
    )
    assert at(ledger, "export").stdout == before
    done = at(ledger, "import", str(more))
    assert done.stdout == checked.stdout.replace("would append", "appended").replace(
        " (dry run: nothing written)", ""
    )


def test_a_reader_dry_run_refuses_what_the_import_would_refuse(
    at, ledger: str, reader: str, tmp_path: Path, small_chunks: None
) -> None:
    keyed = {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q1"}
    lines = [
        keyed | {"amount": "5", "idempotency_key": "q-1"},
        OPEN_D8,
        {
            "type": "stage_changed",
            "effective_at": "2026-01-09",
            "deal_id": "D-8",
            "stage": "legal_review",
        },
        keyed | {"amount": "6", "idempotency_key": "q-1"},
    ]
    wrong = write_lines(tmp_path / "wrong.jsonl", lines)

    refused = [at(db, "import", str(wrong), "--dry-run") for db in (reader, ledger)]

    assert [(r.exit_code, r.stderr) for r in refused] == 2 * [
        (
            EXIT_CONFLICT,
            "revledger: line 4: idempotency key 'q-1' was already used by line 1 of this "
            "import with different content.\n",
        )
    ]
    again = lines[2] | {"stage": "demo"}
    same_stage = write_lines(tmp_path / "stage.jsonl", [OPEN_D8, lines[0], again])
    rules = [at(db, "import", str(same_stage), "--dry-run") for db in (reader, ledger)]
    assert [(r.exit_code, r.stderr) for r in rules] == 2 * [
        (EXIT_VALIDATION, "revledger: line 3: deal D-8 is already in stage demo.\n")
    ]


def test_a_reader_checks_taking_an_import_out_but_may_not_write(
    at, ledger: str, reader: str, tmp_path: Path
) -> None:
    more = write_lines(tmp_path / "more.jsonl", MORE[:5])
    assert at(ledger, "import", str(more)).exit_code == 0
    before = at(ledger, "export").stdout

    checked = at(reader, "import", str(more), "--retract", "--reason", "wrong", "--dry-run")
    refused = at(reader, "import", str(more), "--retract", "--reason", "wrong")

    assert (checked.exit_code, checked.stderr) == (0, "")
    assert checked.stdout == (
        at(ledger, "import", str(more), "--retract", "--reason", "wrong", "--dry-run").stdout
    )
    assert checked.stdout.startswith("more.jsonl: 5 events read, would retract 4, ")
    assert refused.exit_code == EXIT_STORAGE
    assert refused.stderr.startswith("revledger: this connection may not write to the ledger (")
    assert refused.stderr.endswith("; an import's --dry-run needs only to read it.\n")
    assert len(refused.stderr.splitlines()) == 1
    assert at(ledger, "export").stdout == before


def test_a_dry_run_creates_no_ledger(at, db_url: str, tmp_path: Path) -> None:
    more = write_lines(tmp_path / "more.jsonl", MORE)
    files = sorted(tmp_path.iterdir())
    targets = [db_url]
    if "://" not in db_url:
        targets.append(f"sqlite:///file:{quote(quote(db_url))}?mode=ro&uri=true")

    for db in targets:
        out = at(db, "import", str(more), "--dry-run")
        assert (out.exit_code, out.stdout) == (EXIT_STORAGE, "")
        assert out.stderr.startswith("revledger: there is no ledger at ")

    assert sorted(tmp_path.iterdir()) == files
    if "://" in db_url:
        assert PG_URL
        schema = db_url.rpartition("search_path%3D")[2]
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
        engine.dispose()
        assert tables == 0


def test_a_reader_checks_a_crm_history(at, ledger: str, reader: str) -> None:
    crm = Path(__file__).resolve().parent.parent / "fixtures" / "crm" / "salesforce"
    args = [
        "import",
        "--from",
        "salesforce",
        str(crm / "OpportunityHistory.csv"),
        "--opportunities",
        str(crm / "Opportunity.csv"),
        "--stage-map",
        str(crm / "stage-map.csv"),
        "--dry-run",
    ]

    checked = at(reader, *args)

    assert (checked.exit_code, checked.stderr) == (0, "")
    assert checked.stdout == at(ledger, *args).stdout
    assert checked.stdout.startswith(
        "OpportunityHistory.csv: 8 rows read (0 skipped) on 2 deals, 16 events derived, would "
        "append 16, 0 already recorded; head seq 18 (dry run: nothing written)"
    )
    assert at(ledger, "verify").stdout.startswith("ok: 2 events")
