"""The command line end to end: exact output of each format, and the newcomer walkthrough."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli.main import COMMAND_MODULES, cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)

E1 = "00000000-0000-4000-8000-000000000001"
E2 = "00000000-0000-4000-8000-000000000002"
LINES = [
    {
        "type": "deal_opened",
        "event_id": E1,
        "effective_at": "2026-01-05",
        "deal_id": "D-1",
        "account_id": "A-1",
        "stage": "demo",
        "amount": "100000",
        "expected_close": "2026-06-30",
        "personas": ["cmio", "cfo"],
    },
    {
        "type": "contract_signed",
        "event_id": E2,
        "effective_at": "2026-03-01T14:30:00-05:00",
        "deal_id": "D-1",
        "arr": "98000.50",
        "baa_signed": True,
    },
]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str):
    """Run `revledger --db <ledger> ARGS` in-process with a fixed clock and actor."""
    monkeypatch.setattr("ledger.store.batch.utc_now", lambda: CLOCK)
    monkeypatch.setattr("ledger.operations.utc_now", lambda: CLOCK)
    monkeypatch.setenv("REVLEDGER_ACTOR", "ana")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    return invoke


@pytest.fixture
def inline_file(tmp_path: Path) -> Path:
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")
    return path


def test_import_reports_counts_and_rerunning_appends_nothing(run) -> None:
    assert run("init").exit_code == 0
    sample = FIXTURES / "sample-ledger.jsonl"
    first = run("import", str(sample))
    assert first.exit_code == 0, first.stderr
    assert first.stdout == (
        "sample-ledger.jsonl: 42 events read, appended 42, 0 already recorded; head seq 43\n"
    )
    again = run("import", str(sample))
    assert again.stdout == (
        "sample-ledger.jsonl: 42 events read, appended 0, 42 already recorded; head seq 43\n"
    )


def test_dry_run_says_so_and_writes_nothing(run, inline_file: Path) -> None:
    run("init")
    out = run("import", "--dry-run", str(inline_file))
    assert out.stdout == (
        "two.jsonl: 2 events read, would append 2, 0 already recorded; head seq 3 "
        "(dry run: nothing written)\n"
    )
    assert "1 event\n" in run("log").stdout


def test_an_import_run_again_names_the_lines_whose_events_were_retracted_since(
    run, tmp_path: Path
) -> None:
    # A file imported, then taken out by hand: running it again records nothing, and says
    # that those lines do not count, instead of reporting them as recorded.
    run("init")
    lines = [
        {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q1", "amount": "5"},
        {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q2", "amount": "6"},
        {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q3", "amount": "7"},
    ]
    data = tmp_path / "quotas.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert run("import", str(data)).exit_code == 0
    for seq in ("3", "4"):  # lines 2 and 3
        assert run("record", "event_retracted", "--retracts", seq, "--reason", "x").exit_code == 0
    again = run("import", str(data))
    assert (again.exit_code, again.stdout) == (
        0,
        "quotas.jsonl: 3 events read, appended 0, 3 already recorded (2 of them retracted "
        "since, so they do not count: line 2 the first; to record a line again, give it an "
        "idempotency_key of its own and no event_id); head seq 6\n",
    )
    keyed = dict(lines[2], idempotency_key="Q3 again")
    data.write_text(json.dumps(lines[1]) + "\n" + json.dumps(keyed) + "\n", encoding="utf-8")
    assert run("import", str(data)).stdout == (
        "quotas.jsonl: 2 events read, appended 1, 1 already recorded (1 of them retracted "
        "since, so it does not count: line 1; to record a line again, give it an "
        "idempotency_key of its own and no event_id); head seq 7\n"
    )


def test_import_retract_takes_out_what_a_file_recorded_at_once_or_not_at_all(
    run, tmp_path: Path
) -> None:
    run("init")
    wrong = [
        {
            "type": "deal_opened",
            "effective_at": "2026-02-03",
            "deal_id": "D-18",
            "account_id": "A-9",
            "stage": "demo",
            "amount": "40000",
            "expected_close": "2026-10-30",
        },
        {
            "type": "contract_signed",
            "effective_at": "2026-03-01",
            "deal_id": "D-18",
            "arr": "400000",
        },
        {"type": "go_live", "effective_at": "2026-04-01", "account_id": "A-9", "deal_id": "D-18"},
        {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q2", "amount": "9"},
    ]
    data = tmp_path / "wrong.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in wrong), encoding="utf-8")
    assert run("import", str(data)).exit_code == 0  # seq 2-5
    hand = ("record", "expansion", "--account-id", "A-9", "--arr", "5000", "--effective")
    assert run(*hand, "2026-06-01").exit_code == 0  # seq 6, on the imported go-live
    before = run("log", "--format", "csv").stdout
    refused = run("import", str(data), "--retract", "--reason", "wrong export")
    assert (refused.exit_code, refused.stderr) == (
        3,
        "revledger: line 3: retracting that go_live (seq 4) would leave the later expansion "
        "(seq 6) invalid: account A-9 has no live ARR on 2026-06-01; an expansion needs a live "
        "customer; retract what stands on it first, latest first: the expansion (seq 6).\n",
    )
    assert run("log", "--format", "csv").stdout == before  # nothing written
    assert run("record", "event_retracted", "--retracts", "6", "--reason", "x").exit_code == 0
    assert run("record", "event_retracted", "--retracts", "5", "--reason", "x").exit_code == 0
    dry = run("import", str(data), "--retract", "--reason", "wrong export", "--dry-run")
    assert dry.stdout == (
        "wrong.jsonl: 4 events read, would retract 3, 1 retracted before, 0 not recorded; head "
        "seq 11 (dry run: nothing written)\n"
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 9  # header and seq 1-8
    done = run("import", str(data), "--retract", "--reason", "wrong export")
    assert done.stdout == (
        "wrong.jsonl: 4 events read, retracted 3, 1 retracted before, 0 not recorded; head seq 11\n"
    )
    rows = json.loads(run("log", "--format", "json").stdout)["rows"]
    ids = {r["seq"]: r["event_id"] for r in rows}
    # Latest first in business order, each recorded now and named by its line.
    assert [(r["payload"]["retracts"], r["source"], r["payload"]["reason"]) for r in rows[8:]] == [
        (ids[4], "retract:import:wrong.jsonl:3", "wrong export"),
        (ids[3], "retract:import:wrong.jsonl:2", "wrong export"),
        (ids[2], "retract:import:wrong.jsonl:1", "wrong export"),
    ]
    assert all(rows[i]["retracted_by"] is not None for i in range(1, 5))
    # Nothing of the import counts any more.
    arr = json.loads(run("arr", "--as-of", "2026-05-01", "--format", "json").stdout)
    assert arr["rows"][-1]["arr"] == "0"
    again = run("import", str(data), "--retract", "--reason", "wrong export")
    assert again.stdout.startswith("wrong.jsonl: 4 events read, retracted 0, 4 retracted before")
    for args, message in (
        (("--retract",), "--retract needs --reason: why the import's events no longer count"),
        (("--reason", "x"), "--reason goes with --retract"),
        (("--retract", "--reason", "x", "--restore"), "--retract and --restore cannot be combined"),
        (
            ("--retract", "--reason", "x", "--backfill"),
            "--retract and --backfill cannot be combined",
        ),
    ):
        out = run("import", str(data), *args)
        assert (out.exit_code, out.stderr) == (2, f"revledger: {message}.\n")
    # Imported again (corrected, or as it was), the lines `--retract` took out count again;
    # the quota retracted by hand stays retracted.
    redo = run("import", str(data))
    assert redo.stdout == (
        "wrong.jsonl: 4 events read, appended 3, 1 already recorded (1 of them retracted since, "
        "so it does not count: line 4; to record a line again, give it an idempotency_key of "
        "its own and no event_id); head seq 14\n"
    )
    arr = json.loads(run("arr", "--as-of", "2026-05-01", "--format", "json").stdout)
    assert arr["rows"][-1]["arr"] == "400000"
    assert run("import", str(data)).stdout.startswith("wrong.jsonl: 4 events read, appended 0")
    # And taken out again, and back again, as often as it comes and goes.
    twice = run("import", str(data), "--retract", "--reason", "wrong export after all")
    assert twice.stdout.startswith("wrong.jsonl: 4 events read, retracted 3, 1 retracted before")
    assert run("import", str(data)).stdout.startswith("wrong.jsonl: 4 events read, appended 3")


def test_lines_that_repeat_an_earlier_line_are_named_so_by_import_and_retract(
    run, tmp_path: Path
) -> None:
    # Two identical lines are one event: the import records it once, `--retract` takes it out
    # once, and both summaries count the second line as the same event as the first instead
    # of leaving the counts short of the lines read ("2 events read, retracted 1").
    run("init")
    quota = {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q1"}
    lines = [quota | {"amount": "5"}, quota | {"amount": "7"}, quota | {"amount": "5"}]
    lines += [quota | {"amount": "5"}]
    data = tmp_path / "quotas.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    pair = tmp_path / "pair.jsonl"
    pair.write_text(2 * (json.dumps(lines[1]) + "\n"), encoding="utf-8")

    imported = run("import", str(data))
    retract = ("--retract", "--reason", "wrong quotas")
    checked = run("import", str(data), *retract, "--dry-run")
    retracted = run("import", str(data), *retract)
    again = run("import", str(data), *retract)
    pair_out = run("import", str(pair), *retract)

    assert imported.stdout == (
        "quotas.jsonl: 4 events read, appended 2, 2 already recorded (2 of them the same event "
        "as an earlier line of the file: line 3 the first); head seq 3\n"
    )
    assert checked.stdout == (
        "quotas.jsonl: 4 events read, would retract 2, 2 the same event as an earlier line of "
        "the file (line 3 the first), 0 retracted before, 0 not recorded; head seq "
        "5 (dry run: nothing written)\n"
    )
    assert retracted.stdout == checked.stdout.replace("would retract", "retracted").replace(
        " (dry run: nothing written)", ""
    )
    # Run again, every line's event was retracted before, as every line is already recorded
    # when the import runs again.
    assert again.stdout == (
        "quotas.jsonl: 4 events read, retracted 0, 4 retracted before, 0 not recorded; head seq 5\n"
    )
    assert pair_out.stdout == (
        "pair.jsonl: 2 events read, retracted 0, 2 retracted before, 0 not recorded; head seq 5\n"
    )
    back = run("import", str(pair))
    assert back.stdout == (
        "pair.jsonl: 2 events read, appended 1, 1 already recorded (1 of them the same event "
        "as an earlier line of the file: line 2); head seq 6\n"
    )
    taken = run("import", str(pair), *retract)
    assert taken.stdout == (
        "pair.jsonl: 2 events read, retracted 1, 1 the same event as an earlier line of the "
        "file (line 2), 0 retracted before, 0 not recorded; head seq 7\n"
    )


def test_import_retract_of_a_file_with_a_retraction_line_keeps_that_retraction(
    run, tmp_path: Path
) -> None:
    # A file that corrects itself (an expansion, its retraction, the right one) is taken out
    # whole but for the retraction, which no retraction takes out: the command was refused,
    # so such a file could not be retracted at all. Imported again, it counts as it did.
    run("init")
    wrong = "33333333-3333-4333-8333-333333333333"
    lines = [
        {"type": "contract_signed", "effective_at": "2026-01-10", "deal_id": "D-1",
         "account_id": "A-1", "arr": "1000"},
        {"type": "go_live", "effective_at": "2026-02-01", "account_id": "A-1", "deal_id": "D-1"},
        {"type": "expansion", "effective_at": "2026-03-01", "account_id": "A-1", "arr": "100",
         "event_id": wrong},
        {"type": "event_retracted", "effective_at": "2026-03-05", "retracts": wrong,
         "reason": "typed 100 for 10"},
        {"type": "expansion", "effective_at": "2026-03-01", "account_id": "A-1", "arr": "10",
         "idempotency_key": "E-10"},
    ]  # fmt: skip
    data = tmp_path / "fixed.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert run("import", str(data)).exit_code == 0  # seq 2-6

    def arr() -> str:
        doc = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
        return str(doc["rows"][-1]["arr"])

    assert arr() == "1010"
    out = run("import", str(data), "--retract", "--reason", "wrong account")
    assert (out.exit_code, out.stdout) == (
        0,
        "fixed.jsonl: 5 events read, retracted 3, 1 retracted before, 0 not recorded, "
        "1 retraction kept (a retraction is never retracted; record again what it took out, "
        "if that should count); head seq 9\n",
    )
    assert arr() == "0"
    back = run("import", str(data))
    assert back.stdout.startswith("fixed.jsonl: 5 events read, appended 3, 2 already recorded")
    assert arr() == "1010"


def test_a_retraction_keyed_retract_by_hand_is_no_import_retract(run, tmp_path: Path) -> None:
    # A user's own retraction whose idempotency_key happens to start with `retract:` is not
    # one `import --retract` recorded: run again, the import recorded the expansion its key
    # names anew (ARR counted it twice), or the very line it retracted (which counted again).
    run("init")
    lines = [
        {"type": "contract_signed", "effective_at": "2026-01-10", "deal_id": "D-1",
         "account_id": "A-1", "arr": "1000", "idempotency_key": "sig-1"},
        {"type": "go_live", "effective_at": "2026-02-01", "account_id": "A-1", "deal_id": "D-1",
         "idempotency_key": "live-1"},
        *({"type": "expansion", "effective_at": f"2026-03-0{n}", "account_id": "A-1",
           "arr": f"{n}00", "idempotency_key": f"exp-{n}"} for n in (1, 2, 3)),
    ]  # fmt: skip
    data = tmp_path / "deal.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert run("import", str(data)).exit_code == 0
    rows = json.loads(run("log", "--format", "json").stdout)["rows"]
    ids = {r["idempotency_key"]: r["event_id"] for r in rows}
    # exp-1 retracted under another line's key, then exp-3 under its own.
    for target, key, arr in (
        ("exp-1", "retract:exp-2", "1500"),
        ("exp-3", "retract:exp-3", "1200"),
    ):
        fix = tmp_path / "fix.jsonl"
        retraction = {
            "type": "event_retracted",
            "effective_at": "2026-05-01",
            "retracts": ids[target],
            "reason": "entered twice",
            "idempotency_key": key,
        }
        fix.write_text(json.dumps(retraction) + "\n", encoding="utf-8")
        assert run("import", str(fix)).exit_code == 0
        again = run("import", str(data))
        assert again.stdout.startswith("deal.jsonl: 5 events read, appended 0, 5 already recorded")
        doc = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
        assert doc["rows"][-1]["arr"] == arr


def test_import_retract_of_lines_with_keys_of_the_longest_length(run, tmp_path: Path) -> None:
    # `retract:` and a key of 200 characters, or such a key and `~again:<seq>`, is longer than
    # a key may be: PostgreSQL refused the retraction (exit 6, a database error) and SQLite
    # stored it. Such a key is followed in them by its digest instead, as often as it comes and
    # goes.
    run("init")
    line = {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q1",
            "amount": "5", "idempotency_key": "q" * 200}  # fmt: skip
    data = tmp_path / "quota.jsonl"
    data.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert run("import", str(data)).exit_code == 0

    def quota() -> str | None:
        doc = json.loads(run("forecast", "--period", "2026-Q1", "--format", "json").stdout)
        quota: str | None = doc["rows"][0]["quota"]
        return quota

    for _ in range(2):
        out = run("import", str(data), "--retract", "--reason", "wrong quota")
        assert (out.exit_code, quota()) == (0, None), out.output
        back = run("import", str(data))
        assert back.stdout.startswith("quota.jsonl: 1 event read, appended 1, 0 already")
        assert run("import", str(data)).stdout.startswith("quota.jsonl: 1 event read, appended 0")
        assert quota() == "5"
    keys = [r["idempotency_key"] for r in json.loads(run("log", "--format", "json").stdout)["rows"]]
    assert max(len(k or "") for k in keys) == 200 and len(set(keys)) == len(keys)


def test_import_retract_leaves_an_event_whose_line_now_gives_another_effective_time(
    run, tmp_path: Path
) -> None:
    # The same key on a line dated otherwise is a conflict for the import run again, so it is
    # no line of the file's for `import --retract`: not recorded, and nothing retracted (the
    # quota imported from the line as it was was taken out).
    run("init")
    line = {"type": "quota_set", "effective_at": "2026-01-01", "period": "2026-Q1",
            "amount": "5", "idempotency_key": "q1"}  # fmt: skip
    data = tmp_path / "quota.jsonl"
    data.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert run("import", str(data)).exit_code == 0
    data.write_text(json.dumps({**line, "effective_at": "2026-01-02"}) + "\n", encoding="utf-8")
    assert run("import", str(data)).exit_code == 4
    out = run("import", str(data), "--retract", "--reason", "wrong quota")
    assert out.stdout == (
        "quota.jsonl: 1 event read, retracted 0, 0 retracted before, 1 not recorded; head seq 2\n"
    )


def test_a_refusal_names_an_event_of_the_same_import_without_a_seq(run, tmp_path: Path) -> None:
    # A refused import writes nothing, so its own events get no seq: a message that named
    # them by the seq they would have had sent the reader to `log` for events not there.
    run("init")
    signed = {"type": "contract_signed", "effective_at": "2026-01-10", "deal_id": "D-1",
              "account_id": "A-1", "arr": "1000", "event_id": str(uuid.UUID(int=1))}  # fmt: skip
    live = {"type": "go_live", "effective_at": "2026-02-01", "account_id": "A-1", "deal_id": "D-1"}
    undo = {"type": "event_retracted", "effective_at": "2026-03-05",
            "retracts": str(uuid.UUID(int=1)), "reason": "typo"}  # fmt: skip
    grown = {"type": "expansion", "effective_at": "2026-03-01", "account_id": "A-1", "arr": "1"}
    shrunk = {"type": "contraction", "effective_at": "2026-02-15", "account_id": "A-1",
              "arr": "1000"}  # fmt: skip
    data = tmp_path / "own.jsonl"
    for lines, message in (
        (
            [signed, live, undo],
            "line 3: retracting that contract_signed (earlier in this import) would leave the "
            "later go_live (earlier in this import) invalid: deal D-1 has no contract signed "
            "for account A-1 on or before 2026-02-01; go-live needs a signed contract; retract "
            "what stands on it first, latest first: the go_live (earlier in this import).",
        ),
        (
            [signed, live, grown, shrunk],
            "line 4: this contraction would make the later expansion (earlier in this import, "
            "effective 2026-03-01) invalid: account A-1 has no live ARR on 2026-03-01; an "
            "expansion needs a live customer.",
        ),
    ):
        data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        out = run("import", str(data))
        assert (out.exit_code, out.stderr) == (3, f"revledger: {message}\n")
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header and seq 1


def test_record_prints_seq_and_event_id(run) -> None:
    run("init")
    out = run(
        "record", "quota-set", "--period", "2026-Q4", "--amount", "500000", "--format", "json"
    )
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["meta"] == {}
    [row] = doc["rows"]
    assert row["seq"] == 2 and row["type"] == "quota_set" and row["stream_id"] == "ledger"
    assert row["stream_version"] == 2 and row["duplicate"] is False
    plain = run("record", "quota_set", "--period", "2027-Q1", "--amount", "1")
    assert plain.stdout.startswith("seq 3  event_id ")


OPENED_SUMMARY = (
    "deal_id=D-1 account_id=A-1 stage=demo amount=100000 expected_close=2026-06-30 "
    "personas=cmio,cfo"
)


def test_log_table(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    out = run("log", "--deal", "D-1")
    assert out.stdout == (
        "2 events\n"
        "\n"
        "seq  effective            recorded             type             stream    actor  "
        + "payload".ljust(len(OPENED_SUMMARY))
        + "  retracted by\n"
        "---  -------------------  -------------------  ---------------  --------  -----  "
        + "-"
        * len(OPENED_SUMMARY)
        + "  ------------\n"
        "  2  2026-01-05 00:00:00  2026-11-02 15:04:05  deal_opened      deal:D-1  ana    "
        + OPENED_SUMMARY
        + "             -\n"
        "  3  2026-03-01 19:30:00  2026-11-02 15:04:05  contract_signed  deal:D-1  ana    "
        + "deal_id=D-1 arr=98000.5 term_months=12 baa_signed=true standard_terms=false".ljust(
            len(OPENED_SUMMARY)
        )
        + "             -\n"
        "\n"
        "query: deal D-1\n"
        f"head: seq 3, hash {_head_hash(run)}\n"
    )


def _head_hash(run) -> str:
    doc = json.loads(run("verify", "--format", "json").stdout)
    return str(doc["rows"][0]["head_hash"])


def test_log_json_is_the_full_envelope(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    doc = json.loads(run("log", "--type", "contract_signed", "--format", "json").stdout)
    assert doc["meta"]["query"]["types"] == ["contract_signed"]
    assert doc["meta"]["head"]["seq"] == 3
    [row] = doc["rows"]
    assert list(row) == [
        "seq",
        "event_id",
        "type",
        "schema_version",
        "stream_id",
        "stream_version",
        "effective_at",
        "recorded_at",
        "actor",
        "source",
        "idempotency_key",
        "payload",
        "prev_hash",
        "hash",
        "retracted_by",
    ]
    assert row["event_id"] == E2
    assert row["retracted_by"] is None
    assert row["effective_at"] == "2026-03-01T19:30:00Z"
    assert row["recorded_at"] == "2026-11-02T15:04:05.123456Z"
    assert row["source"] == "import:two.jsonl:2"
    assert row["idempotency_key"].startswith("auto:")
    assert row["payload"] == {
        "arr": "98000.5",
        "baa_signed": True,
        "deal_id": "D-1",
        "standard_terms": False,
        "term_months": 12,
    }


def test_log_csv(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    out = run("log", "--account", "A-1", "--format", "csv").stdout.splitlines()
    assert out[0] == (
        "seq,event_id,type,schema_version,stream_id,stream_version,effective_at,recorded_at,"
        "actor,source,idempotency_key,payload,prev_hash,hash,retracted_by"
    )
    assert out[1].startswith(f"2,{E1},deal_opened,1,deal:D-1,1,2026-01-05T00:00:00Z,")
    assert len(out) == 3


def test_log_filters_by_effective_dates_and_known_at(run, inline_file: Path) -> None:
    run("init")
    run("import", str(inline_file))
    window = run("log", "--from", "2026-02-01", "--to", "2026-03-01", "--format", "json")
    assert [r["seq"] for r in json.loads(window.stdout)["rows"]] == [3]
    before = run("log", "--known-at", "2026-11-01", "--format", "json")
    assert json.loads(before.stdout)["rows"] == []


def test_log_and_history_read_an_id_with_spaces_around_it_as_record_stores_it(
    run, inline_file: Path
) -> None:
    run("init")
    run("import", str(inline_file))
    padded = run("log", "--deal", " D-1 ", "--format", "json")
    assert padded.exit_code == 0, padded.stderr
    assert [r["seq"] for r in json.loads(padded.stdout)["rows"]] == [2, 3]
    assert json.loads(padded.stdout)["meta"]["query"]["deal"] == "D-1"
    by_account = run("log", "--account", "A-1 ", "--format", "json")
    assert [r["seq"] for r in json.loads(by_account.stdout)["rows"]] == [2, 3]
    history = run("history", "--deal", " D-1")
    assert history.exit_code == 0, history.stderr
    assert history.stdout.startswith("History of deal D-1 as happened (known at ")


def test_an_actor_given_to_init_and_import_is_held_to_what_record_takes(
    run, inline_file: Path
) -> None:
    assert run("init", "--actor", "  lee ").exit_code == 0
    assert run("import", str(inline_file), "--actor", " kim").exit_code == 0
    rows = json.loads(run("log", "--format", "json").stdout)["rows"]
    assert [r["actor"] for r in rows] == ["lee", "kim", "kim"]


def test_verify_ok_then_integrity_failure(run, inline_file: Path, db_url: str) -> None:
    run("init")
    run("import", str(inline_file))
    ok = run("verify")
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok: 3 events, hash chain intact; head seq 3 hash ")
    from sqlalchemy import text

    from ledger.store import LedgerStore

    with LedgerStore.open(db_url) as store, store.engine.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("DROP TRIGGER events_reject_update_delete ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_reject_update"))
        conn.execute(
            text("UPDATE events SET effective_at = '2026-01-04T00:00:00.000000Z' WHERE seq = 2")
        )
    bad = run("verify")
    assert bad.exit_code == 5
    assert bad.stderr == (
        "revledger: integrity failure: seq 2: stored hash does not match its content\n"
    )


def test_export_then_restore_reproduces_the_ledger(run, inline_file: Path, tmp_path: Path) -> None:
    run("init")
    run("import", str(inline_file))
    exported = run("export").stdout
    lines = [json.loads(line) for line in exported.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    target = tmp_path / "restored.db"
    restored = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", "-"])
    assert restored.exit_code == 2  # '-' is not an existing file: a usage error
    backup = tmp_path / "backup.jsonl"
    backup.write_text(exported, encoding="utf-8")
    restored = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", str(backup)])
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout.startswith("restored 3 events; head seq 3 hash ")
    again = CliRunner().invoke(cli, ["--db", str(target), "export"])
    assert again.stdout == exported


def test_an_export_to_a_file_appears_whole_or_not_at_all(
    run, inline_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("init")
    run("import", str(inline_file))
    backup = tmp_path / "backup.jsonl"
    written = run("export", "-o", str(backup))
    assert written.exit_code == 0, written.stderr
    assert written.stderr == f"exported 3 events to {backup}\n"
    assert backup.read_text(encoding="utf-8") == run("export").stdout
    # An export that fails half-way leaves the earlier file as it was, and nothing else.
    from ledger.store import LedgerStore

    def two_then_fail(rows):
        yield from list(rows)[:2]
        raise OSError(28, "No space left on device")

    raw_rows = LedgerStore.raw_rows
    monkeypatch.setattr(LedgerStore, "raw_rows", lambda store: two_then_fail(raw_rows(store)))
    failed = run("export", "-o", str(backup))
    assert (failed.exit_code, failed.stderr) == (
        6,
        f"revledger: cannot write {backup}: No space left on device.\n",
    )
    assert backup.read_text(encoding="utf-8").count("\n") == 3
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == ["backup.jsonl"]


def test_an_export_of_one_event_says_event(run, tmp_path: Path) -> None:
    run("init")
    backup = tmp_path / "backup.jsonl"
    written = run("export", "-o", str(backup))
    assert (written.exit_code, written.stderr) == (0, f"exported 1 event to {backup}\n")


def test_exports_to_one_file_at_once_neither_spoil_nor_fail_the_other(
    run, db_url: str, inline_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one export writes a file, another to the same file runs whole and a third is
    interrupted half-way (a cron job and a person, say): the first still ends well, and
    the file is whole."""
    run("init")
    run("import", str(inline_file))
    whole = run("export").stdout
    backup = tmp_path / "backup.jsonl"
    from ledger.operations import export_file
    from ledger.store import LedgerStore

    raw_rows = LedgerStore.raw_rows
    others: list[str] = []

    def others_meanwhile(store: LedgerStore) -> Any:
        rows = raw_rows(store)
        if others:  # one of the other exports
            yield from rows
            if others[-1] == "interrupted":
                raise KeyboardInterrupt
            return
        yield next(rows)
        with LedgerStore.open(db_url) as own:
            others.append("whole")
            assert export_file(own, backup) == 3
            others.append("interrupted")
            with pytest.raises(KeyboardInterrupt):
                export_file(own, backup)
        yield from rows

    monkeypatch.setattr(LedgerStore, "raw_rows", others_meanwhile)
    first = run("export", "-o", str(backup))
    assert (first.exit_code, first.stderr) == (0, f"exported 3 events to {backup}\n")
    assert backup.read_text(encoding="utf-8") == whole
    assert [p.name for p in tmp_path.iterdir() if "backup" in p.name] == ["backup.jsonl"]


