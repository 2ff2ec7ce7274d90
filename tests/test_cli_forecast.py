"""Forecast and audit commands on the forecast ledger: exact output in each format.

The ledger is imported in two steps: `forecast-ledger.jsonl` (the Q4 pipeline as it stood) at
2026-10-01 18:00 UTC and `forecast-ledger-october.jsonl` (what October brought, including a
stage change backdated to September and a retraction) at 2026-11-01 18:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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
def run(cli_at_clock, clock: list[datetime]):
    invoke = cli_at_clock
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
        f"known_at: 2026-11-01T18:00:00Z\nhead: seq 23, hash {_head(run)}\n"
        "currency: USD\n"
    )


def test_forecast_table(run) -> None:
    out = run("forecast", "--period", "2026-Q4", "--as-of", "2026-11-01")
    assert out.exit_code == 0, out.stderr
    # Closed won: D-WIN 180000. Open: D-PULL 100000 × 0.30, D-NEW 30000 × 0.20,
    # D-BOTH 150000 × 0.55, D-BACK 100000 × 0.70, D-QUIET 10000 × 0.10, D-RETRACT 60000 × 0.30.
    # Quota 600000: attainment 0.3, coverage 450000 / 420000, weighted 207500 / 420000.
    assert out.stdout == (
        "Forecast 2026-Q4 as of 2026-11-01 (known at 2026-11-01T18:00:00Z; head seq 23)\n"
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
            "revledger.forecast/2",
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
        "2026-10-01 (known at 2026-11-01T18:00:00Z; head seq 23)\n"
        "\n"
        "line      category  deal       closed won  unweighted    weighted      commit  best case"
        "  change                                                                            "
        "       events\n"
        "--------  --------  ---------  ----------  ----------  ----------  ----------  ---------"
        "  ---------------------------------------------------------------------------------------"
        "  --------------------------------------------------------------------------------------"
        "------------\n"
        "from      -         -                0.00  630,000.00  327,000.00  250,000.00  80,000.00"
        "  -                                                                                  "
        "      -\n"
        "deal      restated  D-BACK           0.00        0.00   50,000.00  100,000.00       0.00"
        "  stage discovery → legal_review; category pipeline → commit; probability 20.00% → 70.00%"
        "  #16 stage_changed (effective 2026-09-15T00:00:00Z, recorded 2026-11-01T18:00:00Z, "
        "rep-sam)\n"
        "deal      restated  D-RETRACT        0.00  -30,000.00   -9,000.00        0.00       0.00"
        "  amount 90000 → 60000                                                            "
        "         #21 event_retracted of #11 (effective 2026-10-22T00:00:00Z, recorded "
        "2026-11-01T18:00:00Z, revops)\n"
        "subtotal  restated  -                0.00  -30,000.00   41,000.00  100,000.00       0.00"
        "  -                                                                                  "
        "      -\n"
        "to        -         -                0.00  600,000.00  368,000.00  350,000.00  80,000.00"
        "  -                                                                                  "
        "      -\n"
        "\n"
        + _footer(
            run,
            "forecast-diff",
            "revledger.forecast-diff/2",
            "period 2026-Q4, from_as_of 2026-10-01, from_known_at 2026-10-01T23:59:59.999999Z",
            "2026-10-01",
        )
    )


def test_forecast_diff_csv(run) -> None:
    out = run(*RESTATED, "--format", "csv")
    cause = (
        '"[{""seq"": {seq}, ""event_id"": ""{id}"", ""type"": ""{type}"", ""effective_at"": '
        '""{eff}T00:00:00Z"", ""recorded_at"": ""2026-11-01T18:00:00Z"", '
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
        "stage discovery → legal_review; category pipeline → commit; probability 20.00% → 70.00%,"
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
            "effective_at": "2026-10-20T00:00:00Z",
            "recorded_at": "2026-11-01T18:00:00Z",
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
        "Forecast calls for 2026-Q4 as of 2026-11-02 (known at 2026-11-01T18:00:00Z; "
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
            "revledger.forecast-calls/2",
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


# -- restatements and history on the sample ledger and the forecast ledger --------------------
REPORTED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
CHURN_RECORDED = datetime(2026, 10, 20, 14, 0, tzinfo=UTC)


@pytest.fixture
def sample(monkeypatch: pytest.MonkeyPatch, db_url: str):
    """The sample ledger imported on Oct 5, then a churn backdated to Sep 15 recorded Oct 20."""
    clock = [REPORTED]
    for where in ("ledger.store.batch", "ledger.operations", "queries.common"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: clock[0])

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    assert invoke("init", "--actor", "admin").exit_code == 0
    sample_file = FIXTURES / "sample-ledger.jsonl"
    assert invoke("import", str(sample_file), "--actor", "importer").exit_code == 0
    clock[0] = CHURN_RECORDED
    churn = invoke(
        "record", "churn", "--account-id", "A-LAKESIDE", "--reason", "merged into a health system",
        "--effective", "2026-09-15", "--actor", "controller",
    )  # fmt: skip
    assert churn.exit_code == 0, churn.stderr
    clock[0] = TODAY
    return invoke


Q3_NRR = ["restatements", "--metric", "nrr", "--as-of", "2026-09-30", "--reported-at", "2026-10-05"]


def test_q3_nrr_reported_on_oct_5_and_the_backdated_churn_that_restated_it(sample) -> None:
    out = sample(*Q3_NRR)
    assert out.exit_code == 0, out.stderr
    # Cohort live on 2025-09-30: Mercy 260000, Lakeside 48000, Helix 90000 = 398000.
    # Reported: Helix churned on Aug 31 -> (260000 + 48000) / 398000 = 77.4 %.
    # Known now, Lakeside churned on Sep 15 -> 260000 / 398000 = 65.3 %; effect -48000 / 398000.
    assert out.stdout == (
        "NRR as of 2026-09-30: reported at 2026-10-05T23:59:59.999999Z vs known at "
        "2026-10-20T14:00:00Z (head seq 44): 1 event recorded since moved it\n"
        "\n"
        "line      seq  type   effective            recorded             actor          nrr  note\n"
        "--------  ---  -----  -------------------  -------------------  ----------  ------  ----\n"
        "reported   43  -      -                    2026-10-05 23:59:59  -            77.4%  -\n"
        "effect     44  churn  2026-09-15 00:00:00  2026-10-20 14:00:00  controller  -12.1%  -\n"
        "now        44  -      -                    2026-10-20 14:00:00  -            65.3%  -\n"
        "\n"
        "metric: nrr\n"
        "definition: revledger.restatements/1\n"
        "options: reported_at 2026-10-05T23:59:59.999999Z, window 12m, start 2025-09-30\n"
        "as_of: 2026-09-30\n"
        "known_at: 2026-10-20T14:00:00Z\n"
        f"head: seq 44, hash {_head(sample)}\n"
        "currency: USD\n"
    )


def test_restatement_json_names_the_churn_and_both_values(sample) -> None:
    doc = json.loads(sample(*Q3_NRR, "--format", "json").stdout)
    assert doc["rows"] == [
        {
            "line": "reported",
            "seq": 43,
            "type": None,
            "effective_at": None,
            "recorded_at": "2026-10-05T23:59:59.999999Z",
            "actor": None,
            "nrr": "0.7739",
            "note": None,
        },
        {
            "line": "effect",
            "seq": 44,
            "type": "churn",
            "effective_at": "2026-09-15T00:00:00Z",
            "recorded_at": "2026-10-20T14:00:00Z",
            "actor": "controller",
            "nrr": "-0.1206",
            "note": None,
        },
        {
            "line": "now",
            "seq": 44,
            "type": None,
            "effective_at": None,
            "recorded_at": "2026-10-20T14:00:00Z",
            "actor": None,
            "nrr": "0.6533",
            "note": None,
        },
    ]


def test_restatement_csv_of_arr_and_no_change_before_the_churn(sample) -> None:
    arr = ["restatements", "--metric", "arr", "--as-of", "2026-09-30", "--format", "csv"]
    # ARR on Sep 30: Mercy 260000 + Lakeside 48000 + Northwind 150000 (Helix churned).
    assert sample(*arr, "--reported-at", "2026-10-05").stdout == (
        "line,seq,type,effective_at,recorded_at,actor,arr,note\n"
        "reported,43,,,2026-10-05T23:59:59.999999Z,,458000,\n"
        "effect,44,churn,2026-09-15T00:00:00Z,2026-10-20T14:00:00Z,controller,-48000,\n"
        "now,44,,,2026-10-20T14:00:00Z,,410000,\n"
    )
    unchanged = sample(*arr, "--reported-at", "2026-10-05", "--known-at", "2026-10-19")
    assert unchanged.stdout == (
        "line,seq,type,effective_at,recorded_at,actor,arr,note\n"
        "reported,43,,,2026-10-05T23:59:59.999999Z,,458000,\n"
        "now,43,,,2026-10-19T23:59:59.999999Z,,458000,no change since reported\n"
    )


@pytest.mark.parametrize(
    ("reported", "shown"),
    [("2026-11-02", "2026-11-02T09:30:00Z"), ("2026-10-25T12:00:00Z", None)],
)
def test_a_report_after_the_last_recording_is_unchanged_and_one_after_known_at_is_refused(
    sample, reported: str, shown: str | None
) -> None:
    arr = ["restatements", "--metric", "arr", "--as-of", "2026-09-30", "--format", "csv"]
    # Nothing was recorded after Oct 20, and today (TODAY, Nov 2 09:30) means now: what was
    # reported today, or at any time after the last recording, is what is known now.
    out = sample(*arr, "--reported-at", reported)
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines()[1:] == [
        f"reported,44,,,{shown or reported},,410000,",
        "now,44,,,2026-10-20T14:00:00Z,,410000,no change since reported",
    ]
    # A --known-at given is the time the comparison stands at: a report after it is a mistake.
    late = sample(*arr, "--reported-at", "2026-10-25", "--known-at", "2026-10-21")
    assert late.exit_code == 3
    assert late.stderr == (
        "revledger: option '--reported-at' = '2026-10-25': must not be after the time the "
        "comparison stands at (2026-10-21T23:59:59.999999Z).\n"
    )


def test_today_as_both_known_at_and_reported_at_is_one_instant(
    sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read of the clock is later than the one before; today means the one "now" of the
    answer, so a report of today compared as known today is the same view, not a later one."""
    ticks = (TODAY.replace(minute=0) + timedelta(microseconds=n) for n in range(1000))
    for where in ("ledger.store.batch", "ledger.operations", "queries.common"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: next(ticks))
    today = TODAY.date().isoformat()
    out = sample(
        "restatements", "--metric", "carr", "--as-of", "2026-09-30", "--known-at", today,
        "--reported-at", today, "--format", "csv",
    )  # fmt: skip
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines()[-1].endswith(",no change since reported")


