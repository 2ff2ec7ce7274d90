"""Round-trip properties of the log over random valid histories, on SQLite and PostgreSQL.

Each hypothesis example gets a ledger of its own (a new SQLite file, or a new PostgreSQL
schema), because function-scoped fixtures are shared by all examples of a test. The focused
tests at the end cover payload upcasting and the database schema version guard.
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text

from ledger.canonical import (
    GENESIS_HASH,
    canonical_json,
    chain_hash,
    envelope_bytes,
    payload_json,
)
from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import InputError, IntegrityError, StorageError
from ledger.events import (
    EVENT_TYPES,
    AccountEvent,
    ContractSigned,
    DealEvent,
    DealOpened,
    EventRetracted,
    LedgerConfigured,
    PersonaEngaged,
    build_event,
    catalog,
    decode_payload,
    register_upcaster,
    upcast,
)
from ledger.events.catalog import UPCASTERS
from ledger.events.stored import decode_stored, decode_stored_many
from ledger.events.view import view_of
from ledger.jsonl import RESERVED, read_export
from ledger.operations import (
    export_events,
    import_file,
    restore_file,
    retract_import,
    verify_ledger,
)
from ledger.rules import AccountState, DealState, Fact
from ledger.store import LedgerStore, resolve_url
from ledger.store import schema as store_schema
from ledger.store import store as store_module
from ledger.timeutil import format_instant, parse_instant
from queries.common import TimeQuery
from queries.revenue import arr_query
from tests.conftest import PG_SKIP_REASON, PG_URL, pg_schema_url
from tests.strategies import GeneratedLedger, batch_splits, ledgers, new_events, split

EXAMPLES = {"sqlite": 30, "postgresql": 15}
"""Examples per property and backend (each example builds one or two whole ledgers)."""


def _settings(backend: str) -> settings:
    return settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a property runs on; PostgreSQL is skipped without a test server."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    return str(request.param)


@contextmanager
def fresh_store(backend: str) -> Iterator[LedgerStore]:
    """Yield an empty, created ledger on `backend` that lives for one hypothesis example."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="revledger-") as folder:
            store = LedgerStore.open(str(Path(folder) / "ledger.db"), create=True)
            try:
                yield store
            finally:
                store.close()
        return
    assert PG_URL
    schema = f"rl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        store = LedgerStore.open(pg_schema_url(schema), create=True)
        try:
            yield store
        finally:
            store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def append_all(store: LedgerStore, news: list[NewEvent], cuts: list[int]) -> None:
    """Append `news` in the batches `cuts` makes; every event must be new."""
    for batch in split(news, cuts):
        result = store.append_batch(batch)
        assert result.appended == len(batch)
        assert result.duplicates == 0


def export_text(store: LedgerStore) -> str:
    out = io.StringIO()
    count = export_events(store, out)
    assert count == store.head().seq
    return out.getvalue()


def restore_text(store: LedgerStore, export: str) -> None:
    with tempfile.TemporaryDirectory(prefix="revledger-") as folder:
        path = Path(folder) / "export.jsonl"
        path.write_bytes(export.encode("utf-8"))
        restore_file(store, path)


histories = st.tuples(ledgers(), st.data())


@st.composite
def cut_histories(draw: st.DrawFn) -> tuple[GeneratedLedger, list[NewEvent], list[int]]:
    """Draw a valid history, its events as an import parses them, and cuts into batches."""
    history = draw(ledgers())
    news = history.new_events()
    return history, news, draw(batch_splits(len(news)))


