"""A large import is parsed by a worker process: what it hands over is what parsing here gives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger import import_worker, operations
from ledger.envelope import NewEvent, StagedEvent
from ledger.errors import InputError, StorageError
from ledger.events import LedgerConfigured
from ledger.import_worker import (
    BLOCK_LINES,
    Block,
    parse_blocks,
    parsed_blocks,
    parsed_in_worker,
)
from ledger.jsonl import ImportParser
from ledger.operations import import_file, verify_ledger
from ledger.store import LedgerStore
from ledger.textfile import numbered_lines

TIMEZONE = "America/New_York"


def _lines(deals: int, *, configure: bool = True) -> Iterator[str]:
    """Yield import lines for `deals` deals (opened, moved, signed), a blank line now and then,
    and (if `configure`) halfway a `ledger_configured` that moves the time zone bare dates are
    read in."""
    for i in range(deals):
        if configure and i == deals // 2:
            yield json.dumps(
                {
                    "type": "ledger_configured",
                    "effective_at": "2024-01-01",
                    "timezone": "Asia/Tokyo",
                }
            )
        day = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        yield json.dumps(
            {
                "type": "deal_opened",
                "effective_at": day,
                "deal_id": f"D-{i}",
                "account_id": f"A-{i % 300}",
                "stage": "discovery",
                "amount": f"{1000 + i}.50",
                "expected_close": "2025-06-30",
                "owner": "ae-ruiz",
            }
        )
        yield json.dumps(
            {
                "type": "stage_changed",
                "effective_at": f"{day}T15:00:00Z",
                "deal_id": f"D-{i}",
                "stage": "demo",
            }
        )
        if i % 7 == 0:
            yield ""
        yield json.dumps(
            {
                "type": "contract_signed",
                "effective_at": f"{day}T20:00:00+02:00",
                "deal_id": f"D-{i}",
                "arr": f"{1200 + i}",
                "term_months": 12,
                "idempotency_key": f"sig-{i}",
            }
        )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parser() -> ImportParser:
    return ImportParser(timezone=TIMEZONE, actor="t", source_name="big.jsonl")


def _here(path: Path) -> list[tuple[int, list[NewEvent]]]:
    return list(parse_blocks(numbered_lines(path), _parser()))


def _in_worker(path: Path) -> list[Block]:
    with parsed_in_worker(path, _parser()) as blocks:
        return list(blocks)


def _staged(blocks: Iterable[Block]) -> list[StagedEvent]:
    """Return the events of `blocks` as the store takes them, wherever they were parsed."""
    return [e.staged() if isinstance(e, NewEvent) else e for _, block in blocks for e in block]


def test_the_worker_hands_over_exactly_what_parsing_here_gives(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.jsonl", list(_lines(2000)))
    here, there = _here(path), _in_worker(path)
    assert len(here) > 2, "the file spans several blocks"
    assert [lines for lines, _ in there] == [lines for lines, _ in here]
    events_here, events_there = _staged(here), _staged(there)
    assert all(isinstance(e, StagedEvent) for _, block in there for e in block)
    assert events_there == events_here
    config = next(i for i, e in enumerate(events_there) if e.view.type == "ledger_configured")
    before, after = events_there[config - 3], events_there[config + 1]
    assert (before.effective_at.hour in (4, 5), after.effective_at.hour) == (True, 15), (
        "a bare date is midnight in New York before the new time zone, in Tokyo after it"
    )


def test_a_worker_that_ends_without_a_word_is_a_storage_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed from outside (the out-of-memory killer, say) sends nothing more: the
    import stops with a sentence (exit 6), not as an internal error."""
    path = _write(tmp_path / "big.jsonl", list(_lines(10)))
    monkeypatch.setattr(sys, "executable", "/bin/true")  # the worker ends at once, silent
    with pytest.raises(StorageError, match="ended before the end of the file, without an error"):
        _in_worker(path)