def test_an_export_to_standard_output_stopped_part_way_says_it_is_cut_short(
    run, inline_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`revledger export > backup.jsonl` whose database goes away after two lines: the
    message says the lines written before it are not the whole export."""
    import sqlite3

    from ledger.store import LedgerStore

    run("init")
    run("import", str(inline_file))
    whole = run("export").stdout

    def two_then_fail(rows: Any) -> Any:
        yield from list(rows)[:2]
        raise sqlite3.OperationalError("disk I/O error")

    raw_rows = LedgerStore.raw_rows
    monkeypatch.setattr(LedgerStore, "raw_rows", lambda store: two_then_fail(raw_rows(store)))
    out = run("export")
    assert out.stdout == "".join(whole.splitlines(keepends=True)[:2])
    assert (out.exit_code, out.stderr) == (
        6,
        "revledger: database error: disk I/O error; the answer written to standard output "
        "before it is cut short.\n",
    )


def test_an_export_into_a_missing_folder_is_a_storage_error(run, tmp_path: Path) -> None:
    run("init")
    target = tmp_path / "no-such-folder" / "backup.jsonl"
    out = run("export", "-o", str(target))
    assert (out.exit_code, out.stderr) == (
        6,
        f"revledger: cannot write {target}: the folder {target.parent} does not exist.\n",
    )


def test_an_export_over_a_file_in_a_folder_it_may_not_write_names_the_folder(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file itself may be writable: what is refused is the new file made beside it."""
    run("init")
    target = tmp_path / "backup.jsonl"
    target.write_text("an older backup\n", encoding="utf-8")
    real_open = os.open

    def folder_refuses(name: Any, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, flags, *args)

    monkeypatch.setattr("ledger.textfile.os.open", folder_refuses)
    out = run("export", "-o", str(target))
    assert (out.exit_code, out.stderr) == (
        6,
        f"revledger: cannot write {target}: it is written whole beside it first, and the "
        f"folder {tmp_path} may not be written.\n",
    )
    assert target.read_text(encoding="utf-8") == "an older backup\n"


def test_importing_an_export_points_to_restore(run, inline_file: Path, tmp_path: Path) -> None:
    run("init")
    run("import", str(inline_file))
    backup = tmp_path / "backup.jsonl"
    run("export", "-o", str(backup))
    out = run("import", str(backup))
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: line 1: is a full envelope from `revledger export`, not an import line; "
        "restore an export into a new ledger with `revledger import --restore`.\n",
    )


