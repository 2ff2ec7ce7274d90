"""The store's guarantees (README, "Guarantees"), each on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Generator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from ledger import import_worker, operations
from ledger.canonical import GENESIS_HASH, chain_hash, envelope_bytes, payload_json
from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import ConflictError, InputError, StorageError
from ledger.events import DealOpened, Expansion, LedgerConfigured, StageChanged, StageSpec
from ledger.operations import ImportSummary, import_file, verify_ledger
from ledger.rules import RuleBook
from ledger.store import LedgerStore
from ledger.store import store as store_module
from ledger.store.codec import envelope_fields
from ledger.store.facts import SqlFacts
from ledger.store.verify import verify_rows
from ledger.timeutil import format_instant, parse_instant
from tests.conftest import events_from

OPEN_D1 = (
    '{"type":"deal_opened","effective_at":"2026-01-05","deal_id":"D-1","account_id":"A-1",'
    '"stage":"demo","amount":"100000","expected_close":"2026-06-30"}'
)
SIGN_D1 = '{"type":"contract_signed","effective_at":"2026-03-01","deal_id":"D-1","arr":"100000"}'
LIVE_D1 = '{"type":"go_live","effective_at":"2026-04-01","account_id":"A-1","deal_id":"D-1"}'


def _stage(
    deal: str,
    stage: str,
    when: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> NewEvent:
    return NewEvent(
        StageChanged(deal_id=deal, stage=stage),
        parse_instant(when),
        "t",
        "t",
        idempotency_key=idempotency_key,
        expected_version=expected_version,
    )


def test_seq_is_gapless_and_the_chain_links_every_event(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    rows = list(store.raw_rows())
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    prev = GENESIS_HASH
    for r in rows:
        assert r["prev_hash"] == prev
        assert r["hash"] == chain_hash(prev, envelope_bytes(**envelope_fields(r)))
        prev = r["hash"]
    assert store.head().hash == prev
    assert verify_ledger(store).ok


def test_stream_versions_count_per_stream(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    versions = {(e.stream_id, e.stream_version) for e in store.read()}
    assert versions == {("ledger", 1), ("deal:D-1", 1), ("deal:D-1", 2), ("account:A-1", 1)}


def test_a_batch_shares_one_recorded_at_and_recorded_at_never_decreases(
    store: LedgerStore,
) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1]))
    store.append_batch(events_from([LIVE_D1]))
    recorded = [e.recorded_at for e in store.read()]
    assert recorded == sorted(recorded)
    assert recorded[1] == recorded[2]
    assert recorded[3] >= recorded[2]


def test_expected_version_mismatch_is_a_conflict_and_writes_nothing(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1]))
    head = store.head()
    with pytest.raises(ConflictError, match="deal:D-1 is at version 1, not the expected 0"):
        store.append(_stage("D-1", "negotiation", "2026-02-01", expected_version=0))
    assert store.head() == head
    done = store.append(_stage("D-1", "negotiation", "2026-02-01", expected_version=1))
    assert done.stream_version == 2


def test_same_idempotency_key_and_content_returns_the_original(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1]))
    a = store.append(_stage("D-1", "negotiation", "2026-02-01", idempotency_key="k1"))
    b = store.append(_stage("D-1", "negotiation", "2026-02-01", idempotency_key="k1"))
    assert not a.duplicate and b.duplicate
    assert (b.seq, b.event_id) == (a.seq, a.event_id)
    assert store.head().seq == a.seq


def test_same_idempotency_key_with_other_content_is_a_conflict(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1]))
    store.append(_stage("D-1", "negotiation", "2026-02-01", idempotency_key="k1"))
    head = store.head()
    with pytest.raises(ConflictError, match="idempotency key 'k1' was already used"):
        store.append(_stage("D-1", "legal_review", "2026-02-01", idempotency_key="k1"))
    assert store.head() == head


def test_an_event_id_already_in_the_log_names_that_event_only_with_the_same_content(
    store: LedgerStore,
) -> None:
    """An event given with its own event_id is appended once: given again with the same
    content it is a duplicate of the original; with other content it is a conflict, and
    nothing is written."""
    event_id = "0190a3c2-0000-7000-8000-00000000d001"
    given = {
        "type": "stage_changed",
        "effective_at": "2026-02-01",
        "deal_id": "D-1",
        "stage": "negotiation",
        "event_id": event_id,
    }
    store.append_batch(events_from([OPEN_D1, json.dumps(given)]))
    head = store.head()
    again = store.append_batch(events_from([json.dumps(given)]))
    assert (again.appended, again.duplicates) == (0, 1)
    other = json.dumps(given | {"stage": "legal_review"})
    with pytest.raises(ConflictError, match=f"event_id {event_id} already belongs to event seq"):
        store.append_batch(events_from([other]))
    assert store.head() == head


def test_a_batch_is_atomic(store: LedgerStore) -> None:
    head = store.head()
    bad = '{"type":"go_live","effective_at":"2026-04-01","account_id":"A-1","deal_id":"D-9"}'
    with pytest.raises(InputError, match="line 3: deal D-9 has no contract signed"):
        store.append_batch(events_from([OPEN_D1, SIGN_D1, bad]))
    assert store.head() == head
    assert list(store.read(after_seq=1)) == []


def test_dry_run_checks_everything_and_writes_nothing(store: LedgerStore) -> None:
    head = store.head()
    result = store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]), dry_run=True)
    assert result.appended == 3 and result.dry_run
    assert store.head() == head


def test_the_database_rejects_update_and_delete(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1]))
    for sql in (
        "UPDATE events SET payload = '{}' WHERE seq = 2",
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql))
    if store.backend == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("TRUNCATE events"))
    assert store.head().seq == 2
    assert verify_ledger(store).ok


def test_a_row_replaced_on_sqlite_past_the_triggers_is_found_by_verify(tmp_path: Path) -> None:
    """SQLite's INSERT OR REPLACE removes conflicting rows without firing delete triggers; the
    chain still gives it away: the replaced row no longer matches its hash. (PostgreSQL's
    triggers see every change.)"""
    with LedgerStore.open(str(tmp_path / "ledger.db"), create=True) as store:
        store.append(NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "test", "test"))
        store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
        with store.engine.begin() as conn:
            row = dict(conn.execute(text("SELECT * FROM events WHERE seq = 3")).mappings().one())
            edited = row["payload"].replace('"arr":"100000"', '"arr":"900000"')
            assert edited != row["payload"]
            row["payload"] = edited
            names = ", ".join(row)
            marks = ", ".join(f":{k}" for k in row)
            conn.execute(text(f"INSERT OR REPLACE INTO events ({names}) VALUES ({marks})"), row)
        report = verify_ledger(store)
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_a_damaged_index_page_of_a_sqlite_file_fails_verify_though_the_chain_reads(
    tmp_path: Path,
) -> None:
    """The chain is read through the events table; a question about a deal reads through the
    deal_id index. A page of that index damaged on disk leaves the chain intact, and verify
    still says the file is damaged, naming SQLite's finding and how to mend it."""
    path = tmp_path / "ledger.db"
    with LedgerStore.open(str(path), create=True) as store:
        store.append(NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "test", "test"))
        store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
        assert verify_ledger(store).ok
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (page,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_events_deal_id'")
    (size,) = raw.execute("PRAGMA page_size").fetchone()
    raw.close()
    with path.open("r+b") as file:
        file.seek((page[0] - 1) * size)
        file.write(b"\xff" * size)
    with LedgerStore.open(str(path)) as store:
        report = verify_ledger(store)
    assert (report.ok, report.first_bad_seq, report.events) == (False, None, 4)
    assert report.problem is not None
    assert report.problem.startswith(
        "the hash chain is intact, but SQLite finds the database file damaged ("
    )
    assert "*** in database" not in report.problem and "\n" not in report.problem
    assert "`revledger import --restore FILE`" in report.problem


def _drop_guards(store: LedgerStore) -> None:
    with store.engine.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("DROP TRIGGER events_reject_update_delete ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_reject_update"))
            conn.execute(text("DROP TRIGGER events_reject_delete"))


