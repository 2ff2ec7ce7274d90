"""The command line end to end: exact output of each format, and the newcomer walkthrough."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cli.main import COMMAND_MODULES, cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)

E1 = "00000000-0000-4000-8000-000000000001"
E2 = "00000000-0000-4000-8000-000000000002"
LINES = [
    {
        "type": "deal_opened",
        "event_id": E1,
        "effective_at": "2026-01-05",
        "deal_id": "D-1",
        "account_id": "A-1",
        "stage": "demo",
        "amount": "100000",
        "expected_close": "2026-06-30",
        "personas": ["cmio", "cfo"],
    },
    {
        "type": "contract_signed",
        "event_id": E2,
        "effective_at": "2026-03-01T14:30:00-05:00",
        "deal_id": "D-1",
        "arr": "98000.50",
        "baa_signed": True,
    },
]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str):
    """Run `revledger --db <ledger> ARGS` in-process with a fixed clock and actor."""
    monkeypatch.setattr("ledger.store.store.utc_now", lambda: CLOCK)
    monkeypatch.setattr("ledger.operations.utc_now", lambda: CLOCK)
    monkeypatch.setenv("REVLEDGER_ACTOR", "ana")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    return invoke


@pytest.fixture
def inline_file(tmp_path: Path) -> Path:
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")
    return path


def test_import_reports_counts_and_rerunning_appends_nothing(run) -> None:
    assert run("init").exit_code == 0
    sample = FIXTURES / "sample-ledger.jsonl"
    first = run("import", str(sample))
    assert first.exit_code == 0, first.stderr
    assert first.stdout == (
        "sample-ledger.jsonl: 42 events read, appended 42, 0 already recorded; head seq 43\n"
    )
    again = run("import", str(sample))
    assert again.stdout == (
        "sample-ledger.jsonl: 42 events read, appended 0, 42 already recorded; head seq 43\n"
    )


def test_dry_run_says_so_and_writes_nothing(run, inline_file: Path) -> None:
    run("init")
    out = run("import", "--dry-run", str(inline_file))
    assert out.stdout == (
        "two.jsonl: 2 events read, would append 2, 0 already recorded; head seq 3 "
        "(dry run: nothing written)\n"
    )
    assert "1 events" in run("log").stdout


def test_record_prints_seq_and_event_id(run) -> None:
    run("init")
    out = run(
        "record", "quota-set", "--period", "2026-Q4", "--amount", "500000", "--format", "json"
    )
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["meta"] == {}
    [row] = doc["rows"]
    assert row["seq"] == 2 and row["type"] == "quota_set" and row["stream_id"] == "ledger"
    assert row["stream_version"] == 2 and row["duplicate"] is False
    plain = run("record", "quota_set", "--period", "2027-Q1", "--amount", "1")
    assert plain.stdout.startswith("seq 3  event_id ")


OPENED_SUMMARY = (
    "deal_id=D-1 account_id=A-1 stage=demo amount=100000 expected_close=2026-06-30 "
    "personas=cmio,cfo"
)


def test_log_table(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    out = run("log", "--deal", "D-1")
    assert out.stdout == (
        "2 events\n"
        "\n"
        "seq  effective            recorded             type             stream    actor  payload\n"
        "---  -------------------  -------------------  ---------------  --------  -----  "
        + "-"
        * len(OPENED_SUMMARY)
        + "\n"
        "  2  2026-01-05 00:00:00  2026-11-02 15:04:05  deal_opened      deal:D-1  ana    "
        + OPENED_SUMMARY
        + "\n"
        "  3  2026-03-01 19:30:00  2026-11-02 15:04:05  contract_signed  deal:D-1  ana    "
        "deal_id=D-1 arr=98000.5 term_months=12 baa_signed=True standard_terms=False\n"
        "\n"
        "query: deal D-1\n"
        f"head: seq 3, hash {_head_hash(run)}\n"
    )


def _head_hash(run) -> str:
    doc = json.loads(run("verify", "--format", "json").stdout)
    return str(doc["rows"][0]["head_hash"])


def test_log_json_is_the_full_envelope(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    doc = json.loads(run("log", "--type", "contract_signed", "--format", "json").stdout)
    assert doc["meta"]["query"]["types"] == ["contract_signed"]
    assert doc["meta"]["head"]["seq"] == 3
    [row] = doc["rows"]
    assert list(row) == [
        "seq",
        "event_id",
        "type",
        "schema_version",
        "stream_id",
        "stream_version",
        "effective_at",
        "recorded_at",
        "actor",
        "source",
        "idempotency_key",
        "payload",
        "prev_hash",
        "hash",
    ]
    assert row["event_id"] == E2
    assert row["effective_at"] == "2026-03-01T19:30:00Z"
    assert row["recorded_at"] == "2026-11-02T15:04:05.123456Z"
    assert row["source"] == "import:two.jsonl:2"
    assert row["idempotency_key"].startswith("auto:")
    assert row["payload"] == {
        "arr": "98000.5",
        "baa_signed": True,
        "deal_id": "D-1",
        "standard_terms": False,
        "term_months": 12,
    }


def test_log_csv(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    out = run("log", "--account", "A-1", "--format", "csv").stdout.splitlines()
    assert out[0] == (
        "seq,event_id,type,schema_version,stream_id,stream_version,effective_at,recorded_at,"
        "actor,source,idempotency_key,payload,prev_hash,hash"
    )
    assert out[1].startswith(f"2,{E1},deal_opened,1,deal:D-1,1,2026-01-05T00:00:00Z,")
    assert len(out) == 3


def test_log_filters_by_effective_dates_and_known_at(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    window = run("log", "--from", "2026-02-01", "--to", "2026-03-01", "--format", "json")
    assert [r["seq"] for r in json.loads(window.stdout)["rows"]] == [3]
    before = run("log", "--known-at", "2026-11-01", "--format", "json")
    assert json.loads(before.stdout)["rows"] == []


def test_verify_ok_then_integrity_failure(run, inline_file: Path, db_url: str) -> None:
    run("init")
    run("import", str(inline_file))
    ok = run("verify")
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok: 3 events, hash chain intact; head seq 3 hash ")
    from sqlalchemy import text

    from ledger.store import LedgerStore

    with LedgerStore.open(db_url) as store, store.engine.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("DROP TRIGGER events_reject_update_delete ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_reject_update"))
        conn.execute(
            text("UPDATE events SET effective_at = '2026-01-04T00:00:00.000000Z' WHERE seq = 2")
        )
    bad = run("verify")
    assert bad.exit_code == 5
    assert bad.stderr == (
        "revledger: integrity failure at seq 2: seq 2: stored hash does not match its content\n"
    )


def test_export_then_restore_reproduces_the_ledger(run, inline_file: Path, tmp_path: Path) -> None:
    run("init")
    run("import", str(inline_file))
    exported = run("export").stdout
    lines = [json.loads(line) for line in exported.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    target = tmp_path / "restored.db"
    restored = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", "-"])
    assert restored.exit_code == 2  # '-' is not an existing file: a usage error
    backup = tmp_path / "backup.jsonl"
    backup.write_text(exported, encoding="utf-8")
    restored = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", str(backup)])
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout.startswith("restored 3 events; head seq 3 hash ")
    again = CliRunner().invoke(cli, ["--db", str(target), "export"])
    assert again.stdout == exported


def test_init_with_a_stages_file_and_time_zone(run, tmp_path: Path) -> None:
    stages = tmp_path / "stages.json"
    stages.write_text(
        json.dumps(
            [
                {"name": "intro", "probability": "0.1"},
                {"name": "pilot", "probability": "0.5", "forecast_category": "best_case"},
                {"name": "contracting", "probability": "0.9", "forecast_category": "commit"},
            ]
        ),
        encoding="utf-8",
    )
    out = run("init", "--timezone", "America/Chicago", "--stages-file", str(stages))
    assert out.exit_code == 0, out.stderr
    rec = run(
        "record",
        "deal_opened",
        "--deal-id",
        "D-5",
        "--account-id",
        "A-5",
        "--stage",
        "pilot",
        "--amount",
        "5000",
        "--expected-close",
        "2026-12-31",
        "--effective",
        "2026-07-01",
    )
    assert rec.exit_code == 0, rec.stderr
    doc = json.loads(run("log", "--deal", "D-5", "--format", "json").stdout)
    assert doc["rows"][0]["effective_at"] == "2026-07-01T05:00:00Z"  # midnight in Chicago (CDT)
    bad = run("record", "stage_changed", "--deal-id", "D-5", "--stage", "demo")
    assert bad.exit_code == 3
    assert "is not a stage of the configured pipeline (intro, pilot, contracting)" in bad.stderr


def test_help_lists_every_event_type(run) -> None:
    out = run("record", "--help")
    assert out.exit_code == 0
    for name in ("deal_opened", "go_live", "event_retracted", "security_questionnaire_completed"):
        assert name in out.stdout


def test_every_command_is_found_in_the_module_it_is_registered_under() -> None:
    """Commands load lazily by name; the name map matches what each module defines."""
    defined = {
        str(command.name): module
        for module in set(COMMAND_MODULES.values())
        for command in importlib.import_module(module).COMMANDS
    }
    assert defined == COMMAND_MODULES
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMAND_MODULES)
    for name in COMMAND_MODULES:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
    assert cli.get_command(ctx, "no-such-command") is None