def test_forecast_restatement_table(run) -> None:
    out = run(
        "restatements", "--metric", "forecast", "--period", "2026-Q4", "--as-of", "2026-10-01",
        "--reported-at", "2026-10-01",
    )  # fmt: skip
    assert out.exit_code == 0, out.stderr
    assert out.stdout.startswith(
        "Forecast 2026-Q4 as of 2026-10-01: reported at 2026-10-01T23:59:59.999999Z vs known at "
        "2026-11-01T18:00:00Z (head seq 23): 2 events recorded since moved it\n"
        "\n"
        "line      seq  type             effective            recorded             actor  "
        "  closed won  unweighted    weighted  note\n"
        "--------  ---  ---------------  -------------------  -------------------  -------  "
        "----------  ----------  ----------  -------------------------\n"
        "reported   12  -                -                    2026-10-01 23:59:59  -        "
        "      0.00  630,000.00  327,000.00  -\n"
        "effect     16  stage_changed    2026-09-15 00:00:00  2026-11-01 18:00:00  rep-sam  "
        "      0.00        0.00   50,000.00  -\n"
        "effect     21  event_retracted  2026-10-22 00:00:00  2026-11-01 18:00:00  revops   "
        "      0.00  -30,000.00   -9,000.00  retracts #11 deal_updated\n"
        "now        23  -                -                    2026-11-01 18:00:00  -        "
        "      0.00  600,000.00  368,000.00  -\n"
    )


