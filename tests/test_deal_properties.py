"""Properties of the deal replay that every pipeline, forecast and health answer stands on,
over random valid ledgers (no database): the order events were appended in does not change a
deal, a retracted event counts exactly as if it had never been recorded, and a view known at
some instant equals the ledger recorded up to then, whatever is appended after it."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.envelope import RecordedEvent
from projections.deals import DealBook, replay_deals
from tests.known_at_strategies import (
    around_recordings,
    batched_logs,
    counting,
    recorded_by,
    retracted_by,
)
from tests.strategies import GeneratedLedger, ledgers
from tests.test_revenue_properties import (
    SETTINGS,
    instants,
    log_of,
    reordered,
    without_retractions,
)


def digest(book: DealBook) -> dict[str, Any]:
    """Return everything the book says of its deals and quotas, without the seqs that name
    the events (which an append in another order renumbers)."""
    deals = {}
    for deal_id, d in book.deals.items():
        doc = {f.name: getattr(d, f.name) for f in fields(d) if f.name != "events"}
        doc["personas"] = d.personas  # in the order engaged, which a dict's equality ignores
        doc["moves"] = [replace(m, seq=0) for m in d.moves]
        deals[deal_id] = doc
    return {"deals": deals, "quotas": book.quotas}


@SETTINGS
@given(ledgers(), st.randoms(use_true_random=False), st.data())
def test_append_order_does_not_change_a_deal(
    ledger: GeneratedLedger, rng: random.Random, data: st.DataObject
) -> None:
    log = log_of(ledger)
    other = reordered(log, rng)
    bound = data.draw(instants(log))
    assert digest(replay_deals(log, bound)) == digest(replay_deals(other, bound))
    assert digest(replay_deals(log)) == digest(replay_deals(other))


UNDOING = frozenset({"deal_opened", "deal_reopened", "go_live", "churn"})
"""Events whose retraction undoes what a deal is: its opening, a reopening, the go-live of its
contract, and a churn (which ends the account's contracts not live yet)."""


def assert_retractions_count_as_never_recorded(log: list[RecordedEvent], bound: datetime) -> None:
    """Every deal and quota, up to `bound` and over the whole history, is what it is in the
    log without the retractions and the events they name."""
    without = without_retractions(log)
    for upto in (bound, None):
        assert digest(replay_deals(log, upto)) == digest(replay_deals(without, upto)), upto


@SETTINGS
@given(ledgers(min_events=5), st.data())
def test_a_retracted_event_counts_as_if_it_was_never_recorded(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = log_of(ledger)
    assert_retractions_count_as_never_recorded(log, data.draw(instants(log)))


@SETTINGS
@given(ledgers(min_events=10, retract_kinds=UNDOING), st.data())
def test_a_retracted_opening_reopening_go_live_or_churn_counts_as_if_never_recorded(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """The histories lean towards those events and their retractions: a deal opened and the
    opening retracted (the deal is then signed without it, or not at all), a reopening
    retracted (the deal stays lost), a go-live retracted (and often its contract too: the
    deal is signed, or open again, and not live), and a churn that ended a contract not live
    yet, retracted (the contract is pending again, and may go live since)."""
    log = log_of(ledger)
    assert_retractions_count_as_never_recorded(log, data.draw(instants(log)))


@SETTINGS
@given(ledgers(), st.data())
def test_deals_known_at_an_instant_equal_the_ledger_recorded_by_then(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """known_at bounds recording time inclusively: an event recorded at that very instant
    counts and one recorded a microsecond later does not, and the events of one batch (one
    recording instant) count together."""
    log = data.draw(batched_logs(ledger.new_events()))
    known_at = data.draw(around_recordings(log))
    bound = data.draw(st.none() | instants(log))
    as_known = replay_deals(log, bound, known_at=known_at)
    assert digest(as_known) == digest(replay_deals(recorded_by(log, known_at), bound))


@SETTINGS
@given(ledgers(), st.data())
def test_events_recorded_after_an_instant_never_change_the_deals_known_then(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """A deal as known at k depends only on what was recorded by k: however much of the rest
    of the log has been appended since (later events, backdated ones, retractions of events
    recorded by k), every deal and quota as known at k is what it was when the ledger held
    exactly the events recorded by k."""
    log = data.draw(batched_logs(ledger.new_events()))
    known_at = data.draw(around_recordings(log))
    n = len(recorded_by(log, known_at))
    bound = data.draw(st.none() | instants(log))
    then = digest(replay_deals(log[:n], bound))
    for m in sorted({n, data.draw(st.integers(n, len(log))), len(log)}):
        assert digest(replay_deals(log[:m], bound, known_at=known_at)) == then, m


@SETTINGS
@given(ledgers(), st.data())
def test_a_deal_event_known_at_one_instant_is_known_at_every_later_one_until_retracted(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """For k1 <= k2, every event of a deal's stream that shaped the deal as known at k1 and
    that no retraction recorded by k2 names shapes the deal as known at k2. At each instant
    the events of deal streams that shape deals are exactly those that count as known then:
    recorded by then and not named by a retraction recorded by then."""
    log = data.draw(batched_logs(ledger.new_events()))
    k1, k2 = sorted([data.draw(around_recordings(log)), data.draw(around_recordings(log))])

    def deal_events(known_at: datetime) -> set[str]:
        book = replay_deals(log, None, known_at=known_at)
        shaped = {
            e.event_id for d in book.deals.values() for e in d.events if e.payload.family == "deal"
        }
        counted = {e.event_id for e in counting(log, known_at) if e.payload.family == "deal"}
        assert shaped == counted, known_at
        return shaped

    assert deal_events(k1) - retracted_by(log, k2) <= deal_events(k2)
