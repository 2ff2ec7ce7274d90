"""Revenue commands on the sample ledger: exact output in each format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample-ledger.jsonl"
CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
def clock() -> list[datetime]:
    """The current time of the ledger under test; tests may move it forward."""
    return [CLOCK]


@pytest.fixture
def run(cli_at_clock):
    invoke = cli_at_clock
    assert invoke("init").exit_code == 0
    assert invoke("import", str(SAMPLE)).exit_code == 0
    return invoke


def _head(run) -> str:
    return str(json.loads(run("verify", "--format", "json").stdout)["rows"][0]["head_hash"])


def _footer(run, metric: str, definition: str, options: str | None, as_of: str) -> str:
    lines = [f"metric: {metric}", f"definition: {definition}"]
    if options:
        lines.append(f"options: {options}")
    lines += [
        f"as_of: {as_of}",
        "known_at: 2026-11-02T15:04:05.123456Z",
        f"head: seq 43, hash {_head(run)}",
        "currency: USD",
    ]
    return "\n".join(lines) + "\n"


def test_arr_table(run) -> None:
    out = run("arr", "--as-of", "2026-06-30", "--by", "segment")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == (
        "ARR as of 2026-06-30 (known at 2026-11-02T15:04:05.123456Z; head seq 43)\n"
        "\n"
        "group          accounts         ARR     backlog  projected churn        CARR\n"
        "-------------  --------  ----------  ----------  ---------------  ----------\n"
        "health_system         1  260,000.00  110,000.00             0.00  370,000.00\n"
        "payer                 1  150,000.00        0.00             0.00  150,000.00\n"
        "life_sciences         1   60,000.00        0.00        60,000.00        0.00\n"
        "clinic                1   48,000.00        0.00             0.00   48,000.00\n"
        "total                 4  518,000.00  110,000.00        60,000.00  568,000.00\n"
        "\n" + _footer(run, "arr", "revledger.arr/1", "by segment", "2026-06-30")
    )


def test_arr_json(run) -> None:
    doc = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert doc == {
        "meta": {
            "metric": "arr",
            "definition": "revledger.arr/1",
            "options": {"by": None},
            "as_of": "2026-06-30",
            "known_at": "2026-11-02T15:04:05.123456Z",
            "head": {"seq": 43, "hash": _head(run)},
            "currency": "USD",
        },
        "rows": [
            {
                "key": "total",
                "accounts": 4,
                "arr": "518000",
                "backlog": "110000",
                "projected_churn": "60000",
                "carr": "568000",
            }
        ],
    }


def test_arr_csv(run) -> None:
    out = run("arr", "--as-of", "2025-12-31", "--by", "channel", "--format", "csv")
    assert out.stdout == (
        "key,accounts,arr,backlog,projected_churn,carr\n"
        "direct,2,260000,150000,0,410000\n"
        "partner:veeva,1,90000,0,90000,0\n"
        "partner:epic,1,48000,0,0,48000\n"
        "total,4,398000,150000,90000,458000\n"
    )


def test_the_same_question_gives_the_same_bytes(run) -> None:
    first = run("nrr", "--as-of", "2026-06-30", "--format", "json").stdout
    run("rebuild")
    assert run("nrr", "--as-of", "2026-06-30", "--format", "json").stdout == first


def test_movements_table(run) -> None:
    out = run("movements", "--from", "2025-06-30", "--to", "2026-06-30")
    assert out.stdout == (
        "ARR movements from 2025-06-30 as of 2026-06-30 "
        "(known at 2026-11-02T15:04:05.123456Z; head seq 43)\n"
        "\n"
        "group   start ARR         new  reactivation  expansion  contraction  churn     end ARR\n"
        "-----  ----------  ----------  ------------  ---------  -----------  -----  ----------\n"
        "total  296,000.00  240,000.00          0.00  12,000.00    30,000.00   0.00  518,000.00\n"
        "\n" + _footer(run, "movements", "revledger.movements/2", "start 2025-06-30", "2026-06-30")
    )


def test_movements_by_account_csv_sums_to_the_total(run) -> None:
    out = run(
        "movements",
        "--from",
        "2025-12-31",
        "--to",
        "2026-12-31",
        "--by",
        "account",
        "--format",
        "csv",
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "key,start,new,reactivation,expansion,contraction,churn,end"
    assert lines[1:] == [
        "A-MERCY,260000,0,0,0,0,0,260000",
        "A-NORTHWIND,0,150000,0,0,0,0,150000",
        "A-LAKESIDE,48000,0,0,0,0,0,48000",
        "A-HELIX,90000,0,0,0,30000,60000,0",  # contracted in February, churned in August
        "total,398000,150000,0,0,30000,60000,458000",
    ]


def test_nrr_table_and_json(run) -> None:
    out = run("nrr", "--as-of", "2026-06-30")
    assert out.stdout.splitlines()[2:5] == [
        "group  accounts       start         end    retained     NRR     GRR",
        "-----  --------  ----------  ----------  ----------  ------  ------",
        "total         2  296,000.00  308,000.00  296,000.00  104.1%  100.0%",
    ]
    # A window typed in capitals or with spaces is named as parsed, in the title as in `meta`.
    assert run("nrr", "--as-of", "2026-06-30", "--window", " 1Q").stdout.startswith(
        "NRR/GRR over 1q (arr, cohort live on 2026-03-31) as of 2026-06-30"
    )
    doc = json.loads(
        run("nrr", "--as-of", "2026-06-30", "--window", "1q", "--format", "json").stdout
    )
    assert doc["meta"]["options"] == {
        "window": "1q",
        "basis": "arr",
        "start": "2026-03-31",  # the close of Q1: a quarter end goes back to one
        "by": None,
    }
    assert doc["rows"] == [
        {
            "key": "total",
            "accounts": 4,
            "start": "518000",
            "end": "518000",
            "retained": "518000",
            "nrr": "1.0000",
            "grr": "1.0000",
        }
    ]


def test_nrr_on_carr_counts_the_churn_notice(run) -> None:
    doc = json.loads(
        run(
            "nrr", "--as-of", "2026-06-30", "--basis", "carr", "--window", "1q", "--format", "json"
        ).stdout
    )
    [row] = doc["rows"]
    # Mercy's CARR includes its pending 110k; Helix's CARR is 0 once its churn is known.
    assert (row["start"], row["end"]) == ("568000", "568000")


def test_cohorts_table(run) -> None:
    out = run("cohorts", "--as-of", "2026-06-30")
    assert out.stdout.splitlines()[2:8] == [
        "cohort   accounts  first-period ARR      +0      +1      +2      +3      +4      +5",
        "-------  --------  ----------------  ------  ------  ------  ------  ------  ------",
        "2025-Q1         1         36,000.00  100.0%  100.0%  133.3%  133.3%  133.3%  133.3%",
        "2025-Q2         1        260,000.00  100.0%  100.0%  100.0%  100.0%  100.0%       -",
        "2025-Q3         1         90,000.00  100.0%  100.0%   66.7%   66.7%       -       -",
        "2026-Q1         1        150,000.00  100.0%  100.0%       -       -       -       -",
    ]
    doc = json.loads(run("cohorts", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert doc["rows"][2] == {
        "cohort": "2025-Q3",
        "accounts": 1,
        "start_arr": "90000",
        "revenue": ["1.0000", "1.0000", "0.6667", "0.6667"],
        "logos": ["1.0000", "1.0000", "1.0000", "1.0000"],
        "arr": ["90000", "90000", "60000", "60000"],
    }


def test_known_at_before_a_late_event(run, tmp_path: Path, clock: list[datetime]) -> None:
    late = tmp_path / "late.jsonl"
    late.write_text(
        '{"type":"expansion","effective_at":"2026-05-01","account_id":"A-MERCY","arr":"40000"}\n',
        encoding="utf-8",
    )
    before = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
    clock[0] = datetime(2026, 11, 20, tzinfo=UTC)
    assert run("import", str(late)).exit_code == 0
    now = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
    then = json.loads(
        run(
            "arr",
            "--as-of",
            "2026-06-30",
            "--known-at",
            "2026-11-02T15:04:05.123456Z",
            "--format",
            "json",
        ).stdout
    )
    assert now["rows"][0]["arr"] == "558000"
    assert then["rows"] == before["rows"]
    assert then["meta"]["head"] == before["meta"]["head"]


def test_bad_window_and_dates_are_usage_mistakes(run) -> None:
    bad = run("nrr", "--window", "12 months")
    assert (bad.exit_code, bad.stderr) == (
        3,
        "revledger: option '--window' = '12 months': is not a window such as 12m, 3m, 1q, 1y "
        "or 90d.\n",
    )
    order = run("movements", "--from", "2026-07-01", "--to", "2026-06-30")
    assert order.exit_code == 3 and "must not be after --to (2026-06-30)" in order.stderr
    assert run("arr", "--as-of", "2026-02-30").exit_code == 3


def _edit_checkpoint(db_url: str, name: str, edit) -> None:
    """Rewrite the saved state of checkpoint `name` with `edit(state)`, as someone who may
    update the checkpoints table could."""
    from sqlalchemy import create_engine, text

    from ledger.store import resolve_url

    engine = create_engine(resolve_url(db_url))
    with engine.begin() as conn:
        state = conn.execute(
            text("SELECT state FROM checkpoints WHERE name = :n"), {"n": name}
        ).scalar_one()
        conn.execute(
            text("UPDATE checkpoints SET state = :s WHERE name = :n"), {"s": edit(state), "n": name}
        )
    engine.dispose()


def _richer(state: str) -> str:
    """A view whose every live ARR is 100,000.00 higher: a read model edited to flatter."""
    from projections.revenue_book import RevenueView

    view = RevenueView.from_json(state)
    view.columns.live = [v + 10_000_000 if v else v for v in view.columns.live]
    return view.to_json()


def test_rebuild_check_finds_a_read_model_edited_by_hand(run, db_url: str) -> None:
    check = ("rebuild", "--check", "--format", "csv")
    assert run(*check).stdout.splitlines()[1:] == ["revenue,,none", "revenue-view,,none"]
    before = run("arr", "--format", "json").stdout  # saves the book and the view
    head = json.loads(before)["meta"]["head"]["seq"]
    fine = run(*check)
    assert (fine.exit_code, fine.stdout.splitlines()[1:]) == (
        0,
        [f"revenue,{head},agrees", f"revenue-view,{head},agrees"],
    )
    _edit_checkpoint(db_url, "revenue-view", _richer)
    assert run("arr", "--format", "json").stdout != before  # the edit shows in the answers
    edited = run(*check)
    assert edited.exit_code == 5
    assert edited.stdout.splitlines()[1:] == [
        f"revenue,{head},agrees",
        f"revenue-view,{head},differs",
    ]
    assert edited.stderr.startswith("revledger: integrity failure: a saved read model differs")
    _edit_checkpoint(db_url, "revenue", lambda state: "not a book")
    assert run(*check).stdout.splitlines()[1] == f"revenue,{head},unreadable"
    rebuilt = run("rebuild", "--format", "csv")
    assert rebuilt.stdout.splitlines() == ["head_seq,head_hash", f"{head},{_head(run)}"]
    assert run(*check).exit_code == 0
    assert run("arr", "--format", "json").stdout == before


def _inflated_retracted_fact(state: str) -> str:
    """A book whose retracted expansion is 40 times larger: it shows only in views as known
    before the retraction (a restatement's), not in today's timelines."""
    from projections.revenue_book import RevenueBook

    book = RevenueBook.from_json(state)
    for facts in book.accounts.values():
        for i, fact in enumerate(facts):
            if fact[6] is not None:  # retracted
                facts[i] = (*fact[:4], fact[4] * 40, *fact[5:])
    return book.to_json()


def test_rebuild_check_finds_an_edited_fact_that_only_past_views_show(run, db_url: str) -> None:
    expansion = run("log", "--type", "expansion", "--format", "csv").stdout.splitlines()[1]
    retracted = run("record", "event_retracted", "--retracts", expansion.split(",")[0],
                    "--reason", "entered twice")  # fmt: skip
    assert retracted.exit_code == 0, retracted.stderr
    assert run("arr").exit_code == 0  # saves the book and the view
    check = ("rebuild", "--check", "--format", "csv")
    assert run(*check).exit_code == 0
    _edit_checkpoint(db_url, "revenue", _inflated_retracted_fact)
    edited = run(*check)
    assert edited.exit_code == 5
    assert [line.split(",")[2] for line in edited.stdout.splitlines()[1:]] == [
        "differs",
        "agrees",
    ]


def test_an_arr_restatement_early_in_1900_reads_no_window(
    cli_at_clock, clock: list[datetime]
) -> None:
    """arr and carr read the as-of day alone: no 12-month look-back to reach before 1900."""
    run = cli_at_clock
    assert run("init").exit_code == 0
    for args in (
        ["contract_signed", "--deal-id", "D-1", "--account-id", "A-1", "--arr", "10000"],
        ["go_live", "--account-id", "A-1", "--deal-id", "D-1"],
    ):
        assert run("record", *args, "--effective", "1900-02-01").exit_code == 0
    clock[0] = clock[0].replace(day=20)
    churn = run(
        "record", "churn", "--account-id", "A-1", "--effective", "1900-05-01",
        "--actor", "controller",
    )  # fmt: skip
    assert churn.exit_code == 0, churn.stderr
    out = run(
        "restatements", "--metric", "arr", "--as-of", "1900-06-30",
        "--reported-at", "2026-11-02", "--format", "csv",
    )  # fmt: skip
    assert out.exit_code == 0, out.stderr
    # Reported on Nov 2: A-1 live at 10000 on 1900-06-30; the churn recorded Nov 20 takes it out.
    assert out.stdout.splitlines()[1:] == [
        "reported,3,,,2026-11-02T23:59:59.999999Z,,10000,",
        "effect,4,churn,1900-05-01T00:00:00Z,2026-11-20T15:04:05.123456Z,controller,-10000,",
        "now,4,,,2026-11-20T15:04:05.123456Z,,0,",
    ]
    # nrr does look back a year: from 1900-06-30 that is before 1900, as `nrr` says too.
    nrr = run(
        "restatements", "--metric", "nrr", "--as-of", "1900-06-30", "--reported-at", "2026-11-02"
    )
    assert nrr.exit_code == 3
    assert "reaches back to 1899-06-30, before 1900" in nrr.stderr


def test_the_nrr_cohort_is_the_customers_live_at_the_close_of_the_start_day(
    cli_at_clock, tmp_path: Path
) -> None:
    """As of Mar 31 over 1q the cohort is taken at the close of Dec 31: a customer that went
    live during Dec 31 is in it."""
    lines = [
        {
            "type": "deal_opened",
            "effective_at": "2025-12-01",
            "deal_id": "D-9",
            "account_id": "A-9",
            "stage": "negotiation",
            "amount": "1000",
            "expected_close": "2025-12-15",
        },
        {"type": "contract_signed", "effective_at": "2025-12-15", "deal_id": "D-9", "arr": "1000"},
        {"type": "go_live", "effective_at": "2025-12-31", "account_id": "A-9", "deal_id": "D-9"},
    ]
    ledger = tmp_path / "late.jsonl"
    ledger.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli_at_clock("init").exit_code == 0
    assert cli_at_clock("import", str(ledger)).exit_code == 0
    out = cli_at_clock("nrr", "--as-of", "2026-03-31", "--window", "1q", "--format", "json")
    doc = json.loads(out.stdout)
    assert doc["meta"]["options"]["start"] == "2025-12-31"
    assert doc["rows"] == [
        {
            "key": "total",
            "accounts": 1,
            "start": "1000",
            "end": "1000",
            "retained": "1000",
            "nrr": "1.0000",
            "grr": "1.0000",
        }
    ]