def test_a_command_group_without_a_command_prints_its_help(run) -> None:
    out = CliRunner().invoke(cli, ["record"])
    assert out.exit_code == 2
    assert out.stderr.startswith("Usage: cli record [OPTIONS] COMMAND [ARGS]...\n\n")
    assert "\nCommands:\n" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["forcast"],
            "No such command 'forcast'. (Did you mean one of: 'forecast', 'forecast-diff'?)",
        ),
        (["win_rate"], "No such command 'win_rate'. Did you mean 'win-rate'?"),
        (["record", "deal-open"], "(Did you mean one of: 'deal_opened', 'deal_reopened'?)"),
        (["help"], "No such command 'help'. (see `cli --help`)"),
    ],
)
def test_a_misspelt_command_names_the_near_spellings(args: list[str], message: str) -> None:
    """Commands load only when they run, yet a misspelt one is answered with the commands
    spelt like it, as a misspelt option is (`help` only points to --help, not to `health`)."""
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 2
    assert out.stderr.startswith("revledger: ") and out.stderr.count("\n") == 1
    assert message in out.stderr


def test_the_command_list_gives_each_command_its_whole_first_sentence() -> None:
    out = CliRunner().invoke(cli, ["--help"])
    assert out.exit_code == 0
    listed = " ".join(out.stdout.split("\nCommands:\n", 1)[1].split())
    assert "aging Pipeline aging: open deals older than a threshold, oldest first. arr " in listed
    assert ",..." not in listed


