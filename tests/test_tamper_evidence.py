"""Tamper evidence (README, "Guarantees"): someone who can write the database past its
append-only triggers edits one column of one stored event, and `verify` names that seq, with
exit code 5; a doctored export line is refused by `import --restore` with one sentence naming
the line, and nothing is written. Each edit is tried on the first, a middle and the last event,
on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli.app import cli
from ledger.canonical import GENESIS_HASH, canonical_json
from ledger.envelope import NewEvent
from ledger.events import LedgerConfigured
from ledger.operations import export_lines
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant
from tests.conftest import events_from
from tests.test_restore_checks import KEYED, _rehashed
from tests.test_store import LIVE_D1, OPEN_D1, SIGN_D1, _drop_guards

FIRST, MIDDLE, LAST = 1, 3, 5
"""The seqs edited: the ledger's configuration, the keyed stage change, the go-live."""

EDITED_PAYLOADS = {
    FIRST: ('"currency":"USD"', '"currency":"EUR"'),
    MIDDLE: ('"stage":"negotiation"', '"stage":"demo"'),
    LAST: ('"account_id":"A-1"', '"account_id":"A-2"'),
}
"""For each edited seq, a part of its stored payload and what it is changed into (the result
is still a valid payload in the canonical encoding)."""


def _flip(digest: str) -> str:
    """Return `digest` with its last hex digit changed: the edit agrees in 63 of 64 digits."""
    return digest[:-1] + ("0" if digest[-1] != "0" else "1")


