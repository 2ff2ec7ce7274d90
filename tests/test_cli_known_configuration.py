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


def _record_at(invoke, clock: list[datetime], when: datetime, *args: str) -> None:
    clock[0] = when
    done = invoke(*args)
    assert done.exit_code == 0, done.stderr


def test_reported_at_is_typed_in_the_current_time_zone_also_with_a_past_known_at(
    cli_at_clock, clock: list[datetime]
) -> None:
    # The expansion is recorded at 02:00 UTC on April 10: after April 9 closed in UTC, before
    # it closed in New York, today's time zone, in which every typed date is read.
    invoke = cli_at_clock
    assert invoke("init").exit_code == 0
    for args in (
        ("contract_signed", "--deal-id", "D1", "--account-id", "A1", "--arr", "1000"),
        ("go_live", "--deal-id", "D1", "--account-id", "A1"),
    ):
        _record_at(invoke, clock, BEFORE_CHANGE, "record", *args, "--effective", "2026-03-01")
    expansion = ("expansion", "--account-id", "A1", "--arr", "500", "--effective", "2026-03-15")
    _record_at(invoke, clock, datetime(2026, 4, 10, 2, tzinfo=UTC), "record", *expansion)
    _record_at(invoke, clock, AFTER_CHANGE, "record", "ledger_configured", "--timezone",
               "America/New_York")  # fmt: skip

    told = _json(invoke, "arr", "--as-of", "2026-03-31", "--known-at", "2026-04-09")
    assert told["rows"][-1]["arr"] == "1500"
    for known in ([], ["--known-at", "2026-04-20"]):
        doc = _json(invoke, "restatements", "--metric", "arr", "--as-of", "2026-03-31",
                    "--reported-at", "2026-04-09", *known)  # fmt: skip
        lines = [row["line"] for row in doc["rows"]]
        assert lines == ["reported", "now"], doc["rows"]
        assert doc["rows"][0]["arr"] == "1500"


def test_a_forecast_change_only_a_time_zone_explains_is_restated(
    cli_at_clock, clock: list[datetime]
) -> None:
    # The stage change is effective at 20:00 UTC on October 10: that day in UTC (view A's
    # configuration), October 11 in Tokyo (today's). Both views stand at the close of Oct 10.
    invoke = cli_at_clock
    _record_at(invoke, clock, datetime(2026, 10, 1, tzinfo=UTC), "init")
    opened = ("deal_opened", "--deal-id", "H1", "--account-id", "A1", "--stage", "demo",
              "--amount", "100000", "--expected-close", "2026-12-01",
              "--effective", "2026-09-01")  # fmt: skip
    _record_at(invoke, clock, datetime(2026, 10, 1, 1, tzinfo=UTC), "record", *opened)
    moved = ("stage_changed", "--deal-id", "H1", "--stage", "negotiation", "--effective",
             "2026-10-10T20:00:00Z")  # fmt: skip
    _record_at(invoke, clock, datetime(2026, 10, 15, 12, tzinfo=UTC), "record", *moved)
    _record_at(invoke, clock, datetime(2026, 10, 20, tzinfo=UTC), "record", "ledger_configured",
               "--timezone", "Asia/Tokyo")  # fmt: skip

    doc = _json(invoke, "forecast-diff", "--period", "2026-Q4", "--from-as-of", "2026-10-10",
                "--from-known-at", "2026-10-16", "--to-as-of", "2026-10-10")  # fmt: skip
    [deal] = [row for row in doc["rows"] if row["line"] == "deal"]
    assert deal["category"] == "restated"
    assert deal["weighted"] == "-55000"
    assert [(e["type"], e["axis"]) for e in deal["events"]] == [("ledger_configured", "known")]
    assert deal["change"].startswith("stage negotiation → demo; category commit → pipeline")


def test_a_forecast_call_stands_beside_the_pipeline_in_the_configuration_known_then(
    cli_at_clock, clock: list[datetime]
) -> None:
    # The call for 2026-Q4 was made with calendar quarters (Oct-Dec 2026: F1 closes in it);
    # fiscal years from February, recorded the next day, make 2026-Q4 Nov 2025-Jan 2026 (F2).
    invoke = cli_at_clock
    call_day = datetime(2025, 12, 21, 12, tzinfo=UTC)
    _record_at(invoke, clock, call_day, "init")
    for deal, stage, amount, close in (
        ("F1", "negotiation", "100000", "2026-10-15"),
        ("F2", "demo", "50000", "2026-01-15"),
    ):
        _record_at(invoke, clock, call_day, "record", "deal_opened", "--deal-id", deal,
                   "--account-id", "A-" + deal, "--stage", stage, "--amount", amount,
                   "--expected-close", close, "--effective", "2025-12-01")  # fmt: skip
    _record_at(invoke, clock, call_day, "record", "forecast_submitted", "--period", "2026-Q4",
               "--commit", "100000", "--best-case", "150000",
               "--effective", "2025-12-21")  # fmt: skip
    _record_at(invoke, clock, datetime(2025, 12, 22, tzinfo=UTC), "record", "ledger_configured",
               "--fiscal-year-start-month", "2")  # fmt: skip

    told = _json(invoke, "forecast", "--period", "2026-Q4", "--as-of", "2025-12-21",
                 "--known-at", call_day.isoformat())  # fmt: skip
    [call] = _json(invoke, "forecast", "history", "--period", "2026-Q4", "--as-of",
                   "2025-12-23")["rows"]  # fmt: skip
    assert told["rows"][0]["commit"] == "100000" and told["rows"][0]["weighted"] == "85000"
    assert call["pipeline_commit"] == "100000"
    assert call["pipeline_weighted"] == "85000"


def test_a_signature_the_time_zone_moves_out_of_the_quarter_is_restated_not_won(
    cli_at_clock, clock: list[datetime]
) -> None:
    # Signed at 18:00 UTC on September 30: in Q3 as view A reads it (UTC), on October 1 (Q4)
    # in Tokyo, today's time zone. Nothing of the deal changed between the views.
    invoke = cli_at_clock
    _record_at(invoke, clock, datetime(2026, 8, 1, tzinfo=UTC), "init")
    _record_at(invoke, clock, datetime(2026, 8, 1, 1, tzinfo=UTC), "record", "deal_opened",
               "--deal-id", "W1", "--account-id", "A1", "--stage", "negotiation",
               "--amount", "100000", "--expected-close", "2026-09-30")  # fmt: skip
    _record_at(invoke, clock, datetime(2026, 10, 1, 1, tzinfo=UTC), "record", "contract_signed",
               "--deal-id", "W1", "--arr", "100000",
               "--effective", "2026-09-30T18:00:00Z")  # fmt: skip
    _record_at(invoke, clock, datetime(2026, 10, 5, tzinfo=UTC), "record", "ledger_configured",
               "--timezone", "Asia/Tokyo")  # fmt: skip
    clock[0] = datetime(2026, 10, 20, tzinfo=UTC)

    doc = _json(invoke, "forecast-diff", "--period", "2026-Q3", "--from-as-of", "2026-09-30",
                "--from-known-at", "2026-10-02", "--to-as-of", "2026-10-15")  # fmt: skip
    [deal] = [row for row in doc["rows"] if row["line"] == "deal"]
    assert (deal["category"], deal["closed_won"]) == ("restated", "-100000")
    assert deal["change"] == "the same deal, read in another time zone or fiscal year"
    assert [(e["type"], e["axis"]) for e in deal["events"]] == [("ledger_configured", "known")]