def test_seq_is_shown_without_thousands_separators() -> None:
    from cli.render import Column, Report, render

    report = Report(
        "", [Column("seq", "seq", "seq"), Column("n", "n", "int")], [{"seq": 12345, "n": 12345}]
    )
    assert render(report, "table").splitlines()[-1].split() == ["12345", "12,345"]
    assert json.loads(render(report, "json"))["rows"] == [{"seq": 12345, "n": 12345}]


def test_init_with_a_stages_file_and_time_zone(run, tmp_path: Path) -> None:
    stages = tmp_path / "stages.json"
    stages.write_text(
        json.dumps(
            [
                {"name": "intro", "probability": "0.1"},
                {"name": "pilot", "probability": "0.5", "forecast_category": "best_case"},
                {"name": "contracting", "probability": "0.9", "forecast_category": "commit"},
            ]
        ),
        encoding="utf-8",
    )
    out = run("init", "--timezone", "America/Chicago", "--stages-file", str(stages))
    assert out.exit_code == 0, out.stderr
    rec = run(
        "record",
        "deal_opened",
        "--deal-id",
        "D-5",
        "--account-id",
        "A-5",
        "--stage",
        "pilot",
        "--amount",
        "5000",
        "--expected-close",
        "2026-12-31",
        "--effective",
        "2026-07-01",
    )
    assert rec.exit_code == 0, rec.stderr
    doc = json.loads(run("log", "--deal", "D-5", "--format", "json").stdout)
    assert doc["rows"][0]["effective_at"] == "2026-07-01T05:00:00Z"  # midnight in Chicago (CDT)
    bad = run("record", "stage_changed", "--deal-id", "D-5", "--stage", "demo")
    assert bad.exit_code == 3
    assert "is not a stage of the configured pipeline (intro, pilot, contracting)" in bad.stderr