def test_history_csv_marks_the_retraction_on_both_sides(run) -> None:
    out = run("history", "--deal", "D-RETRACT", "--format", "csv")
    assert out.stdout == (
        "happened,recorded,seq,effective_at,recorded_at,lag_days,event_id,stream_id,type,actor,"
        "details,out_of_order,retracted_by,retracted_at,retracts,note\n"
        "1,1,10,2026-03-11T00:00:00Z,2026-10-01T18:00:00Z,204.75,"
        "5e0c0008-0000-4000-8000-000000000000,deal:D-RETRACT,deal_opened,rep-sam,"
        "deal_id=D-RETRACT account_id=A-BIRCH stage=demo amount=60000 expected_close=2026-11-20 "
        "segment=payer owner=rep-sam,false,,,,\n"
        "2,2,11,2026-08-01T00:00:00Z,2026-10-01T18:00:00Z,61.75,"
        "7d1f3c2a-5b8e-4f0a-9c6d-2e4b8a1f0c93,deal:D-RETRACT,deal_updated,rep-sam,"
        "deal_id=D-RETRACT amount=90000,false,21,2026-11-01T18:00:00Z,,"
        "retracted by #21 (recorded 2026-11-01 18:00:00)\n"
        "3,3,21,2026-10-22T00:00:00Z,2026-11-01T18:00:00Z,10.75,"
        "5e0c1008-0000-4000-8000-000000001000,ledger,event_retracted,revops,"
        "retracts=7d1f3c2a-5b8e-4f0a-9c6d-2e4b8a1f0c93 reason=recorded against the wrong deal,"
        "false,,,11,retracts #11 deal_updated\n"
    )


