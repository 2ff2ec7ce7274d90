"""The forecast-change audit: every changed deal once, one category by precedence, its delta
and the events between the two views that caused it; forecast(A) + Σ deltas = forecast(B)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from ledger.errors import IntegrityError
from ledger.periods import parse_period
from ledger.timeutil import parse_instant, zone
from projections.forecast import Calendar, Contribution
from projections.forecast_diff import ForecastDiff, View, check_sums, describe, forecast_diff
from tests.inline_log import InlineLog, day
from tests.test_forecast import open_deal

Q4 = parse_period("2026-Q4")
KNOWN_A = parse_instant("2026-10-01T23:59:59Z")
KNOWN_B = parse_instant("2026-11-01T23:59:59Z")
A = View(day("2026-10-01"), KNOWN_A)
B = View(day("2026-11-01"), KNOWN_B)


def october() -> InlineLog:
    """Q4 deals as known on Oct 1, and what October brought (each recorded on its day)."""
    log = InlineLog("2026-03-01T00:00:00Z")
    open_deal(log, "D-PULL", "demo", "100000", "2027-01-15")
    open_deal(log, "D-PUSH", "legal_review", "50000", "2026-11-30")
    open_deal(log, "D-WIN", "negotiation", "200000", "2026-10-31")
    open_deal(log, "D-LOSE", "security_review", "80000", "2026-12-31")
    open_deal(log, "D-BOTH", "demo", "100000", "2026-11-15")
    open_deal(log, "D-BACK", "discovery", "100000", "2026-12-15")
    open_deal(log, "D-QUIET", "qualification", "10000", "2026-12-20")
    open_deal(log, "D-RETRACT", "demo", "60000", "2026-11-20")
    log.add(
        "deal_updated",
        "2026-08-01",
        recorded="2026-08-01T12:00:00Z",
        deal_id="D-RETRACT",
        amount="90000",
    )
    # October, each recorded on the day it happened, except the backdated stage change.
    log.add(
        "deal_updated",
        "2026-10-10",
        recorded="2026-10-10T12:00:00Z",
        deal_id="D-PULL",
        expected_close="2026-12-15",
    )
    log.add(
        "deal_updated",
        "2026-10-12",
        recorded="2026-10-12T12:00:00Z",
        deal_id="D-PUSH",
        expected_close="2027-02-28",
    )
    open_deal(
        log, "D-NEW", "discovery", "30000", "2026-12-01", when="2026-10-15",
        recorded="2026-10-15T12:00:00Z",
    )  # fmt: skip
    log.add(
        "stage_changed",
        "2026-09-15",
        recorded="2026-10-16T12:00:00Z",
        deal_id="D-BACK",
        stage="legal_review",
    )
    log.add(
        "deal_updated",
        "2026-10-18",
        recorded="2026-10-18T12:00:00Z",
        deal_id="D-BOTH",
        amount="150000",
    )
    log.add("stage_changed", "2026-10-18", deal_id="D-BOTH", stage="security_review")
    log.add("persona_engaged", "2026-10-19", deal_id="D-QUIET", persona="cfo")
    log.add("contract_signed", "2026-10-20", recorded="2026-10-20T12:00:00Z", deal_id="D-WIN",
            arr="180000")  # fmt: skip
    retracted = next(
        e
        for e in log.events
        if e.type == "deal_updated" and getattr(e.payload, "deal_id", None) == "D-RETRACT"
    )
    log.add(
        "event_retracted",
        "2026-10-22",
        recorded="2026-10-22T12:00:00Z",
        retracts=retracted.event_id,
        reason="recorded against the wrong deal",
    )
    log.add("deal_lost", "2026-10-25", recorded="2026-10-25T12:00:00Z", deal_id="D-LOSE")
    # Recorded after view B: effective in the interval but unknown to B.
    log.add(
        "stage_changed",
        "2026-10-20",
        recorded="2026-11-05T12:00:00Z",
        deal_id="D-QUIET",
        stage="negotiation",
    )
    return log


def _rows(diff: ForecastDiff) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(c.deal_id, c.category, c.delta.unweighted, c.delta.weighted) for c in diff.changes]


def test_each_changed_deal_once_with_its_category_and_delta() -> None:
    diff = forecast_diff(october().events, Q4, A, B)

    assert _rows(diff) == [
        ("D-WIN", "won", Decimal("-200000"), Decimal("-170000")),
        ("D-LOSE", "lost", Decimal("-80000"), Decimal("-44000")),
        ("D-NEW", "new", Decimal("30000"), Decimal("6000")),
        ("D-PULL", "pulled_in", Decimal("100000"), Decimal("30000")),
        ("D-PUSH", "pushed_out", Decimal("-50000"), Decimal("-35000")),
        # Amount up and stage forward in the same interval: stage_forward comes first.
        ("D-BOTH", "stage_forward", Decimal("50000"), Decimal("52500")),
        ("D-BACK", "restated", Decimal("0"), Decimal("50000")),
        ("D-RETRACT", "restated", Decimal("-30000"), Decimal("-9000")),
    ]
    won = diff.changes[0]
    assert won.delta == Contribution(
        closed_won=Decimal("180000"),
        unweighted=Decimal("-200000"),
        weighted=Decimal("-170000"),
        commit=Decimal("-200000"),
    )


def test_forecast_a_plus_the_deltas_is_forecast_b() -> None:
    diff = forecast_diff(october().events, Q4, A, B)

    # By hand: A = 630000 unweighted, 327000 weighted; B = 450000, 207500, 180000 closed won.
    assert diff.before.total == Contribution(
        unweighted=Decimal("630000"),
        weighted=Decimal("327000"),
        commit=Decimal("250000"),
        best_case=Decimal("80000"),
    )
    assert diff.after.total == Contribution(
        closed_won=Decimal("180000"),
        unweighted=Decimal("450000"),
        weighted=Decimal("207500"),
        commit=Decimal("100000"),
        best_case=Decimal("150000"),
    )
    total = diff.before.total
    for c in diff.changes:
        total += c.delta
    assert total == diff.after.total
    assert diff.by_category["restated"] == Contribution(
        unweighted=Decimal("-30000"),
        weighted=Decimal("41000"),
        commit=Decimal("100000"),
    )


def test_the_causes_are_the_events_between_the_views() -> None:
    diff = forecast_diff(october().events, Q4, A, B)
    causes = {
        c.deal_id: [(x.event.payload.event_type, x.axis) for x in c.causes] for c in diff.changes
    }

    assert causes["D-WIN"] == [("contract_signed", "valid")]
    assert causes["D-BOTH"] == [("deal_updated", "valid"), ("stage_changed", "valid")]
    assert causes["D-BACK"] == [("stage_changed", "known")]  # backdated to Sep 15
    retraction = diff.changes[-1].causes
    assert [(x.event.payload.event_type, x.axis) for x in retraction] == [
        ("event_retracted", "known")
    ]
    assert retraction[0].retracts is not None
    assert retraction[0].retracts.payload.event_type == "deal_updated"
    for change in diff.changes:
        for cause in change.causes:
            e = cause.event
            assert A.bound <= e.effective_at < B.bound or KNOWN_A < e.recorded_at <= KNOWN_B


def test_a_backdated_stage_change_is_restated_between_two_known_at_of_one_as_of() -> None:
    as_of = day("2026-10-01")
    diff = forecast_diff(october().events, Q4, View(as_of, KNOWN_A), View(as_of, KNOWN_B))

    # Same business day, more knowledge: only the backdated change and the retraction count.
    assert _rows(diff) == [
        ("D-BACK", "restated", Decimal("0"), Decimal("50000")),
        ("D-RETRACT", "restated", Decimal("-30000"), Decimal("-9000")),
    ]


def test_between_two_as_of_days_known_now_nothing_is_restated() -> None:
    diff = forecast_diff(
        october().events, Q4, View(day("2026-10-01"), None), View(day("2026-11-01"), None)
    )

    categories = {c.deal_id: c.category for c in diff.changes}
    # Known now, the backdated stage change and the retraction are in both views.
    assert "D-BACK" not in categories and "D-RETRACT" not in categories
    # D-QUIET's late-recorded move to negotiation is known now: it is a stage move.
    assert categories["D-QUIET"] == "stage_forward"


def test_lost_and_reopened_is_new_and_a_probability_override_is_a_category_change() -> None:
    log = InlineLog("2026-03-01T00:00:00Z")
    open_deal(log, "D-RE", "demo", "10000", "2026-11-01")
    log.add("deal_lost", "2026-09-01", deal_id="D-RE")
    open_deal(log, "D-PROB", "demo", "10000", "2026-11-01")
    open_deal(log, "D-CAT", "demo", "10000", "2026-11-01")
    open_deal(log, "D-DOWN", "negotiation", "10000", "2026-11-01")
    open_deal(log, "D-AMT", "demo", "10000", "2026-11-01")
    log.add("deal_reopened", "2026-10-05", deal_id="D-RE", stage="demo")
    log.add("deal_updated", "2026-10-06", deal_id="D-PROB", probability="0.5")
    log.add("deal_updated", "2026-10-07", deal_id="D-CAT", forecast_category="omitted")
    log.add("stage_changed", "2026-10-08", deal_id="D-DOWN", stage="discovery")
    log.add("deal_updated", "2026-10-09", deal_id="D-AMT", amount="9000")

    diff = forecast_diff(
        log.events, Q4, View(day("2026-10-01"), None), View(day("2026-10-31"), None)
    )

    assert [(c.deal_id, c.category) for c in diff.changes] == [
        ("D-RE", "new"),
        ("D-DOWN", "stage_backward"),
        ("D-AMT", "amount_down"),
        ("D-CAT", "category_change"),
        ("D-PROB", "category_change"),
    ]
    assert diff.changes[-1].delta.weighted == Decimal("2000")  # 10000 × (0.5 − 0.3)
    assert diff.changes[-2].delta.unweighted == Decimal("-10000")  # omitted drops out


def test_the_views_may_be_given_in_either_order() -> None:
    forward = forecast_diff(october().events, Q4, A, B)
    backward = forecast_diff(october().events, Q4, B, A)

    assert backward.before.total == forward.after.total
    assert {c.deal_id: c.delta for c in backward.changes} == {
        c.deal_id: Contribution() - c.delta for c in forward.changes
    }


def test_deltas_that_do_not_sum_are_an_integrity_error() -> None:
    diff = forecast_diff(october().events, Q4, A, B)
    tampered = [
        replace(diff.changes[0], delta=Contribution(weighted=Decimal("1"))),
        *diff.changes[1:],
    ]

    with pytest.raises(IntegrityError, match="does not sum: closed_won"):
        check_sums(diff.before, diff.after, tampered)
    with pytest.raises(IntegrityError, match="appears twice"):
        check_sums(diff.before, diff.after, [*diff.changes, diff.changes[0]])


def test_a_move_out_of_a_stage_dropped_since_is_neither_forward_nor_backward() -> None:
    pilot_pipeline = [
        {"name": "demo", "probability": "0.3"},
        {"name": "pilot", "probability": "0.5"},
        {"name": "negotiation", "probability": "0.8"},
    ]
    log = InlineLog("2026-03-01T00:00:00Z")
    log.add("ledger_configured", "2026-01-01", stages=pilot_pipeline)
    open_deal(log, "D-PILOT", "pilot", "10000", "2026-11-15")
    open_deal(log, "D-DEMO", "demo", "10000", "2026-11-15")
    log.add("stage_changed", "2026-10-10", deal_id="D-PILOT", stage="negotiation")
    log.add("stage_changed", "2026-10-11", deal_id="D-DEMO", stage="negotiation")
    # No deal stands in the pilot stage any more: the pipeline drops it.
    log.add("ledger_configured", "2026-10-20", stages=[pilot_pipeline[0], pilot_pipeline[2]])

    diff = forecast_diff(
        log.events, Q4, View(day("2026-10-01"), None), View(day("2026-10-31"), None)
    )

    # Read with today's pipeline, the pilot stage is no place in the order: D-PILOT's move
    # changed its probability, not its place; D-DEMO moved forward.
    assert [(c.deal_id, c.category) for c in diff.changes] == [
        ("D-DEMO", "stage_forward"),
        ("D-PILOT", "category_change"),
    ]
    assert diff.changes[1].delta.weighted == Decimal("8000")  # 10000 × (0.8 − 0)


def test_a_win_retracted_and_signed_again_later_is_won_and_says_when() -> None:
    log = InlineLog("2026-09-01T00:00:00Z")
    open_deal(log, "D-RESIGN", "negotiation", "100000", "2026-11-30", when="2026-09-01")
    signed = log.add("contract_signed", "2026-10-15", recorded="2026-10-16T11:00:00Z",
                     deal_id="D-RESIGN", arr="90000")  # fmt: skip
    retraction = log.add("event_retracted", "2026-11-05", recorded="2026-11-05T11:00:00Z",
                         retracts=signed.event_id, reason="signed on the wrong terms")  # fmt: skip
    again = log.add("contract_signed", "2026-11-20", recorded="2026-11-21T11:00:00Z",
                    deal_id="D-RESIGN", arr="95000")  # fmt: skip
    a = View(day("2026-10-31"), parse_instant("2026-10-31T23:59:59Z"))

    diff = forecast_diff(log.events, Q4, a, View(day("2026-11-30"), None))

    # A: won on Oct 15 for 90000. Known now, on Oct 31 the deal was still open (the first
    # contract is retracted), and it was won on Nov 20 for 95000: won, +5000 closed won.
    [change] = diff.changes
    assert (change.category, change.delta) == ("won", Contribution(closed_won=Decimal("5000")))
    assert [(c.event.seq, c.axis) for c in change.causes] == [
        (retraction.seq, "known"),
        (again.seq, "valid"),
    ]
    assert describe(change, diff.pipeline_before, diff.pipeline_after) == [
        "signed ARR 90000 → 95000",
        "closed 2026-10-15T00:00:00Z → 2026-11-20T00:00:00Z",
    ]


def test_an_amount_raised_alone_is_amount_up() -> None:
    log = InlineLog("2026-03-01T00:00:00Z")
    open_deal(log, "D-1", "demo", "100000", "2026-11-15")
    log.add("deal_updated", "2026-10-18", deal_id="D-1", amount="150000")

    diff = forecast_diff(
        log.events, Q4, View(day("2026-10-01"), None), View(day("2026-11-01"), None)
    )

    # 50000 more at demo's 0.30: 15000 more weighted.
    assert _rows(diff) == [("D-1", "amount_up", Decimal("50000"), Decimal("15000.00"))]


def test_a_deal_not_yet_opened_in_view_b_is_lost_from_the_forecast() -> None:
    # View B's as-of is before the opening: going from A to B the deal leaves the forecast.
    log = InlineLog("2026-03-01T00:00:00Z")
    open_deal(log, "D-1", "demo", "30000", "2026-12-01", when="2026-10-15")

    diff = forecast_diff(
        log.events, Q4, View(day("2026-11-01"), None), View(day("2026-10-01"), None)
    )

    assert _rows(diff) == [("D-1", "lost", Decimal("-30000"), Decimal("-9000.00"))]
    assert [(c.event.payload.event_type, c.axis) for c in diff.changes[0].causes] == [
        ("deal_opened", "valid")
    ]


def test_a_calendar_difference_no_configuration_explains_is_an_integrity_error() -> None:
    # A reads 2026-Q4 with fiscal years from February (2025-11-01..2026-01-31), B as calendar
    # quarters, yet no ledger_configured event lies between them: nothing explains D-1.
    log = InlineLog("2026-03-01T00:00:00Z")
    open_deal(log, "D-1", "demo", "100000", "2026-11-15")
    view = View(day("2026-10-01"), None)
    fiscal = Calendar(parse_period("2026-Q4", fiscal_start=2))

    with pytest.raises(IntegrityError, match="no event between them explains it"):
        forecast_diff(log.events, Q4, view, view, a_calendar=fiscal)


def test_a_deal_opened_at_the_utc_close_of_a_new_york_day_is_restated_by_the_reconfiguration() -> (
    None
):
    """View A knows the ledger on New York time; B (an earlier as-of) knows it on UTC. A deal
    opened at 00:00 UTC on Nov 2, still Nov 1 in New York, is in A's forecast of Nov 1 only
    by A's time zone: the reconfiguration is its one cause, not the opening."""
    log = InlineLog("2026-03-01T00:00:00Z")
    log.add("ledger_configured", "2026-01-01", timezone="America/New_York")
    open_deal(log, "D-1", "demo", "100000", "2026-12-15", when="2026-11-02T00:00:00Z")
    known_a = log.now
    log.add("ledger_configured", "2026-01-01", timezone="UTC")
    new_york = zone("America/New_York")
    a = View(parse_instant("2026-11-02T04:00:00Z"), known_a)  # the close of Nov 1 in New York
    b = View(day("2026-10-01"), None)

    diff = forecast_diff(
        log.events, Q4, a, b,
        a_calendar=Calendar(Q4, lambda t: t.astimezone(new_york).date()),
        a_bound_in_b=day("2026-11-01"),
    )  # fmt: skip

    [change] = diff.changes
    assert (change.deal_id, change.category, change.delta.unweighted) == (
        "D-1",
        "restated",
        Decimal("-100000"),
    )
    assert [(c.event.payload.event_type, c.axis) for c in change.causes] == [
        ("ledger_configured", "known")
    ]