def test_help_lists_every_event_type(run) -> None:
    out = run("record", "--help")
    assert out.exit_code == 0
    for name in ("deal_opened", "go_live", "event_retracted", "security_questionnaire_completed"):
        assert name in out.stdout


def test_a_retraction_s_effective_time_is_a_label_and_its_help_says_so(run) -> None:
    # A retraction "effective" in September takes the May expansion out of June as well: it
    # does not end the expansion from a day, and the help says so instead of "when it happened".
    run("init")
    for args in (
        ("deal_opened", "--deal-id", "D-1", "--account-id", "A-1", "--stage", "demo"),
        ("contract_signed", "--deal-id", "D-1", "--arr", "100", "--effective", "2026-03-01"),
        ("go_live", "--account-id", "A-1", "--deal-id", "D-1", "--effective", "2026-04-01"),
        ("expansion", "--account-id", "A-1", "--arr", "10", "--effective", "2026-05-01"),
    ):
        extra = ("--amount", "5", "--expected-close", "2026-06-30", "--effective", "2026-01-05")
        assert run("record", *args, *(extra if args[0] == "deal_opened" else ())).exit_code == 0
    late = ("--retracts", "5", "--reason", "entered twice", "--effective", "2026-09-01")
    assert run("record", "event_retracted", *late).exit_code == 0
    june = json.loads(run("arr", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert june["rows"][-1]["arr"] == "100"
    shown = " ".join(run("record", "event_retracted", "--help").stdout.split())
    assert (
        "--effective DATE|INSTANT A label only (default now): the event retracted no longer "
        "counts on any day, as known from this retraction's recording on; to end something "
        "from a day, record a contraction or a churn." in shown
    )


def test_every_command_is_found_in_the_module_it_is_registered_under() -> None:
    """Commands load lazily by name; the name map matches what each module defines."""
    defined = {
        str(command.name): module
        for module in set(COMMAND_MODULES.values())
        for command in importlib.import_module(module).COMMANDS
    }
    assert defined == COMMAND_MODULES
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMAND_MODULES)
    for name in COMMAND_MODULES:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
    assert cli.get_command(ctx, "no-such-command") is None


def _readme_block(heading: str) -> str:
    """Return the first ```sh block of the README section under `heading`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def _shell(script: str, folder: Path, db: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `script` with bash (-euo pipefail) in `folder`, the `revledger` of this interpreter
    first on the PATH and REVLEDGER_DB set to `db` (unset when None)."""
    env = dict(os.environ)
    env.pop("REVLEDGER_DB", None)
    if db is not None:
        env["REVLEDGER_DB"] = db
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """README "A short walkthrough", run by a shell in a fresh folder: every command succeeds,
    the known-at question finds nothing recorded by then, and the restore is identical."""
    checks = (
        "\nrevledger log --deal D-17 --known-at 2026-01-01 --format json > known.json"
        "\nrevledger log --deal D-18 --format json > corrected.json"
        "\nrevledger export > original.jsonl"
        "\nrevledger --db restored.db export > restored.jsonl"
    )
    done = _shell(_readme_block("A short walkthrough") + checks, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "known.json").read_text())["rows"] == []
    original = (tmp_path / "original.jsonl").read_text().splitlines(keepends=True)
    # init, five records, two imported lines; then the correction: a wrong amount, its
    # retraction (naming seq 9 by its event_id) and the right amount
    assert len(original) == 11
    envelopes = [json.loads(line) for line in original]
    assert envelopes[9]["payload"]["retracts"] == envelopes[8]["event_id"]
    corrected = json.loads((tmp_path / "corrected.json").read_text())["rows"]
    # The deal's log lists the retraction of its wrong amount, which names it.
    assert [(r["seq"], r["retracted_by"]) for r in corrected] == [
        (7, None),
        (9, 10),
        (10, None),
        (11, None),
    ]
    assert corrected[2]["payload"]["retracts"] == corrected[1]["event_id"]
    backup = "".join(original[:8])
    assert (tmp_path / "restored.jsonl").read_text() == backup
    assert (tmp_path / "backup.jsonl").read_text() == backup


