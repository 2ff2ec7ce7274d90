"""`log --deal` and `log --account` list the retractions of that deal's or account's events:
a retraction lives on the ledger's own stream, and an analyst auditing a deal must see that one
of its events was taken out, when, by whom and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

OPEN = {"type": "deal_opened", "stage": "demo", "amount": "1000", "expected_close": "2026-09-30"}
LINES = [
    OPEN | {"effective_at": "2026-01-05", "deal_id": "D-1", "account_id": "A-1"},  # seq 2
    OPEN | {"effective_at": "2026-01-06", "deal_id": "D-2", "account_id": "A-1"},  # seq 3
    {"type": "deal_updated", "effective_at": "2026-02-01", "deal_id": "D-1", "amount": "10000"},
    {"type": "deal_opened", "effective_at": "2026-01-07", "deal_id": "D-3", "account_id": "A-3"}
    | {k: v for k, v in OPEN.items() if k != "type"},  # seq 5, another account
]


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]


@pytest.fixture
def ledger(cli_at_clock, clock: list[datetime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A ledger whose deal D-1 had its amount typed wrong (seq 4), taken out on 2026-03-10 by
    bea (seq 6) along with D-3's opening (seq 7); D-2 (same account as D-1) keeps its events;
    D-1 moves on on 2026-03-20 (seq 8)."""
    run = cli_at_clock
    monkeypatch.setenv("REVLEDGER_ACTOR", "ana")
    assert run("init", "--timezone", "UTC").exit_code == 0
    data = tmp_path / "deals.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")
    assert run("import", str(data)).exit_code == 0  # seq 2-5
    clock[0] = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    for seq, reason in (("4", "typed with an extra zero"), ("5", "opened by mistake")):
        out = run(
            "record", "event_retracted", "--retracts", seq, "--reason", reason, "--actor", "bea"
        )
        assert out.exit_code == 0, out.stderr  # seq 6, 7
    clock[0] = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    stage = ("record", "stage_changed", "--deal-id", "D-1", "--stage", "legal_review")
    assert run(*stage, "--effective", "2026-03-19").exit_code == 0  # seq 8
    return run


def rows(run, *args: str) -> list[dict[str, Any]]:
    out = run("log", *args, "--format", "json")
    assert out.exit_code == 0, out.stderr
    return list(json.loads(out.stdout)["rows"])


def seqs(run, *args: str) -> list[int]:
    return [r["seq"] for r in rows(run, *args)]


def test_a_deal_log_shows_the_retraction_of_its_event_when_by_whom_and_why(ledger) -> None:
    found = rows(ledger, "--deal", "D-1")

    assert [r["seq"] for r in found] == [2, 4, 6, 8]
    typo, retraction = found[1], found[2]
    assert typo["retracted_by"] == 6
    assert (retraction["type"], retraction["stream_id"], retraction["actor"]) == (
        "event_retracted",
        "ledger",
        "bea",
    )
    assert retraction["recorded_at"] == "2026-03-10T09:30:00Z"
    assert retraction["payload"] == {
        "retracts": typo["event_id"],
        "reason": "typed with an extra zero",
    }
    table = ledger("log", "--deal", "D-1").stdout
    assert table.startswith("4 events\n")
    (line,) = [x for x in table.splitlines() if x.lstrip().startswith("6 ")]
    assert "event_retracted" in line and "bea" in line and "reason=typed with an extra zero" in line
    assert seqs(ledger, "--deal", "D-2") == [3]  # nothing of it retracted
    assert seqs(ledger, "--deal", "D-3") == [5, 7]


def test_an_account_log_shows_the_retractions_of_its_own_and_its_deals_events(ledger) -> None:
    assert seqs(ledger, "--account", "A-1") == [2, 3, 4, 6, 8]
    assert seqs(ledger, "--account", "A-3") == [5, 7]
    assert seqs(ledger, "--account", "A-1", "--deal", "D-2") == [3]


def test_the_filters_select_a_retraction_by_its_own_type_time_and_recording(ledger) -> None:
    # Known before the retraction, the typo stands and no retraction shows.
    before = rows(ledger, "--deal", "D-1", "--known-at", "2026-03-05")
    assert [(r["seq"], r["retracted_by"]) for r in before] == [(2, None), (4, None)]
    assert seqs(ledger, "--deal", "D-1", "--known-at", "2026-03-10T09:30:00Z") == [2, 4, 6]
    # The type filter names the retraction's own type, whatever the type of what it took out.
    assert seqs(ledger, "--deal", "D-1", "--type", "event_retracted") == [6]
    assert seqs(ledger, "--deal", "D-1", "--type", "deal_updated") == [4]
    # A retraction is effective when it is recorded: 2026-03-10, after the typo's day.
    assert seqs(ledger, "--deal", "D-1", "--from", "2026-03-01") == [6, 8]
    assert seqs(ledger, "--deal", "D-1", "--to", "2026-03-09") == [2, 4]
    assert seqs(ledger, "--deal", "D-1", "--from", "2026-03-10", "--to", "2026-03-10") == [6]


def test_the_whole_log_lists_each_event_once(ledger) -> None:
    assert seqs(ledger) == list(range(1, 9))
    assert seqs(ledger, "--type", "event_retracted") == [6, 7]