def _ledger(store: LedgerStore) -> list[dict[str, Any]]:
    """Record D-1 opened, moved (with an idempotency key), signed and live after the store's
    configuration; return the five stored rows."""
    store.append_batch(events_from([OPEN_D1, KEYED, SIGN_D1, LIVE_D1]))
    rows = [dict(r) for r in store.raw_rows()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[MIDDLE - 1]["idempotency_key"] == "crm:row-7"
    return rows


Edit = Callable[[dict[str, Any]], dict[str, Any]]
"""Given the stored row of the edited seq, the columns to set and their new values."""


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    old, new = EDITED_PAYLOADS[row["seq"]]
    assert old in row["payload"]
    return {"payload": row["payload"].replace(old, new)}


HASHED_COLUMN_EDITS: dict[str, Edit] = {
    "payload": _payload,
    "effective_at": lambda row: {"effective_at": "2019-12-31T23:00:00.000000Z"},
    "recorded_at": lambda row: {"recorded_at": "2099-01-01T00:00:00.000000Z"},
    "event_id": lambda row: {"event_id": "00000000-0000-4000-8000-000000000009"},
    "type": lambda row: {"type": {"ledger_configured": "quota_set"}.get(row["type"], "churn")},
    "schema_version": lambda row: {"schema_version": row["schema_version"] + 1},
    "stream_id": lambda row: {"stream_id": row["stream_id"] + "-2"},
    "stream_version": lambda row: {"stream_version": row["stream_version"] + 100},
    "actor": lambda row: {"actor": "mallory"},
    "source": lambda row: {"source": "import:other.jsonl:1"},
    "idempotency_key": lambda row: {"idempotency_key": None if row["idempotency_key"] else "k"},
    "hash (one hex digit)": lambda row: {"hash": _flip(row["hash"])},
}
"""Edits of what the hash covers (and of the hash itself): each leaves the edited event's
stored hash unlike the hash of its content."""


def _tamper(store: LedgerStore, seq: int, values: dict[str, Any]) -> None:
    """Drop the append-only triggers and set `values` on the stored event `seq` by raw SQL."""
    _drop_guards(store)
    sets = ", ".join(f"{column} = :{column}" for column in values)
    with store.engine.begin() as conn:
        done = conn.execute(
            text(f"UPDATE events SET {sets} WHERE seq = :at"), {**values, "at": seq}
        )
        assert done.rowcount == 1


def _verify_fails(db_url: str, seq: int, problem: str) -> None:
    """`revledger verify` exits 5 naming `problem`, and its JSON answer names `seq`."""
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", db_url, "verify"])
    assert result.exit_code == 5, result.output
    assert result.stdout == ""
    assert result.stderr == f"revledger: integrity failure: {problem}\n"
    answer = runner.invoke(cli, ["--db", db_url, "verify", "--format", "json"])
    assert answer.exit_code == 5
    (row,) = json.loads(answer.stdout)["rows"]
    assert (row["ok"], row["first_bad_seq"], row["problem"]) == (False, seq, problem)


def test_the_ledger_verifies_before_it_is_edited(store: LedgerStore, db_url: str) -> None:
    rows = _ledger(store)
    result = CliRunner().invoke(cli, ["--db", db_url, "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: 5 events, hash chain intact; head seq 5 hash {rows[-1]['hash']}\n"


README_ENVELOPE_KEYS = (
    "actor", "effective_at", "event_id", "idempotency_key", "payload", "recorded_at",
    "schema_version", "seq", "source", "stream_id", "stream_version", "type",
)  # fmt: skip
"""The keys of the envelope the hash covers, as the README lists them."""


def test_the_chain_is_computed_as_the_readme_specifies_it(store: LedgerStore) -> None:
    """A verifier of one's own, written from the README alone, agrees with every stored hash:
    sha256 of the previous hash's 64 hex characters (64 zeros for seq 1) followed by the
    sorted-key, whitespace-free UTF-8 JSON of the envelope, its payload embedded as an object."""
    rows = _ledger(store)
    previous = "0" * 64
    for row in rows:
        envelope = {k: row[k] for k in README_ENVELOPE_KEYS} | {
            "payload": json.loads(row["payload"])
        }
        body = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert row["prev_hash"] == previous
        assert row["hash"] == hashlib.sha256((previous + body).encode("utf-8")).hexdigest()
        previous = row["hash"]
    assert rows[0]["prev_hash"] == GENESIS_HASH


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
@pytest.mark.parametrize("column", sorted(HASHED_COLUMN_EDITS))
def test_verify_names_the_seq_whose_hashed_content_or_hash_was_edited(
    store: LedgerStore, db_url: str, column: str, seq: int
) -> None:
    row = _ledger(store)[seq - 1]
    _tamper(store, seq, HASHED_COLUMN_EDITS[column](row))
    _verify_fails(db_url, seq, f"seq {seq}: stored hash does not match its content")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_verify_names_the_seq_whose_previous_hash_was_edited(
    store: LedgerStore, db_url: str, seq: int
) -> None:
    row = _ledger(store)[seq - 1]
    _tamper(store, seq, {"prev_hash": _flip(row["prev_hash"])})
    if seq == 1:
        problem = "seq 1: prev_hash is not the start of the chain (64 zeros)"
    else:
        problem = f"seq {seq}: prev_hash does not link to the hash of seq {seq - 1}"
    _verify_fails(db_url, seq, problem)


@pytest.mark.parametrize(
    ("seq", "problem"),
    [
        (FIRST, "seq 1 is missing or out of place: the next event has seq 2"),
        (MIDDLE, "seq 3 is missing or out of place: the next event has seq 4"),
        (LAST, "seq 5 is missing or out of place: the next event has seq 15"),
    ],
    ids=["first", "middle", "last"],
)
def test_verify_names_the_seq_that_was_renumbered(
    store: LedgerStore, db_url: str, seq: int, problem: str
) -> None:
    _ledger(store)
    _tamper(store, seq, {"seq": seq + 10})
    _verify_fails(db_url, seq, problem)


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_verify_names_the_seq_whose_index_column_was_edited(
    store: LedgerStore, db_url: str, seq: int
) -> None:
    """The deal_id column is outside the hash; verify derives it from the payload."""
    _ledger(store)
    _tamper(store, seq, {"deal_id": "D-9"})
    _verify_fails(
        db_url, seq, f"seq {seq}: index columns deal_id/account_id do not match the payload"
    )


# -- import --restore of a doctored export ------------------------------------------------------
def _export_lines(store: LedgerStore) -> list[str]:
    """Return the export of the five-event ledger, one JSON line per envelope."""
    _ledger(store)
    return [line.rstrip("\n") for line in export_lines(store)]


def _doctor(line: str, **changes: Any) -> str:
    envelope = json.loads(line)
    envelope.update(changes)
    return json.dumps(envelope, ensure_ascii=False)


LineEdit = Callable[[dict[str, Any]], dict[str, Any]]

DOCTORED_FIELDS: dict[str, tuple[LineEdit, str]] = {
    "recorded_at": (
        lambda e: {"recorded_at": "2099-01-01T00:00:00.000000Z"},
        "seq {seq}: stored hash does not match its content",
    ),
    "effective_at": (
        lambda e: {"effective_at": "2019-12-31T23:00:00.000000Z"},
        "seq {seq}: stored hash does not match its content",
    ),
    "schema_version": (
        lambda e: {"schema_version": e["schema_version"] + 1},
        "seq {seq}: stored hash does not match its content",
    ),
    "stream_version": (
        lambda e: {"stream_version": e["stream_version"] + 1},
        "seq {seq}: stored hash does not match its content",
    ),
    "payload": (
        lambda e: {"payload": _edited_payload(e)},
        "seq {seq}: stored hash does not match its content",
    ),
    "hash (one hex digit)": (
        lambda e: {"hash": _flip(e["hash"])},
        "seq {seq}: stored hash does not match its content",
    ),
    "seq": (
        lambda e: {"seq": e["seq"] + 10},
        "seq {seq} is missing or out of place: the next event has seq {seq_plus_10}",
    ),
}
"""An export line with one field changed (its hashes left as exported), and the sentence that
names it (after `line N: `)."""


def _edited_payload(envelope: dict[str, Any]) -> dict[str, Any]:
    old, new = EDITED_PAYLOADS[envelope["seq"]]
    edited = json.loads(canonical_json(envelope["payload"]).replace(old, new))
    assert edited != envelope["payload"]
    return dict(edited)


def _restore_refused(db: str, tmp_path: Path, lines: list[str], code: int) -> str:
    """Run `import --restore` of `lines` into the new ledger `db`; return its one-line message,
    having checked the exit code and that nothing was written."""
    export = tmp_path / "doctored.jsonl"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "import", "--restore", str(export)])
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    if "://" not in db:
        assert not Path(db).exists(), "a refused restore leaves no file"
    else:
        with LedgerStore.open(db) as restored:
            assert restored.head().seq == 0, "nothing was written"
    return result.stderr


def _said(line: int, problem: str) -> str:
    """Return the message naming `line` and `problem`, as one sentence on stderr."""
    end = "" if problem.endswith(")") else "."
    return f"revledger: line {line}: {problem}{end}\n"


@pytest.fixture
def target(db_url: str, tmp_path: Path) -> str:
    """A new ledger to restore into: a SQLite file not made yet, or an empty PostgreSQL schema
    (the source ledger of the export lives in a file of its own)."""
    if "://" in db_url:
        return db_url
    return str(tmp_path / "restored.db")


@pytest.fixture
def source(tmp_path: Path) -> Iterator[LedgerStore]:
    """The ledger exported, in a SQLite file of its own: configured, as the `store` fixture."""
    with LedgerStore.open(str(tmp_path / "source.db"), create=True) as s:
        s.append(NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "test", "test"))
        yield s


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
@pytest.mark.parametrize("field", sorted(DOCTORED_FIELDS))
def test_a_restore_refuses_an_export_line_with_one_field_changed(
    source: LedgerStore, target: str, tmp_path: Path, field: str, seq: int
) -> None:
    lines = _export_lines(source)
    edit, sentence = DOCTORED_FIELDS[field]
    envelope = json.loads(lines[seq - 1])
    lines[seq - 1] = _doctor(lines[seq - 1], **edit(envelope))
    problem = sentence.format(seq=seq, seq_plus_10=seq + 10)
    message = _restore_refused(target, tmp_path, lines, 5)
    assert message == _said(seq, problem)


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_a_restore_refuses_an_export_line_whose_previous_hash_was_changed(
    source: LedgerStore, target: str, tmp_path: Path, seq: int
) -> None:
    lines = _export_lines(source)
    lines[seq - 1] = _doctor(
        lines[seq - 1], prev_hash=_flip(json.loads(lines[seq - 1])["prev_hash"])
    )
    if seq == 1:
        problem = "seq 1: prev_hash is not the start of the chain (64 zeros)"
    else:
        problem = f"seq {seq}: prev_hash does not link to the hash of seq {seq - 1}"
    assert _restore_refused(target, tmp_path, lines, 5) == _said(seq, problem)


