"""An import run again after the ledger's time zone changed appends nothing.

A line without an `idempotency_key` is keyed by its content, effective time included; a bare
date (or a time without an offset) is read in the zone in force at that line. When the zone has
changed since the first run — by hand, or by a configuration line of the file itself, which is
in force when the file is run again — the same line reads as another instant. The import still
finds it: its key in each zone the ledger has had is looked up too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.envelope import NewEvent
from ledger.events import LedgerConfigured
from ledger.operations import import_file, retract_import
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant
from projections.arr import arr_snapshot
from projections.revenue_book import revenue_view

OPENED = {
    "type": "deal_opened",
    "effective_at": "2026-01-02T10:00:00Z",
    "deal_id": "D-1",
    "account_id": "A-1",
    "stage": "demo",
    "amount": "1000",
    "expected_close": "2026-03-01",
}
SIGNED = {
    "type": "contract_signed",
    "effective_at": "2026-01-03T10:00:00Z",
    "deal_id": "D-1",
    "arr": "1000",
}
LIVE = {
    "type": "go_live",
    "effective_at": "2026-01-04T10:00:00Z",
    "deal_id": "D-1",
    "account_id": "A-1",
}
NEW_YORK = {
    "type": "ledger_configured",
    "effective_at": "2026-01-08T00:00:00Z",
    "timezone": "America/New_York",
}


def expansion(day: str, arr: str) -> dict[str, Any]:
    """Return an expansion of A-1 effective on `day`, written as a bare date."""
    return {"type": "expansion", "effective_at": day, "account_id": "A-1", "arr": arr}


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def live_arr(store: LedgerStore) -> Decimal:
    """Return the ledger's ARR as of the end of 2026."""
    return arr_snapshot(revenue_view(store.read()), parse_instant("2026-12-31")).total.arr


@pytest.fixture
def ledger(db_url: str) -> LedgerStore:
    store = LedgerStore.open(db_url, create=True)
    store.append(NewEvent(LedgerConfigured(), parse_instant("2025-01-01"), "t", "t"))
    return store