@pytest.mark.parametrize(
    "bad",
    [
        b"{not json",
        b'{"type":"deal_opened","effective_at":"2024-01-01","deal_id":"D-x","account_id":"A-1",'
        b'"stage":"discovery","amount":"-5","expected_close":"2025-01-01"}',
        b'{"type":"churn","effective_at":"2024-13-01","account_id":"A-1"}',
        b'{"type":"deal_opened","note":"\xff"}',
    ],
    ids=["json", "field", "date", "not-utf8"],
)
def test_a_bad_line_is_the_error_parsing_here_raises(tmp_path: Path, bad: bytes) -> None:
    good = "\n".join(list(_lines(1000))[: BLOCK_LINES + 500]).encode()
    path = tmp_path / "big.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(InputError) as here:
        _here(path)
    with pytest.raises(InputError) as there:
        _in_worker(path)
    assert str(there.value) == str(here.value)
    assert f"line {BLOCK_LINES + 501}" in str(there.value)


@pytest.fixture
def through_the_worker(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every import go through the worker after its first 1,000 lines; return the lines
    each worker was told to skip."""
    started: list[int] = []
    real = import_worker.parsed_in_worker

    def spy(path: Path, parser: ImportParser, *, skip: int = 0) -> Any:
        started.append(skip)
        return real(path, parser, skip=skip)

    monkeypatch.setattr(operations, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(operations, "worker_possible", lambda: True)
    monkeypatch.setattr(import_worker, "HERE_LINES", 1000)
    monkeypatch.setattr(import_worker, "parsed_in_worker", spy)
    return started


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Return the worker processes started from now on."""
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def record(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", record)
    return started


def _split(path: Path) -> list[Block]:
    """Return the blocks of `path` parsed here up to line `HERE_LINES` and by a worker after."""
    with parsed_blocks(path, _parser(), worker=True) as blocks:
        return list(blocks)


@pytest.mark.parametrize("here", [1000, 5000])
def test_lines_parsed_here_then_by_the_worker_are_the_lines_parsed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, here: int
) -> None:
    """The importer parses the first lines while the worker starts; when one of them moves the
    time zone (5000 here: the `ledger_configured` line is line 3,144), the worker's lines are
    dropped and the rest is parsed here too. Either way: the same events, the same lines."""
    monkeypatch.setattr(import_worker, "HERE_LINES", here)
    path = _write(tmp_path / "big.jsonl", list(_lines(2000)))
    here_only, split = _here(path), _split(path)
    assert _staged(split) == _staged(here_only)
    assert sum(n for n, _ in split) == sum(n for n, _ in here_only)


def test_a_worker_whose_lines_are_dropped_is_stopped_before_the_rest_is_parsed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[bytes]]
) -> None:
    """The `ledger_configured` line (line 3,144) is among the lines parsed here: the worker,
    which reads in the old time zone, would parse the whole file for nothing, taking a core
    from this process. It is gone before the first block after line 5,000 is parsed here."""
    monkeypatch.setattr(import_worker, "HERE_LINES", 5000)
    path = _write(tmp_path / "big.jsonl", list(_lines(2000)))
    with parsed_blocks(path, _parser(), worker=True) as blocks:
        read, running = 0, []
        for lines, _ in blocks:
            read += lines
            running.append((read, workers[0].poll() is None))
    assert len(workers) == 1
    assert all(not alive for line, alive in running if line > 5000)
    assert [line for line, _ in running if line > 5000], "blocks were parsed after the worker"


CONFIG_ID = "33333333-3333-4333-8333-333333333333"


def _lines_retracting_the_configuration(deals: int) -> list[str]:
    """`_lines(deals)` with an id on the configuration line, retracted three quarters in."""
    lines = [
        json.dumps({**json.loads(line), "event_id": CONFIG_ID})
        if '"ledger_configured"' in line
        else line
        for line in _lines(deals)
    ]
    retraction = {"type": "event_retracted", "effective_at": "2024-06-01", "retracts": CONFIG_ID,
                  "reason": "the wrong zone"}  # fmt: skip
    lines.insert(len(lines) * 3 // 4, json.dumps(retraction))
    return lines


@pytest.mark.parametrize("here", [1000, 4000])
def test_a_retracted_configuration_gives_back_its_time_zone_here_and_in_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, here: int
) -> None:
    """Bare dates after the retraction are read in New York again, also by the worker; with
    the configuration line among the lines parsed here (4000), the worker's lines are dropped
    and the rest is parsed here."""
    monkeypatch.setattr(import_worker, "HERE_LINES", here)
    lines = _lines_retracting_the_configuration(2000)
    path = _write(tmp_path / "big.jsonl", lines)
    here_only, split = _here(path), _split(path)
    events = _staged(here_only)
    assert _staged(split) == events
    kinds = [e.view.type for e in events]
    configured, retracted = kinds.index("ledger_configured"), kinds.index("event_retracted")
    opened = [i for i, kind in enumerate(kinds) if kind == "deal_opened"]
    tokyo = [i for i in opened if configured < i < retracted]
    new_york = [i for i in opened if i < configured or i > retracted]
    assert tokyo and new_york[-1] > retracted
    assert {events[i].effective_at.hour for i in tokyo} == {15}  # midnight in Tokyo, in UTC
    assert {events[i].effective_at.hour for i in new_york} == {4, 5}  # midnight in New York


