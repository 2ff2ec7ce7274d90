"""The history of one stream: both orders, how late each event was recorded, events recorded out
of order, and retractions marked (which event, by which retraction, when it became known)."""

from __future__ import annotations

from decimal import Decimal

from ledger.timeutil import parse_instant
from projections.stream_history import stream_history
from tests.inline_log import InlineLog


def deal_log() -> InlineLog:
    log = InlineLog("2026-01-01T00:00:00Z")
    log.add(
        "deal_opened",
        "2026-01-01",
        recorded="2026-01-01T12:00:00Z",
        deal_id="D-1",
        account_id="A-1",
        stage="discovery",
        amount="100000",
        expected_close="2026-09-30",
    )
    log.add(
        "stage_changed",
        "2026-03-01",
        recorded="2026-03-01T06:00:00Z",
        deal_id="D-1",
        stage="legal_review",
    )
    # Learned on Mar 5 that the deal had been in demo since Feb 1.
    log.add(
        "stage_changed", "2026-02-01", recorded="2026-03-05T00:00:00Z", deal_id="D-1", stage="demo"
    )
    log.add(
        "deal_updated",
        "2026-03-10",
        recorded="2026-03-10T00:00:00Z",
        deal_id="D-1",
        amount="120000",
    )
    # Planned ahead: recorded on Mar 25, effective Apr 1.
    log.add(
        "deal_updated", "2026-04-01", recorded="2026-03-25T00:00:00Z", deal_id="D-1", owner="rep-2"
    )
    log.add(
        "event_retracted",
        "2026-03-26",
        recorded="2026-03-26T00:00:00Z",
        retracts=log.events[3].event_id,
        reason="duplicate of a CRM entry",
    )
    return log


def test_both_orders_and_how_late_each_event_was_recorded() -> None:
    lines = stream_history(deal_log().events, None)

    assert [(x.event.seq, x.happened, x.recorded) for x in lines] == [
        (1, 1, 1),
        (3, 2, 3),  # happened second, recorded third
        (2, 3, 2),
        (4, 4, 4),
        (6, 5, 6),  # the retraction, effective when it was written
        (5, 6, 5),
    ]
    lag = {x.event.seq: x.lag_days for x in lines}
    assert lag[1] == Decimal("0.5")
    assert lag[3] == Decimal("32")  # Feb 1 → Mar 5
    assert lag[5] == Decimal("-7")  # recorded a week ahead
    assert [x.event.seq for x in lines if x.out_of_order] == [3]


def test_a_retraction_is_marked_on_both_sides() -> None:
    log = deal_log()
    lines = {x.event.seq: x for x in stream_history(log.events, None)}

    assert lines[4].retracted_by == log.events[5]
    assert lines[6].retracts == log.events[3]
    assert all(lines[s].retracted_by is None for s in (1, 2, 3, 5, 6))


def test_as_known_before_the_retraction_nothing_is_marked_retracted() -> None:
    lines = stream_history(deal_log().events, parse_instant("2026-03-20T00:00:00Z"))

    assert [x.event.seq for x in lines] == [1, 3, 2, 4]
    assert all(x.retracted_by is None and x.retracts is None for x in lines)