# -- appending ------------------------------------------------------------------------------------
def test_random_valid_histories_are_accepted_verify_and_read_back_typed(backend: str) -> None:
    @_settings(backend)
    @given(cut_histories())
    def check(case: tuple[GeneratedLedger, list[NewEvent], list[int]]) -> None:
        history, news, cuts = case
        with fresh_store(backend) as store:
            append_all(store, news, cuts)
            assert store.head().seq == len(history.lines)
            report = verify_ledger(store)
            assert report.ok, report.problem
            assert report.events == len(history.lines)

            recorded = list(store.read())
            assert [r.seq for r in recorded] == list(range(1, len(news) + 1))
            assert [r.event_id for r in recorded] == history.event_ids()
            for new, got in zip(news, recorded, strict=True):
                assert got.payload == new.event
                assert type(got.payload) is type(new.event)
                assert got.type == new.event.event_type
                assert got.stream_id == new.event.stream_id()
                assert got.effective_at == new.effective_at
                assert (got.actor, got.source) == (new.actor, new.source)
                assert got.idempotency_key == new.idempotency_key

            retracted = {
                r.payload.retracts for r in recorded if isinstance(r.payload, EventRetracted)
            }
            assert retracted == history.retracted
            config = store.config()
            assert config is not None
            assert config.stage_names() == history.stage_names
            assert_end_state(recorded, history)

    check()