def test_the_readme_records_one_event_of_each_type(tmp_path: Path) -> None:
    """README "Event catalog": one `record` of every type, run by a shell on a new ledger."""
    from ledger.events import EVENT_TYPES

    script = _readme_block("Event catalog")
    recorded = {line.split()[2] for line in script.splitlines() if line.startswith("revledger")}
    assert recorded == set(EVENT_TYPES)
    done = _shell("revledger init\n" + script, tmp_path, db=str(tmp_path / "each.db"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("seq 19 ")


def test_an_empty_db_option_is_one_sentence() -> None:
    out = CliRunner().invoke(cli, ["--db", " ", "log"])
    assert (out.exit_code, out.stderr) == (
        6,
        "revledger: no database given: --db (or REVLEDGER_DB) is empty; give a SQLite file "
        "path or an SQLAlchemy URL.\n",
    )


def test_a_database_password_is_never_printed() -> None:
    url = "postgresql+psycopg://ana:s3cret@127.0.0.1:1/ledger"
    out = CliRunner().invoke(cli, ["--db", url, "log"])
    assert out.exit_code == 6
    assert out.stderr.startswith(
        "revledger: cannot open the database postgresql+psycopg://ana:***@127.0.0.1:1/ledger: "
    )
    assert "s3cret" not in out.stderr


def test_a_refused_restore_into_a_new_file_leaves_no_file(
    run, inline_file: Path, tmp_path: Path
) -> None:
    run("init")
    run("import", str(inline_file))
    lines = run("export").stdout.splitlines()
    backup = tmp_path / "backup.jsonl"
    backup.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")  # seq 2 dropped
    target = tmp_path / "restored.db"
    out = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", str(backup)])
    assert out.exit_code != 0 and out.stderr.startswith("revledger: line 2: ")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("restored.db")]


def test_a_restore_through_a_link_to_a_new_file_makes_it_whole_or_not_at_all(
    run, inline_file: Path, tmp_path: Path
) -> None:
    """`--db` a symbolic link to a file yet to be made: a refused restore leaves no file where
    it points, and one that succeeds makes it there, the link left as it is."""
    run("init")
    run("import", str(inline_file))
    whole = run("export").stdout
    lines = whole.splitlines()
    backup = tmp_path / "backup.jsonl"
    backup.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")  # seq 2 dropped
    (tmp_path / "data").mkdir()
    link = tmp_path / "link.db"
    link.symlink_to(Path("data") / "restored.db")
    out = CliRunner().invoke(cli, ["--db", str(link), "import", "--restore", str(backup)])
    assert out.exit_code != 0 and out.stderr.startswith("revledger: line 2: ")
    assert list((tmp_path / "data").iterdir()) == []
    assert link.is_symlink()
    backup.write_text(whole, encoding="utf-8")
    out = CliRunner().invoke(cli, ["--db", str(link), "import", "--restore", str(backup)])
    assert out.exit_code == 0, out.stderr
    assert link.is_symlink()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["restored.db"]
    exported = CliRunner().invoke(cli, ["--db", str(link), "export"])
    assert exported.stdout == whole


def test_a_restore_into_a_new_file_with_a_long_name_is_made(
    run, inline_file: Path, tmp_path: Path
) -> None:
    """A name that fits the file system (250 bytes) is restored into, though the hidden name
    it is built under first would be longer."""
    run("init")
    run("import", str(inline_file))
    whole = run("export").stdout
    backup = tmp_path / "backup.jsonl"
    backup.write_text(whole, encoding="utf-8")
    target = tmp_path / ("x" * 247 + ".db")
    out = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", str(backup)])
    assert out.exit_code == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".x", "x"))) == [
        target.name
    ]
    assert CliRunner().invoke(cli, ["--db", str(target), "export"]).stdout == whole