def test_history_table_of_an_account_known_before_its_churn(sample) -> None:
    out = sample(
        "history", "--account", "A-LAKESIDE", "--order", "recorded", "--known-at", "2026-10-19"
    )
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (
        "History of account A-LAKESIDE as recorded (known at 2026-10-19T23:59:59.999999Z; "
        "head seq 43): 6 events"
    )
    assert [line.split()[:3] for line in lines[4:10]] == [
        ["1", "1", "16"],
        ["2", "2", "17"],
        ["3", "3", "18"],
        ["4", "4", "19"],
        ["5", "5", "20"],
        ["6", "6", "21"],
    ]
    # Imported on Oct 5 09:00: the expansion of Aug 1, 2025 was recorded 430.375 days late.
    assert "2025-08-01 00:00:00  2026-10-05 09:00:00     430.4  expansion" in lines[9]


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
        (["restatements", "--metric", "nrr"], 2, "Missing option '--reported-at'."),
        (
            ["restatements", "--metric", "mrr", "--reported-at", "2026-10-05"],
            2,
            "'mrr' is not one of",
        ),
        (
            ["restatements", "--metric", "forecast", "--reported-at", "2026-10-05"],
            2,
            "--metric forecast needs --period",
        ),
        (
            [
                "restatements",
                "--metric",
                "arr",
                "--reported-at",
                "2026-11-01",
                "--known-at",
                "2026-10-20",
            ],
            3,
            "option '--reported-at' = '2026-11-01': must not be after the time the comparison",
        ),
        (
            [
                "restatements",
                "--metric",
                "arr",
                "--period",
                "2026-Q4",
                "--reported-at",
                "2026-10-05",
            ],
            2,
            "--period is for --metric forecast; --metric arr takes --as-of.",
        ),
        (
            ["arr", "--known-at", "2026-11-03"],  # the day after today
            3,
            "option '--known-at' = '2026-11-03': is in the future; what will be known then is "
            "not known yet",
        ),
        (
            ["forecast-diff", "--period", "2026-Q4", "--from-known-at", "2026-11-02T09:31:00Z"],
            3,
            "option '--from-known-at' = '2026-11-02T09:31:00Z': is in the future",
        ),
        (
            ["restatements", "--metric", "nrr", "--reported-at", "soon"],
            3,
            "option '--reported-at' = 'soon': is not a date",
        ),
        (
            ["restatements", "--metric", "nrr", "--reported-at", "2026-10-05", "--window", "2x"],
            3,
            "option '--window' = '2x'",
        ),
        (["history"], 2, "give exactly one of --deal and --account"),
        (["history", "--deal", "D-PULL", "--account", "A-PINE"], 2, "give exactly one of"),
        (["history", "--deal", "D-NONE"], 3, "option '--deal' = 'D-NONE': names no events"),
        (
            ["history", "--deal", "d-pull"],
            3,
            "option '--deal' = 'd-pull': names no events in the ledger (as known then); the "
            "ledger has 'D-PULL' (ids are compared exactly, case included).",
        ),
        (
            ["history", "--account", "a-pine"],
            3,
            "option '--account' = 'a-pine': names no events in the ledger (as known then); the "
            "ledger has 'A-PINE' (ids are compared exactly, case included).",
        ),
        (
            ["history", "--deal", "D\u2010PULL"],
            3,
            "option '--deal' = 'D\u2010PULL': names no events in the ledger (as known then); it "
            "holds U+2010 (HYPHEN), which reads as '-', so the id would show as another; write "
            "it as 'D-PULL'.",
        ),
        (
            [
                "forecast-diff",
                "--period",
                "2026-Q4",
                "--from-as-of",
                "2026-10-01",
                "--to-known-at",
                "2026-13-01",
            ],
            3,
            "option '--to-known-at' = '2026-13-01': is not a real calendar date",
        ),
        (["history", "--account", "A-PINE", "--order", "sideways"], 2, "'sideways' is not one of"),
        (
            ["forecast", "--period", "2026-Q3", "history", "--period", "2026-Q4"],
            2,
            "give --period after `forecast history`, not before it",
        ),
        (
            ["forecast", "--format", "json", "history", "--period", "2026-Q4"],
            2,
            "give --format after `forecast history`, not before it",
        ),
        (
            ["forecast", "--deals", "history", "--period", "2026-Q4"],
            2,
            "--deals lists a forecast's deals; `forecast history` has none",
        ),
    ],
)
def test_mistakes_are_one_sentence_with_the_documented_exit_code(
    run, args: list[str], code: int, message: str
) -> None:
    out = run(*args)
    assert out.exit_code == code, out.stderr
    assert out.stdout == ""
    assert out.stderr.startswith("revledger: ") and message in out.stderr
    assert out.stderr.count("\n") == 1