MALFORMED_LINES: dict[str, tuple[LineEdit, str]] = {
    "seq given as true": (lambda e: e | {"seq": True}, "field 'seq' = true: must be an integer"),
    "schema_version given as text": (
        lambda e: e | {"schema_version": "1"},
        "field 'schema_version' = '1': must be an integer",
    ),
    "payload given as its JSON text": (
        lambda e: e | {"payload": canonical_json(e["payload"])},
        "field 'payload': must be a JSON object",
    ),
    "a field no envelope has": (
        lambda e: e | {"deal_id": "D-1"},
        "field 'deal_id': is not an envelope field",
    ),
    "recorded_at left out": (
        lambda e: {k: v for k, v in e.items() if k != "recorded_at"},
        "field 'recorded_at': is required in an exported envelope",
    ),
}
"""Export lines that are no envelope as `export` writes one (exit 3), with their hashes as
exported: the payload as text would hash as the exported object does, and `true` as 1."""

REHASHED_MALFORMED_LINES: dict[str, tuple[LineEdit, str]] = {
    "actor given as a number": (
        lambda e: e | {"actor": 5},
        "field 'actor' = 5: must be text",
    ),
    "idempotency_key given as a number": (
        lambda e: e | {"idempotency_key": 7},
        "field 'idempotency_key' = 7: must be text",
    ),
    "event_id given as a number": (
        lambda e: e | {"event_id": 12345},
        "field 'event_id' = 12345: must be text",
    ),
    "source given as null": (
        lambda e: e | {"source": None},
        "field 'source' = null: must be text",
    ),
    "type given as a list": (
        lambda e: e | {"type": [e["type"]]},
        "field 'type' = [{type}]: must be text",
    ),
}
"""The same, with the chain computed again by a forger: the hashes agree, but a number is
stored as its text, which hashes otherwise, and no text column takes null or a list."""


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
@pytest.mark.parametrize("case", sorted(MALFORMED_LINES) + sorted(REHASHED_MALFORMED_LINES))
def test_a_restore_refuses_a_line_that_is_no_exported_envelope(
    source: LedgerStore, target: str, tmp_path: Path, case: str, seq: int
) -> None:
    lines = _export_lines(source)
    if case in MALFORMED_LINES:
        edit, problem = MALFORMED_LINES[case]
        lines[seq - 1] = json.dumps(edit(json.loads(lines[seq - 1])), ensure_ascii=False)
    else:
        edit, problem = REHASHED_MALFORMED_LINES[case]
        envelopes = [json.loads(line) for line in lines]
        problem = problem.format(type=json.dumps(envelopes[seq - 1]["type"]))

        def change(edited: list[dict[str, Any]]) -> None:
            edited[seq - 1] = edit(edited[seq - 1])

        lines = [canonical_json(e) for e in _rehashed(envelopes, change)]
    assert _restore_refused(target, tmp_path, lines, 3) == _said(seq, problem)


