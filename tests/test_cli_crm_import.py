"""`revledger import --from salesforce|hubspot` and `init --backfill-from`: exact output."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from ledger.store import LedgerStore
from projections.deals import replay_deals

CRM = Path(__file__).resolve().parent.parent / "fixtures" / "crm"
SF, HS = CRM / "salesforce", CRM / "hubspot"
CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)
IMPORT_SF = ["import", "--from", "salesforce"]
IMPORT_HS = ["import", "--from", "hubspot"]
SALESFORCE = [
    "import",
    "--from",
    "salesforce",
    str(SF / "OpportunityHistory.csv"),
    "--opportunities",
    str(SF / "Opportunity.csv"),
    "--stage-map",
    str(SF / "stage-map.csv"),
    "--actor",
    "ops",
]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str):
    for where in ("ledger.store.batch", "ledger.operations", "queries.common"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: CLOCK)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args], prog_name="revledger")

    return invoke


def test_a_salesforce_import_says_what_it_did_and_a_rerun_appends_nothing(run) -> None:
    assert run("init").exit_code == 0
    dry = run(*SALESFORCE, "--dry-run")
    assert (dry.exit_code, dry.stderr) == (0, "")
    assert dry.stdout == (
        "OpportunityHistory.csv: 8 rows read (0 skipped) on 2 deals, 16 events derived, would "
        "append 16, 0 already recorded; head seq 17 (dry run: nothing written)\n"
    )
    first = run(*SALESFORCE)
    assert first.stdout == (
        "OpportunityHistory.csv: 8 rows read (0 skipped) on 2 deals, 16 events derived, "
        "appended 16, 0 already recorded; head seq 17\n"
    )
    again = run(*SALESFORCE)
    assert (again.exit_code, again.stdout) == (
        0,
        "OpportunityHistory.csv: 8 rows read (0 skipped) on 2 deals, 16 events derived, "
        "appended 0, 16 already recorded; head seq 17\n",
    )
    assert run("verify").exit_code == 0


def test_without_opportunities_a_note_says_each_deal_is_its_own_account(run) -> None:
    assert run("init").exit_code == 0
    out = run("import", "--from", "salesforce", str(SF / "bom-OpportunityHistory.csv"))
    assert out.exit_code == 0
    assert out.stdout == (
        "bom-OpportunityHistory.csv: 2 rows read (0 skipped) on 1 deal, 2 events derived, "
        "appended 2, 0 already recorded; head seq 3\n"
    )
    assert out.stderr == "note: without --opportunities each deal is recorded as its own account\n"


def test_a_backfill_into_a_ledger_started_with_backfill_from(run) -> None:
    init = run("init", "--backfill-from", "2024-01-01", "--actor", "ops")
    assert init.exit_code == 0, init.stderr
    out = run(*SALESFORCE, "--backfill")
    assert out.exit_code == 0, out.stderr
    log = run("log", "--deal", "006B")
    columns = "seq  effective            recorded             type           stream     actor  "
    width = len(columns) + 103  # the payload column is as wide as its widest summary

    def row(text: str) -> str:  # a row, its last cell ("retracted by") empty
        return text.ljust(width) + "  " + "-".rjust(len("retracted by"))

    assert log.stdout.splitlines()[:10] == [
        "6 events",
        "",
        (columns + "payload").ljust(width) + "  retracted by",
        "---  -------------------  -------------------  -------------  ---------  -----  "
        + "-" * 103
        + "  ------------",
        row(
            "  6  2024-03-01 08:00:00  2024-03-01 08:00:00  deal_opened    deal:006B  ops    "
            "deal_id=006B account_id=001MERCY stage=qualification amount=50000 "
            "expected_close=2024-12-31 owner=005U2"
        ),
        row(
            "  7  2024-03-01 08:00:00  2024-03-01 08:00:00  deal_updated   deal:006B  ops    "
            "deal_id=006B forecast_category=pipeline probability=0.1"
        ),
        row(
            " 10  2024-05-02 12:00:00  2024-05-02 12:00:00  deal_updated   deal:006B  ops    "
            "deal_id=006B expected_close=2024-05-02"
        ),
        row(
            " 11  2024-05-02 12:00:00  2024-05-02 12:00:00  deal_lost      deal:006B  ops    "
            "deal_id=006B"
        ),
        row(
            " 16  2024-08-01 09:30:00  2024-08-01 09:30:00  deal_updated   deal:006B  ops    "
            "deal_id=006B amount=60000 expected_close=2025-03-31 probability=0.3"
        ),
        row(
            " 17  2024-08-01 09:30:00  2024-08-01 09:30:00  deal_reopened  deal:006B  ops    "
            "deal_id=006B stage=demo"
        ),
    ]
    # What the ledger knew on 2024-06-01: the deal was lost.
    then = run("log", "--deal", "006B", "--known-at", "2024-06-01", "--format", "csv")
    assert [line.split(",")[2] for line in then.stdout.splitlines()[1:]] == [
        "deal_opened",
        "deal_updated",
        "deal_updated",
        "deal_lost",
    ]


def test_the_backfill_day_it_advises_works_in_the_ledgers_time_zone(
    run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first change, 2024-01-10 09:00 UTC, is still Jan 9 in Honolulu: the advice names
    that day, and a ledger started on it takes the history."""
    assert run("init", "--timezone", "Pacific/Honolulu").exit_code == 0
    refused = run(*SALESFORCE, "--backfill")
    assert refused.exit_code == 3
    assert refused.stderr.endswith(
        "`revledger init --backfill-from 2024-01-09` (or any earlier day).\n"
    )
    fresh = ["--db", str(tmp_path / "fresh.db")]
    started = CliRunner().invoke(
        cli, [*fresh, "init", "--timezone", "Pacific/Honolulu", "--backfill-from", "2024-01-09"]
    )
    assert started.exit_code == 0, started.stderr
    taken = CliRunner().invoke(cli, [*fresh, *SALESFORCE, "--backfill"])
    assert taken.exit_code == 0, taken.stderr


