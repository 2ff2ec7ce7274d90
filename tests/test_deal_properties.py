"""Properties of the deal replay that every pipeline, forecast and health answer stands on,
over random valid ledgers (no database): the order events were appended in does not change a
deal, a retracted event counts exactly as if it had never been recorded, and a view known at
some time equals the ledger recorded up to then."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.deals import DealBook, replay_deals
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


@SETTINGS
@given(ledgers(min_events=5), st.data())
def test_a_retracted_event_counts_as_if_it_was_never_recorded(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = log_of(ledger)
    without = without_retractions(log)
    bound = data.draw(instants(log))
    assert digest(replay_deals(log, bound)) == digest(replay_deals(without, bound))


@SETTINGS
@given(ledgers(), st.data())
def test_known_at_before_an_event_equals_the_ledger_without_it_and_what_follows(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = log_of(ledger)
    cut = data.draw(st.integers(0, len(log) - 1))
    known_at = log[cut].recorded_at - timedelta(seconds=1)  # just before event cut+1
    bound = data.draw(instants(log))
    as_known = replay_deals(log, bound, known_at=known_at)
    assert digest(as_known) == digest(replay_deals(log[:cut], bound))