def test_verify_names_the_seq_whose_payload_was_edited(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    _drop_guards(store)
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET payload = :p WHERE seq = 3"),
            {
                "p": '{"arr":"900000","baa_signed":false,"deal_id":"D-1","standard_terms":false,'
                '"term_months":12}'
            },
        )
    report = verify_ledger(store)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "stored hash does not match its content" in (report.problem or "")


def test_a_kept_head_hash_finds_events_removed_from_the_end(store: LedgerStore) -> None:
    # Removing the last events leaves a chain that verifies on its own; only a hash kept
    # from an earlier verify can tell.
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    kept = verify_ledger(store)
    anchor = f"{kept.head_seq}:{kept.head_hash.upper()}"
    assert verify_ledger(store, [anchor, anchor]).ok
    _drop_guards(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = :s"), {"s": kept.head_seq})
    assert verify_ledger(store).ok
    report = verify_ledger(store, [anchor])
    assert (report.ok, report.first_bad_seq) == (False, kept.head_seq)
    missing = f"seq {kept.head_seq} is missing: an earlier verify kept its hash"
    assert (report.problem or "").startswith(missing)


def test_a_kept_hash_that_differs_names_its_seq(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    other = verify_ledger(store).head_hash
    report = verify_ledger(store, [f"2:{other}"])
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "not the one kept for it" in (report.problem or "")


@pytest.mark.parametrize("anchor", ["3", "0:" + "a" * 64, "3:" + "g" * 64, "3:abc"])
def test_a_malformed_anchor_is_refused_before_the_walk(store: LedgerStore, anchor: str) -> None:
    store.append_batch(events_from([OPEN_D1]))
    with pytest.raises(InputError, match="must be SEQ:HASH"):
        verify_ledger(store, [anchor])


def test_one_seq_with_two_kept_hashes_is_refused(store: LedgerStore) -> None:
    with pytest.raises(InputError, match="gives seq 1 two different hashes"):
        verify_ledger(store, ["1:" + "a" * 64, "1:" + "b" * 64])


def test_events_stored_under_looser_input_checks_still_read_verify_and_restore(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PHI guard and the range of period years may tighten in a later release; what an
    earlier one stored must still read back, verify and restore (the log cannot change)."""
    store.append_batch(events_from([OPEN_D1]))
    with monkeypatch.context() as earlier:  # a release whose checks let these through
        earlier.setattr("ledger.events.fields.phi_finding", lambda text: None)
        earlier.setattr("ledger.events.ledger_stream.period_label_problem", lambda text: None)
        store.append_batch(
            events_from(
                [
                    '{"type":"deal_lost","effective_at":"2026-02-01","deal_id":"D-1",'
                    '"reason":"MR# 552341 escalated"}',
                    '{"type":"quota_set","effective_at":"2026-02-01","period":"0500-Q1",'
                    '"amount":"5"}',
                ]
            )
        )
    again = (
        '{"type":"deal_lost","effective_at":"2026-03-02","deal_id":"D-2",'
        '"reason":"MR# 552341 again"}'
    )
    with pytest.raises(InputError, match="looks like a medical record number"):
        store.append_batch(events_from([again]))  # new input meets today's checks
    assert [e.type for e in store.read()][-2:] == ["deal_lost", "quota_set"]
    assert verify_ledger(store).ok
    export = tmp_path / "export.jsonl"
    operations.export_file(store, export)
    with LedgerStore.open(str(tmp_path / "restored.db"), create=True) as restored:
        operations.restore_file(restored, export)
        assert verify_ledger(restored).ok


def test_verify_names_the_field_of_a_payload_that_does_not_decode_but_not_its_value() -> None:
    row = {
        "seq": 1,
        "event_id": "00000000-0000-4000-8000-000000000001",
        "type": "deal_lost",
        "schema_version": 1,
        "stream_id": "deal:D-1",
        "stream_version": 1,
        "effective_at": "2026-01-01T00:00:00.000000Z",
        "recorded_at": "2026-01-01T00:00:00.000000Z",
        "actor": "t",
        "source": "t",
        "idempotency_key": None,
        "payload": '{"deal_id":"D-1","reason":["jane doe 1962"]}',
    }
    row["prev_hash"] = GENESIS_HASH
    row["hash"] = chain_hash(GENESIS_HASH, envelope_bytes(**envelope_fields(row)))
    report = verify_rows([row])
    assert report.first_bad_seq == 1
    assert "seq 1: payload does not decode (reason: " in (report.problem or "")
    assert "jane doe" not in (report.problem or "")


def test_verify_names_a_deleted_seq(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    _drop_guards(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 2"))
    report = verify_ledger(store)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_verify_detects_a_rehashed_edit_by_the_broken_link(store: LedgerStore) -> None:
    """Recomputing the edited event's own hash is not enough: the next link breaks."""
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    _drop_guards(store)
    row = next(r for r in store.raw_rows() if r["seq"] == 2)
    row["actor"] = "mallory"
    forged = chain_hash(row["prev_hash"], envelope_bytes(**envelope_fields(row)))
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET actor = 'mallory', hash = :h WHERE seq = 2"), {"h": forged}
        )
    report = verify_ledger(store)
    assert report.first_bad_seq == 3
    assert "prev_hash does not link" in (report.problem or "")


def test_index_columns_follow_the_deal_to_its_account(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    by_account = [e.type for e in store.read(account_id="A-1")]
    assert by_account == ["deal_opened", "contract_signed", "go_live"]
    assert [e.type for e in store.read(deal_id="D-1")] == [
        "deal_opened",
        "contract_signed",
        "go_live",
    ]


def _retraction(event_id: str) -> str:
    return json.dumps(
        {
            "type": "event_retracted",
            "effective_at": "2026-01-06",
            "retracts": event_id,
            "reason": "recorded on the wrong account",
        }
    )


def test_a_deal_recorded_again_on_another_account_keeps_verifying_and_restoring(
    store: LedgerStore, tmp_path: Path
) -> None:
    """A deal's opening (or the contract of a never-opened deal) retracted and recorded again
    for another account: its later events index under the new account, `verify` agrees, and
    a restore derives the same index columns."""
    opened = store.append(events_from([OPEN_D1])[0])
    store.append_batch(events_from([_retraction(opened.event_id)]))
    store.append_batch(events_from([OPEN_D1.replace('"A-1"', '"A-2"'), SIGN_D1]))
    never_opened = (
        '{"type":"contract_signed","effective_at":"2026-02-01","deal_id":"D-7",'
        '"account_id":"A-7","arr":"5000"}'
    )
    signed = store.append(events_from([never_opened])[0])
    store.append_batch(events_from([_retraction(signed.event_id)]))
    store.append_batch(events_from([never_opened.replace('"A-7"', '"A-8"')]))

    assert [e.type for e in store.read(account_id="A-2")] == ["deal_opened", "contract_signed"]
    assert [e.type for e in store.read(account_id="A-8")] == ["contract_signed"]
    assert verify_ledger(store).ok

    export = tmp_path / "export.jsonl"
    operations.export_file(store, export)
    with LedgerStore.open(str(tmp_path / "restored.db"), create=True) as restored:
        operations.restore_file(restored, export)
        assert list(restored.index_rows()) == list(store.index_rows())
        assert verify_ledger(restored).ok


def test_read_filters_by_type_valid_time_and_known_at(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1, SIGN_D1]))
    cut = store.head().recorded_at
    assert cut is not None
    store.append_batch(events_from([LIVE_D1]))
    known = parse_instant(cut)
    assert [e.type for e in store.read(known_at=known)] == [
        "ledger_configured",
        "deal_opened",
        "contract_signed",
    ]
    assert [e.type for e in store.read(types=["go_live"])] == ["go_live"]
    march = parse_instant("2026-03-01")
    assert [e.type for e in store.read(effective_from=march)] == ["contract_signed", "go_live"]
    assert [e.type for e in store.read(effective_before=march)][-1] == "deal_opened"
    assert list(store.read(known_at=known - timedelta(days=10_000))) == []


def test_a_long_read_in_small_batches_gives_every_event_once_in_order(store: LedgerStore) -> None:
    """Reads come in batches (on PostgreSQL the next one is fetched while this one is used)."""
    lines = [OPEN_D1.replace('"D-1"', f'"D-{i}"') for i in range(2, 60)]
    store.append_batch(events_from(lines))
    seqs = [e.seq for e in store.read(batch=7)]
    assert seqs == list(range(1, store.head().seq + 1))
    stored = [r[0] for r in store.read_stored(types=["deal_opened"], batch=5)]
    assert stored == seqs[1:]
    through_index = list(store.read(types=["deal_opened"], upto_seq=40))
    walking_seqs = list(store.read(types=["deal_opened"], upto_seq=40, most_types=True))
    assert walking_seqs == through_index and [e.seq for e in through_index] == seqs[1:40]


def test_a_read_stopped_early_gives_its_connection_back(store: LedgerStore) -> None:
    lines = [OPEN_D1.replace('"D-1"', f'"D-{i}"') for i in range(2, 40)]
    store.append_batch(events_from(lines))
    pool = store.engine.pool
    assert isinstance(pool, QueuePool)
    held = pool.checkedout()  # the connection the store keeps for its appends
    reading = cast(Generator[RecordedEvent, None, None], store.read(batch=4))
    first = [next(reading).seq for _ in range(6)]
    assert pool.checkedout() == held + 1
    reading.close()
    assert first == [1, 2, 3, 4, 5, 6]
    assert pool.checkedout() == held
    assert store.append(_stage("D-2", "negotiation", "2026-03-01")).seq == store.head().seq


def test_appends_from_threads_sharing_a_store_all_land_in_one_chain(store: LedgerStore) -> None:
    """A store keeps one connection for its appends; threads sharing the store take turns."""
    before = store.head().seq

    def work(worker: int) -> None:
        deals = [f"T{worker}-{i}" for i in range(30)]
        for deal in deals:
            store.append_batch(events_from([OPEN_D1.replace('"D-1"', f'"{deal}"')]))
        for deal in deals:
            store.append(_stage(deal, "negotiation", "2026-03-01"))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(store.raw_rows())
    assert [r["seq"] for r in rows] == list(range(1, before + 4 * 60 + 1))
    assert verify_ledger(store).ok


def test_an_append_after_its_connection_broke_takes_another(store: LedgerStore) -> None:
    """The connection kept for appends is given up when it fails: one append reports the
    failure, the next runs on a new connection."""
    store.append_batch(events_from([OPEN_D1]))
    kept = store._writer.driver_connection
    if store.backend == "postgresql":
        with store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": kept.info.backend_pid})
    else:
        kept.close()
    with pytest.raises(StorageError, match="database error"):
        store.append(_stage("D-1", "negotiation", "2026-03-01"))
    assert store.append(_stage("D-1", "negotiation", "2026-03-01")).seq == 3
    renewed = store._writer.driver_connection
    assert renewed is not kept
    with pytest.raises(InputError, match="already in stage negotiation"):
        store.append(_stage("D-1", "negotiation", "2026-03-02"))
    assert store._writer.driver_connection is renewed, "a broken rule costs no connection"
    assert store.append(_stage("D-1", "demo", "2026-03-03")).seq == 4
    assert verify_ledger(store).ok


def test_a_ledger_opens_and_reads_while_another_writer_holds_the_lock(
    store: LedgerStore, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a ledger and reading it never wait for a write in progress (a long import, say):
    only appends take the write lock, and on SQLite one that cannot get it in time says so."""
    store.append_batch(events_from([OPEN_D1]))
    monkeypatch.setattr("ledger.store.engine.SQLITE_BUSY_TIMEOUT_MS", 300)
    heads: list[int] = []

    def open_and_read() -> None:
        with LedgerStore.open(db_url) as other:
            heads.append(other.head().seq)

    with store._write():  # the write lock an append or an import holds
        reader = threading.Thread(target=open_and_read, daemon=True)
        reader.start()
        reader.join(timeout=30)
        assert heads == [2], "opening and reading waited for the writer"
        if store.backend == "sqlite":
            with (
                LedgerStore.open(db_url) as other,
                pytest.raises(StorageError, match="another process holds the ledger's write lock"),
            ):
                other.append(_stage("D-1", "negotiation", "2026-03-01"))
    assert store.append(_stage("D-1", "negotiation", "2026-03-01")).seq == 3


def test_a_failing_fetch_reaches_the_reader() -> None:
    from ledger.store.reads import read_ahead

    def parts() -> Any:
        yield [1, 2]
        raise RuntimeError("connection lost")

    reading = read_ahead(parts())
    assert next(reading) == [1, 2]
    with pytest.raises(RuntimeError, match="connection lost"):
        next(reading)


def test_typed_read_back_equals_what_was_appended(store: LedgerStore) -> None:
    opened = DealOpened(
        deal_id="D-7",
        account_id="A-7",
        stage="discovery",
        amount="250000.50",
        expected_close="2027-01-31",
        segment="health_system",
        channel="partner:epic",
        personas=("cmio", "it_security"),
    )
    store.append(NewEvent(opened, parse_instant("2026-05-01T09:30:00-04:00"), "ann", "cli"))
    [back] = list(store.read(deal_id="D-7"))
    assert back.payload == opened
    assert back.effective_at == parse_instant("2026-05-01T13:30:00Z")
    assert back.actor == "ann"


def test_configuration_is_the_latest_not_retracted(store: LedgerStore) -> None:
    tz = LedgerConfigured(timezone="America/New_York")
    done = store.append(NewEvent(tz, parse_instant("2026-01-01"), "t", "t"))
    assert store.config() == tz
    retract = (
        f'{{"type":"event_retracted","effective_at":"2026-01-02","retracts":"{done.event_id}",'
        '"reason":"wrong zone"}'
    )
    store.append_batch(events_from([retract]))
    config = store.config()
    assert config is not None and config.timezone == "UTC"


def test_a_backdated_pipeline_is_held_to_a_stage_only_a_retracted_one_listed(
    store: LedgerStore, db_url: str
) -> None:
    """Before the place of the configuration in force a deal may stand in any stage a stored
    configuration listed, a retracted one too: the store finds the deal by it, in a new
    session that has read nothing yet."""
    default = LedgerConfigured().stages
    pilot = StageSpec(name="pilot", probability=Decimal("0.5"))
    with_pilot = store.append(
        NewEvent(LedgerConfigured(stages=(*default, pilot)), parse_instant("2026-01-01"), "t", "t")
    )
    opened = OPEN_D1.replace('"demo"', '"pilot"').replace("2026-01-05", "2026-02-01")
    lose = LOSE_D1.replace("2026-02-01", "2026-04-01")
    store.append_batch(events_from([opened, lose]))
    store.append(NewEvent(LedgerConfigured(), parse_instant("2026-05-01"), "t", "t"))
    retract = (
        f'{{"type":"event_retracted","effective_at":"2026-05-02",'
        f'"retracts":"{with_pilot.event_id}","reason":"pilot was never a stage"}}'
    )
    store.append_batch(events_from([retract]))
    berlin = LedgerConfigured(timezone="Europe/Berlin")
    with LedgerStore.open(db_url) as again:
        with pytest.raises(InputError, match="drops the stage pilot, where the open deal D-1"):
            again.append(NewEvent(berlin, parse_instant("2026-03-01"), "t", "t"))
        again.append(NewEvent(berlin, parse_instant("2026-04-02"), "t", "t"))


def test_opening_an_existing_ledger_keeps_its_events(db_url: str) -> None:
    with LedgerStore.open(db_url, create=True) as s:
        s.append(NewEvent(LedgerConfigured(), parse_instant("2026-01-01"), "t", "t"))
        head = s.head()
    with LedgerStore.open(db_url) as again:
        assert again.head() == head


def test_payload_text_is_canonical(store: LedgerStore) -> None:
    e = Expansion(account_id="A-1", arr="1200.50")
    assert payload_json(e) == '{"account_id":"A-1","arr":"1200.5"}'
    store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    store.append(NewEvent(e, parse_instant("2026-05-01"), "t", "t"))
    stored = list(store.raw_rows())[-1]["payload"]
    assert stored == payload_json(e)
    assert json.loads(stored) == {"account_id": "A-1", "arr": "1200.5"}


# -- backfilled knowledge time ------------------------------------------------------------------
def _backfilled(events: list[NewEvent], *recorded: str) -> list[NewEvent]:
    return [n._replace(recorded_at=parse_instant(r)) for n, r in zip(events, recorded, strict=True)]


def test_a_backfill_keeps_its_recorded_at_and_is_marked(db_url: str) -> None:
    s = LedgerStore.open(db_url, create=True)
    try:
        config = NewEvent(
            LedgerConfigured(), parse_instant("2020-01-01"), "t", "t", idempotency_key="init"
        )
        news = _backfilled(
            [config, *events_from([OPEN_D1, SIGN_D1])],
            "2021-01-01T00:00:00Z",
            "2026-01-05T09:00:00Z",
            "2026-03-01T17:30:00Z",
        )
        s.append_batch(news)
        s.append_batch(events_from([LIVE_D1]))
        got = list(s.read())
        assert [format_instant(e.recorded_at) for e in got[:3]] == [
            "2021-01-01T00:00:00.000000Z",
            "2026-01-05T09:00:00.000000Z",
            "2026-03-01T17:30:00.000000Z",
        ]
        assert [e.source for e in got] == [
            "backfill:t",
            "backfill:import:inline.jsonl:1",
            "backfill:import:inline.jsonl:2",
            "import:inline.jsonl:1",
        ]
        assert got[3].recorded_at > got[2].recorded_at
        assert verify_ledger(s).ok
        # Re-running the same backfill appends nothing.
        again = s.append_batch(news)
        assert all(r.duplicate for r in again.results)
        assert s.head().seq == 4
    finally:
        s.close()


@pytest.mark.parametrize(
    ("recorded", "message"),
    [
        (("2019-06-01", "2019-07-01"), "field 'recorded_at' .* is before 2020-01-01T00:00:00"),
        (("2020-06-01", "2020-05-01"), "line 2: field 'recorded_at' .* is before 2020-06-01"),
        (("2020-06-01", "2199-01-01"), "line 2: field 'recorded_at' .* is in the future"),
    ],
)
def test_a_backfill_never_goes_back_in_time_nor_into_the_future(
    db_url: str, recorded: tuple[str, str], message: str
) -> None:
    s = LedgerStore.open(db_url, create=True)
    try:
        config = NewEvent(LedgerConfigured(), parse_instant("2020-01-01"), "t", "t")
        s.append_batch(_backfilled([config], "2020-01-01"))
        head = s.head()
        with pytest.raises(InputError, match=message):
            s.append_batch(_backfilled(events_from([OPEN_D1, SIGN_D1]), *recorded))
        assert s.head() == head
    finally:
        s.close()


# -- rule state kept between appends --------------------------------------------------------------
LOSE_D1 = '{"type":"deal_lost","effective_at":"2026-02-01","deal_id":"D-1"}'


def test_an_append_after_another_writer_judges_by_what_that_writer_stored(
    store: LedgerStore, db_url: str
) -> None:
    """A store's rule state from its own last append is not trusted once the log moved."""
    store.append_batch(events_from([OPEN_D1]))
    with LedgerStore.open(db_url) as other:
        other.append_batch(events_from([LOSE_D1]))
    with pytest.raises(InputError, match="deal D-1 is lost"):
        store.append(_stage("D-1", "negotiation", "2026-03-01"))
    assert store.head().seq == 3


def test_a_refused_batch_leaves_no_trace_in_the_rule_state(store: LedgerStore) -> None:
    """Events admitted before the failing one of a batch are not remembered as stored."""
    bad_stage = _stage("D-1", "no_such_stage", "2026-02-01")
    with pytest.raises(InputError, match="pipeline"):
        store.append_batch([*events_from([OPEN_D1]), bad_stage])
    with pytest.raises(InputError, match="deal D-1 was never opened"):
        store.append(_stage("D-1", "negotiation", "2026-02-01"))
    store.append_batch(events_from([OPEN_D1]))
    assert store.append(_stage("D-1", "negotiation", "2026-02-01")).stream_version == 2


def test_a_dry_run_leaves_no_trace_in_the_rule_state(store: LedgerStore) -> None:
    store.append_batch(events_from([OPEN_D1]), dry_run=True)
    with pytest.raises(InputError, match="deal D-1 was never opened"):
        store.append(_stage("D-1", "negotiation", "2026-02-01"))
    assert store.head().seq == 1


def _stage_line(deal: str, stage: str, when: str) -> str:
    fields = {"type": "stage_changed", "effective_at": when, "deal_id": deal, "stage": stage}
    return json.dumps(fields)


def _config_line(when: str, extra_stage: str | None) -> str:
    stages = [s.model_dump(mode="json") for s in LedgerConfigured().stages]
    if extra_stage:
        stages.append({"name": extra_stage, "probability": "0.5", "forecast_category": "pipeline"})
    return json.dumps({"type": "ledger_configured", "effective_at": when, "stages": stages})


@pytest.mark.parametrize("one_by_one", [False, True], ids=["one-batch", "one-append-each"])
def test_a_new_pipeline_s_stages_are_the_ones_checked_from_the_next_event_on(
    store: LedgerStore, one_by_one: bool
) -> None:
    """The stages an event may name are those of the pipeline in force when it is admitted,
    also when the pipeline changed earlier in the same import or in the append before."""
    to_pilot = _stage_line("D-1", "pilot", "2026-03-01")
    lines = [OPEN_D1, _config_line("2026-02-01", "pilot"), to_pilot]
    if one_by_one:
        for line in lines:
            store.append_batch(events_from([line]))
    else:
        store.append_batch(events_from(lines))
    assert [e.type for e in store.read()][-1] == "stage_changed"
    back = _stage_line("D-1", "demo", "2026-03-10")
    opened_in_pilot = OPEN_D1.replace("D-1", "D-2").replace('"demo"', '"pilot"')
    with pytest.raises(
        InputError, match="line 3: field 'stage' = 'pilot': is not a stage of the configured"
    ):
        store.append_batch(events_from([back, _config_line("2026-04-01", None), opened_in_pilot]))


def test_a_backdated_pipeline_in_the_import_that_opened_a_deal_is_held_to_its_stage(
    store: LedgerStore,
) -> None:
    """A pipeline effective before the one in force must keep the stage a deal of the same
    import stands in, though no stored configuration lists that stage yet."""
    opened = OPEN_D1.replace('"demo"', '"pilot"').replace("2026-01-05", "2026-04-01")
    with pytest.raises(
        InputError, match="line 3: the new pipeline drops the stage pilot, where the open deal D-1"
    ):
        store.append_batch(
            events_from(
                [_config_line("2026-03-01", "pilot"), opened, _config_line("2026-01-15", None)]
            )
        )
    assert store.count() == 1


def test_a_message_names_the_first_event_of_the_import_as_earlier_in_it_not_by_a_seq(
    store: LedgerStore,
) -> None:
    store.append_batch(events_from([OPEN_D1]))
    moved = _stage_line("D-1", "legal_review", "2026-03-01")
    lost = '{"type":"deal_lost","effective_at":"2026-02-01","deal_id":"D-1"}'
    with pytest.raises(InputError) as refused:
        store.append_batch(events_from([moved, lost]))
    assert str(refused.value).startswith(
        "line 2: this deal_lost would make the later stage_changed (earlier in this import, "
        "effective 2026-03-01) invalid: deal D-1 is lost"
    )


def test_a_first_configuration_given_as_an_import_line_takes_the_defaults_it_leaves_out(
    db_url: str,
) -> None:
    """With no configuration in force, a line that gives only some settings resets nothing:
    the others are the defaults."""
    store = LedgerStore.open(db_url, create=True)
    try:
        line = '{"type":"ledger_configured","effective_at":"2020-01-01","timezone":"Asia/Tokyo"}'
        store.append_batch(events_from([line]))
        config = store.config()
        assert config is not None
        assert (config.timezone, config.stages) == ("Asia/Tokyo", LedgerConfigured().stages)
    finally:
        store.close()


def test_appends_one_by_one_follow_the_rules_as_one_batch_does(store: LedgerStore) -> None:
    """Each single append builds on the state the previous one left, across streams."""
    for line in [OPEN_D1, SIGN_D1, LIVE_D1]:
        store.append_batch(events_from([line]))
    with pytest.raises(InputError, match="deal D-1 is already live"):
        store.append_batch(events_from([LIVE_D1.replace("04-01", "05-01")]))
    with pytest.raises(InputError, match="already won"):
        store.append(_stage("D-1", "negotiation", "2026-06-01"))
    expand = '{"type":"expansion","effective_at":"2026-05-01","account_id":"A-1","arr":"5000"}'
    assert store.append_batch(events_from([expand])).results[0].stream_version == 2


def test_appends_after_a_retraction_judge_by_it_without_reading_every_retraction_again(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retracted events are known to the rule state kept between appends: an append that
    reads a new stream does not read every retraction of the log again (the log may hold
    thousands), and still leaves out what was retracted."""
    signed = store.append_batch(events_from([OPEN_D1, SIGN_D1])).results[1]
    retract = (
        f'{{"type":"event_retracted","effective_at":"2026-03-02","retracts":"{signed.event_id}",'
        '"reason":"signed on the wrong deal"}'
    )
    store.append_batch(events_from([retract]))
    statements: list[str] = []
    rows = SqlFacts._rows

    def record(facts: SqlFacts, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        statements.append(sql)
        return rows(facts, sql, params)

    monkeypatch.setattr(SqlFacts, "_rows", record)
    for i in range(3):  # each opens a new deal stream, read from the log first
        store.append_batch(events_from([OPEN_D1.replace('"D-1"', f'"D-{i + 2}"')]))
    with pytest.raises(InputError, match="deal D-1 has no contract signed"):
        store.append_batch(events_from([LIVE_D1]))
    reads_of_retractions = [s for s in statements if "event_retracted" in s]
    stream_reads = [s for s in statements if "stream_id IN" in s or "stream_id = ANY" in s]
    assert len(stream_reads) >= 3 and reads_of_retractions == []


def test_a_database_failure_during_an_append_is_a_storage_error_and_writes_nothing(
    store: LedgerStore,
) -> None:
    """An append runs on the driver connection; what the database refuses there is reported
    as a storage error (exit code 6), not as a driver exception, and the store stays usable."""
    if store.backend == "sqlite":
        create = [
            "CREATE TRIGGER refuse BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
        ]
        drop = ["DROP TRIGGER refuse"]
    else:
        create = [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
        drop = ["DROP TRIGGER refuse ON events", "DROP FUNCTION refuse()"]
    with store.engine.begin() as conn:
        for ddl in create:
            conn.execute(text(ddl))
    with pytest.raises(StorageError, match=r"database error: .*the disk is full"):
        store.append_batch(events_from([OPEN_D1]))
    with pytest.raises(StorageError, match="the disk is full"):
        store.append_batch(events_from([OPEN_D1, SIGN_D1, LIVE_D1]))
    assert store.count() == 1
    with store.engine.begin() as conn:
        for ddl in drop:
            conn.execute(text(ddl))
    assert store.append_batch(events_from([OPEN_D1])).results[0].seq == 2
    assert verify_ledger(store).ok


def test_text_that_needs_quoting_is_stored_and_found_as_given(store: LedgerStore) -> None:
    """Keys, actors, sources and ids reach the database as values, never as SQL: quotes,
    backslashes, array punctuation, SQL and non-ASCII text come back exactly, and are found
    again by the lookups of a single append and of a large batch alike."""
    tricky = 'it\'s a \\ "key", {x}); DROP TABLE events; -- ünïcødé ✓'
    line = json.loads(OPEN_D1) | {
        "idempotency_key": tricky,
        "actor": tricky,
        "source": tricky,
        "deal_id": tricky,
        "account_id": tricky,
    }
    first = store.append_batch(events_from([json.dumps(line)])).results[0]
    again = store.append_batch(events_from([json.dumps(line)])).results[0]
    assert (again.duplicate, again.seq) == (True, first.seq)
    # A batch larger than SCRIPT_LOOKUPS looks its keys up with one array parameter per column.
    others = [json.dumps(json.loads(OPEN_D1) | {"deal_id": f"D-{i}"}) for i in range(2, 30)]
    stage = {"type": "stage_changed", "effective_at": "2026-02-01", "deal_id": tricky}
    batch = [json.dumps(line), *others, json.dumps(stage | {"stage": "negotiation"})]
    # A store of its own has no rule state kept warm: it reads the deal's stream by its id.
    results = LedgerStore(store.engine, store.url).append_batch(events_from(batch)).results
    assert (results[0].duplicate, results[0].seq) == (True, first.seq)
    assert results[-1].stream_version == 2  # the deal's stream was found by its quoted id
    (stored,) = [e for e in store.read() if e.seq == first.seq]
    assert (stored.idempotency_key, stored.actor, stored.source) == (tricky, tricky, tricky)
    assert verify_ledger(store).ok


# -- imports written chunk by chunk in one transaction ------------------------------------------
STAGE_D1 = (
    '{"type":"stage_changed","effective_at":"2026-02-01","deal_id":"D-1","stage":"negotiation"}'
)
EXPAND_A1 = '{"type":"expansion","effective_at":"2026-05-01","account_id":"A-1","arr":"5000"}'


def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make an import check and write its lines two at a time (each line a block of its own)."""
    monkeypatch.setattr(import_worker, "BLOCK_LINES", 1)
    monkeypatch.setattr(operations, "IMPORT_CHUNK", 2)


def _import(store: LedgerStore, tmp_path: Path, lines: list[str], **kw: Any) -> ImportSummary:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return import_file(store, path, actor="t", **kw)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_line_repeating_one_chunks_earlier_is_a_duplicate(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    _small_chunks(monkeypatch)
    done = _import(store, tmp_path, [OPEN_D1, SIGN_D1, LIVE_D1, OPEN_D1, SIGN_D1], dry_run=dry_run)
    assert (done.lines, done.appended, done.duplicates) == (5, 3, 2)
    assert (done.repeated, done.first_repeated) == (2, "line 4")
    again = _import(store, tmp_path, [OPEN_D1, OPEN_D1], dry_run=dry_run)
    assert (again.duplicates, again.repeated) == ((2, 0) if not dry_run else (1, 1))
    assert store.count() == (1 if dry_run else 4)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_key_reused_chunks_later_with_other_content_fails_the_whole_import(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    _small_chunks(monkeypatch)
    keyed = json.loads(STAGE_D1) | {"idempotency_key": "k-1"}
    other = keyed | {"stage": "legal_review"}
    lines = [OPEN_D1, json.dumps(keyed), SIGN_D1, json.dumps(other)]
    with pytest.raises(ConflictError, match="line 4: idempotency key 'k-1'"):
        _import(store, tmp_path, lines, dry_run=dry_run)
    assert store.count() == 1


def test_an_error_in_a_late_chunk_leaves_nothing_of_the_earlier_ones(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_chunks(monkeypatch)
    with pytest.raises(InputError, match="line 5"):
        _import(store, tmp_path, [OPEN_D1, SIGN_D1, LIVE_D1, EXPAND_A1, "{"])
    assert store.count() == 1
    assert verify_ledger(store).ok


def test_later_chunks_are_planned_knowing_the_rows_the_import_wrote(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the planner's idea of the events table's size, when a later chunk looks up
    the streams it opens, counts the rows the earlier chunks wrote (uncommitted, in the same
    transaction). With the size it had before the import, lookups of hundreds of streams are
    planned as full scans of a table that grows with every chunk (minutes at a million rows)."""
    monkeypatch.setattr(operations, "IMPORT_CHUNK", 1000)
    estimates: list[int] = []
    rows = SqlFacts._rows

    def estimate(facts: SqlFacts, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if "stream_id IN" in sql or "stream_id = ANY" in sql:
            (plan,) = rows(facts, "EXPLAIN SELECT * FROM events")[0]
            found = re.search(r"rows=(\d+)", plan)
            assert found is not None
            estimates.append(int(found.group(1)))
        return rows(facts, sql, params)

    lines = [OPEN_D1.replace('"D-1"', f'"D-{i}"') for i in range(3000)]
    if store.engine.dialect.name == "postgresql":
        monkeypatch.setattr(SqlFacts, "_rows", estimate)
    assert _import(store, tmp_path, lines).appended == 3000
    if store.engine.dialect.name == "postgresql":
        # The first chunk looks up its account and two lists of deals; later chunks only their
        # deals. The last chunk's lookups come after 2,000 rows were written.
        assert len(estimates) == 7 and min(estimates[-2:]) >= 1800
        # Those ANALYZEs sample few rows; the setting ended with the import's transaction, so
        # the connection the store keeps for its appends is back at the server's default.
        with store._driver_write() as dbapi:
            (target,) = dbapi.execute("SHOW default_statistics_target").fetchone()
        assert target == "100"


def test_queries_in_the_middle_of_a_large_chunk_see_the_rows_written_before_them(
    store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a large chunk's rows stream into a COPY while the next ones are checked; a
    query the rules need in the middle of the chunk first ends that COPY (and a later row opens
    a new one). Forced here: every 500th event reads the configurations again."""
    admit = RuleBook.admit
    calls = 0

    def admit_and_query(book: RuleBook, fact: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls % 500 == 0:
            assert len(book._source.configurations()) == 1
        return admit(book, fact, **kw)

    monkeypatch.setattr(RuleBook, "admit", admit_and_query)
    lines = []
    for i in range(1500):
        lines += [OPEN_D1.replace('"D-1"', f'"D-{i}"'), STAGE_D1.replace('"D-1"', f'"D-{i}"')]
    assert _import(store, tmp_path, lines).appended == 3000
    assert calls >= 3000
    assert store.count() == 3001 and verify_ledger(store).ok
    again = _import(store, tmp_path, lines)
    assert (again.appended, again.duplicates) == (0, 3000)


EXPANSION_ID = "0190a3c2-0000-7000-8000-00000000e001"
LONG_IMPORT = [
    OPEN_D1,
    SIGN_D1,
    LIVE_D1,  # needs the contract of the chunk before
    json.dumps(json.loads(EXPAND_A1) | {"event_id": EXPANSION_ID}),
    STAGE_D1,  # backdated before the signature: the deal's stream is replayed
    json.dumps(
        {
            "type": "event_retracted",
            "effective_at": "2026-06-01",
            "retracts": EXPANSION_ID,  # an event of the chunk before
            "reason": "entered twice",
        }
    ),
    OPEN_D1.replace('"D-1"', '"D-2"'),
]


@pytest.mark.parametrize("shed", [False, True], ids=["one-state", "shed-every-chunk"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            '{"type":"stage_changed","effective_at":"2026-05-01","deal_id":"D-1","stage":"demo"}',
            "line 8: deal D-1 is already won",
        ),
        (
            '{"type":"contraction","effective_at":"2026-07-01","account_id":"A-1","arr":"102000"}',
            "line 8: the contraction of 102000 exceeds account A-1's live ARR of 100000",
        ),
    ],
    ids=["won-deal", "retracted-expansion"],
)
def test_the_rules_see_the_events_of_earlier_chunks(
    store: LedgerStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    message: str,
    shed: bool,
) -> None:
    """An import checked and written two lines at a time decides as one batch would: a go-live
    finds the contract of the chunk before, a backdated event replays its stream, a retraction
    finds its target in an earlier chunk and counts from then on, stream versions go on where
    they were, and a bad line late in the file leaves nothing of the earlier chunks. So it does
    when its rule state forgets everything between chunks (a long import sheds the streams it
    used least recently) and reads back what it needs."""
    _small_chunks(monkeypatch)
    if shed:
        monkeypatch.setattr(store_module, "RULE_STATE_FACTS", 0)
    with pytest.raises(InputError, match=re.escape(message)):
        _import(store, tmp_path, [*LONG_IMPORT, bad])
    assert store.count() == 1
    done = _import(store, tmp_path, LONG_IMPORT)
    assert (done.appended, done.duplicates) == (7, 0)
    versions = [(e.stream_id, e.stream_version) for e in store.read() if e.seq > 1]
    assert versions == [
        ("deal:D-1", 1),
        ("deal:D-1", 2),
        ("account:A-1", 1),
        ("account:A-1", 2),
        ("deal:D-1", 3),
        ("ledger", 2),
        ("deal:D-2", 1),
    ]
    assert [(d, a) for _seq, d, a in store.index_rows()][1:] == [
        ("D-1", "A-1"),
        ("D-1", "A-1"),
        ("D-1", "A-1"),
        (None, "A-1"),
        ("D-1", "A-1"),
        (None, None),
        ("D-2", "A-1"),
    ]
    assert verify_ledger(store).ok


def test_a_batch_asked_for_counts_only_counts_what_it_appended_and_found(
    store: LedgerStore,
) -> None:
    """An import asks for the counts only: no per-event result is kept (a million of them
    take about 150 MB), and the counts are those of the per-event results."""
    first = store.append_chunks([events_from([OPEN_D1, SIGN_D1])], counts_only=True)
    assert (first.results, first.appended, first.duplicates) == ([], 2, 0)
    lines = [OPEN_D1, SIGN_D1, LIVE_D1]
    full = store.append_chunks([events_from(lines)], dry_run=True)
    counted = store.append_chunks([events_from(lines)], counts_only=True)
    assert [r.duplicate for r in full.results] == [True, True, False]
    assert (full.appended, full.duplicates) == (counted.appended, counted.duplicates) == (1, 2)
    assert counted.results == [] and counted.head.seq == full.head.seq == 4


def test_an_undecodable_line_is_named_with_its_byte(store: LedgerStore, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\ufeff" + OPEN_D1 + "\n").encode() + b'{"type":"\xff"}\n')
    first = len(("\ufeff" + OPEN_D1 + "\n").encode())
    with pytest.raises(InputError, match=f"line 2 is not UTF-8 text \\(byte {first + 9} "):
        import_file(store, path, actor="t")
    assert store.count() == 1