def test_a_backfill_into_a_ledger_initialised_today_says_how_to_start_one(run) -> None:
    assert run("init").exit_code == 0
    out = run(*SALESFORCE, "--backfill")
    assert out.exit_code == 3
    assert out.stderr == (
        "revledger: OpportunityHistory.csv line 2 column CreatedDate: 2024-01-10T09:00:00Z is "
        "before 2026-11-02T15:04:05.123456Z, the ledger's last "
        "recorded_at; a backfill only goes into a ledger that has recorded nothing later, in "
        "non-decreasing order; to backfill this history into a new ledger, create it with "
        "`revledger init --backfill-from 2024-01-10` (or any earlier day).\n"
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header + configuration


def test_a_hubspot_import(run) -> None:
    assert run("init").exit_code == 0
    out = run(
        "import",
        "--from",
        "hubspot",
        str(HS / "property-history.csv"),
        "--pipeline",
        str(HS / "pipeline.csv"),
        "--opportunities",
        str(HS / "deals.csv"),
    )
    assert (out.exit_code, out.stderr) == (0, "")
    assert out.stdout == (
        "property-history.csv: 18 rows read (2 skipped) on 2 deals, 11 events derived, "
        "appended 11, 0 already recorded; head seq 12\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["import", "--from", "salesforce", str(SF / "unmapped-stages.csv")],
            3,
            "revledger: 3 stages of the CRM are not mapped to the ledger's pipeline: 'Discovery "
            "Call' (unmapped-stages.csv line 2 column StageName); 'Pilot' (unmapped-stages.csv "
            "line 3 column StageName); 'Negotiation/Review' (unmapped-stages.csv line 4 column "
            "StageName). Map each in a "
            "--stage-map file, one `crm stage,ledger stage` a line, to one of: qualification, "
            "discovery, demo, clinical_validation, security_review, legal_review, negotiation, "
            "won, lost.",
        ),
        (
            [*IMPORT_SF, str(SF / "bad-amount.csv"), "--stage-map", str(SF / "stage-map.csv")],
            3,
            "revledger: bad-amount.csv line 3 column Amount: '25,000.00' is not a decimal number "
            "(digits with an optional point and exponent, such as 120000.50 or 1.2E7).",
        ),
        (
            [*IMPORT_SF, str(SF / "won-then-lost.csv"), "--pipeline", str(HS / "pipeline.csv")],
            2,
            "revledger: --pipeline does not go with --from salesforce; its stage map is "
            "--stage-map.",
        ),
        (
            [
                *IMPORT_HS,
                str(HS / "property-history.csv"),
                "--stage-map",
                str(SF / "stage-map.csv"),
            ],
            2,
            "revledger: --stage-map does not go with --from hubspot; its stage map is --pipeline.",
        ),
        (
            ["import", str(SF / "won-then-lost.csv"), "--backfill"],
            2,
            "revledger: --backfill needs --from salesforce or --from hubspot.",
        ),
        (
            ["import", str(HS / "property-history.csv"), "--pipeline", str(SF / "stage-map.csv")],
            2,
            "revledger: --pipeline needs --from hubspot.",
        ),
        (
            ["import", "--from", "salesforce", str(SF / "won-then-lost.csv"), "--restore"],
            2,
            "revledger: --restore and --from cannot be combined.",
        ),
        (
            ["import", "--from", "dynamics", str(SF / "won-then-lost.csv")],
            2,
            "revledger: Invalid value for '--from': 'dynamics' is not one of 'salesforce', "
            "'hubspot'. (see `revledger import --help`)",
        ),
    ],
)
def test_mistakes_are_one_sentence_and_write_nothing(
    run, args: list[str], code: int, message: str
) -> None:
    assert run("init").exit_code == 0
    out = run(*args)
    assert (out.exit_code, out.stderr) == (code, message + "\n")
    assert run("log", "--format", "csv").stdout.count("\n") == 2