def test_of_two_restores_into_one_new_file_the_second_is_refused_and_leaves_the_first(
    run, inline_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a restore into a new file runs, another restore into that file completes: the
    first is refused (exit 4) and the ledger the other restored stays, whole."""
    import ledger.operations as operations
    from ledger.store import Head

    run("init")
    run("import", str(inline_file))
    backup = tmp_path / "backup.jsonl"
    backup.write_text(run("export").stdout, encoding="utf-8")
    target = tmp_path / "restored.db"
    restore_file = operations.restore_file
    others: list[Head] = []
    started: list[bool] = []

    def another_meanwhile(store: Any, path: Path) -> Head:
        if not started:
            started.append(True)
            others.append(operations.restore_ledger(str(target), path))
        return restore_file(store, path)

    monkeypatch.setattr(operations, "restore_file", another_meanwhile)
    out = CliRunner().invoke(cli, ["--db", str(target), "import", "--restore", str(backup)])
    assert [h.seq for h in others] == [3]
    done = CliRunner().invoke(cli, ["--db", str(target), "verify"])
    assert done.stdout.startswith(
        f"ok: 3 events, hash chain intact; head seq 3 hash {others[0].hash}"
    )
    assert (out.exit_code, out.stderr) == (
        4,
        f"revledger: restore needs a new ledger: {target} was made by another command while "
        "this one restored; restore into another new --db.\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir() if "restored" in p.name) == ["restored.db"]


def test_init_leaves_a_database_of_something_else_alone(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "crm.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    out = CliRunner().invoke(cli, ["--db", str(other), "init"])
    assert (out.exit_code, out.stderr) == (
        6,
        f"revledger: {other} is a database of something else (it holds tables customers); "
        "give the ledger a new file.\n",
    )
    with sqlite3.connect(other) as conn:
        assert [n for (n,) in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]


def test_retrying_a_keyed_record_without_effective_returns_the_original(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """The effective time of a record without --effective is the moment it ran; a retry a
    moment later with the same key and fields is the same event, not a conflict."""
    from datetime import timedelta

    ticks = iter(CLOCK + timedelta(seconds=n) for n in range(100))
    for where in ("ledger.store.batch", "ledger.operations"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: next(ticks))

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    assert run("init").exit_code == 0
    keyed = ("record", "quota_set", "--period", "2028-Q1", "--amount", "5", "--idempotency-key")
    first = run(*keyed, "k-1")
    again = run(*keyed, "k-1")
    assert again.exit_code == 0, again.stderr
    assert (
        again.stdout == first.stdout.rstrip("\n") + " (already recorded: idempotency key matched)\n"
    )
    other = run(
        "record", "quota_set", "--period", "2028-Q1", "--amount", "6", "--idempotency-key", "k-1"
    )
    assert other.exit_code == 4 and "with different content" in other.stderr
    assert run("log", "--format", "csv").stdout.count("\n") == 3  # header, configuration, quota
    # Retracted since, the original still answers the retry, which says it does not count.
    assert run("record", "event_retracted", "--retracts", "2", "--reason", "x").exit_code == 0
    retried = run(*keyed, "k-1")
    assert retried.stdout == first.stdout.rstrip("\n") + (
        " (already recorded: idempotency key matched; seq 3 retracted it, so it does not count: "
        "record it with another key to count it)\n"
    )
    row = json.loads(run(*keyed, "k-1", "--format", "json").stdout)["rows"][0]
    assert (row["seq"], row["duplicate"], row["retracted_by"]) == (2, True, 3)


@pytest.mark.parametrize(
    ("chunk", "named"), [(10_000, "line 1 of this import"), (1, "an earlier event of this import")]
)
def test_a_key_reused_within_one_import_names_the_earlier_event_not_an_unwritten_seq(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, chunk: int, named: str
) -> None:
    """The events of a refused import are never written, so the conflict names the earlier
    line (or, in an earlier chunk, the earlier event) of the same import, not the seq it would
    have had."""
    monkeypatch.setattr("ledger.operations.IMPORT_CHUNK", chunk)
    monkeypatch.setattr("ledger.import_worker.BLOCK_LINES", chunk)
    quota = {"type": "quota_set", "effective_at": "2026-01-01", "idempotency_key": "k1"}
    data = tmp_path / "twice.jsonl"
    data.write_text(
        json.dumps({**quota, "period": "2026-Q1", "amount": "5"})
        + "\n"
        + json.dumps({**quota, "period": "2026-Q1", "amount": "6"})
        + "\n"
    )
    assert CliRunner().invoke(cli, ["--db", db_url, "init"]).exit_code == 0
    out = CliRunner().invoke(cli, ["--db", db_url, "import", str(data)])
    assert (out.exit_code, out.stderr) == (
        4,
        f"revledger: line 2: idempotency key 'k1' was already used by {named} with different "
        "content.\n",
    )
    assert (
        CliRunner().invoke(cli, ["--db", db_url, "log", "--format", "csv"]).stdout.count("\n") == 2
    )  # header and configuration


def test_an_imported_configuration_line_never_silently_resets_a_setting(
    tmp_path: Path, db_url: str
) -> None:
    """A `ledger_configured` import line is a whole configuration: one that gives only a time
    zone would put back the default currency and pipeline, stranding open deals in stages it
    lacks, so it is refused while those differ from their defaults; a line giving them is fine."""
    stages = tmp_path / "stages.json"
    stages.write_text(
        json.dumps(
            [
                {"name": "alpha", "probability": "0.3"},
                {"name": "beta", "probability": "0.6", "forecast_category": "commit"},
            ]
        )
    )

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    def imported(line: dict[str, Any]) -> Result:
        data = tmp_path / "config.jsonl"
        data.write_text(json.dumps({"type": "ledger_configured", **line}) + "\n")
        return run("import", str(data))

    assert run("init", "--currency", "EUR", "--stages-file", str(stages)).exit_code == 0
    tz_only = {"effective_at": "2026-01-06", "timezone": "Europe/Berlin"}
    out = imported(tz_only)
    assert (out.exit_code, out.stderr) == (
        3,
        "revledger: line 1: leaves out currency (EUR in the ledger) and stages (alpha, beta in "
        "the ledger), which the line would reset to the default; an import line of type "
        "ledger_configured is a whole configuration: give them too, or change only the settings "
        "you give with `revledger record ledger_configured`.\n",
    )
    assert run("log", "--format", "csv").stdout.count("\n") == 2  # header and configuration
    whole = imported({**tz_only, "currency": "EUR", "stages": json.loads(stages.read_text())})
    assert whole.exit_code == 0, whole.stderr
    config = json.loads(run("log", "--type", "ledger_configured", "--format", "json").stdout)
    assert [e["payload"]["timezone"] for e in config["rows"]] == ["UTC", "Europe/Berlin"]


def test_configuration_lines_are_checked_against_the_configuration_in_force_then(
    tmp_path: Path, db_url: str
) -> None:
    """The check of a `ledger_configured` line is made where the batch admits it: a re-run of
    a file whose lines are all recorded appends nothing (its first configuration line is not
    compared with the later one in force), and a retracted configuration is not in force."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    def imported(name: str, *lines: dict[str, Any]) -> Result:
        data = tmp_path / name
        data.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return run("import", str(data))

    assert run("init").exit_code == 0
    # Instants, not bare dates: a re-run reads bare dates in the time zone in force by then.
    config = {"type": "ledger_configured", "effective_at": "2026-01-01T00:00:00Z"}
    history = (
        {**config, "currency": "EUR"},
        {
            **config,
            "effective_at": "2026-02-01T00:00:00Z",
            "currency": "EUR",
            "timezone": "Europe/Paris",
        },
    )
    assert imported("history.jsonl", *history).exit_code == 0
    again = imported("history.jsonl", *history)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("history.jsonl: 2 events read, appended 0, 2 already recorded")
    paris = json.loads(run("log", "--type", "ledger_configured", "--format", "json").stdout)
    retract = {
        "type": "event_retracted",
        "effective_at": "2026-02-01",
        "retracts": paris["rows"][-1]["event_id"],
        "reason": "wrong zone",
    }
    # With the Paris configuration retracted, EUR and UTC are in force: a line giving the
    # currency alone resets nothing.
    out = imported(
        "fix.jsonl", retract, {**config, "effective_at": "2026-03-01", "currency": "EUR"}
    )
    assert out.exit_code == 0, out.stderr


def test_an_empty_ledger_says_how_to_start_or_restore_it(tmp_path: Path) -> None:
    from ledger.store import LedgerStore

    empty = tmp_path / "empty.db"
    LedgerStore.open(str(empty), create=True).close()  # as a killed restore leaves one
    out = CliRunner().invoke(cli, ["--db", str(empty), "log"])
    assert (out.exit_code, out.stderr) == (
        6,
        "revledger: the ledger has no configuration yet (it holds no events); run `revledger "
        "init` to start it, or restore an export into it with `revledger import --restore`.\n",
    )


def test_recording_a_configuration_keeps_the_settings_it_leaves_out(run, tmp_path: Path) -> None:
    stages = tmp_path / "stages.json"
    stages.write_text(
        json.dumps(
            [
                {"name": "intro", "probability": "0.1"},
                {"name": "pilot", "probability": "0.5"},
                {"name": "contracting", "probability": "0.9", "forecast_category": "commit"},
            ]
        ),
        encoding="utf-8",
    )
    init = ("init", "--currency", "EUR", "--timezone", "Europe/Berlin", "--fiscal-year-start", "4")
    assert run(*init, "--stages-file", str(stages)).exit_code == 0
    changed = run("record", "ledger_configured", "--timezone", "America/New_York")
    assert changed.exit_code == 0, changed.stderr
    doc = json.loads(run("log", "--type", "ledger_configured", "--format", "json").stdout)
    first, second = (row["payload"] for row in doc["rows"])
    assert second == {**first, "timezone": "America/New_York"}
    assert [s["name"] for s in second["stages"]] == ["intro", "pilot", "contracting"]
    assert (second["currency"], second["fiscal_year_start_month"]) == ("EUR", 4)


def test_a_new_time_zone_recorded_with_a_bare_date_starts_that_day_in_the_old_one(run) -> None:
    """As on an import line: the date is read in the time zone in force when it is given."""
    assert run("init", "--timezone", "America/New_York").exit_code == 0
    out = run(
        "record", "ledger_configured", "--timezone", "Asia/Tokyo", "--effective", "2026-06-01"
    )
    assert out.exit_code == 0, out.stderr
    doc = json.loads(run("log", "--type", "ledger_configured", "--format", "json").stdout)
    assert doc["rows"][-1]["effective_at"] == "2026-06-01T04:00:00Z"


TOKYO_CONFIG = "22222222-2222-4222-8222-222222222222"


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "same-file"])
def test_an_import_reads_dates_after_a_retracted_configuration_in_the_zone_in_force_again(
    run, tmp_path: Path, stored: bool
) -> None:
    """A line retracting the configuration in force gives the lines after it the time zone of
    the one before, as a `record` after that retraction reads its dates."""
    assert run("init").exit_code == 0  # UTC
    tokyo = {"type": "ledger_configured", "effective_at": "2026-01-01", "timezone": "Asia/Tokyo"}
    if stored:
        setup = tmp_path / "tokyo.jsonl"
        setup.write_text(json.dumps({**tokyo, "event_id": TOKYO_CONFIG}) + "\n")
        assert run("import", str(setup)).exit_code == 0
    lines = [] if stored else [{**tokyo, "event_id": TOKYO_CONFIG}]
    lines += [
        {"type": "event_retracted", "effective_at": "2026-01-01", "retracts": TOKYO_CONFIG,
         "reason": "wrong zone"},
        {"type": "deal_opened", "effective_at": "2026-01-05", "deal_id": "D1",
         "account_id": "A1", "stage": "demo", "amount": "100", "expected_close": "2026-06-30"},
    ]  # fmt: skip
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run("import", str(history))
    assert done.exit_code == 0, done.stderr
    recorded = run("record", "quota_set", "--period", "2026-Q1", "--amount", "1", "--effective",
                   "2026-01-05")  # fmt: skip
    assert recorded.exit_code == 0, recorded.stderr
    doc = json.loads(
        run("log", "--type", "deal_opened", "--type", "quota_set", "--format", "json").stdout
    )
    assert [(r["type"], r["effective_at"]) for r in doc["rows"]] == [
        ("deal_opened", "2026-01-05T00:00:00Z"),
        ("quota_set", "2026-01-05T00:00:00Z"),
    ]