def test_a_file_whose_configuration_line_changes_the_time_zone_imports_once(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    """The expansion before the configuration line was read in UTC; run again, the file's own
    New York zone is in force from its first line."""
    lines = [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500"), NEW_YORK]
    lines.append(expansion("2026-01-09", "100"))
    path = write(tmp_path / "tz.jsonl", lines)
    with ledger:
        first = import_file(ledger, path, actor="t")
        arr = live_arr(ledger)
        again = import_file(ledger, path, actor="t")
        assert live_arr(ledger) == arr == Decimal(1600)
    assert (first.appended, again.appended, again.duplicates) == (6, 0, 6)


def test_a_file_run_again_after_the_time_zone_was_changed_by_hand_imports_once(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    path = write(tmp_path / "deal.jsonl", [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500")])
    with ledger:
        assert import_file(ledger, path, actor="t").appended == 4
        ledger.append(
            NewEvent(
                LedgerConfigured(timezone="Asia/Kolkata"), parse_instant("2026-02-01"), "t", "t"
            )
        )
        again = import_file(ledger, path, actor="t")
        assert live_arr(ledger) == Decimal(1500)
    assert (again.appended, again.duplicates) == (0, 4)


def test_a_new_line_on_the_same_day_in_the_new_zone_is_still_appended(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    """Only the same line is found in another zone: another amount is another event."""
    first = write(tmp_path / "a.jsonl", [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500")])
    later = write(tmp_path / "b.jsonl", [expansion("2026-01-07", "200")])
    with ledger:
        import_file(ledger, first, actor="t")
        ledger.append(
            NewEvent(
                LedgerConfigured(timezone="Asia/Kolkata"), parse_instant("2026-02-01"), "t", "t"
            )
        )
        assert import_file(ledger, later, actor="t").appended == 1
        assert live_arr(ledger) == Decimal(1700)


def test_a_large_file_of_a_ledger_that_had_two_zones_is_parsed_where_alternates_are_derived(
    ledger: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file large enough for the parsing worker, which derives no keys in other zones, is
    parsed by the importing process instead when the ledger has had more than one zone."""
    monkeypatch.setattr("ledger.operations.WORKER_MIN_BYTES", 0)
    monkeypatch.setattr("ledger.import_worker.HERE_LINES", 0)  # every line to the worker
    lines = [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500"), NEW_YORK]
    path = write(tmp_path / "tz.jsonl", lines)
    with ledger:
        import_file(ledger, path, actor="t")
        assert import_file(ledger, path, actor="t").appended == 0


def test_two_lines_of_one_file_at_instants_another_zone_would_confuse_are_both_appended(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    """A line is looked up in other zones only among events imported before: an expansion
    at UTC midnight and the same expansion written as a bare date, read in New York, are two
    events of the same file, both appended."""
    deal = write(tmp_path / "deal.jsonl", [OPENED, SIGNED, LIVE])
    midnight_utc = {**expansion("2026-02-02", "100"), "effective_at": "2026-02-02T00:00:00Z"}
    both = write(tmp_path / "both.jsonl", [midnight_utc, expansion("2026-02-02", "100")])
    with ledger:
        import_file(ledger, deal, actor="t")
        ledger.append(
            NewEvent(
                LedgerConfigured(timezone="America/New_York"),
                parse_instant("2026-02-01"),
                "t",
                "t",
            )
        )
        first = import_file(ledger, both, actor="t")
        again = import_file(ledger, both, actor="t")
        assert live_arr(ledger) == Decimal(1200)
    assert (first.appended, again.appended) == (2, 0)


def test_a_file_retracted_after_the_time_zone_changed_counts_again_when_imported_again(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    """The expansion's bare date reads as another instant in Kolkata: `import --retract` finds
    it under its UTC key, and the file imported again records it anew (it found the retracted
    event under that key and recorded nothing); taken out and back again, as often."""
    path = write(tmp_path / "deal.jsonl", [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500")])
    with ledger:
        import_file(ledger, path, actor="t")
        ledger.append(
            NewEvent(
                LedgerConfigured(timezone="Asia/Kolkata"), parse_instant("2026-02-01"), "t", "t"
            )
        )
        for _ in range(2):
            out = retract_import(ledger, path, reason="wrong file", actor="t")
            assert (out.retracted, out.already, out.missing, live_arr(ledger)) == (
                4,
                0,
                0,
                Decimal(0),
            )
            back = import_file(ledger, path, actor="t")
            assert (back.appended, back.retracted_duplicates) == (4, 0)
            assert live_arr(ledger) == Decimal(1500)
            again = import_file(ledger, path, actor="t")
            assert (again.appended, again.retracted_duplicates) == (0, 0)
            assert live_arr(ledger) == Decimal(1500)


def test_a_file_whose_configuration_line_changes_the_time_zone_is_retracted_and_back_again(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    """Run again, the file's own New York zone is in force from its first line, so its
    configuration line reads as another instant: it is found, retracted and recorded anew as
    its other lines are, and the ledger's time zone with it."""
    lines = [OPENED, SIGNED, LIVE, expansion("2026-01-07", "500"), NEW_YORK]
    path = write(tmp_path / "tz.jsonl", [*lines, expansion("2026-01-09", "100")])
    with ledger:
        import_file(ledger, path, actor="t")
        for _ in range(2):
            out = retract_import(ledger, path, reason="wrong file", actor="t")
            assert (out.retracted, out.already, live_arr(ledger)) == (6, 0, Decimal(0))
            assert ledger.configs_in_force()[-1][1].timezone == "UTC"
            back = import_file(ledger, path, actor="t")
            assert (back.appended, back.retracted_duplicates) == (6, 0)
            assert live_arr(ledger) == Decimal(1600)
            again = import_file(ledger, path, actor="t")
            assert (again.appended, again.retracted_duplicates) == (0, 0)
            assert ledger.configs_in_force()[-1][1].timezone == "America/New_York"