def test_a_batch_that_sheds_its_rule_state_between_chunks_accepts_the_same_histories(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long batch sheds its rule state between chunks (forced here to forget everything at
    every chunk): it reads back what it needs from the chunks it wrote and admits every valid
    history, with the stream versions and end state of one unshed state."""
    monkeypatch.setattr(store_module, "RULE_STATE_FACTS", 0)

    @_settings(backend)
    @given(cut_histories())
    def check(case: tuple[GeneratedLedger, list[NewEvent], list[int]]) -> None:
        history, news, cuts = case
        with fresh_store(backend) as store:
            assert store.append_chunks(split(news, cuts)).appended == len(news)
            recorded = list(store.read())
            assert [r.event_id for r in recorded] == history.event_ids()
            versions: dict[str, int] = {}
            for r in recorded:
                versions[r.stream_id] = versions.get(r.stream_id, 0) + 1
                assert r.stream_version == versions[r.stream_id]
            assert verify_ledger(store).ok
            assert_end_state(recorded, history)

    check()


def test_a_retraction_is_taken_exactly_when_what_remains_of_its_streams_stays_valid(
    backend: str,
) -> None:
    """After a random valid history, a retraction of each event not retracted yet is taken
    when the generator's model of the rules finds the rest of the event's streams valid
    without it, and refused otherwise: a signature whose go-live stands, a go-live an
    expansion needs, a deal's opening before its stage changes, a loss before its reopening.
    Each is checked by a dry run, so every one is judged against the same stored history."""

    @_settings(backend)
    @given(cut_histories())
    def check(case: tuple[GeneratedLedger, list[NewEvent], list[int]]) -> None:
        history, news, cuts = case
        with fresh_store(backend) as store:
            append_all(store, news, cuts)
            head = store.head()
            for target in sorted(history.retractable | history.unretractable):
                line = {
                    "type": "event_retracted",
                    "effective_at": "2031-01-01T00:00:00Z",
                    "retracts": target,
                    "reason": "recorded in error",
                }
                retraction = new_events([line], timezone=history.timezone)
                if target in history.retractable:
                    assert store.append_batch(retraction, dry_run=True).appended == 1, target
                else:
                    with pytest.raises(InputError, match="retract"):
                        store.append_batch(retraction, dry_run=True)
            assert store.head() == head

    check()


def test_an_import_retracted_whole_equals_its_absence(backend: str) -> None:
    """A random valid history imported as two files, the second then retracted whole with
    `import --retract`, answers as known now what the first file alone answers: the same ARR,
    backlog and CARR per account on every day, and the same deals and accounts to the rules.
    The second file's events are retracted latest first, so none is refused on the way."""

    @_settings(backend)
    @given(ledgers(revenue_lifecycle=True, min_events=2), st.data())
    def check(history: GeneratedLedger, data: st.DataObject) -> None:
        lines = history.lines
        cut = data.draw(st.integers(1, len(lines) - 1), label="lines of the first file")
        second = lines[cut:]
        assume(all(line["type"] not in ("event_retracted", "ledger_configured") for line in second))
        with tempfile.TemporaryDirectory(prefix="revledger-") as folder:
            files = []
            for name, part in (("first.jsonl", lines[:cut]), ("second.jsonl", second)):
                path = Path(folder) / name
                path.write_text("".join(json.dumps(line) + "\n" for line in part), "utf-8")
                files.append(path)
            with fresh_store(backend) as whole, fresh_store(backend) as alone:
                import_file(whole, files[0], actor="t")
                recorded = import_file(whole, files[1], actor="t").appended  # one per content
                before = _answers(whole)
                done = retract_import(whole, files[1], reason="the wrong export", actor="t")
                assert (done.retracted, done.already, done.missing) == (recorded, 0, 0)
                import_file(alone, files[0], actor="t")
                assert _answers(whole) == _answers(alone)
                # Imported again, the file counts again: as it did before it was retracted.
                assert import_file(whole, files[1], actor="t").appended == recorded
                assert _answers(whole) == before

    check()


def _answers(store: LedgerStore) -> tuple[object, ...]:
    """Return what `store` answers as known now: ARR, backlog and CARR per account on a few
    days, and the deals and accounts the rules see."""
    days = ("2023-03-31", "2024-06-30", "2025-09-30", "2026-12-31", "2029-12-31")
    return (
        *(arr_query(store, TimeQuery(as_of=day), by="account")[0] for day in days),
        _rule_states(store),
    )


def _rule_states(store: LedgerStore) -> tuple[dict[str, DealState], dict[str, AccountState]]:
    """Return the deals and accounts the rules see in the events that count, replayed in
    business order, without the seqs and event ids that name them."""
    return rule_states(list(store.read()), identified=False)


def rule_states(
    recorded: list[RecordedEvent], *, identified: bool = True
) -> tuple[dict[str, DealState], dict[str, AccountState]]:
    """Return the deals and accounts the rules' own state machines see when they replay
    `recorded` in `(effective_at, seq)` order without the retracted events (the facts with
    their seqs and event ids, unless not `identified`)."""
    retracted = {r.payload.retracts for r in recorded if isinstance(r.payload, EventRetracted)}
    deals: dict[str, DealState] = {}
    accounts: dict[str, AccountState] = {}
    for r in sorted(recorded, key=lambda r: r.replay_key):
        if r.event_id in retracted:
            continue
        seq, event_id = (r.seq, r.event_id) if identified else (0, "")
        fact = Fact(r.effective_at, seq, event_id, view_of(r.payload))
        e = r.payload
        if isinstance(e, DealEvent):
            deal = deals.setdefault(e.deal_id, DealState(e.deal_id))
            deal.apply(fact)
            if isinstance(e, ContractSigned):
                assert deal.account_id is not None
                accounts.setdefault(deal.account_id, AccountState(deal.account_id)).apply(fact)
        elif isinstance(e, AccountEvent):
            accounts.setdefault(e.account_id, AccountState(e.account_id)).apply(fact)
    return deals, accounts


def assert_end_state(recorded: list[RecordedEvent], history: GeneratedLedger) -> None:
    """Replaying the stored events in business order gives the end state the generator meant.

    The rules' own state machines replay what was read back, in `(effective_at, seq)` order
    and without retracted events; deal statuses and stages and account ARR must match.
    """
    deals, accounts = rule_states(recorded)
    assert set(deals) == set(history.deals)
    for deal_id, want in history.deals.items():
        got = deals[deal_id]
        assert (got.status, got.stage, got.account_id, got.opened) == (
            want.status,
            want.stage,
            want.account_id,
            want.opened,
        )
    assert set(accounts) <= set(history.accounts)
    for account_id, outcome in history.accounts.items():
        state = accounts.get(account_id, AccountState(account_id))
        assert state.live == outcome.live
        assert state.pending == dict(outcome.pending)


def test_reimporting_the_same_lines_appends_nothing(backend: str) -> None:
    @_settings(backend)
    @given(histories)
    def check(case: tuple[GeneratedLedger, st.DataObject]) -> None:
        history, data = case
        with fresh_store(backend) as store:
            append_all(store, history.new_events(), [])
            head = store.head()
            # A re-run parses the file again; it may be cut into other batches than the first.
            again = history.new_events()
            cuts = data.draw(batch_splits(len(again)), label="re-import cuts")
            results = []
            for batch in split(again, cuts):
                result = store.append_batch(batch)
                assert result.appended == 0
                assert result.duplicates == len(batch)
                assert result.head == head
                results.extend(result.results)
            assert [r.seq for r in results] == list(range(1, len(again) + 1))
            assert [r.event_id for r in results] == history.event_ids()
            assert store.head() == head

    check()


def test_the_generator_covers_the_catalog_backdating_reactivation_and_retractions() -> None:
    """The properties mean something only if the histories reach every kind of event, and
    retractions of every kind that moves revenue or a deal: a signature (after its go-live's
    own retraction too), a go-live, a churn, an opening, a stage change, a reopening."""
    seen: set[str] = set()

    @settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @given(ledgers())
    def collect(history: GeneratedLedger) -> None:
        seen.update(history.types())
        retracted = [
            t
            for t, i in zip(history.types(), history.event_ids(), strict=True)
            if i in history.retracted
        ]
        seen.update(f"retracted {t}" for t in retracted)
        unwound = {
            line["deal_id"]
            for line, i in zip(history.lines, history.event_ids(), strict=True)
            if line["type"] == "go_live" and i in history.retracted
        }
        if any(
            line["type"] == "contract_signed"
            and line["deal_id"] in unwound
            and i in history.retracted
            for line, i in zip(history.lines, history.event_ids(), strict=True)
        ):
            seen.add("retracted contract_signed after its go_live")
        if history.unretractable:
            seen.add("an event the rules refuse to retract")
        if history.backdated:
            seen.add("backdated")
        if any(a.reactivated for a in history.accounts.values()):
            seen.add("reactivated")
        if any(not d.opened for d in history.deals.values()):
            seen.add("signed without deal_opened")
        if any(d.status == "lost" for d in history.deals.values()):
            seen.add("lost at the end")
        news = history.new_events()
        instants = [(n.event.stream_id(), n.effective_at) for n in news]
        if len(set(instants)) < len(instants):
            seen.add("two events of a stream at one instant")
        if any(
            (d := line.get("expected_close"))
            and date.fromisoformat(d).day == 1
            and date.fromisoformat(d).month in (1, 4, 7, 10)
            for line in history.lines
        ):
            seen.add("an expected close on a quarter's first day")

    collect()
    wanted = {
        *EVENT_TYPES,
        "backdated",
        "reactivated",
        "signed without deal_opened",
        "lost at the end",
        "retracted persona_engaged",
        "retracted deal_updated",
        "retracted quota_set",
        "retracted deal_lost",
        "retracted ledger_configured",
        "retracted deal_opened",
        "retracted stage_changed",
        "retracted deal_reopened",
        "retracted contract_signed",
        "retracted contract_signed after its go_live",
        "retracted go_live",
        "retracted churn",
        "an event the rules refuse to retract",
        "two events of a stream at one instant",
        "an expected close on a quarter's first day",
    }
    assert wanted <= seen
    assert {"retracted expansion", "retracted contraction"} & seen


# -- export and restore ---------------------------------------------------------------------------
def test_export_then_restore_reproduces_the_ledger_exactly(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restored in chunks of three envelopes (`RESTORE_CHUNK`), as a large export is."""
    monkeypatch.setattr(store_module, "RESTORE_CHUNK", 3)

    @_settings(backend)
    @given(histories)
    def check(case: tuple[GeneratedLedger, st.DataObject]) -> None:
        history, data = case
        news = history.new_events()
        with fresh_store(backend) as source, fresh_store(backend) as target:
            append_all(source, news, data.draw(batch_splits(len(news)), label="batch cuts"))
            exported = export_text(source)
            restore_text(target, exported)
            assert_same_ledger(source, target)
            assert export_text(target) == exported

    check()


@pytest.mark.parametrize(
    ("origin", "destination"), [("sqlite", "postgresql"), ("postgresql", "sqlite")]
)
def test_restore_across_backends_reproduces_the_ledger_exactly(
    origin: str, destination: str
) -> None:
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)

    @_settings("postgresql")
    @given(ledgers())
    def check(history: GeneratedLedger) -> None:
        with fresh_store(origin) as source, fresh_store(destination) as target:
            append_all(source, history.new_events(), [])
            exported = export_text(source)
            restore_text(target, exported)
            assert target.backend == destination
            assert_same_ledger(source, target)
            assert export_text(target) == exported

    check()


def assert_same_ledger(source: LedgerStore, target: LedgerStore) -> None:
    """Every stored column, the index columns and the head are equal; the copy verifies."""
    rows = list(source.raw_rows())
    copied = list(target.raw_rows())
    assert len(copied) == len(rows)
    for a, b in zip(rows, copied, strict=True):
        assert a == b
    assert list(target.index_rows()) == list(source.index_rows())
    assert target.head() == source.head()
    report = verify_ledger(target)
    assert report.ok, report.problem


def payload_string_positions(line: str) -> list[int]:
    """Return the offsets of ASCII letters and digits inside strings of the line's payload."""
    start = line.index('"payload":{') + len('"payload":')
    positions: list[int] = []
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(line)):
        c = line[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            elif c.isascii() and c.isalnum():
                positions.append(i)
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                break
    return positions


def test_a_tampered_export_is_refused_naming_the_line_and_nothing_is_written(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The envelopes go in three at a time (`RESTORE_CHUNK`): those before the bad line were
    written when it is reached, and the restore's one transaction takes them back."""
    monkeypatch.setattr(store_module, "RESTORE_CHUNK", 3)

    @_settings(backend)
    @given(ledgers(), st.data())
    def check(history: GeneratedLedger, data: st.DataObject) -> None:
        with fresh_store(backend) as source:
            append_all(source, history.new_events(), [])
            lines = export_text(source).splitlines()
        how = data.draw(
            st.sampled_from(["edit_payload", "drop_line", "break_json"]), label="tampering"
        )
        if how == "edit_payload":
            index = data.draw(st.integers(0, len(lines) - 1), label="line index")
            line = lines[index]
            pos = data.draw(st.sampled_from(payload_string_positions(line)), label="offset")
            pool = "0123456789" if line[pos].isdigit() else "abcdefghijklmnopqrstuvwxyz"
            new_char = data.draw(st.sampled_from([c for c in pool if c != line[pos].lower()]))
            lines[index] = line[:pos] + new_char + line[pos + 1 :]
            assert len(lines[index].encode()) == len(line.encode())
            expected = f"line {index + 1}: seq {index + 1}: stored hash does not match"
        elif how == "break_json":
            index = data.draw(st.integers(0, len(lines) - 1), label="line index")
            lines[index] = lines[index][:-1]  # the envelope's closing brace
            expected = f"line {index + 1}: is not valid JSON"
        else:
            # Dropping the last line leaves a shorter chain that is valid on its own: only a
            # head recorded elsewhere can reveal a truncated tail, so drop an earlier line.
            if len(lines) < 2:
                return
            index = data.draw(st.integers(0, len(lines) - 2), label="dropped line index")
            del lines[index]
            expected = f"line {index + 1}: seq {index + 1} is missing"
        with fresh_store(backend) as target:
            with pytest.raises(IntegrityError if how != "break_json" else InputError) as caught:
                restore_text(target, "\n".join(lines) + "\n")
            assert str(caught.value).startswith(expected), str(caught.value)
            assert target.head().seq == 0
            assert list(target.raw_rows()) == []

    check()


# -- upcasting --------------------------------------------------------------------------------
def _legacy_persona_upcaster(payload: dict[str, Any]) -> dict[str, Any]:
    """The fake v1 -> v2 change of persona_engaged: the field `role` became `persona`."""
    if "role" in payload:
        payload["persona"] = payload.pop("role")
    return payload


def _envelopes(events: list[tuple[str, int, str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return a hash-chained export (as envelopes) of (type, version, stream, date, payload)."""
    out: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    versions: dict[str, int] = {}
    for seq, (type_name, version, stream, day, payload) in enumerate(events, start=1):
        versions[stream] = versions.get(stream, 0) + 1
        fields: dict[str, Any] = {
            "seq": seq,
            "event_id": str(uuid.uuid4()),
            "type": type_name,
            "schema_version": version,
            "stream_id": stream,
            "stream_version": versions[stream],
            "effective_at": format_instant(parse_instant(day)),
            "recorded_at": "2021-06-01T12:00:00.000000Z",
            "actor": "legacy",
            "source": "import:legacy.jsonl:1",
            "idempotency_key": None,
            "payload": canonical_json(payload),
        }
        h = chain_hash(prev, envelope_bytes(**fields))
        out.append({**fields, "payload": payload, "prev_hash": prev, "hash": h})
        prev = h
    return out


def test_upcast_applies_registered_steps_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PersonaEngaged, "schema_version", 3)
    monkeypatch.setitem(UPCASTERS, ("persona_engaged", 1), _legacy_persona_upcaster)

    def v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
        payload["persona"] = {"it_sec": "it_security"}.get(payload["persona"], payload["persona"])
        return payload

    monkeypatch.setitem(UPCASTERS, ("persona_engaged", 2), v2_to_v3)
    old = {"deal_id": "D-1", "role": "it_sec"}
    assert upcast("persona_engaged", 1, old) == {"deal_id": "D-1", "persona": "it_security"}
    assert old == {"deal_id": "D-1", "role": "it_sec"}, "the stored payload must not change"
    assert upcast("persona_engaged", 2, {"deal_id": "D-1", "persona": "it_sec"}) == {
        "deal_id": "D-1",
        "persona": "it_security",
    }
    assert upcast("persona_engaged", 3, {"deal_id": "D-1", "persona": "cfo"}) == {
        "deal_id": "D-1",
        "persona": "cfo",
    }
    event = decode_payload("persona_engaged", 1, '{"deal_id":"D-1","role":"it_sec"}')
    assert event == PersonaEngaged(deal_id="D-1", persona="it_security")
    monkeypatch.delitem(UPCASTERS, ("persona_engaged", 2))
    with pytest.raises(InputError, match=r"no upcaster registered for persona_engaged .* 2 -> 3"):
        upcast("persona_engaged", 1, old)


def test_register_upcaster_adds_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: dict[tuple[str, int], Any] = {}
    monkeypatch.setattr(catalog, "UPCASTERS", registry)
    monkeypatch.setattr(PersonaEngaged, "schema_version", 2)
    with pytest.raises(InputError, match="no upcaster registered"):
        decode_payload("persona_engaged", 1, '{"deal_id":"D-2","role":"cfo"}')
    returned = register_upcaster("persona_engaged", 1)(_legacy_persona_upcaster)
    assert returned is _legacy_persona_upcaster
    assert registry == {("persona_engaged", 1): _legacy_persona_upcaster}
    assert decode_payload("persona_engaged", 1, '{"deal_id":"D-2","role":"cfo"}') == (
        PersonaEngaged(deal_id="D-2", persona="cfo")
    )


def test_an_older_payload_is_upcast_on_read_and_its_stored_text_and_hash_stay(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PersonaEngaged, "schema_version", 2)
    monkeypatch.setitem(UPCASTERS, ("persona_engaged", 1), _legacy_persona_upcaster)
    config = LedgerConfigured()
    opened = DealOpened(
        deal_id="D-1", account_id="A-1", stage="demo", amount=1000, expected_close="2021-09-30"
    )
    legacy = {"deal_id": "D-1", "role": "cmio"}
    envelopes = _envelopes(
        [
            ("ledger_configured", 1, "ledger", "2021-01-01", _payload(config)),
            ("deal_opened", 1, "deal:D-1", "2021-02-01", _payload(opened)),
            ("persona_engaged", 1, "deal:D-1", "2021-03-01", legacy),
        ]
    )
    export = "".join(canonical_json(e) + "\n" for e in envelopes)
    with LedgerStore.open(db_url, create=True) as store:
        store.restore(read_export(enumerate(export.split("\n"), start=1)))
        persona = list(store.read())[2]
        assert persona.schema_version == 1
        assert persona.payload == PersonaEngaged(deal_id="D-1", persona="cmio")
        stored = list(store.raw_rows())[2]
        assert stored["payload"] == '{"deal_id":"D-1","role":"cmio"}'
        assert stored["hash"] == envelopes[2]["hash"]
        assert verify_ledger(store).ok

        # New events are written at the current version and the rules read the old one.
        appended = store.append(
            NewEvent(
                PersonaEngaged(deal_id="D-1", persona="cfo"),
                parse_instant("2021-04-01"),
                "t",
                "t",
            )
        )
        latest = list(store.raw_rows())[-1]
        assert (latest["seq"], latest["schema_version"]) == (appended.seq, 2)
        assert latest["payload"] == '{"deal_id":"D-1","persona":"cfo"}'
        assert list(store.raw_rows())[2] == stored

        # Without its upcaster the old payload cannot be read, and verify says where.
        monkeypatch.delitem(UPCASTERS, ("persona_engaged", 1))
        with pytest.raises(InputError, match="no upcaster registered for persona_engaged"):
            list(store.read())
        report = verify_ledger(store)
        assert report.first_bad_seq == 3
        assert "does not decode" in (report.problem or "")


def _payload(event: Any) -> dict[str, Any]:
    return json.loads(payload_json(event))  # type: ignore[no-any-return]


# -- the database schema version ----------------------------------------------------------------
def _meta_version(db_url: str) -> str:
    engine = create_engine(resolve_url(db_url))
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT value FROM revledger_meta WHERE key = 'schema_version'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _has_table(db_url: str, name: str) -> bool:
    engine = create_engine(resolve_url(db_url))
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).has_table(name))
    finally:
        engine.dispose()


def _new_ledger(db_url: str) -> None:
    with LedgerStore.open(db_url, create=True) as store:
        store.append(NewEvent(LedgerConfigured(), parse_instant("2021-01-01"), "t", "t"))


def test_a_ledger_from_a_newer_release_is_refused(db_url: str) -> None:
    _new_ledger(db_url)
    newer = store_schema.SCHEMA_VERSION + 1
    engine = create_engine(resolve_url(db_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE revledger_meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(newer)},
        )
    engine.dispose()
    with pytest.raises(StorageError, match=f"schema version {newer}, newer than"):
        LedgerStore.open(db_url)
    assert _meta_version(db_url) == str(newer)


def test_an_older_ledger_is_migrated_once_on_open(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_ledger(db_url)
    calls: list[int] = []

    def step(conn: Any) -> None:
        calls.append(1)
        conn.execute(text("CREATE TABLE revledger_probe (x INTEGER)"))

    current = store_schema.SCHEMA_VERSION
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(store_schema.MIGRATIONS, current, step)
    with LedgerStore.open(db_url) as store:
        assert store.head().seq == 1
        assert verify_ledger(store).ok
    assert calls == [1]
    assert _meta_version(db_url) == str(current + 1)
    assert _has_table(db_url, "revledger_probe")
    with LedgerStore.open(db_url):
        pass
    assert calls == [1], "a migrated ledger is not migrated again"


def test_a_version_1_ledger_is_migrated_and_new_ledgers_are_still_created(
    db_url: str, tmp_path: Path
) -> None:
    _new_ledger(db_url)
    engine = create_engine(resolve_url(db_url))
    with engine.begin() as conn:  # the tables of version 1: no checkpoints, no recorded_at index
        conn.execute(text("UPDATE revledger_meta SET value = '1'"))
        conn.execute(text("DROP TABLE checkpoints"))
        conn.execute(text("DROP INDEX ix_events_recorded_at"))
    engine.dispose()

    with LedgerStore.open(db_url) as store:
        assert store.head().seq == 1
    _new_ledger(str(tmp_path / "another.db"))  # in the same process, after the migration

    assert _meta_version(db_url) == str(store_schema.SCHEMA_VERSION)
    assert _has_table(db_url, "checkpoints")


def test_a_failed_migration_leaves_the_ledger_at_its_version(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_ledger(db_url)

    def step(conn: Any) -> None:
        conn.execute(text("CREATE TABLE revledger_probe (x INTEGER)"))

    current = store_schema.SCHEMA_VERSION
    # Two versions ahead with only the first step registered: the first step runs, the
    # missing second one fails the open, and the first one is rolled back with it.
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", current + 2)
    monkeypatch.setitem(store_schema.MIGRATIONS, current, step)
    monkeypatch.delitem(store_schema.MIGRATIONS, current + 1, raising=False)
    with pytest.raises(StorageError, match=f"no migration from schema version {current + 1}"):
        LedgerStore.open(db_url)
    assert _meta_version(db_url) == str(current)
    assert not _has_table(db_url, "revledger_probe")


# -- the canonical payload encoding ---------------------------------------------------------------
@given(generated=ledgers())
def test_payload_json_fast_path_writes_what_the_general_encoding_writes(
    generated: GeneratedLedger,
) -> None:
    """The stored payload text is the documented canonical JSON of the event's fields."""
    for line in generated.lines:
        fields = {k: v for k, v in line.items() if k not in RESERVED}
        event = build_event(line["type"], fields)
        general = canonical_json(
            event.model_dump(mode="python", exclude={"type"}, exclude_none=True)
        )
        assert payload_json(event) == general


# -- decoding stored payloads -------------------------------------------------------------------
def _same_model(a: Any, b: Any, *, fields_set: bool = True) -> bool:
    """True when two event models are the same class with the same values (and set fields)."""
    return (
        type(a) is type(b)
        and a == b
        and repr(a) == repr(b)
        and (not fields_set or a.model_fields_set == b.model_fields_set)
        and all(type(getattr(a, f)) is type(getattr(b, f)) for f in type(a).model_fields)
        and [type(s) for s in getattr(a, "stages", ())]
        == [type(s) for s in getattr(b, "stages", ())]
    )


@given(generated=ledgers())
def test_a_stored_payload_decodes_to_the_event_that_was_validated(
    generated: GeneratedLedger,
) -> None:
    """Reading the log back skips the input checks and yields exactly the validated event."""
    built = [
        build_event(line["type"], {k: v for k, v in line.items() if k not in RESERVED})
        for line in generated.lines
    ]
    items = [(e.event_type, type(e).schema_version, payload_json(e)) for e in built]
    decoded = decode_stored_many(items)
    for event, (type_name, version, payload), fast in zip(built, items, decoded, strict=True):
        assert _same_model(fast, event, fields_set=False)  # a stored payload spells defaults
        assert _same_model(fast, decode_payload(type_name, version, payload))
        assert payload_json(fast) == payload


def test_a_stored_payload_out_of_its_class_shape_is_still_refused() -> None:
    """A payload that lacks a required field or has an unknown one does not decode silently."""
    with pytest.raises(ValueError, match="deal_id"):
        decode_stored("stage_changed", 1, '{"stage":"demo"}')
    with pytest.raises(ValueError, match="colour"):
        decode_stored("stage_changed", 1, '{"colour":"red","deal_id":"D-1","stage":"demo"}')