def test_init_backfill_from_refuses_a_future_day(run, db_url: str) -> None:
    out = run("init", "--backfill-from", "2027-01-01")
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: option '--backfill-from' = '2027-01-01': is in the future; a backfill starts "
        "on a past day.\n",
    )


def _with_deals_file(tmp_path: Path, text: str) -> list[str]:
    deals = tmp_path / "Opportunity.csv"
    deals.write_text(text, encoding="utf-8")
    at = SALESFORCE.index("--opportunities") + 1
    return [*SALESFORCE[:at], str(deals), *SALESFORCE[at + 1 :]]


def test_a_deal_listed_twice_with_two_accounts_is_refused(run, tmp_path: Path) -> None:
    assert run("init", "--backfill-from", "2024-01-01").exit_code == 0
    args = _with_deals_file(
        tmp_path,
        '"Id","AccountId"\n"006A","001NORTH"\n"006B","001MERCY"\n"006A","001NORTH"\n'
        '"006A","001Y"\n',
    )
    out = run(*args, "--backfill")
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: Opportunity.csv line 5 column AccountId: lists deal 006A again with account "
        "001Y (line 2 gives 001NORTH); a deal belongs to one account.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header + configuration


def test_a_deal_listed_twice_with_two_owners_is_refused(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    args = _with_deals_file(
        tmp_path,
        "Id,AccountId,OwnerId\n006A,001NORTH,005U1\n006B,001MERCY,005U2\n"
        "006A,001NORTH,005U1\n006A,001NORTH,005U9\n",
    )
    out = run(*args)
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: Opportunity.csv line 5 column OwnerId: lists deal 006A again with owner "
        "005U9 (line 2 gives owner 005U1); a deal has one owner.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header + configuration


def test_a_deals_file_naming_a_column_twice_is_refused(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    args = _with_deals_file(tmp_path, "Id,Account ID,OwnerId,AccountId\n006A,001NORTH,005U1,001Y\n")
    out = run(*args)
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: Opportunity.csv line 1: has the column AccountId twice, as 'Account ID' "
        "(column 2) and 'AccountId' (column 4); names are compared ignoring case, spaces and "
        "punctuation, so keep one.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header + configuration


def test_a_history_row_id_listed_twice_is_bad_input_and_writes_nothing(run, tmp_path: Path) -> None:
    """Two rows with one Id used to give the same idempotency key to two events (exit 4)."""
    assert run("init").exit_code == 0
    history = tmp_path / "h.csv"
    history.write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "A1,O1,2025-01-06 10:00:00,Prospecting,1000,2025-06-30\n"
        "A2,O1,2025-01-07 10:00:00,Needs Analysis,1000,2025-06-30\n"
        "A2,O1,2025-01-08 10:00:00,Value Proposition,1000,2025-06-30\n",
        encoding="utf-8",
    )
    out = run(*IMPORT_SF, str(history), "--stage-map", str(SF / "stage-map.csv"))
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: h.csv line 4 column Id: 'A2' repeats line 3 with other values; a history "
        "row's Id is unique.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header + configuration


def test_deals_the_deals_file_gives_no_account_are_named(run, tmp_path: Path) -> None:
    assert run("init", "--backfill-from", "2024-01-01").exit_code == 0
    args = _with_deals_file(tmp_path, '"Id","AccountId"\n"006A",""\n')
    out = run(*args, "--backfill")
    assert out.exit_code == 0, out.stderr
    assert out.stderr == (
        "note: 2 deals with no account in the deals file (006A, 006B) are recorded as their own "
        "accounts\n"
    )


def test_a_binary_file_is_not_read_as_a_crm_export(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    binary = tmp_path / "export.csv"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00,Id\n\x00\x01,2\n")
    out = run(
        "import", "--from", "salesforce", str(binary), "--stage-map", str(SF / "stage-map.csv")
    )
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: export.csv: is not a CSV text file (it holds NUL bytes).\n",
    )


HISTORY_HEADER = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"


def _import_then(
    run: Callable[..., Result], tmp_path: Path, first: list[str], later: list[str]
) -> Result:
    """Import a Salesforce history of rows `first` into a new ledger, then return the import
    of a later export of rows `later`."""
    stage_map = ["--stage-map", str(SF / "stage-map.csv")]
    assert run("init").exit_code == 0
    for name, rows in (("first.csv", first), ("later.csv", later)):
        (tmp_path / name).write_text(HISTORY_HEADER + "".join(rows), encoding="utf-8")
    assert run(*IMPORT_SF, str(tmp_path / "first.csv"), *stage_map).exit_code == 0
    return run(*IMPORT_SF, str(tmp_path / "later.csv"), *stage_map)


def test_a_later_export_without_a_deal_recorded_before_says_so(run, tmp_path: Path) -> None:
    out = _import_then(
        run,
        tmp_path,
        [
            "r1,K1,2024-01-10 09:00:00,Prospecting,100000,2024-09-30,0\n",
            "r2,K2,2024-01-11 09:00:00,Prospecting,50000,2024-09-30,0\n",
        ],
        [
            "r1,K1,2024-01-10 09:00:00,Prospecting,100000,2024-09-30,0\n",
            "r2,K2,2024-01-11 09:00:00,Prospecting,50000,2024-09-30,1\n",
        ],
    )
    assert out.exit_code == 0
    assert out.stderr.splitlines()[-1] == (
        "note: 1 deal recorded by an earlier import from this CRM (K2) has no rows in this "
        "export (deleted in the CRM, or left out of the export); its events stay in the ledger "
        "(retract those that should no longer count with `revledger record event_retracted`)"
    )


FIRST_ROWS = [
    "r1,D1,2024-01-10 09:00:00,Prospecting,100000,2024-09-30,0\n",
    "r2,D1,2024-02-10 09:00:00,Needs Analysis,100000,2024-09-30,0\n",
]
REOPENED_ROWS = [  # the rows imported are deleted since, and a new one came
    "r1,D1,2024-01-10 09:00:00,Prospecting,100000,2024-09-30,1\n",
    "r2,D1,2024-02-10 09:00:00,Needs Analysis,100000,2024-09-30,1\n",
    "r3,D1,2024-03-10 09:00:00,Needs Analysis,120000,2024-09-30,0\n",
]


def test_a_later_export_that_opens_a_deal_at_another_row_opens_it_there(
    run, db_url: str, tmp_path: Path
) -> None:
    """The rows that opened the deal are deleted since: the import retracts the deal's
    imported events and opens it at the row that opens it now."""
    out = _import_then(run, tmp_path, FIRST_ROWS, REOPENED_ROWS)
    assert out.exit_code == 0, out.stderr
    with LedgerStore.open(db_url) as store:
        events = list(store.read())
    deal = replay_deals(events).deals["D1"]
    # The summary says how many of the events appended retract what the export no longer gives.
    retracted = [e for e in events if e.type == "event_retracted"]
    assert len(retracted) == len(FIRST_ROWS)
    assert f"({len(retracted)} retracting imported events this export no longer gives)" in (
        out.stdout
    )
    assert (deal.opened_at, deal.stage, deal.amount) == (
        datetime(2024, 3, 10, 9, tzinfo=UTC),
        "discovery",
        Decimal(120000),
    )


def test_a_later_export_that_opens_a_deal_with_events_recorded_by_hand_elsewhere_is_refused(
    run, tmp_path: Path
) -> None:
    """A deal that events recorded by hand stand on cannot be opened anew at another row."""
    assert run("init").exit_code == 0
    stage_map = ["--stage-map", str(SF / "stage-map.csv")]
    for name, rows in (("first.csv", FIRST_ROWS), ("later.csv", REOPENED_ROWS)):
        (tmp_path / name).write_text(HISTORY_HEADER + "".join(rows), encoding="utf-8")
    assert run(*IMPORT_SF, str(tmp_path / "first.csv"), *stage_map).exit_code == 0
    hand = run(
        "record",
        "persona_engaged",
        "--deal-id",
        "D1",
        "--persona",
        "cfo",
        "--effective",
        "2024-02-20",
    )
    assert hand.exit_code == 0, hand.stderr
    out = run(*IMPORT_SF, str(tmp_path / "later.csv"), *stage_map)
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: later.csv line 4: retracting that deal_opened (seq 2) would leave the later "
        "persona_engaged (seq 4) invalid: deal D1 does not exist on 2024-02-20; record "
        "deal_opened first; retract what stands on it first, latest first: the persona_engaged "
        "(seq 4); an earlier import recorded deal D1 from rows that this export no "
        "longer has as they were (deleted or changed in the CRM since, or an export cut "
        "short?): export again if it is incomplete, else retract what should no longer count "
        "with `revledger record event_retracted`.\n",
    )