def test_log_takes_type_names_with_dashes_and_tables_keep_a_note_on_its_row(run) -> None:
    run("init")
    note = "Renewal call\nsecond line"
    done = run(
        "record", "forecast_submitted", "--period", "2026-Q4", "--commit", "1", "--best-case",
        "2", "--note", note, "--format", "csv",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines()[1].endswith(",ledger,2,false,")  # not retracted
    dashed = run("log", "--type", "forecast-submitted")
    assert dashed.exit_code == 0, dashed.stderr
    rows = [line for line in dashed.stdout.splitlines() if "forecast_submitted" in line]
    assert len(rows) == 1 and "note=Renewal call second line" in rows[0]


def test_every_generated_record_option_says_what_it_takes() -> None:
    from cli.record import record

    for name, command in record.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "fmt":
                assert (param.help or "").strip(), (name, param.name)
    term = record.commands["contract_signed"].params
    help_of = {p.name: p.help for p in term if isinstance(p, click.Option)}
    assert help_of["term_months"] == "Contract term in months, 1 to 120. Default: 12."
    assert (help_of["baa_signed"] or "").endswith("Default: false.")


def test_a_retraction_may_name_its_target_by_the_seq_log_shows(run) -> None:
    run("init")
    opened = run("record", "deal_opened", "--deal-id", "D-1", "--account-id", "A-1",
                 "--stage", "demo", "--amount", "1000000",
                 "--expected-close", "2026-12-01")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    done = run("record", "event_retracted", "--retracts", "2", "--reason", "an extra zero")
    assert done.exit_code == 0, done.stderr
    rows = json.loads(run("log", "--format", "json").stdout)["rows"]
    assert rows[2]["payload"]["retracts"] == rows[1]["event_id"]
    missing = run("record", "event_retracted", "--retracts", "9", "--reason", "typo")
    assert missing.exit_code == 3
    assert missing.stderr == (
        "revledger: field 'retracts' = '9': names seq 9, which the ledger does not hold (its "
        "last is seq 3); give an event's seq or event_id.\n"
    )


@pytest.mark.parametrize("target", ["9223372036854775808", "9" * 40, "\u0662", "\u00b2"])
def test_a_retraction_naming_no_seq_the_ledger_holds_is_one_sentence(run, target: str) -> None:
    run("init")
    done = run("record", "event_retracted", "--retracts", target, "--reason", "typo")
    assert done.exit_code == 3, done.stderr
    assert done.stderr.startswith("revledger: field 'retracts' = ") and done.stderr.count("\n") == 1


def test_a_log_cut_short_by_an_error_says_its_answer_is_incomplete(
    run, db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from ledger.store import LedgerStore

    run("init")
    lines = [
        json.dumps(
            {
                "type": "quota_set",
                "effective_at": "2026-01-01",
                "period": f"2026-{m:02d}",
                "amount": str(n),
            }
        )
        for n in range(1, 61)
        for m in range(1, 13)
    ]
    (tmp_path / "quotas.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("import", str(tmp_path / "quotas.jsonl")).exit_code == 0
    with LedgerStore.open(db_url) as store, store.engine.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("DROP TRIGGER events_reject_update_delete ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_reject_update"))
        conn.execute(text("UPDATE events SET payload = :p WHERE seq = 700"), {"p": '{"bogus":1}'})
    for fmt in ("csv", "json"):
        out = run("log", "--format", fmt)
        assert out.exit_code == 1
        assert out.stderr.rstrip("\n").endswith(
            "; the answer written to standard output before it is cut short."
        )
        rows = out.stdout.count('\n      "seq": ') if fmt == "json" else out.stdout.count("\n")
        assert 0 < rows < 700
    table = run("log")
    assert table.exit_code == 1 and table.stdout == ""
    assert "cut short" not in table.stderr
