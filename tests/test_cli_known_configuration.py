"""A past `--known-at` reads the ledger as it was configured then: its time zone, fiscal year
and currency, not today's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

BEFORE_CHANGE = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
AFTER_CHANGE = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> list[datetime]:
    return [BEFORE_CHANGE]


@pytest.fixture
def run(cli_at_clock, clock: list[datetime]):
    """A UTC ledger in EUR with fiscal years from April: A1 signed and live on 2026-03-01
    (recorded on BEFORE_CHANGE); later reconfigured to New York, USD, calendar years."""
    invoke = cli_at_clock
    assert invoke("init", "--currency", "EUR", "--fiscal-year-start", "4").exit_code == 0
    for args in (
        ("contract_signed", "--deal-id", "D1", "--account-id", "A1", "--arr", "1000"),
        ("go_live", "--deal-id", "D1", "--account-id", "A1"),
    ):
        done = invoke("record", *args, "--effective", "2026-03-01")
        assert done.exit_code == 0, done.stderr
    clock[0] = AFTER_CHANGE
    changed = invoke(
        "record",
        "ledger_configured",
        "--timezone",
        "America/New_York",
        "--currency",
        "USD",
        "--fiscal-year-start-month",
        "1",
    )
    assert changed.exit_code == 0, changed.stderr
    return invoke


def _json(run, *args: str) -> Any:
    out = run(*args, "--format", "json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


def test_arr_known_then_closes_the_day_in_the_time_zone_of_then(run) -> None:
    # 2026-03-01 was recorded as 00:00 UTC. In UTC the close of Feb 28 is that very instant
    # (exclusive), so A1 was not live yet; in New York Feb 28 closes five hours later.
    then = _json(run, "arr", "--as-of", "2026-02-28", "--known-at", "2026-04-02")
    assert then["meta"]["currency"] == "EUR"
    assert then["rows"][-1]["arr"] == "0"
    now = _json(run, "arr", "--as-of", "2026-02-28")
    assert now["meta"]["currency"] == "USD"
    assert now["rows"][-1]["arr"] == "1000"


def test_forecast_known_then_reads_the_fiscal_quarters_of_then(run) -> None:
    # With fiscal years from April, 2026-Q4 ran from 2026-01-01 to 2026-03-31: the signature
    # of 2026-03-01 fell in it. In calendar years it falls in 2026-Q1.
    then = _json(run, "forecast", "--period", "2026-Q4", "--known-at", "2026-04-02")
    assert then["rows"][0]["closed_won"] == "1000"
    now = _json(run, "forecast", "--period", "2026-Q1")
    assert now["rows"][0]["closed_won"] == "1000"
    assert _json(run, "forecast", "--period", "2026-Q4")["rows"][0]["closed_won"] == "0"


def test_a_restatement_counts_a_time_zone_change_as_what_moved_the_figure(run) -> None:
    # Reported on Apr 2 (UTC): A1 not live at the close of Feb 28. Known now (New York): live,
    # and the reconfiguration is the event that moved it.
    doc = _json(
        run, "restatements", "--metric", "arr", "--as-of", "2026-02-28", "--reported-at",
        "2026-04-02",
    )  # fmt: skip
    lines = {row["line"]: row for row in doc["rows"]}
    assert lines["reported"]["arr"] == "0" and lines["now"]["arr"] == "1000"
    [effect] = [row for row in doc["rows"] if row["line"] == "effect"]
    assert effect["type"] == "ledger_configured" and effect["arr"] == "1000"


def test_log_known_then_reads_its_days_in_the_time_zone_of_then(run) -> None:
    # The contract and go-live are effective 2026-03-01T00:00Z: in UTC (then) on March 1, in
    # New York (now) on the evening of February 28.
    then = _json(run, "log", "--to", "2026-02-28", "--known-at", "2026-04-02")
    now = _json(run, "log", "--to", "2026-02-28")

    assert then["rows"] == []
    assert then["meta"]["head"]["seq"] == 3  # the configuration recorded since is not known
    assert [r["type"] for r in now["rows"]] == ["contract_signed", "go_live"]
    assert now["meta"]["head"]["seq"] == 4
    march_then = _json(run, "log", "--from", "2026-03-01", "--known-at", "2026-04-02")
    assert [r["seq"] for r in march_then["rows"]] == [1, 2, 3]  # init is effective on April 1
