"""Forecast and audit commands on the forecast ledger: exact output in each format.

The ledger is imported in two steps: `forecast-ledger.jsonl` (the Q4 pipeline as it stood) at
2026-10-01 18:00 UTC and `forecast-ledger-october.jsonl` (what October brought, including a
stage change backdated to September and a retraction) at 2026-11-01 18:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEPTEMBER = FIXTURES / "forecast-ledger.jsonl"
OCTOBER = FIXTURES / "forecast-ledger-october.jsonl"
FIRST_IMPORT = datetime(2026, 10, 1, 18, 0, tzinfo=UTC)
SECOND_IMPORT = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> list[datetime]:
    return [FIRST_IMPORT]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str, clock: list[datetime]):
    for where in ("ledger.store.store", "ledger.operations", "queries.common"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: clock[0])

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    assert invoke("init", "--actor", "admin").exit_code == 0
    assert invoke("import", str(SEPTEMBER)).exit_code == 0
    clock[0] = SECOND_IMPORT
    assert invoke("import", str(OCTOBER)).exit_code == 0
    clock[0] = TODAY
    return invoke


def _head(run) -> str:
    return str(json.loads(run("verify", "--format", "json").stdout)["rows"][0]["head_hash"])


def _footer(run, metric: str, definition: str, options: str, as_of: str) -> str:
    return (
        f"metric: {metric}\ndefinition: {definition}\noptions: {options}\nas_of: {as_of}\n"
        f"known_at: 2026-11-01T18:00:00.000000Z\nhead: seq 23, hash {_head(run)}\n"
        "currency: USD\n"
    )


def test_forecast_table(run) -> None:
    out = run("forecast", "--period", "2026-Q4", "--as-of", "2026-11-01")
    assert out.exit_code == 0, out.stderr
    # Closed won: D-WIN 180000. Open: D-PULL 100000 × 0.30, D-NEW 30000 × 0.20,
    # D-BOTH 150000 × 0.55, D-BACK 100000 × 0.70, D-QUIET 10000 × 0.10, D-RETRACT 60000 × 0.30.
    # Quota 600000: attainment 0.3, coverage 450000 / 420000, weighted 207500 / 420000.
    assert out.stdout == (
        "Forecast 2026-Q4 as of 2026-11-01 (known at 2026-11-01T18:00:00.000000Z; head seq 23)\n"
        "\n"
        "period   closed won  open deals  unweighted    weighted      commit   best case"
        "       quota  attainment  coverage  weighted coverage\n"
        "-------  ----------  ----------  ----------  ----------  ----------  ----------"
        "  ----------  ----------  --------  -----------------\n"
        "2026-Q4  180,000.00           6  450,000.00  207,500.00  100,000.00  150,000.00"
        "  600,000.00       30.0%    107.1%              49.4%\n"
        "\n"
        + _footer(
            run,
            "forecast",
            "revledger.forecast/1",
            "period 2026-Q4, start 2026-10-01, end 2026-12-31",
            "2026-11-01",
        )
    )


def test_forecast_deals_json(run) -> None:
    doc = json.loads(
        run(
            "forecast",
            "--period",
            "2026-Q4",
            "--as-of",
            "2026-10-20",
            "--deals",
            "--format",
            "json",
        ).stdout
    )
    rows = {r["deal_id"]: r for r in doc["rows"]}
    # On Oct 20 D-WIN is signed (contract ARR 180000) and D-LOSE still open in security review.
    assert rows["D-WIN"] == {
        "deal_id": "D-WIN",
        "account_id": "A-OAK",
        "status": "won",
        "stage": "negotiation",
        "category": "commit",
        "close": "2026-10-20",
        "probability": None,
        "amount": "180000",
        "closed_won": "180000",
        "unweighted": "0",
        "weighted": "0",
        "commit": "0",
        "best_case": "0",
    }
    assert rows["D-LOSE"]["weighted"] == "44000"  # 80000 × 0.55
    assert rows["D-BACK"]["probability"] == "0.7000"
    assert [r["deal_id"] for r in doc["rows"]] == [
        "D-WIN",
        "D-BACK",  # commit
        "D-BOTH",  # best case, by expected close
        "D-LOSE",
        "D-RETRACT",  # pipeline, by expected close
        "D-NEW",
        "D-PULL",
        "D-QUIET",
        "total",
    ]
    assert rows["total"] == {
        "deal_id": "total",
        "account_id": None,
        "status": None,
        "stage": None,
        "category": None,
        "close": None,
        "probability": None,
        "amount": None,
        "closed_won": "180000",
        "unweighted": "530000",
        "weighted": "251500",
        "commit": "100000",
        "best_case": "230000",
    }


RESTATED = ["forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-10-01"]
RESTATED += ["--to-as-of", "2026-10-01", "--from-known-at", "2026-10-01"]


def test_forecast_diff_table_shows_restatements_of_one_as_of(run) -> None:
    out = run(*RESTATED)
    assert out.exit_code == 0, out.stderr
    # Known on Oct 1: 630000 / 327000. Known now, the same business day: D-BACK was in legal
    # review since Sep 15 (weighted 20000 → 70000) and D-RETRACT's raise to 90000 is retracted.
    assert out.stdout == (
        "Forecast 2026-Q4 change from 2026-10-01 (known at 2026-10-01T23:59:59.999999Z) to "
        "2026-10-01 (known at 2026-11-01T18:00:00.000000Z; head seq 23)\n"
        "\n"
        "line      category  deal       closed won  unweighted    weighted      commit  best case"
        "  change                                                                            "
        " events\n"
        "--------  --------  ---------  ----------  ----------  ----------  ----------  ---------"
        "  ---------------------------------------------------------------------------------"
        "  --------------------------------------------------------------------------------------"
        "------------\n"
        "from      -         -                0.00  630,000.00  327,000.00  250,000.00  80,000.00"
        "  -                                                                                  -\n"
        "deal      restated  D-BACK           0.00        0.00   50,000.00  100,000.00       0.00"
        "  stage discovery → legal_review; category pipeline → commit; probability 0.2 → 0.7"
        "  #16 stage_changed (effective 2026-09-15T00:00:00Z, recorded 2026-11-01T18:00:00Z, "
        "rep-sam)\n"
        "deal      restated  D-RETRACT        0.00  -30,000.00   -9,000.00        0.00       0.00"
        "  amount 90000 → 60000                                                            "
        "   #21 event_retracted of #11 (effective 2026-10-22T00:00:00Z, recorded "
        "2026-11-01T18:00:00Z, revops)\n"
        "subtotal  restated  -                0.00  -30,000.00   41,000.00  100,000.00       0.00"
        "  -                                                                                  -\n"
        "to        -         -                0.00  600,000.00  368,000.00  350,000.00  80,000.00"
        "  -                                                                                  -\n"
        "\n"
        + _footer(
            run,
            "forecast-diff",
            "revledger.forecast-diff/1",
            "period 2026-Q4, from_as_of 2026-10-01, from_known_at 2026-10-01T23:59:59.999999Z",
            "2026-10-01",
        )
    )


def test_forecast_diff_csv(run) -> None:
    out = run(*RESTATED, "--format", "csv")
    cause = (
        '"[{""seq"": {seq}, ""event_id"": ""{id}"", ""type"": ""{type}"", ""effective_at"": '
        '""{eff}T00:00:00.000000Z"", ""recorded_at"": ""2026-11-01T18:00:00.000000Z"", '
        '""actor"": ""{actor}"", ""axis"": ""known"", ""retracts"": {retracts}}]"'
    )

    def c(**k: object) -> str:
        text = cause
        for name, value in k.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    assert out.stdout == (
        "line,category,deal_id,closed_won,unweighted,weighted,commit,best_case,change,events\n"
        "from,,,0,630000,327000,250000,80000,,\n"
        "deal,restated,D-BACK,0,0,50000,100000,0,"
        "stage discovery → legal_review; category pipeline → commit; probability 0.2 → 0.7,"
        + c(
            seq=16,
            id="5e0c1003-0000-4000-8000-000000001000",
            type="stage_changed",
            eff="2026-09-15",
            actor="rep-sam",
            retracts="null",
        )
        + "\n"
        "deal,restated,D-RETRACT,0,-30000,-9000,0,0,amount 90000 → 60000,"
        + c(
            seq=21,
            id="5e0c1008-0000-4000-8000-000000001000",
            type="event_retracted",
            eff="2026-10-22",
            actor="revops",
            retracts=11,
        )
        + "\n"
        "subtotal,restated,,0,-30000,41000,100000,0,,\n"
        "to,,,0,600000,368000,350000,80000,,\n"
    )


def test_forecast_diff_json_runs_from_a_to_b_deal_by_deal(run) -> None:
    out = run(
        "forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-10-01",
        "--from-known-at", "2026-10-01", "--to-as-of", "2026-11-01", "--format", "json",
    )  # fmt: skip
    doc = json.loads(out.stdout)
    assert doc["meta"]["options"] == {
        "period": "2026-Q4",
        "from_as_of": "2026-10-01",
        "from_known_at": "2026-10-01T23:59:59.999999Z",
    }
    deals = [r for r in doc["rows"] if r["line"] == "deal"]
    assert [(r["category"], r["deal_id"], r["unweighted"], r["weighted"]) for r in deals] == [
        ("won", "D-WIN", "-200000", "-170000"),
        ("lost", "D-LOSE", "-80000", "-44000"),
        ("new", "D-NEW", "30000", "6000"),
        ("pulled_in", "D-PULL", "100000", "30000"),
        ("pushed_out", "D-PUSH", "-50000", "-35000"),
        ("stage_forward", "D-BOTH", "50000", "52500"),
        ("restated", "D-BACK", "0", "50000"),
        ("restated", "D-RETRACT", "-30000", "-9000"),
    ]
    first, last = doc["rows"][0], doc["rows"][-1]
    assert (first["line"], last["line"]) == ("from", "to")
    for key in ("closed_won", "unweighted", "weighted", "commit", "best_case"):
        total = sum(Decimal(r[key]) for r in deals)
        assert Decimal(first[key]) + total == Decimal(last[key])
    won = deals[0]
    assert won["change"] == "status open → won"
    assert won["events"] == [
        {
            "seq": 20,
            "event_id": "5e0c1007-0000-4000-8000-000000001000",
            "type": "contract_signed",
            "effective_at": "2026-10-20T00:00:00.000000Z",
            "recorded_at": "2026-11-01T18:00:00.000000Z",
            "actor": "rep-ana",
            "axis": "valid",
            "retracts": None,
        }
    ]
    both = deals[5]
    assert [e["type"] for e in both["events"]] == ["deal_updated", "stage_changed"]


def test_forecast_history_table(run) -> None:
    out = run("forecast", "history", "--period", "2026-Q4")
    assert out.exit_code == 0, out.stderr
    # Oct 1 call beside the pipeline known on Oct 1: commit 250000 (D-PUSH, D-WIN),
    # + best case 80000 (D-LOSE), weighted 327000. Nov 1 call beside the pipeline known then:
    # 180000 won + 100000 commit (D-BACK), + 150000 best case (D-BOTH), 180000 + 207500.
    assert out.stdout == (
        "Forecast calls for 2026-Q4 as of 2026-11-02 (known at 2026-11-01T18:00:00.000000Z; "
        "head seq 23)\n"
        "\n"
        "submitted   recorded             by   call commit  call best case    won then"
        "  pipeline commit  pipeline best case  pipeline weighted  outcome  note\n"
        "----------  -------------------  ---  -----------  --------------  ----------"
        "  ---------------  ------------------  -----------------  -------  ---------------------\n"
        "2026-10-01  2026-10-01 18:00:00  cro   300,000.00      450,000.00        0.00"
        "       250,000.00          330,000.00         327,000.00        -  start of quarter call\n"
        "2026-11-01  2026-11-01 18:00:00  cro   350,000.00      420,000.00  180,000.00"
        "       280,000.00          430,000.00         387,500.00        -  Oak signed, Elm lost\n"
        "\n"
        + _footer(
            run,
            "forecast-calls",
            "revledger.forecast-calls/1",
            "period 2026-Q4, start 2026-10-01, end 2026-12-31",
            "2026-11-02",
        )
    )


def test_forecast_history_csv_has_the_outcome_once_the_period_is_over(run) -> None:
    out = run(
        "forecast", "history", "--period", "2026-Q4", "--as-of", "2026-12-31", "--format", "csv"
    )
    assert out.stdout == (
        "submitted,recorded_at,actor,commit,best_case,closed_won,pipeline_commit,"
        "pipeline_best_case,pipeline_weighted,outcome,note\n"
        "2026-10-01,2026-10-01T18:00:00Z,cro,300000,450000,0,250000,330000,327000,180000,"
        "start of quarter call\n"
        "2026-11-01,2026-11-01T18:00:00Z,cro,350000,420000,180000,280000,430000,387500,180000,"
        '"Oak signed, Elm lost"\n'
    )


def test_forecast_history_as_known_before_the_second_call(run) -> None:
    doc = json.loads(
        run(
            "forecast",
            "history",
            "--period",
            "2026-Q4",
            "--known-at",
            "2026-10-31",
            "--format",
            "json",
        ).stdout
    )
    assert [r["commit"] for r in doc["rows"]] == ["300000"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["forecast"], 2, "Missing option '--period'."),
        (["forecast", "--period", "2026-Q5"], 3, "option '--period' = '2026-Q5': is not a period"),
        (["forecast", "2026-Q4"], 2, "No such command '2026-Q4'."),
        (["forecast", "history"], 2, "Missing option '--period'."),
        (["forecast", "history", "--period", "Q4"], 3, "option '--period' = 'Q4'"),
        (["forecast-diff", "--period", "2026-Q4"], 2, "give --from-as-of and/or --from-known-at"),
        (
            ["forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-11-02"],
            2,
            "the two views are the same",
        ),
        (
            ["forecast-diff", "--period", "2026-Q4", "--from-known-at", "last week"],
            3,
            "option '--from-known-at' = 'last week': is not a date",
        ),
        (
            ["forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-02-30"],
            3,
            "option '--from-as-of' = '2026-02-30': is not a real calendar date",
        ),
    ],
)
def test_mistakes_are_one_sentence_with_the_documented_exit_code(
    run, args: list[str], code: int, message: str
) -> None:
    out = run(*args)
    assert out.exit_code == code
    assert out.stdout == ""
    assert out.stderr.startswith("revledger: ") and message in out.stderr
    assert out.stderr.count("\n") == 1