def test_a_log_filter_that_finds_nothing_names_the_id_the_ledger_has_in_another_case(
    run,
) -> None:
    out = run("log", "--account", "a-pine", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == []
    assert out.stderr == (
        "revledger: note: nothing listed for --account 'a-pine'; the ledger has 'A-PINE' "
        "(ids are compared exactly, case included)\n"
    )
    # Nothing to say when the id is right and another filter leaves nothing, or no id is near.
    for args in (("--deal", "D-PULL", "--type", "churn"), ("--deal", "D-NONE")):
        quiet = run("log", *args)
        assert quiet.exit_code == 0, quiet.stderr
        assert quiet.stdout.startswith("0 events\n")
        assert quiet.stderr == ""


@pytest.mark.parametrize(
    ("signed", "reconfigure"),
    [
        # 20:00 UTC on the quarter's last day is already April 1 in Tokyo.
        ("2026-03-31T20:00:00Z", ("--timezone", "Asia/Tokyo")),
        # With the fiscal year starting in April, 2026-Q1 is April to June 2025.
        ("2026-02-15", ("--fiscal-year-start", "4")),
    ],
)
def test_a_reconfigured_calendar_between_the_views_restates_the_forecast(
    cli_at_clock, clock: list[datetime], signed: str, reconfigure: tuple[str, str]
) -> None:
    run = cli_at_clock
    assert run("init").exit_code == 0
    opened = run(
        "record", "deal_opened", "--deal-id", "D1", "--account-id", "A1", "--stage",
        "negotiation", "--amount", "100000", "--expected-close", "2026-03-31", "--effective",
        "2026-01-10",
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    won = run(
        "record", "contract_signed", "--deal-id", "D1", "--arr", "100000", "--effective", signed
    )
    assert won.exit_code == 0, won.output
    known_a = "2026-10-01T19:00:00Z"
    clock[0] = SECOND_IMPORT
    assert run("record", "ledger_configured", *reconfigure).exit_code == 0
    period = ("--period", "2026-Q1", "--as-of", "2026-06-30")

    def closed_won(*args: str) -> str:
        doc = json.loads(run("forecast", *period, *args, "--format", "json").stdout)
        return str(doc["rows"][0]["closed_won"])

    assert (closed_won("--known-at", known_a), closed_won()) == ("100000", "0")
    out = run(
        "forecast-diff", "--period", "2026-Q1", "--from-as-of", "2026-06-30", "--from-known-at",
        known_a, "--to-as-of", "2026-06-30", "--format", "json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)["rows"]
    by_line = {r["line"]: r for r in rows if r["line"] != "deal"}
    assert (by_line["from"]["closed_won"], by_line["to"]["closed_won"]) == ("100000", "0")
    [deal] = [r for r in rows if r["line"] == "deal"]
    assert (deal["deal_id"], deal["category"], deal["closed_won"]) == ("D1", "restated", "-100000")
    assert [(e["type"], e["axis"]) for e in deal["events"]] == [("ledger_configured", "known")]
    restated = run(
        "restatements", "--metric", "forecast", *period, "--reported-at", known_a,
        "--format", "json",
    )  # fmt: skip
    assert restated.exit_code == 0, restated.output
    lines = [(r["line"], r["type"], r["closed_won"]) for r in json.loads(restated.stdout)["rows"]]
    assert lines[0][0] == "reported" and lines[0][2] == "100000"
    assert lines[1:] == [("effect", "ledger_configured", "-100000"), ("now", None, "0")]
    # A typed day is read in the ledger's current time zone, whatever the other view knows.
    typed = json.loads(
        run("forecast", *period, "--known-at", "2026-10-01", "--format", "json").stdout
    )
    past = run(
        "forecast-diff", "--period", "2026-Q1", "--from-as-of", "2026-06-30", "--from-known-at",
        "2026-10-01", "--to-known-at", known_a, "--format", "json",
    )  # fmt: skip
    assert past.exit_code == 0, past.output
    options = json.loads(past.stdout)["meta"]["options"]
    assert options["from_known_at"] == typed["meta"]["known_at"]


def _table(out: Result) -> list[list[str]]:
    """Return the rows of a table answer, each as its cells (split on runs of two spaces)."""
    assert out.exit_code == 0, out.output
    lines = out.stdout.split("\n\n")[1].splitlines()[2:]
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines]


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_weighted_amounts_of_a_third_add_up_to_the_weighted_figure_as_shown(
    cli_at_clock, clock: list[datetime], tmp_path: Path
) -> None:
    """Three deals of 100.01 at 0.3333 weigh 33.33 each (33.333333 rounded half-even to cents):
    the table's total is their sum, 99.99, as in JSON, CSV and `coverage`; lowered to 0.1111,
    each changes by -22.22 and the forecast-diff waterfall runs 99.99 - 66.66 = 33.33."""
    run = cli_at_clock
    assert run("init").exit_code == 0
    opened = tmp_path / "thirds.jsonl"
    lowered = tmp_path / "ninths.jsonl"
    opened.write_text(
        '{"type":"quota_set","effective_at":"2026-01-01","period":"2026-Q4","amount":"1000"}\n'
        + "".join(
            f'{{"type":"deal_opened","effective_at":"2026-01-05","deal_id":"D-{n}",'
            f'"account_id":"A-{n}","stage":"discovery","amount":"100.01",'
            f'"expected_close":"2026-11-15"}}\n'
            f'{{"type":"deal_updated","effective_at":"2026-01-06","deal_id":"D-{n}",'
            f'"probability":"0.3333"}}\n'
            for n in (1, 2, 3)
        )
    )
    lowered.write_text(
        "".join(
            f'{{"type":"deal_updated","effective_at":"2026-02-01","deal_id":"D-{n}",'
            f'"probability":"0.1111"}}\n'
            for n in (1, 2, 3)
        )
    )
    assert run("import", str(opened)).exit_code == 0
    period = ("--period", "2026-Q4", "--as-of", "2026-01-10")
    deals = _table(run("forecast", *period, "--deals"))
    weighted = [row[10] for row in deals]  # deal, account, status, stage, category, close, …
    assert weighted == ["33.33", "33.33", "33.33", "99.99"]
    # The probability shows as given, so amount × probability reads as the weighted amount.
    assert [row[6] for row in deals[:-1]] == ["33.33%"] * 3
    assert sum(map(_amount, weighted[:-1])) == _amount(weighted[-1])
    doc = json.loads(run("forecast", *period, "--deals", "--format", "json").stdout)
    assert [r["weighted"] for r in doc["rows"]] == ["33.33", "33.33", "33.33", "99.99"]
    csv_rows = run("forecast", *period, "--deals", "--format", "csv").stdout.splitlines()
    assert [line.split(",")[10] for line in csv_rows[1:]] == ["33.33", "33.33", "33.33", "99.99"]
    forecast_doc = json.loads(run("forecast", *period, "--format", "json").stdout)
    coverage_doc = json.loads(run("coverage", *period, "--format", "json").stdout)
    assert forecast_doc["rows"][0]["weighted"] == coverage_doc["rows"][0]["weighted"] == "99.99"

    assert run("import", str(lowered)).exit_code == 0
    waterfall = _table(
        run(
            "forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-01-10",
            "--to-as-of", "2026-10-01",
        )
    )  # fmt: skip
    # line, category, deal, closed won, unweighted, weighted, …
    lines = [(row[0], _amount(row[5])) for row in waterfall]
    assert lines == [
        ("from", Decimal("99.99")),
        *[("deal", Decimal("-22.22"))] * 3,
        ("subtotal", Decimal("-66.66")),
        ("to", Decimal("33.33")),
    ]
    deals_sum = sum((x for line, x in lines if line == "deal"), Decimal(0))
    assert lines[0][1] + deals_sum == lines[0][1] + lines[4][1] == lines[-1][1]


def test_a_restated_ratio_adds_up_as_shown(
    cli_at_clock, clock: list[datetime], tmp_path: Path
) -> None:
    """Ten expansions of 0.10 recorded late on a cohort of 300 move NRR by 1/3000 each (0.0003
    rounded): from 1.0000 to 1.0033. Each effect is shown as the step between the values before
    and after it as rounded, so reported + effects = now in JSON (4 places) and in the table
    (a tenth of a percent), where the rounded exact effects gave 1.0030 and 100.0%."""
    run = cli_at_clock
    assert run("init").exit_code == 0
    customers = tmp_path / "customers.jsonl"
    customers.write_text(
        "".join(
            f'{{"type":"contract_signed","effective_at":"2025-01-10","deal_id":"D-{n}",'
            f'"account_id":"A-{n}","arr":"100"}}\n'
            f'{{"type":"go_live","effective_at":"2025-02-01","account_id":"A-{n}",'
            f'"deal_id":"D-{n}"}}\n'
            for n in (1, 2, 3)
        )
    )
    late = tmp_path / "late.jsonl"
    late.write_text(
        "".join(
            f'{{"type":"expansion","effective_at":"2026-03-{day:02}","account_id":"A-1",'
            '"arr":"0.10"}\n'
            for day in range(1, 11)
        )
    )
    assert run("import", str(customers)).exit_code == 0
    clock[0] = SECOND_IMPORT
    imported = run("import", str(late))
    assert imported.exit_code == 0, imported.output
    asked = ["restatements", "--metric", "nrr", "--as-of", "2026-09-30"]
    asked += ["--reported-at", "2026-10-01"]
    doc = json.loads(run(*asked, "--format", "json").stdout)
    shown = [Decimal(r["nrr"]) for r in doc["rows"]]
    assert (shown[0], shown[-1], len(shown)) == (Decimal("1.0000"), Decimal("1.0033"), 12)
    assert shown[0] + sum(shown[1:-1]) == shown[-1]
    table = _table(run(*asked))
    percents = [Decimal(row[-2].rstrip("%")) for row in table]  # …, actor, nrr, note
    assert (percents[0], percents[-1]) == (Decimal("100.0"), Decimal("100.3"))
    assert percents[0] + sum(percents[1:-1]) == percents[-1]


def test_an_event_recorded_just_ahead_of_its_day_shows_a_lag_of_zero_without_a_sign(
    cli_at_clock, clock: list[datetime]
) -> None:
    """A go-live recorded 30 minutes before it takes effect lags -0.020833 days: the table shows
    0.0, not -0.0, and JSON keeps the exact figure."""
    run = cli_at_clock
    assert run("init").exit_code == 0
    signed = run(
        "record", "contract_signed", "--deal-id", "D1", "--account-id", "A1", "--arr", "1000",
        "--effective", "2026-09-01",
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    ahead = FIRST_IMPORT + timedelta(minutes=30)
    live = run(
        "record", "go_live", "--deal-id", "D1", "--account-id", "A1",
        "--effective", ahead.isoformat().replace("+00:00", "Z"),
    )  # fmt: skip
    assert live.exit_code == 0, live.output
    rows = _table(run("history", "--account", "A1", "--order", "recorded"))
    assert [row[5] for row in rows] == ["30.8", "0.0"]  # happened, recorded, seq, …, lag days
    doc = json.loads(run("history", "--account", "A1", "--format", "json").stdout)
    assert [r["lag_days"] for r in doc["rows"]] == ["30.75", "-0.020833"]


def test_a_probability_change_that_moves_no_cent_of_the_weighted_amount_is_no_forecast_change(
    cli_at_clock, clock: list[datetime], tmp_path: Path
) -> None:
    """A deal of 10.00 at 0.5 weighs 5.00; at 0.5005 it weighs 5.005, which is 5.00 in cents
    (half-even): no figure of the forecast moves, so `forecast-diff` lists no deal. At 0.5006
    it weighs 5.01: a `category_change` of 0.01."""
    run = cli_at_clock
    assert run("init").exit_code == 0

    def write(name: str, lines: list[dict[str, str]]) -> str:
        path = tmp_path / name
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return str(path)

    opened = {"type": "deal_opened", "effective_at": "2026-01-05", "deal_id": "D-1",
              "account_id": "A-1", "stage": "discovery", "amount": "10",
              "expected_close": "2026-11-15"}  # fmt: skip
    update = {"type": "deal_updated", "deal_id": "D-1"}
    first = [opened, {**update, "effective_at": "2026-01-06", "probability": "0.5"}]
    assert run("import", write("open.jsonl", first)).exit_code == 0
    views = ("--period", "2026-Q4", "--from-as-of", "2026-01-10", "--to-as-of", "2026-03-01")
    for day, probability, rows in (("2026-02-01", "0.5005", []), ("2026-02-02", "0.5006", [1])):
        moved = [{**update, "effective_at": day, "probability": probability}]
        assert run("import", write(f"{probability}.jsonl", moved)).exit_code == 0
        doc = json.loads(run("forecast-diff", *views, "--format", "json").stdout)
        deals = [r for r in doc["rows"] if r["line"] == "deal"]
        assert [(r["category"], r["weighted"]) for r in deals] == [
            ("category_change", "0.01") for _ in rows
        ]
        assert doc["rows"][-1]["weighted"] == ("5.01" if rows else "5")
