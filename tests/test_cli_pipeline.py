"""Pipeline commands on the pipeline fixture: exact output in each format.

The fixture (`fixtures/pipeline-ledger.jsonl`) has nine deals; the figures below were worked
out by hand from it, e.g. D-101 sat in qualification from Jan 6 to Feb 3 2025 (28 days).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline-ledger.jsonl"
CLOCK = datetime(2026, 7, 6, 9, 30, 0, 123456, tzinfo=UTC)
KNOWN = "known at 2026-07-06T09:30:00.123456Z; head seq 58"


@pytest.fixture
def clock() -> list[datetime]:
    """The current time of the ledger under test; tests may move it forward."""
    return [CLOCK]


@pytest.fixture
def run(cli_at_clock):
    invoke = cli_at_clock
    assert invoke("init").exit_code == 0
    assert invoke("import", str(FIXTURE)).exit_code == 0
    return invoke


def _head(run) -> str:
    return str(json.loads(run("verify", "--format", "json").stdout)["rows"][0]["head_hash"])


def _footer(run, metric: str, definition: str, options: str | None) -> str:
    lines = [f"metric: {metric}", f"definition: {definition}"]
    if options:
        lines.append(f"options: {options}")
    lines += [
        "as_of: 2026-06-30",
        "known_at: 2026-07-06T09:30:00.123456Z",
        f"head: seq 58, hash {_head(run)}",
        "currency: USD",
    ]
    return "\n".join(lines) + "\n"


def _meta(
    run, metric: str, definition: str, options: dict[str, Any], as_of: str = "2026-06-30"
) -> dict[str, Any]:
    return {
        "metric": metric,
        "definition": definition,
        "options": options,
        "as_of": as_of,
        "known_at": "2026-07-06T09:30:00.123456Z",
        "head": {"seq": 58, "hash": _head(run)},
        "currency": "USD",
    }


def test_stages_table(run) -> None:
    out = run("stages", "--as-of", "2026-06-30")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == (
        f"Time in stage, days as of 2026-06-30 ({KNOWN})\n"
        "\n"
        "group  stage                deals  visits  done  median  mean   p90  cum/deal  "
        "latest/deal  open  open age med  open age max\n"
        "-----  -------------------  -----  ------  ----  ------  ----  ----  --------  "
        "-----------  ----  ------------  ------------\n"
        "total  qualification            6       6     6    29.5  31.7  42.0      31.7  "
        "       31.7     0             -             -\n"
        "total  discovery                5       6     6    31.5  37.3  63.0      44.8  "
        "       38.4     0             -             -\n"
        "total  demo                     7       8     8    30.5  31.4  35.0      35.9  "
        "       31.6     0             -             -\n"
        "total  clinical_validation      2       3     2    28.0  28.0  28.0     116.5  "
        "      102.5     1         177.0         177.0\n"
        "total  security_review          4       5     4    42.0  42.0  56.0      95.0  "
        "       88.0     1         212.0         212.0\n"
        "total  legal_review             2       2     1    28.0  28.0  28.0      74.5  "
        "       74.5     1         121.0         121.0\n"
        "total  negotiation              5       5     5    28.0  25.6  30.0      25.6  "
        "       25.6     0             -             -\n"
        "\n" + _footer(run, "stages", "revledger.stages/1", None)
    )


def test_stages_json_keeps_exact_days(run) -> None:
    doc = json.loads(run("stages", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert doc["meta"] == _meta(
        run, "stages", "revledger.stages/1", {"from": None, "to": None, "by": None}
    )
    assert doc["rows"][1] == {
        "key": "total",
        "stage": "discovery",
        "deals": 5,
        "visits": 6,
        "completed": 6,
        "median_days": "31.5",
        "mean_days": "37.333333",
        "p90_days": "63",
        "mean_cumulative_days": "44.8",
        "mean_latest_days": "38.4",
        "open": 0,
        "open_median_age_days": None,
        "open_max_age_days": None,
    }


def test_stages_per_deal_in_a_window_csv(run) -> None:
    out = run(
        "stages", "--as-of", "2026-06-30", "--from", "2026-01-01", "--deals", "--format", "csv"
    )
    assert out.stdout == (
        "deal_id,stage,visits,cumulative_days,latest_days,status\n"
        "D-106,demo,1,28,28,ended\n"
        "D-106,negotiation,1,28,28,ended\n"
        "D-107,qualification,1,28,28,ended\n"
        "D-107,demo,1,35,35,ended\n"
        "D-108,discovery,1,63,63,ended\n"
        "D-109,qualification,1,42,42,ended\n"
        "D-109,demo,1,35,35,ended\n"
        "D-109,security_review,1,56,56,ended\n"
        "D-109,negotiation,1,28,28,ended\n"
    )


def test_a_backdated_stage_change_shows_as_known_today_not_as_known_before(
    run, clock: list[datetime]
) -> None:
    clock[0] = datetime(2026, 7, 8, tzinfo=UTC)
    recorded = run(
        "record",
        "stage_changed",
        "--deal-id",
        "D-108",
        "--stage",
        "security_review",
        "--effective",
        "2026-03-02",
    )
    assert recorded.exit_code == 0, recorded.stderr
    args = ("stages", "--as-of", "2026-06-30", "--deals", "--format", "csv")
    now = [x for x in run(*args).stdout.splitlines() if x.startswith("D-108")]
    then = run(*args, "--known-at", "2026-07-07").stdout.splitlines()
    # Jan 5 .. Mar 2 in clinical validation (56 days), then security review until the close
    # of Jun 30 (121 days); before the late event it looked like 177 days in validation.
    assert now == [
        "D-108,discovery,1,63,63,ended",
        "D-108,clinical_validation,1,56,56,ended",
        "D-108,security_review,1,121,121,open",
    ]
    assert [x for x in then if x.startswith("D-108")] == [
        "D-108,discovery,1,63,63,ended",
        "D-108,clinical_validation,1,177,177,open",
    ]


def test_aging_json(run) -> None:
    doc = json.loads(run("aging", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert doc == {
        "meta": _meta(run, "aging", "revledger.aging/1", {"older_than_days": 180}),
        "rows": [
            {
                "deal_id": "D-105",
                "account_id": "A-LIFE",
                "stage": "security_review",
                "owner": "rep-cy",
                "segment": "life_sciences",
                "channel": "direct",
                "amount": "90000",
                "opened_at": "2025-10-01T00:00:00Z",
                "expected_close": "2026-06-30",
                "age_days": "273",
                "in_stage_days": "212",
            },
            {
                "deal_id": "D-108",
                "account_id": "A-BAY",
                "stage": "clinical_validation",
                "owner": "rep-ben",
                "segment": "payer",
                "channel": "partner:epic",
                "amount": "250000",
                "opened_at": "2025-11-03T00:00:00Z",
                "expected_close": "2026-06-30",
                "age_days": "240",
                "in_stage_days": "177",
            },
        ],
    }
    fewer = run("aging", "--as-of", "2026-06-30", "--days", "250", "--format", "csv")
    assert fewer.stdout.splitlines()[1:] == [
        "D-105,A-LIFE,security_review,rep-cy,life_sciences,direct,90000,"
        "2025-10-01T00:00:00Z,2026-06-30,273,212"
    ]


def test_regressions_table_by_segment(run) -> None:
    out = run("regressions", "--as-of", "2026-06-30", "--from", "2025-01-01", "--by", "segment")
    assert out.stdout == (
        f"Regressions from 2025-01-01 to 2026-06-30 as of 2026-06-30 ({KNOWN})\n"
        "\n"
        "group          deals moved  regressed  regression rate  transitions  backward  "
        "backward share\n"
        "-------------  -----------  ---------  ---------------  -----------  --------  "
        "--------------\n"
        "clinic                   2          0             0.0%            3         0  "
        "          0.0%\n"
        "health_system            4          2            50.0%           16         2  "
        "         12.5%\n"
        "life_sciences            1          0             0.0%            2         0  "
        "          0.0%\n"
        "payer                    2          1            50.0%            4         1  "
        "         25.0%\n"
        "total                    9          3            33.3%           25         3  "
        "         12.0%\n"
        "\n"
        + _footer(
            run,
            "regressions",
            "revledger.regressions/1",
            "from 2025-01-01, to 2026-06-30, by segment",
        )
    )


def test_regressions_deals_json_and_pairs_csv(run) -> None:
    doc = json.loads(
        run(
            "regressions",
            "--as-of",
            "2026-06-30",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--view",
            "deals",
            "--format",
            "json",
        ).stdout
    )
    assert doc == {
        "meta": _meta(
            run,
            "regressions",
            "revledger.regressions/1",
            {"from": "2025-01-01", "to": "2025-12-31", "by": None},
        ),
        "rows": [
            {
                "deal_id": "D-102",
                "account_id": "A-SOUTH",
                "from_stage": "security_review",
                "to_stage": "clinical_validation",
                "at": "2025-06-09T00:00:00Z",
                "seq": 21,
            },
            {
                "deal_id": "D-104",
                "account_id": "A-WEST",
                "from_stage": "demo",
                "to_stage": "discovery",
                "at": "2025-07-01T00:00:00Z",
                "seq": 36,
            },
        ],
    }
    pairs = run("regressions", "--as-of", "2026-06-30", "--view", "pairs", "--format", "csv")
    # The default window is the three months ending on --as-of: Mar 31 .. Jun 30 2026.
    assert pairs.stdout == (
        "from_stage,to_stage,direction,transitions,deals\nsecurity_review,negotiation,forward,1,1\n"
    )


def test_conversion_csv(run) -> None:
    out = run("conversion", "--as-of", "2026-06-30", "--format", "csv")
    assert out.stdout == (
        "key,from_stage,to_stage,reached,advanced,rate\n"
        "total,qualification,discovery,9,9,1.0000\n"
        "total,discovery,demo,9,9,1.0000\n"
        "total,demo,clinical_validation,9,7,0.7778\n"
        "total,clinical_validation,security_review,7,6,0.8571\n"
        "total,security_review,legal_review,6,5,0.8333\n"
        "total,legal_review,negotiation,5,5,1.0000\n"
        "total,negotiation,won,5,4,0.8000\n"
    )


def test_win_rate_by_persona_combination_table(run) -> None:
    out = run(
        "win-rate", "--as-of", "2026-06-30", "--from", "2025-01-01", "--by", "persona-combination"
    )
    assert out.stdout == (
        f"Win rate of deals closed from 2025-01-01 to 2026-06-30 as of 2026-06-30 ({KNOWN})\n"
        "\n"
        "group                  won  lost  win rate     won ARR  lost amount  win rate by value"
        "  cycle median  cycle mean  cycle p90\n"
        "---------------------  ---  ----  --------  ----------  -----------  -----------------"
        "  ------------  ----------  ---------\n"
        "cfo+clinical_champion    0     1      0.0%        0.00    30,000.00               0.0%"
        "             -           -          -\n"
        "cfo+cmio                 1     0    100.0%  120,000.00         0.00             100.0%"
        "         189.0       189.0      189.0\n"
        "cfo+procurement          0     1      0.0%        0.00   150,000.00               0.0%"
        "             -           -          -\n"
        "clinical_champion        1     0    100.0%   45,000.00         0.00             100.0%"
        "         212.0       212.0      212.0\n"
        "cmio+it_security         2     0    100.0%  290,000.00         0.00             100.0%"
        "         185.5       185.5      210.0\n"
        "total                    4     2     66.7%  455,000.00   180,000.00              71.7%"
        "         199.5       193.0      212.0\n"
        "\n"
        + _footer(
            run,
            "win-rate",
            "revledger.win_rate/1",
            "from 2025-01-01, to 2026-06-30, by persona-combination",
        )
    )


def test_velocity_json(run) -> None:
    doc = json.loads(
        run("velocity", "--as-of", "2026-06-30", "--from", "2025-07-01", "--format", "json").stdout
    )
    assert doc == {
        "meta": _meta(
            run,
            "velocity",
            "revledger.velocity/1",
            {"from": "2025-07-01", "to": "2026-06-30", "by": None},
        ),
        # 3 open × 4/6 won × 113,750 average / 193 days (cycles 189, 210, 212, 161).
        "rows": [
            {
                "key": "total",
                "open_deals": 3,
                "won": 4,
                "closed": 6,
                "win_rate": "0.6667",
                "average_won": "113750",
                "cycle_mean_days": "193",
                "velocity": "1178.76",
            }
        ],
    }


def test_coverage_table_and_json(run) -> None:
    out = run("coverage", "--as-of", "2026-06-30")
    # Q2 2026: quota 300k, D-109 won 110k; open D-105 90k × 0.6 (override), D-106 60k × 0.70,
    # D-108 250k × 0.40.
    assert out.stdout == (
        f"Pipeline coverage of 2026-Q2 as of 2026-06-30 ({KNOWN})\n"
        "\n"
        "period        quota  closed won   remaining  open deals    pipeline    weighted"
        "  coverage  weighted coverage\n"
        "-------  ----------  ----------  ----------  ----------  ----------  ----------"
        "  --------  -----------------\n"
        "2026-Q2  300,000.00  110,000.00  190,000.00           3  400,000.00  196,000.00"
        "    210.5%             103.2%\n"
        "\n" + _footer(run, "coverage", "revledger.coverage/3", "period 2026-Q2")
    )
    doc = json.loads(
        run("coverage", "--as-of", "2025-06-30", "--period", "2025-Q3", "--format", "json").stdout
    )
    assert doc == {
        "meta": _meta(run, "coverage", "revledger.coverage/3", {"period": "2025-Q3"}, "2025-06-30"),
        # D-101 120k at negotiation (0.85) and D-104 150k at demo (0.30) expect Q3 closes.
        "rows": [
            {
                "period": "2025-Q3",
                "quota": "300000",
                "closed_won": "0",
                "remaining": "300000",
                "open_deals": 2,
                "pipeline": "270000",
                "weighted": "147000",
                "coverage": "0.9000",
                "weighted_coverage": "0.4900",
            }
        ],
    }


def test_health_table_and_awaiting_go_live_csv(run) -> None:
    out = run("health", "--as-of", "2026-06-30")
    assert out.stdout == (
        f"Health-tech metrics as of 2026-06-30 ({KNOWN})\n"
        "\n"
        "metric                  key                      count  median    p90    max   rate"
        "      amount\n"
        "----------------------  -----------------------  -----  ------  -----  -----  -----"
        "  ----------\n"
        "security_questionnaire  hitrust                      2    56.0   56.0   56.0      -"
        "           -\n"
        "security_questionnaire  soc2                         1    84.0   84.0   84.0      -"
        "           -\n"
        "security_questionnaire  all                          3    56.0   84.0   84.0      -"
        "           -\n"
        "security_review_open    hecvat                       1   212.0  212.0  212.0      -"
        "           -\n"
        "security_review_open    all                          1   212.0  212.0  212.0      -"
        "           -\n"
        "won_cycle               with security review         3   189.0  210.0  210.0      -"
        "           -\n"
        "won_cycle               without security review      1   212.0  212.0  212.0      -"
        "           -\n"
        "baa_rate                signed contracts             4       -      -      -  75.0%"
        "           -\n"
        "standard_terms_rate     signed contracts             4       -      -      -  50.0%"
        "           -\n"
        "time_to_value           live                         3    35.0   79.0   79.0      -"
        "           -\n"
        "awaiting_go_live        signed, not live             1   303.0  303.0  303.0      -"
        "  180,000.00\n"
        "partner_share_pipeline  partner:epic                 1       -      -      -  62.5%"
        "  250,000.00\n"
        "partner_share_pipeline  all partners                 1       -      -      -  62.5%"
        "  250,000.00\n"
        "partner_share_won_arr   partner:epic                 1       -      -      -  39.6%"
        "  180,000.00\n"
        "partner_share_won_arr   all partners                 1       -      -      -  39.6%"
        "  180,000.00\n"
        "\n" + _footer(run, "health", "revledger.health/1", None)
    )
    waiting = run(
        "health", "--as-of", "2026-06-30", "--view", "awaiting-go-live", "--format", "csv"
    )
    assert waiting.stdout == (
        "deal_id,account_id,signed_at,arr,age\nD-102,A-SOUTH,2025-09-01T00:00:00Z,180000,303\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("regressions", "--as-of", "2026-06-30", "--to", "2026-07-01"),
            3,
            "revledger: option '--to' = '2026-07-01': must not be after --as-of (2026-06-30).\n",
        ),
        (
            ("win-rate", "--from", "2026-07-01", "--to", "2026-06-30"),
            3,
            "revledger: option '--from' = '2026-07-01': must not be after --to (2026-06-30).\n",
        ),
        (
            ("coverage", "--period", "2026-Q5"),
            3,
            "revledger: option '--period' = '2026-Q5': is not a period such as 2026-Q4, "
            "2026-11 or 2026.\n",
        ),
        (
            ("aging", "--days", "-1"),
            2,
            "revledger: Invalid value for '--days': -1 is not from 0 to 109573. "
            "(see `revledger aging --help`)\n",
        ),
        (
            ("aging", "--days", "1000000000"),
            2,
            "revledger: Invalid value for '--days': 1000000000 is not from 0 to 109573. "
            "(see `revledger aging --help`)\n",
        ),
        (
            ("aging", "--days", "99999999999999999999"),
            2,
            "revledger: Invalid value for '--days': 99999999999999999999 is not from 0 to 109573. "
            "(see `revledger aging --help`)\n",
        ),
        (
            ("stages", "--deals", "--by", "segment"),
            2,
            "revledger: --by cannot be combined with --deals.\n",
        ),
        (
            ("regressions", "--by", "segment", "--view", "pairs"),
            2,
            "revledger: --by groups --view summary only; --view pairs is not grouped.\n",
        ),
        (
            ("regressions", "--view", "deals", "--by", "channel"),
            2,
            "revledger: --by groups --view summary only; --view deals is not grouped.\n",
        ),
        (
            ("stages", "--from", "2026-02-30"),
            3,
            None,
        ),
    ],
)
def test_mistakes_are_one_sentence_with_the_documented_exit_code(
    run, args: tuple[str, ...], code: int, message: str | None
) -> None:
    out = run(*args)
    assert out.exit_code == code
    if message is not None:
        assert out.stderr == message
    else:
        assert out.stderr.startswith("revledger: option '--from' = '2026-02-30'")
        assert len(out.stderr.splitlines()) == 1


def test_coverage_by_default_in_a_fiscal_quarter_named_after_the_last_year_says_so(
    cli_at_clock,
) -> None:
    # With fiscal years from February, 2199-12-31 lies in the quarter a fiscal year 2200 names,
    # which no period label may name: the refusal is of the day given, not of a --period.
    run = cli_at_clock
    assert run("init", "--fiscal-year-start", "2").exit_code == 0
    out = run("coverage", "--as-of", "2199-12-31")
    assert out.exit_code == 3, out.output
    assert out.stderr == (
        "revledger: option '--as-of' = '2199-12-31': lies in the fiscal quarter 2200-Q4, whose "
        "name has a year after 2199; give a --period.\n"
    )
    given = run("coverage", "--as-of", "2199-12-31", "--period", "2199-Q4", "--format", "csv")
    assert given.exit_code == 0, given.output
    assert given.stdout.splitlines()[1].startswith("2199-Q4,")


def test_coverage_of_a_fiscal_quarter_given_by_period(cli_at_clock) -> None:
    # With fiscal years from February, 2026-Q4 runs 2025-11-01..2026-01-31: a deal expected
    # to close on 2026-01-15 is its pipeline, 100,000 against a quota of 200,000.
    run = cli_at_clock
    assert run("init", "--fiscal-year-start", "2").exit_code == 0
    for args in (
        ("quota_set", "--period", "2026-Q4", "--amount", "200000", "--effective", "2025-10-01"),
        ("deal_opened", "--deal-id", "D1", "--account-id", "A1", "--stage", "negotiation",
         "--amount", "100000", "--expected-close", "2026-01-15", "--effective", "2025-10-01"),
    ):  # fmt: skip
        out = run("record", *args)
        assert out.exit_code == 0, out.output
    out = run("coverage", "--as-of", "2025-12-31", "--period", "2026-Q4", "--format", "json")
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)["rows"]
    assert (row["period"], row["quota"], row["open_deals"], row["pipeline"]) == (
        "2026-Q4",
        "200000",
        1,
        "100000",
    )
    assert row["coverage"] == "0.5000"
    assert json.loads(out.stdout)["meta"]["options"] == {"period": "2026-Q4"}