def test_an_import_s_actor_is_checked_as_record_checks_it(run, monkeypatch) -> None:
    assert run("init").exit_code == 0
    out = run(*SALESFORCE[:-1], "MRN 4471")
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: option '--actor': looks like a medical record number; the ledger must "
        "never hold patient identifiers (PHI).\n",
    )
    monkeypatch.setenv("REVLEDGER_ACTOR", "ops\x01")
    plain = run("import", str(SF / "won-then-lost.csv"))
    assert (plain.exit_code, plain.stderr) == (
        3,
        "revledger: environment variable REVLEDGER_ACTOR = 'ops\\x01': contains control "
        "characters.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2


def test_a_windows_1252_export_reads_its_dashes_and_quotes_as_themselves(
    run, tmp_path: Path
) -> None:
    # Excel saves CSV in Windows-1252: 0x96 is an en dash there, a C1 control in Latin-1.
    history = tmp_path / "h.csv"
    history.write_bytes(
        "OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "006A,2024-01-10 09:00:00,Discovery,100000,2024-09-30\n".encode("cp1252")
    )
    deals = tmp_path / "o.csv"
    deals.write_bytes("Id,AccountId\n006A,Hôpital – Nord\n".encode("cp1252"))
    assert run("init").exit_code == 0
    done = run(*IMPORT_SF, str(history), "--opportunities", str(deals))
    assert done.exit_code == 0, done.stderr
    assert "account_id=Hôpital – Nord" in run("log", "--deal", "006A").stdout
    deals.write_bytes("Id,AccountId\n006B,ACC 123–45–6789\n".encode("cp1252"))
    history.write_bytes(
        b"OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        b"006B,2024-01-10 09:00:00,Discovery,100000,2024-09-30\n"
    )
    refused = run(*IMPORT_SF, str(history), "--opportunities", str(deals))
    assert refused.exit_code == 3
    assert "looks like a social security number" in refused.stderr
    assert "6789" not in refused.stderr


def test_an_unmapped_stage_that_looks_like_phi_is_withheld(run, tmp_path: Path) -> None:
    history = tmp_path / "h.csv"
    history.write_text(
        "OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "006A,2024-01-10 09:00:00,MRN 4471,100000,2024-09-30\n",
        encoding="utf-8",
    )
    assert run("init").exit_code == 0
    out = run(*IMPORT_SF, str(history))
    assert out.exit_code == 3
    assert "a stage withheld (it looks like a medical record number) (h.csv line 2" in out.stderr
    assert "4471" not in out.stderr


def test_a_deals_file_added_after_an_import_without_one_says_the_account_changed(run) -> None:
    assert run("init").exit_code == 0
    history = ["--stage-map", str(SF / "stage-map.csv"), str(SF / "OpportunityHistory.csv")]
    assert run(*IMPORT_SF, *history).exit_code == 0
    out = run(*IMPORT_SF, *history, "--opportunities", str(SF / "Opportunity.csv"))
    assert (out.exit_code, out.stderr) == (
        4,
        "revledger: OpportunityHistory.csv line 2: deal 006A was opened for account 006A by an "
        "earlier import (seq 2), and this export gives it account 001NORTH (a deals file given, "
        "left out or changed since?); a deal's account is part of its recorded history: import "
        "with the deals file as the earlier import had it.\n",
    )


def test_a_stage_map_that_maps_a_stage_elsewhere_since_says_so_and_writes_nothing(
    run, tmp_path: Path
) -> None:
    assert run("init").exit_code == 0
    history = str(SF / "OpportunityHistory.csv")
    assert run(*IMPORT_SF, "--stage-map", str(SF / "stage-map.csv"), history).exit_code == 0
    remapped = tmp_path / "stage-map.csv"
    remapped.write_text(
        (SF / "stage-map.csv")
        .read_text(encoding="utf-8")
        .replace("Needs Analysis,discovery", "Needs Analysis,demo"),
        encoding="utf-8",
    )
    before = run("log", "--format", "csv").stdout
    out = run(*IMPORT_SF, "--stage-map", str(remapped), history)
    assert (out.exit_code, out.stderr) == (
        4,
        "revledger: OpportunityHistory.csv line 3: an earlier import recorded deal 006A at "
        "stage discovery from this row (seq 5), and this export's stage map gives demo; the "
        "stage map is part of the recorded history: map each CRM stage to the ledger stage it "
        "had (a CRM stage renamed: map the new name to it as well).\n",
    )
    assert run("log", "--format", "csv").stdout == before


def test_a_deal_recorded_by_hand_gets_no_hint_about_an_earlier_import(run) -> None:
    assert run("init").exit_code == 0
    opened = run("record", "deal_opened", "--deal-id", "006A", "--account-id", "A-1", "--stage",
                 "demo", "--amount", "5", "--expected-close", "2026-12-31")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    out = run(*SALESFORCE)
    assert out.exit_code == 3
    assert "deal 006A already exists" in out.stderr and "earlier import" not in out.stderr