REHASHED: dict[str, tuple[LineEdit, str]] = {
    "a schema version one newer than this release's": (
        lambda e: {"schema_version": e["schema_version"] + 1},
        "seq {seq}: schema_version 2 of {type} is newer than this release reads (1)",
    ),
    "effective_at with milliseconds": (
        lambda e: {"effective_at": e["effective_at"][:23] + "Z"},
        "seq {seq}: effective_at is not an instant as the ledger writes one "
        "(YYYY-MM-DDTHH:MM:SS.ffffffZ)",
    ),
    "a type this release does not know": (
        lambda e: {"type": "deal_renamed"},
        "seq {seq}: unknown event type 'deal_renamed'",
    ),
    "recorded_at with a UTC offset": (
        lambda e: {"recorded_at": e["recorded_at"][:26] + "+00:00"},
        "seq {seq}: recorded_at is not an instant as the ledger writes one "
        "(YYYY-MM-DDTHH:MM:SS.ffffffZ)",
    ),
}
"""Edits whose chain was computed again from the edited line on, as a forger would: the hashes
agree, and the line is still named, for what no append writes."""


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
@pytest.mark.parametrize("case", sorted(REHASHED))
def test_a_restore_refuses_a_rehashed_line_no_append_writes(
    source: LedgerStore, target: str, tmp_path: Path, case: str, seq: int
) -> None:
    envelopes = [json.loads(line) for line in _export_lines(source)]
    edit, sentence = REHASHED[case]

    def change(edited: list[dict[str, Any]]) -> None:
        edited[seq - 1].update(edit(edited[seq - 1]))

    lines = [canonical_json(e) for e in _rehashed(envelopes, change)]
    problem = sentence.format(seq=seq, type=envelopes[seq - 1]["type"])
    assert _restore_refused(target, tmp_path, lines, 5) == _said(seq, problem)


def test_the_untouched_export_restores_to_the_same_hashes(
    source: LedgerStore, target: str, tmp_path: Path
) -> None:
    """What the refusals above are measured against: the export as written restores."""
    lines = _export_lines(source)
    export = tmp_path / "export.jsonl"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", target, "import", "--restore", str(export)])
    assert result.exit_code == 0, result.output
    with LedgerStore.open(target) as restored:
        assert [line.rstrip("\n") for line in export_lines(restored)] == lines
