"""The demo ledger: deterministic per seed, valid, and plausible for a health-tech company.

Plausibility is asserted as ranges on three seeds (each figure computed here from the replayed
deals or taken from the query that owns its definition), so that a change to the generator that
makes the demo unrealistic fails a test.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.demo import DemoHistory, demo_today, generate, load_demo
from ledger.demo.catalogue import TIMEZONE
from ledger.envelope import RecordedEvent
from ledger.errors import ConflictError, InputError, IntegrityError
from ledger.events import (
    Churn,
    ContractSigned,
    DealOpened,
    EventRetracted,
    ForecastSubmitted,
    GoLive,
    QuotaSet,
)
from ledger.operations import export_events, verify_ledger
from ledger.periods import period_of
from ledger.store import LedgerStore
from ledger.timeutil import start_of_day
from projections.deals import DealBook, replay_deals
from queries.common import TimeQuery
from queries.pipeline import regressions_query
from queries.revenue import retention_query
from queries.tour import demo_tour

TODAY = date(2026, 11, 1)
CLOCK = datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)
SEEDS = (1, 2, 3)
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "demo-ledger.jsonl"
CLOCKED = ("ledger.store.batch", "ledger.operations", "queries.common", "ledger.demo.load")


@dataclass(frozen=True)
class Demo:
    """A demo ledger loaded into SQLite, its history as generated and its events as stored."""

    seed: int
    path: str
    history: DemoHistory
    events: list[RecordedEvent]

    def book(self) -> DealBook:
        """Return every deal at the end of the history, as known now."""
        return replay_deals(self.events)

    def store(self) -> LedgerStore:
        return LedgerStore.open(self.path)


def _load(seed: int, folder: Path, today: date = TODAY) -> Demo:
    path = str(folder / f"demo-{seed}.db")
    with pytest.MonkeyPatch.context() as mp:
        for where in CLOCKED:
            mp.setattr(f"{where}.utc_now", lambda: CLOCK)
        loaded = load_demo(path, seed=seed, today=today)
    with LedgerStore.open(path) as store:
        events = list(store.read())
    return Demo(seed, path, loaded.history, events)


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Demo]:
    """Return the demo ledger of a seed, loaded once per test module."""
    folder = tmp_path_factory.mktemp("demo")
    loaded: dict[int, Demo] = {}

    def ledger(seed: int) -> Demo:
        if seed not in loaded:
            loaded[seed] = _load(seed, folder)
        return loaded[seed]

    return ledger


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def demo(request: pytest.FixtureRequest, ledgers: Callable[[int], Demo]) -> Demo:
    return ledgers(request.param)


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for where in CLOCKED:
        monkeypatch.setattr(f"{where}.utc_now", lambda: CLOCK)
    yield


def _signature(h: DemoHistory) -> list[tuple[object, ...]]:
    return [
        (e.event, e.effective_at, e.recorded_at, e.event_id, e.actor, e.source) for e in h.events
    ]


# -- determinism and the committed sample -----------------------------------------------------
def test_the_same_seed_and_day_give_the_same_history() -> None:
    first, again = generate(7, TODAY), generate(7, TODAY)
    assert _signature(first) == _signature(again)
    assert _signature(generate(8, TODAY)) != _signature(first)


def test_the_committed_sample_is_the_export_of_seed_1(ledgers: Callable[[int], Demo]) -> None:
    out = StringIO()
    with ledgers(1).store() as store:
        export_events(store, out)
    assert out.getvalue() == FIXTURE.read_text(encoding="utf-8"), (
        "fixtures/demo-ledger.jsonl is stale; regenerate it (see README, 'The demo ledger')"
    )


# -- a valid ledger -----------------------------------------------------------------------------
def test_the_ledger_verifies(demo: Demo) -> None:
    with demo.store() as store:
        report = verify_ledger(store)
    assert report.ok, report.problem
    assert report.head_seq == len(demo.history.events) == len(demo.events)


def test_nothing_is_effective_or_recorded_from_today_on(demo: Demo) -> None:
    cutoff = start_of_day(TODAY, TIMEZONE)
    assert all(e.effective_at < cutoff and e.recorded_at < cutoff for e in demo.events)
    first = start_of_day(date(2023, 11, 1), TIMEZONE)
    assert all(e.effective_at >= first for e in demo.events)
    recorded = [e.recorded_at for e in demo.events]
    assert recorded == sorted(recorded)
    assert all(e.source == "backfill:demo" for e in demo.events)


# -- what the company is -------------------------------------------------------------------------
def test_size_segments_channels_personas_frameworks_and_baas(demo: Demo) -> None:
    book = demo.book()
    deals = list(book.deals.values())
    contracts = [d.contract for d in deals if d.contract is not None]
    assert len(deals) >= 400
    assert demo.history.deals == len(deals)
    customers = {d.account_id for d in deals if d.contract is not None}
    assert len(customers) >= 120
    assert demo.history.customers == len(customers)
    assert {d.segment for d in deals} == {"health_system", "clinic", "payer", "life_sciences"}
    channels = {d.channel for d in deals}
    assert "direct" in channels
    assert len({c for c in channels if c and c.startswith("partner:")}) >= 4
    assert len({p for d in deals for p in d.personas}) >= 10
    assert {r.framework for d in deals for r in d.reviews} >= {"hitrust", "soc2", "hecvat"}
    baa = sum(1 for c in contracts if c.baa_signed) / len(contracts)
    assert 0.6 <= baa < 1.0
    assert sum(1 for c in contracts if c.standard_terms) > 0


def test_sales_cycles_take_nine_to_eighteen_months(demo: Demo) -> None:
    won = [d for d in demo.book().deals.values() if d.status == "won" and d.opened_at]
    days = [(d.closed_at - d.opened_at).days for d in won if d.closed_at and d.opened_at]
    assert 9 * 30.4 <= median(days) <= 18 * 30.4


def test_security_questionnaires_take_twenty_to_a_hundred_and_twenty_days(demo: Demo) -> None:
    cycles = [
        (r.completed_at - r.started_at).days
        for d in demo.book().deals.values()
        for r in d.reviews
        if r.completed_at is not None
    ]
    assert len(cycles) >= 100
    assert 20 <= median(cycles) <= 120


def test_go_lives_lag_signatures_by_weeks_to_months(demo: Demo) -> None:
    lags = [
        (d.live_at - d.closed_at).days
        for d in demo.book().deals.values()
        if d.live_at is not None and d.closed_at is not None
    ]
    assert min(lags) >= 7
    assert 21 <= median(lags) <= 180


def test_about_one_deal_in_ten_regresses(demo: Demo) -> None:
    with demo.store() as store:
        moved, _ = regressions_query(
            store, TimeQuery(TODAY.isoformat()), start="2025-11-02", end=TODAY.isoformat()
        )
    rate = moved.total.regression_rate
    assert moved.total.deals_moved >= 100
    assert rate is not None and Decimal("0.05") <= rate <= Decimal("0.20")


def test_nrr_as_of_the_last_quarter_end_is_plausible(demo: Demo) -> None:
    with demo.store() as store:
        kept, _ = retention_query(store, TimeQuery("2026-09-30"))
    assert kept.total.accounts >= 25
    nrr, grr = kept.total.nrr, kept.total.grr
    assert nrr is not None and Decimal("0.9") <= nrr <= Decimal("1.3")
    assert grr is not None and Decimal("0.8") <= grr <= 1


def test_customers_expand_contract_churn_and_come_back(demo: Demo) -> None:
    types = [e.type for e in demo.events]
    assert types.count("expansion") >= 30
    assert types.count("contraction") >= 1
    assert types.count("churn") >= 3
    churned: set[str] = set()
    reactivated = 0
    for e in sorted(demo.events, key=lambda e: e.replay_key):
        if isinstance(e.payload, Churn):
            churned.add(e.payload.account_id)
        elif isinstance(e.payload, GoLive) and e.payload.account_id in churned:
            churned.discard(e.payload.account_id)
            reactivated += 1
    assert reactivated >= 1


def test_every_quarter_has_a_quota_and_its_forecast_calls(demo: Demo) -> None:
    quarters = {
        period_of(date(2023, 11, 1) + timedelta(days=n), "quarter").label for n in range(1096)
    }
    quotas = {e.payload.period for e in demo.events if isinstance(e.payload, QuotaSet)}
    assert quotas == quarters
    calls: dict[str, int] = {}
    for e in demo.events:
        if isinstance(e.payload, ForecastSubmitted):
            calls[e.payload.period] = calls.get(e.payload.period, 0) + 1
    full = quarters - {"2023-Q4", "2026-Q4"}
    assert all(calls.get(q) == 3 for q in full)


# -- what the ledger learned, and when ---------------------------------------------------------
def test_some_events_are_recorded_late_some_ahead_and_some_retracted(demo: Demo) -> None:
    events = demo.events
    late = [e for e in events if e.recorded_at - e.effective_at >= timedelta(days=3)]
    assert len(late) >= len(events) // 50
    # Backdated: recorded after a later-effective event of the same stream was recorded.
    latest: dict[str, datetime] = {}
    backdated = 0
    for e in events:
        if e.effective_at < latest.get(e.stream_id, e.effective_at):
            backdated += 1
        latest[e.stream_id] = max(latest.get(e.stream_id, e.effective_at), e.effective_at)
    assert backdated >= 20
    notices = [e for e in events if isinstance(e.payload, Churn)]
    assert notices and all(e.recorded_at < e.effective_at for e in notices)
    by_id = {e.event_id: e for e in events}
    retractions = [e for e in events if isinstance(e.payload, EventRetracted)]
    assert len(retractions) >= 3
    for r in retractions:
        assert isinstance(r.payload, EventRetracted)
        target = by_id[r.payload.retracts]
        assert target.seq < r.seq and target.type in ("deal_updated", "expansion")


def test_a_late_entry_changes_what_was_known(demo: Demo) -> None:
    quarter_end = start_of_day(date(2026, 10, 1), TIMEZONE)
    then = replay_deals(demo.events, quarter_end, quarter_end)
    now = replay_deals(demo.events, quarter_end)
    changed = [
        k for k, d in now.deals.items() if k not in then.deals or then.deals[k].visits != d.visits
    ]
    assert changed


# -- the use case -------------------------------------------------------------------------------
def test_the_demo_refuses_a_ledger_that_holds_events(tmp_path: Path, clocked: None) -> None:
    path = str(tmp_path / "busy.db")
    with LedgerStore.open(path, create=True) as store:
        store.append_batch(generate(1, date(2024, 2, 1)).events[:3])
    with pytest.raises(ConflictError, match="already holds 3 events; the demo needs a new ledger"):
        load_demo(path, seed=1, today=TODAY)
    with LedgerStore.open(path) as store:
        assert store.head().seq == 3


def test_today_is_a_past_or_present_day(clocked: None) -> None:
    assert demo_today(None) == date(2026, 11, 2)
    assert demo_today("2025-06-30") == date(2025, 6, 30)
    with pytest.raises(InputError, match=r"option '--today'.*is after today \(2026-11-02"):
        demo_today("2026-11-03")
    with pytest.raises(InputError, match="option '--today'"):
        demo_today("next week")


@settings(max_examples=3)
@given(seed=st.integers(0, 2**32), days_back=st.integers(0, 900))
def test_any_seed_and_day_give_a_ledger_the_store_accepts(seed: int, days_back: int) -> None:
    today = TODAY - timedelta(days=days_back)
    history = generate(seed, today)
    cutoff = start_of_day(today, TIMEZONE)
    recorded = [e.recorded_at for e in history.events]
    assert all(r is not None and r < cutoff for r in recorded)
    assert all(e.effective_at < cutoff for e in history.events)
    ids = [e.event_id for e in history.events]
    assert all(ids) and len(set(ids)) == len(ids)
    signed = [e for e in history.events if isinstance(e.event, ContractSigned)]
    opened = [e for e in history.events if isinstance(e.event, DealOpened)]
    assert len(opened) >= 400 and signed
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as folder:
        mp.setattr("ledger.store.batch.utc_now", lambda: CLOCK)
        with LedgerStore.open(str(Path(folder) / "any.db"), create=True) as store:
            result = store.append_batch(history.events)
            assert result.appended == len(history.events)
            assert verify_ledger(store).ok


def test_a_demo_ledger_whose_chain_does_not_verify_gets_no_tour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the ledger the demo wrote not verify (here: an actor edited behind its back),
    the demo says where instead of touring it."""
    path = str(tmp_path / "demo.db")

    def load_then_edit(db: str, **options: Any) -> Any:
        loaded = load_demo(db, **options)
        conn = sqlite3.connect(db)
        conn.execute("DROP TRIGGER events_reject_update")
        conn.execute("UPDATE events SET actor = 'someone else' WHERE seq = 7")
        conn.commit()
        conn.close()
        return loaded

    monkeypatch.setattr("queries.tour.load_demo", load_then_edit)
    with pytest.raises(IntegrityError, match="the new demo ledger failed verification at seq 7"):
        demo_tour(path, seed=1, today=TODAY)
    monkeypatch.undo()
    assert demo_tour(str(tmp_path / "whole.db"), seed=1, today=TODAY).verified_upto > 4000