STORED = (("44444444-4444-4444-8444-444444444444", "Asia/Tokyo"), (CONFIG_ID, TIMEZONE))
"""Two stored configurations: Tokyo, then New York (in force)."""


def _reconfigured_then_retracted(
    folder: Path, *after: dict[str, Any]
) -> tuple[list[tuple[int, list[NewEvent]]], list[Block]]:
    """Parse, here only and then with a worker after line 1000, a file whose line 1 configures
    New York again (the zone in force, by STORED) and which three quarters in retracts the
    stored New York configuration, followed by the lines `after`; return both parses."""
    again = {"type": "ledger_configured", "effective_at": "2024-01-01", "timezone": TIMEZONE}
    lines = [json.dumps(again), *_lines(2000, configure=False)]
    retraction = {"type": "event_retracted", "effective_at": "2024-06-01", "retracts": CONFIG_ID,
                  "reason": "entered twice"}  # fmt: skip
    at = len(lines) * 3 // 4
    lines[at:at] = [json.dumps(retraction), *(json.dumps(line) for line in after)]
    path = _write(folder / "big.jsonl", lines)

    def parser() -> ImportParser:
        return ImportParser(timezone=TIMEZONE, actor="t", source_name="big.jsonl", configs=STORED)

    here_only = list(parse_blocks(numbered_lines(path), parser()))
    with parsed_blocks(path, parser(), worker=True) as blocks:
        return here_only, list(blocks)


def test_a_configuration_in_the_same_zone_keeps_the_worker_until_a_configuration_is_retracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker does not know the configuration of line 1 but reads every line as this
    parser would, and is used; until the New York configuration it knows is retracted: with
    the new one in force, the lines after are read in New York here, where the worker would
    have gone back to Tokyo."""
    monkeypatch.setattr(import_worker, "HERE_LINES", 1000)
    here_only, split = _reconfigured_then_retracted(tmp_path)
    assert _staged(split) == _staged(here_only)
    assert sum(n for n, _ in split) == sum(n for n, _ in here_only)
    from_worker = [isinstance(block[0], StagedEvent) for _, block in split if block]
    assert from_worker[0] is False and True in from_worker, "the worker was used"
    assert from_worker[-1] is False, "the lines after the retraction were parsed here"
    events = _staged(here_only)
    last = max(i for i, e in enumerate(events) if e.view.type == "deal_opened")
    assert events[last].effective_at.hour in (4, 5), "midnight in New York, not Tokyo"


def test_an_error_only_the_worker_s_zone_makes_is_no_error_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the retraction the worker reads in Tokyo, where a deal opened on 1900-01-01 starts
    in 1899 (refused); in New York, in force here, the day is in 1900: no error."""
    monkeypatch.setattr(import_worker, "HERE_LINES", 1000)
    early = {"type": "deal_opened", "effective_at": "1900-01-01", "deal_id": "D-OLD",
             "account_id": "A-OLD", "stage": "discovery", "amount": "1",
             "expected_close": "1900-06-30"}  # fmt: skip
    here_only, split = _reconfigured_then_retracted(tmp_path, early)
    assert _staged(split) == _staged(here_only)
    old = next(e for e in _staged(here_only) if e.view.deal_id == "D-OLD")
    assert old.effective_at == datetime(1900, 1, 1, 5, tzinfo=UTC)


