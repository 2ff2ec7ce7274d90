"""`revledger demo`: the exact tour it prints, the same answers as the commands it points to,
and its refusals."""

from __future__ import annotations

import json
import os
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import cli

CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "demo-ledger.jsonl"
DEMO = ("demo", "--seed", "1", "--today", "2026-11-01")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str):
    """Run `revledger --db <ledger> ARGS` in-process with a fixed clock."""
    for where in ("ledger.store.batch", "ledger.operations", "queries.common", "ledger.demo.load"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: CLOCK)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    return invoke


def _expected_tour(path: str) -> str:
    db = shlex.quote(path)  # the commands to try are ready to paste into a shell
    return (
        f"Created the demo ledger {path} (seed 1): 4,837 events from 2023-11-01 to 2026-10-31, "
        "548 deals, 148 customers. Hash chain verified up to seq 4837.\n"
        "\n"
        "ARR and CARR today (2026-11-01)\n"
        "\n"
        "accounts            ARR       backlog  projected churn           CARR\n"
        "--------  -------------  ------------  ---------------  -------------\n"
        "     140  22,750,000.00  7,934,000.00             0.00  30,684,000.00\n"
        "\n"
        "NRR as of 2026-09-30, the last quarter end (12 months, live ARR)\n"
        "\n"
        "accounts  ARR a year before  their ARR now     NRR    GRR\n"
        "--------  -----------------  -------------  ------  -----\n"
        "      33       5,422,500.00   6,191,500.00  114.2%  96.5%\n"
        "\n"
        "Time in stage: the slowest stage is security_review\n"
        "\n"
        "stage                completed visits  median days\n"
        "-------------------  ----------------  -----------\n"
        "qualification                     411         26.8\n"
        "discovery                         442         48.7\n"
        "demo                              379         42.9\n"
        "clinical_validation               224         55.0\n"
        "security_review                   216         57.4\n"
        "legal_review                      209         45.9\n"
        "negotiation                       171         36.1\n"
        "\n"
        "Regressions from 2025-11-02 to 2026-11-01\n"
        "\n"
        "deals that moved  moved back a stage  regression rate\n"
        "----------------  ------------------  ---------------\n"
        "             300                  33            11.0%\n"
        "\n"
        "How the 2026-Q3 forecast changed from 2026-07-01 to 2026-09-30 (each as known then)\n"
        "\n"
        "change                  open deals  deals changed    closed won  open, unweighted  "
        "open, weighted\n"
        "----------------------  ----------  -------------  ------------  ----------------  "
        "--------------\n"
        "forecast on 2026-07-01          68              -          0.00     16,718,000.00  "
        "  9,379,300.00\n"
        "  won                            -             29  6,973,000.00     -6,879,000.00  "
        " -5,457,000.00\n"
        "  lost                           -             15          0.00     -3,684,000.00  "
        " -1,414,300.00\n"
        "  new                            -              2          0.00        278,000.00  "
        "     55,600.00\n"
        "  pushed out                     -             19          0.00     -3,704,000.00  "
        " -1,517,300.00\n"
        "  stage forward                  -             11          0.00         19,000.00  "
        "    456,450.00\n"
        "forecast on 2026-09-30          13              -  6,973,000.00      2,748,000.00  "
        "  1,502,750.00\n"
        "\n"
        "Try next:\n"
        f"  revledger --db {db} report -o report.html\n"
        f"  revledger --db {db} arr --by segment\n"
        f"  revledger --db {db} nrr --as-of 2026-09-30 --by segment\n"
        f"  revledger --db {db} stages --by segment\n"
        f"  revledger --db {db} regressions --from 2025-11-02\n"
        f"  revledger --db {db} forecast-diff --period 2026-Q3 --from-as-of 2026-07-01 "
        "--from-known-at 2026-07-01 --to-as-of 2026-09-30 --to-known-at 2026-09-30\n"
        f"  revledger --db {db} health\n"
        f"  revledger --db {db} cohorts --grain quarter\n"
        f"  revledger --db {db} log --type event_retracted\n"
        f"  revledger --db {db} restatements --metric carr --as-of 2026-09-30 "
        "--reported-at 2026-10-05\n"
    )


def _json(run, *args: str) -> dict[str, Any]:
    out = run(*args, "--format", "json")
    assert out.exit_code == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def test_the_demo_prints_its_tour(run, db_url: str) -> None:
    out = run(*DEMO)
    assert out.exit_code == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout == _expected_tour(db_url)
    # The restatement it suggests has something to show: events recorded since that moved it.
    doc = _json(run, "restatements", "--metric", "carr", "--as-of", "2026-09-30",
                "--reported-at", "2026-10-05")  # fmt: skip
    assert any(row["line"] == "effect" for row in doc["rows"])


