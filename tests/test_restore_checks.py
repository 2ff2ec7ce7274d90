"""The hash chain is no signature: anyone can compute it again after an edit. A restore and
`verify` therefore also hold each envelope to what an append writes (instants in the ledger's
fixed-width text, stream versions counting up, a known schema version, the canonical payload,
each event id and idempotency key once, seqs in order) and refuse, naming the line or seq, an
export or log that is not, writing nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli.app import cli
from ledger.canonical import GENESIS_HASH, canonical_json, chain_hash, envelope_bytes
from ledger.envelope import NewEvent
from ledger.errors import InputError, IntegrityError
from ledger.events import LedgerConfigured
from ledger.jsonl import read_export
from ledger.operations import verify_ledger
from ledger.store import LedgerStore
from ledger.store import store as store_module
from ledger.timeutil import parse_instant
from tests.conftest import events_from
from tests.test_store import LIVE_D1, OPEN_D1, SIGN_D1, _drop_guards

Envelope = dict[str, Any]
Change = Callable[[list[Envelope]], None]

KEYED = (
    '{"type":"stage_changed","effective_at":"2026-02-01","deal_id":"D-1","stage":"negotiation",'
    '"idempotency_key":"crm:row-7"}'
)


def _exported(folder: Path) -> list[Envelope]:
    """Return the export, as envelopes, of a ledger whose deal D-1 is opened, moved (with an
    idempotency key), signed and live."""
    with LedgerStore.open(str(folder / "source.db"), create=True) as store:
        store.append(NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "t", "t"))
        store.append_batch(events_from([OPEN_D1, KEYED, SIGN_D1, LIVE_D1]))
        return [
            {k: v for k, v in row.items() if k not in ("deal_id", "account_id")}
            | {"payload": json.loads(row["payload"])}
            for row in store.raw_rows()
        ]


def _rehashed(envelopes: list[Envelope], change: Change) -> list[Envelope]:
    """Return a copy of `envelopes` changed by `change`, its chain computed again as someone
    who edited the export would."""
    edited = copy.deepcopy(envelopes)
    change(edited)
    prev = GENESIS_HASH
    for e in edited:
        fields = {k: v for k, v in e.items() if k not in ("prev_hash", "hash")}
        fields["payload"] = canonical_json(e["payload"])
        e["prev_hash"], e["hash"] = prev, chain_hash(prev, envelope_bytes(**fields))
        prev = e["hash"]
    return edited


def _export_file(folder: Path, envelopes: list[Envelope]) -> Path:
    path = folder / "export.jsonl"
    path.write_text("".join(canonical_json(e) + "\n" for e in envelopes), encoding="utf-8")
    return path


def _refused(db_url: str, envelopes: list[Envelope]) -> Exception:
    """Restore `envelopes` into a new ledger at `db_url`; return the error, having checked
    that nothing was written."""
    lines = [canonical_json(e) for e in envelopes]
    with LedgerStore.open(db_url, create=True) as store:
        with pytest.raises((InputError, IntegrityError)) as refused:
            store.restore(read_export(enumerate(lines, start=1)))
        assert store.head().seq == 0, "nothing was written"
    return refused.value


def _setting(index: int, field: str, value: Any) -> Change:
    def change(envelopes: list[Envelope]) -> None:
        envelopes[index][field] = value

    return change


def _paying(index: int, field: str, value: Any) -> Change:
    def change(envelopes: list[Envelope]) -> None:
        envelopes[index]["payload"][field] = value

    return change


REHASHED_EDITS: dict[str, tuple[Change, str]] = {
    "a stream version jumps": (
        _setting(3, "stream_version", 7),
        "line 4: seq 4: stream_version 7 of stream deal:D-1 does not follow its version 2",
    ),
    "a schema version from a newer release": (
        _setting(1, "schema_version", 7),
        "line 2: seq 2: schema_version 7 of deal_opened is newer than this release reads (1)",
    ),
    "money written with trailing zeros": (
        _paying(1, "amount", "100000.00"),
        "line 2: seq 2: payload is not in the canonical encoding every append writes",
    ),
    "an effective_at not in the ledger's instant text": (
        _setting(1, "effective_at", "2026-01-05T00:00:00Z"),
        "line 2: seq 2: effective_at is not an instant as the ledger writes one",
    ),
    "a recorded_at on a day that does not exist": (
        _setting(4, "recorded_at", "2026-02-30T10:00:00.000000Z"),
        "line 5: seq 5: recorded_at is not an instant as the ledger writes one",
    ),
}


@pytest.mark.parametrize("case", sorted(REHASHED_EDITS))
def test_an_edit_whose_hashes_were_computed_again_is_refused(
    db_url: str, tmp_path: Path, case: str
) -> None:
    change, message = REHASHED_EDITS[case]
    envelopes = _exported(tmp_path)
    error = _refused(db_url, _rehashed(envelopes, change))
    assert isinstance(error, IntegrityError)
    assert str(error).startswith(message), str(error)


def test_the_export_as_written_restores_and_so_does_one_rehashed_without_a_change(
    db_url: str, tmp_path: Path
) -> None:
    """The checks refuse edits, not exports: the untouched export and the same envelopes with
    their chain computed again (identical hashes) restore and verify."""
    envelopes = _exported(tmp_path)
    assert _rehashed(envelopes, lambda _: None) == envelopes
    with LedgerStore.open(db_url, create=True) as store:
        lines = [canonical_json(e) for e in envelopes]
        head = store.restore(read_export(enumerate(lines, start=1)))
        assert (head.seq, head.hash) == (5, envelopes[-1]["hash"])
        assert verify_ledger(store).ok


def _swap(envelopes: list[Envelope]) -> None:
    envelopes[2], envelopes[3] = envelopes[3], envelopes[2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_swap, "line 3: seq 3 is missing or out of place: the next event has seq 4"),
        (
            lambda envelopes: envelopes.insert(2, envelopes[1]),
            "line 3: seq 2 comes again or out of place where seq 3 should come",
        ),
    ],
    ids=["two lines swapped", "a line repeated"],
)
def test_lines_out_of_order_are_named_as_such(
    db_url: str, tmp_path: Path, change: Change, message: str
) -> None:
    envelopes = copy.deepcopy(_exported(tmp_path))
    change(envelopes)
    error = _refused(db_url, envelopes)
    assert isinstance(error, IntegrityError)
    assert str(error).startswith(message), str(error)


def _repeat(field: str, of: int, at: int) -> Change:
    def change(envelopes: list[Envelope]) -> None:
        envelopes[at][field] = envelopes[of][field]

    return change


@pytest.mark.parametrize("chunk", [10_000, 2], ids=["one chunk", "chunks of two"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _repeat("event_id", 1, 4),
            "line 5: field 'event_id': is that of seq 2 already; a log holds each once.",
        ),
        (
            _repeat("idempotency_key", 2, 3),
            "line 4: field 'idempotency_key': is that of seq 3 already; a log holds each once.",
        ),
    ],
    ids=["event_id", "idempotency_key"],
)
def test_an_event_id_or_key_given_twice_names_both_places(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    change: Change,
    message: str,
) -> None:
    """In the same chunk of the restore or in one written before it: the line, the field and
    the seq that holds it (the database's own refusal named neither)."""
    monkeypatch.setattr(store_module, "RESTORE_CHUNK", chunk)
    error = _refused(db_url, _rehashed(_exported(tmp_path), change))
    assert isinstance(error, InputError)
    assert str(error).startswith(message), str(error)


def test_the_first_bad_line_is_named_whatever_is_wrong_with_the_lines_after_it(
    db_url: str, tmp_path: Path
) -> None:
    """A repeated idempotency key on line 4, then an event_id repeated on line 5 and an edited
    actor on line 5 (its hash no longer matches): line 4 is named, as when it is the only
    fault."""
    envelopes = _exported(tmp_path)

    def faults(edited: list[Envelope]) -> None:
        _repeat("idempotency_key", 2, 3)(edited)
        _repeat("event_id", 1, 4)(edited)

    rehashed = _rehashed(envelopes, faults)
    rehashed[4]["actor"] = "someone else"
    error = _refused(db_url, rehashed)
    assert str(error).startswith("line 4: field 'idempotency_key': is that of seq 3"), str(error)


def test_the_command_line_refuses_a_rehashed_edit_with_exit_5_and_a_repeat_with_exit_3(
    tmp_path: Path,
) -> None:
    envelopes = _exported(tmp_path)
    runner = CliRunner()
    for change, code in ((_paying(1, "amount", "100000.00"), 5), (_repeat("event_id", 1, 4), 3)):
        export = _export_file(tmp_path, _rehashed(envelopes, change))
        target = tmp_path / f"restored-{code}.db"
        result = runner.invoke(cli, ["--db", str(target), "import", "--restore", str(export)])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        assert not target.exists(), "the file the restore created is removed again"


def test_verify_names_a_stored_payload_rewritten_with_its_hashes(store: LedgerStore) -> None:
    """Someone with the database's owner rights rewrites the contract's ARR as trailing-zero
    text and computes the chain again from there: each hash matches, the payload does not."""
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    rows = [dict(r) for r in store.raw_rows()]
    envelopes = [r | {"payload": json.loads(r["payload"])} for r in rows]
    edited = _rehashed(
        [{k: v for k, v in e.items() if k not in ("deal_id", "account_id")} for e in envelopes],
        _paying(2, "arr", "100000.00"),
    )
    _drop_guards(store)
    with store.engine.begin() as conn:
        for e in edited[2:]:
            conn.execute(
                text("UPDATE events SET payload = :p, prev_hash = :ph, hash = :h WHERE seq = :s"),
                {
                    "p": canonical_json(e["payload"]),
                    "ph": e["prev_hash"],
                    "h": e["hash"],
                    "s": e["seq"],
                },
            )
    report = verify_ledger(store)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert report.problem == "seq 3: payload is not in the canonical encoding every append writes"