def test_configurations_too_many_for_the_worker_s_command_line_are_parsed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_worker, "MAX_CONFIGS_ARGUMENT", len(json.dumps(STORED)) - 1)
    path = _write(tmp_path / "big.jsonl", list(_lines(2000, configure=False)))
    parser = ImportParser(timezone=TIMEZONE, actor="t", source_name="big.jsonl", configs=STORED)
    with parsed_blocks(path, parser, worker=True) as blocks:
        parsed = list(blocks)
    assert all(isinstance(e, NewEvent) for _, block in parsed for e in block)
    assert _staged(parsed) == _staged(_here(path))


def test_an_import_through_the_worker_stores_what_an_import_parsed_here_would(
    store: LedgerStore,
    tmp_path: Path,
    through_the_worker: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No change of time zone: a second import would read the bare dates in the new one.
    lines = list(_lines(900, configure=False))
    path = _write(tmp_path / "big.jsonl", lines)
    calls: list[int] = []
    summary = import_file(store, path, actor="t", progress=calls.append)
    assert through_the_worker == [1000]
    events = sum(1 for line in lines if line)
    assert (summary.lines, summary.appended) == (events, events)
    assert sum(calls) == len(lines) + events, "parsing counts each line, appending each event"
    assert verify_ledger(store).ok
    # The same file parsed here: every line is already recorded, with the same content.
    monkeypatch.setattr(operations, "worker_possible", lambda: False)  # parse here now
    again = import_file(store, path, actor="t")
    assert (again.appended, again.duplicates) == (0, events)


def test_a_configuration_line_from_the_worker_that_would_reset_a_setting_is_refused(
    store: LedgerStore, tmp_path: Path, through_the_worker: list[int]
) -> None:
    """The worker hands on the settings a `ledger_configured` line left out, so the batch
    refuses a line (here: a time zone alone) that would put back the default currency."""
    store.append(
        NewEvent(LedgerConfigured(currency="EUR"), datetime(2020, 1, 2, tzinfo=UTC), "test", "test")
    )
    lines = list(_lines(2000))
    at = next(n for n, line in enumerate(lines, 1) if "ledger_configured" in line)
    with pytest.raises(InputError) as err:
        import_file(store, _write(tmp_path / "big.jsonl", lines), actor="t")
    assert through_the_worker == [1000] and at > 1000, "the line was parsed by the worker"
    assert str(err.value).startswith(f"line {at}: leaves out currency (EUR in the ledger)")
    assert store.count() == 2


def test_an_import_that_fails_stops_its_worker_and_writes_nothing(
    store: LedgerStore,
    tmp_path: Path,
    through_the_worker: list[int],
    workers: list[subprocess.Popen[bytes]],
) -> None:
    lines = list(_lines(1500))
    churn = '{"type":"churn","effective_at":"2024-01-01","account_id":"A-nobody"}'
    path = _write(tmp_path / "big.jsonl", [lines[0], churn, *lines[1:]])
    with pytest.raises(InputError, match="line 2: account A-nobody has no ARR"):
        import_file(store, path, actor="t")
    assert through_the_worker == [1000]
    assert len(workers) == 1 and workers[0].poll() is not None, "the worker has ended"
    assert store.count() == 1


def test_lines_the_worker_parses_count_again_after_import_retract(
    store: LedgerStore, tmp_path: Path, through_the_worker: list[int]
) -> None:
    """The lines after the first 1,000 reach the importer from the worker: a file taken out by
    `import --retract` is recorded anew from them too, and a run again records nothing."""
    lines = list(_lines(500, configure=False))
    path = _write(tmp_path / "big.jsonl", lines)
    events = sum(1 for line in lines if line)
    assert import_file(store, path, actor="t").appended == events
    for _ in range(2):
        out = operations.retract_import(store, path, reason="wrong export", actor="t")
        assert (out.retracted, out.already, out.missing) == (events, 0, 0)
        back = import_file(store, path, actor="t")
        assert (back.appended, back.retracted_duplicates) == (events, 0)
        again = import_file(store, path, actor="t")
        assert (again.appended, again.duplicates, again.retracted_duplicates) == (0, events, 0)
    assert through_the_worker == [1000] * 5
    assert verify_ledger(store).ok