def test_the_tour_gives_the_answers_of_the_commands_it_points_to(run) -> None:
    """Every figure of the tour, as the owning command computes it on the same ledger."""
    assert run(*DEMO).exit_code == 0
    total = _json(run, "arr", "--as-of", "2026-11-01")["rows"][-1]
    assert (total["accounts"], total["arr"], total["backlog"], total["carr"]) == (
        140,
        "22750000",
        "7934000",
        "30684000",
    )
    kept = _json(run, "nrr", "--as-of", "2026-09-30")["rows"][-1]
    assert (kept["accounts"], kept["start"], kept["end"], kept["nrr"], kept["grr"]) == (
        33,
        "5422500",
        "6191500",
        "1.1418",  # 6,191,500 / 5,422,500
        "0.9650",  # retained 5,232,500 / 5,422,500
    )
    stages = _json(run, "stages", "--as-of", "2026-11-01")["rows"]
    medians = {r["stage"]: (r["completed"], r["median_days"]) for r in stages}
    assert medians["security_review"][0] == 216
    assert max(medians, key=lambda s: float(medians[s][1])) == "security_review"
    moved = _json(
        run, "regressions", "--as-of", "2026-11-01", "--from", "2025-11-02", "--to", "2026-11-01"
    )["rows"][-1]
    assert (moved["deals_moved"], moved["deals_regressed"]) == (300, 33)
    diff = _json(
        run,
        "forecast-diff",
        "--period",
        "2026-Q3",
        "--from-as-of",
        "2026-07-01",
        "--from-known-at",
        "2026-07-01",
        "--to-as-of",
        "2026-09-30",
        "--to-known-at",
        "2026-09-30",
    )["rows"]
    subtotals = {r["category"]: r["weighted"] for r in diff if r["line"] == "subtotal"}
    assert subtotals == {
        "won": "-5457000",
        "lost": "-1414300",
        "new": "55600",
        "pushed_out": "-1517300",
        "stage_forward": "456450",
    }


def test_the_demo_ledger_is_the_committed_sample(run, tmp_path: Path) -> None:
    assert run(*DEMO).exit_code == 0
    exported = tmp_path / "demo.jsonl"
    assert run("export", "-o", str(exported)).exit_code == 0
    assert exported.read_bytes() == SAMPLE.read_bytes()


def test_the_db_option_of_the_command_wins_over_the_environment(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVLEDGER_DB", str(tmp_path / "other.db"))
    target = tmp_path / "chosen.db"
    out = CliRunner().invoke(cli, ["demo", "--db", str(target), "--today", "2024-03-01"])
    assert out.exit_code == 0, out.stderr
    assert out.stdout.startswith(f"Created the demo ledger {target} (seed 1): ")
    verified = CliRunner().invoke(cli, ["--db", str(target), "verify", "--format", "json"])
    assert verified.exit_code == 0, verified.stderr
    assert not (tmp_path / "other.db").exists()


def test_two_different_db_options_are_refused(run, db_url: str, tmp_path: Path) -> None:
    """`revledger --db a.db demo --db b.db`: which ledger was meant? (The same one twice is
    no question.)"""
    target = tmp_path / "chosen.db"
    out = run("demo", "--db", str(target), "--today", "2024-03-01")
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr.startswith(
        f"revledger: --db is given twice, as {db_url} before demo and as {target} after it: "
        "which ledger was meant?"
    )
    assert not target.exists()
    # The same ledger, written otherwise: no question.
    same = db_url if "://" in db_url else os.path.join(os.path.dirname(db_url), ".", "ledger.db")
    done = run("demo", "--db", same, "--today", "2024-03-01")
    assert done.exit_code == 0, done.stderr


def test_a_ledger_that_holds_events_is_refused(run, db_url: str) -> None:
    assert run("init").exit_code == 0
    out = run(*DEMO)
    assert out.exit_code == 4
    assert out.stdout == ""
    assert out.stderr == (
        f"revledger: {db_url} already holds 1 event; the demo needs a new ledger, so give "
        "another --db (or remove that file).\n"
    )
    assert _json(run, "verify")["rows"][0]["events"] == 1


def test_the_history_cannot_end_after_today(run) -> None:
    out = run("demo", "--today", "2026-11-03")
    assert out.exit_code == 3
    assert out.stderr == (
        "revledger: option '--today' = '2026-11-03': is after today (2026-11-02 in "
        "America/New_York); the demo history must end by today.\n"
    )
    bad = run("demo", "--today", "soon")
    assert bad.exit_code == 3
    assert bad.stderr == (
        "revledger: option '--today' = 'soon': is not a date in the form YYYY-MM-DD.\n"
    )


def test_the_readme_newcomer_command_loads_the_demo_and_tours_it(tmp_path: Path) -> None:
    """The first command of README "Get going": its revledger steps, run in a fresh folder."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Get going", 1)[1]
    command = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    steps = [s.strip().split() for s in command.split("&&") if s.strip().startswith("revledger")]
    assert steps == [["revledger", "--db", "demo.db", "demo"]]
    db = str(tmp_path / "demo.db")
    out = CliRunner().invoke(cli, [db if a == "demo.db" else a for a in steps[0][1:]])
    assert out.exit_code == 0, out.stderr
    assert out.stdout.startswith(f"Created the demo ledger {db} (seed 1): ")
    for heading in ("ARR and CARR today", "NRR as of", "the slowest stage is", "Regressions from"):
        assert heading in out.stdout
    assert "forecast changed from" in out.stdout and "Try next:" in out.stdout


def test_the_next_steps_never_print_a_database_password() -> None:
    from datetime import date
    from types import SimpleNamespace

    from cli.demo_commands import _next_steps
    from ledger.periods import parse_period

    tour: Any = SimpleNamespace(
        nrr_as_of=date(2026, 9, 30),
        regressions_from=date(2025, 11, 2),
        quarter=parse_period("2026-Q3"),
    )
    secret = _next_steps("postgresql://ops:Sup3rS3cret@db.internal/revenue", tour)
    plain = _next_steps("postgresql://ops@db.internal/revenue", tour)

    assert "Sup3rS3cret" not in secret
    assert secret.startswith("Try next (with REVLEDGER_DB set to the database URL):\n")
    assert '  revledger --db "$REVLEDGER_DB" health\n' in secret
    assert "  revledger --db postgresql://ops@db.internal/revenue health\n" in plain
