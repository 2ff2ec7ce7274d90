"""What deal questions read from the store, held against a replay of the whole log (on both
backends): the book a question streams in replay order up to its bound (configurations and
retractions read first, events after the bound never read) is the book `replay_deals` makes of
every event of the log prefix, and the events a forecast question holds are those
`forecast_events` keeps of them; at every head an append left and every as-of bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.envelope import NewEvent
from ledger.events import LedgerConfigured
from ledger.periods import parse_period, period_of
from ledger.store import Head, LedgerStore
from ledger.store import store as store_module
from ledger.timeutil import parse_instant, read_instant
from projections.deals import DealBook, replay_deals
from projections.forecast import forecast_events
from queries.common import TimeFrame, time_frame
from queries.deals import DEAL_QUESTION_TYPES, period_frame, streamed_book
from tests.conftest import events_from
from tests.strategies import GeneratedLedger, batch_splits, ledgers, split
from tests.test_deal_properties import UNDOING, digest
from tests.test_revenue_properties import log_of
from tests.test_roundtrip_properties import _settings, append_all, backend, fresh_store

__all__ = ["backend"]  # the fixture the properties run under


@st.composite
def _histories(draw: st.DrawFn) -> tuple[GeneratedLedger, list[list[NewEvent]]]:
    """Draw a history (leaning, in a third of them each, to retracted openings, reopenings,
    go-lives and churns, or to later configurations that reorder the pipeline and change its
    probabilities) cut into the batches it is appended in."""
    ledger = draw(
        ledgers(min_events=5)
        | ledgers(min_events=10, retract_kinds=UNDOING)
        | ledgers(min_events=10, pipeline_changes=True)
    )
    news = ledger.new_events()
    return ledger, split(news, draw(batch_splits(len(news))))


def _frame_at(store: LedgerStore, head: Head) -> TimeFrame:
    """Return the frame of a question known at the recording of `head` (its log prefix)."""
    now = time_frame(store, None)
    assert head.recorded_at is not None
    known_at = read_instant(head.recorded_at)
    return replace(now, head=head, known_at=known_at, upto_seq=head.seq)


def _without_events(book: DealBook) -> DealBook:
    for d in book.deals.values():
        d.events = []
    return book


def test_a_streamed_book_and_a_forecast_s_events_equal_those_of_the_whole_log(
    backend: str,
) -> None:
    @_settings(backend)
    @given(_histories(), st.data())
    def check(case: tuple[GeneratedLedger, list[list[NewEvent]]], data: st.DataObject) -> None:
        ledger, batches = case
        days = sorted({e.effective_at for e in log_of(ledger)})
        with fresh_store(backend) as store:
            heads = []
            for batch in batches:
                append_all(store, batch, [])
                heads.append(store.head())
            log = list(store.read_logged(types=DEAL_QUESTION_TYPES))
            for head in heads:
                frame = _frame_at(store, head)
                prefix = [e for e in log if e.seq <= head.seq]
                at = data.draw(st.sampled_from(days))  # an event's instant, or its day's close
                bound = at if data.draw(st.booleans()) else frame.bound(frame.day_of(at))
                streamed = streamed_book(store, frame, bound)
                whole = replay_deals(prefix, bound, frame.known_at)
                assert digest(streamed) == digest(whole)
                assert streamed.pipeline == whole.pipeline
                assert streamed == _without_events(whole)

                day: date = frame.day_of(data.draw(st.sampled_from(days)))
                label = period_of(day, "quarter", frame.config.fiscal_year_start_month).label
                starts = {frame.config.fiscal_year_start_month} | {
                    e.payload.fiscal_year_start_month
                    for e in prefix
                    if isinstance(e.payload, LedgerConfigured)
                }
                periods = [parse_period(label, s) for s in sorted(starts)]
                held = period_frame(store, frame, label).events
                assert held == forecast_events(prefix, periods)

    check()


def _opened(deal: str, at: str) -> str:
    return (
        f'{{"type":"deal_opened","effective_at":"{at}","deal_id":"{deal}","account_id":"A-1",'
        '"stage":"discovery","amount":"1000","expected_close":"2025-06-30"}'
    )


def _moved(deal: str, at: str, stage: str) -> str:
    return f'{{"type":"stage_changed","effective_at":"{at}","deal_id":"{deal}","stage":"{stage}"}}'


@pytest.mark.parametrize("late_batch", [1, store_module.LATE_BATCH])
def test_events_recorded_late_are_read_in_their_place_in_replay_order(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch, late_batch: int
) -> None:
    """Events recorded after others that are effective later (backdated) come in replay
    order, (effective_at, seq), among those recorded in business order; with an effective
    bound, only those before it come."""
    monkeypatch.setattr(store_module, "LATE_BATCH", late_batch)
    store.append_batch(
        events_from(
            [
                _opened("D-1", "2025-03-01T09:00:00Z"),
                _moved("D-1", "2025-03-05T09:00:00Z", "demo"),
                _opened("D-2", "2025-01-01T09:00:00Z"),  # late: effective before the last
                _moved("D-1", "2025-04-01T09:00:00Z", "negotiation"),
                _moved("D-2", "2025-03-05T09:00:00Z", "demo"),  # late, at the same instant
                _moved("D-2", "2025-02-01T09:00:00Z", "qualification"),  # late
                _opened("D-3", "2025-05-01T09:00:00Z"),
            ]
        )
    )
    logged = list(store.read_logged(types=["deal_opened", "stage_changed"]))
    in_order = sorted(logged, key=lambda e: (e.effective_at, e.seq))
    assert in_order != logged
    assert list(store.read_logged(types=["stage_changed", "deal_opened"], replay_order=True)) == (
        in_order
    )
    bound = parse_instant("2025-04-01T09:00:00Z")
    before = list(
        store.read_logged(
            types=["deal_opened", "stage_changed"], effective_before=bound, replay_order=True
        )
    )
    assert before == [e for e in in_order if e.effective_at < bound]
    assert [e.payload.deal_id for e in before] == ["D-2", "D-2", "D-1", "D-1", "D-2"]  # type: ignore[attr-defined]
