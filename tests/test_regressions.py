"""Regressions over a window on small inline ledgers: counted once per backward move."""

from __future__ import annotations

from decimal import Decimal

from ledger.timeutil import parse_instant
from projections.deals import replay_deals
from projections.regressions import regressions
from projections.slices import Span
from tests.inline_log import InlineLog, day
from tests.pipeline_log import open_deal

Q1 = Span(day("2024-12-31"), day("2025-03-31"))


def _move(log: InlineLog, deal: str, when: str, stage: str) -> None:
    log.add("stage_changed", when, deal_id=deal, stage=stage)


def test_a_regression_counts_once_per_backward_move_and_the_deal_once() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", stage="demo")
    _move(log, "D-1", "2025-01-10", "discovery")  # backward
    _move(log, "D-1", "2025-01-20", "security_review")  # forward
    _move(log, "D-1", "2025-02-01", "qualification")  # backward
    result = regressions(replay_deals(log.events), Q1)

    t = result.total
    assert (t.deals_moved, t.deals_regressed, t.transitions, t.backward) == (1, 1, 3, 2)
    assert t.regression_rate == 1
    assert t.backward_share == Decimal(2) / Decimal(3)
    assert [(m.move.from_stage, m.move.to_stage) for m in result.regressions] == [
        ("demo", "discovery"),
        ("security_review", "qualification"),
    ]


def test_the_regression_rate_counts_only_moves_effective_in_the_window() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2024-11-01")
    _move(log, "D-1", "2024-12-31", "demo")  # the day before the window
    _move(log, "D-1", "2025-01-01", "discovery")  # first day, backward
    open_deal(log, "D-2", "2024-11-01")
    _move(log, "D-2", "2025-03-31", "demo")  # last day, forward
    open_deal(log, "D-3", "2024-11-01", stage="negotiation")
    _move(log, "D-3", "2025-02-15", "legal_review")  # backward
    _move(log, "D-3", "2025-04-01", "demo")  # the day after: backward, not counted
    open_deal(log, "D-4", "2025-01-05")  # opened in the window but never moved
    open_deal(log, "D-5", "2024-11-01")
    _move(log, "D-5", "2025-03-01", "discovery")
    result = regressions(replay_deals(log.events), Q1)

    t = result.total
    assert (t.deals_moved, t.deals_regressed) == (4, 2)
    assert t.regression_rate == Decimal("0.5")
    assert (t.transitions, t.backward) == (4, 2)
    assert [m.deal_id for m in result.regressions] == ["D-1", "D-3"]
    december = regressions(replay_deals(log.events), Span(day("2024-11-30"), day("2024-12-31")))
    assert (december.total.deals_moved, december.total.backward) == (1, 0)
    assert december.total.regression_rate == 0
    nothing = regressions(replay_deals(log.events), Span(day("2024-06-30"), day("2024-07-31")))
    assert nothing.total.regression_rate is None and nothing.total.backward_share is None


def test_a_reopening_is_no_transition_but_later_moves_are() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", stage="negotiation")
    log.add("deal_lost", "2025-01-15", deal_id="D-1")
    log.add("deal_reopened", "2025-02-01", deal_id="D-1", stage="discovery")
    _move(log, "D-1", "2025-02-10", "qualification")  # backward from the reopening stage
    result = regressions(replay_deals(log.events), Q1)

    assert (result.total.transitions, result.total.backward) == (1, 1)
    assert [(m.move.from_stage, m.move.to_stage) for m in result.regressions] == [
        ("discovery", "qualification")
    ]


def test_transitions_by_stage_pair_in_pipeline_order() -> None:
    log = InlineLog()
    for deal in ("D-1", "D-2"):
        open_deal(log, deal, "2025-01-01", stage="demo")
        _move(log, deal, "2025-01-10", "discovery")
        _move(log, deal, "2025-01-20", "demo")
    _move(log, "D-1", "2025-01-30", "discovery")
    open_deal(log, "D-3", "2025-01-01")
    _move(log, "D-3", "2025-01-10", "negotiation")
    pairs = regressions(replay_deals(log.events), Q1).pairs

    assert [(p.from_stage, p.to_stage, p.backward, p.transitions, p.deals) for p in pairs] == [
        ("qualification", "negotiation", False, 1, 1),
        ("discovery", "demo", False, 2, 2),
        ("demo", "discovery", True, 3, 2),
    ]


def test_slices_by_segment_and_the_configured_stage_order() -> None:
    log = InlineLog()
    log.add(
        "ledger_configured",
        "2024-01-01",
        stages=[{"name": "intro", "probability": "0.2"}, {"name": "pilot", "probability": "0.5"}],
    )
    open_deal(log, "D-1", "2025-01-01", stage="pilot", segment="idn")
    _move(log, "D-1", "2025-01-10", "intro")
    open_deal(log, "D-2", "2025-01-01", stage="intro", segment="payer")
    _move(log, "D-2", "2025-01-10", "pilot")
    open_deal(log, "D-3", "2025-01-01", stage="intro")
    _move(log, "D-3", "2025-01-10", "pilot")
    result = regressions(replay_deals(log.events), Q1, by="segment")

    assert [(x.key, x.deals_moved, x.deals_regressed) for x in result.lines] == [
        ("idn", 1, 1),
        ("payer", 1, 0),
        ("(none)", 1, 0),
    ]
    assert result.total.regression_rate == Decimal(1) / Decimal(3)


def test_a_pair_from_a_stage_dropped_since_is_neither_forward_nor_backward() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", stage="clinical_validation")
    log.add("stage_changed", "2025-01-10", deal_id="D-1", stage="qualification")
    log.add("stage_changed", "2025-01-20", deal_id="D-1", stage="discovery")
    stages = [{"name": n, "probability": "0.5"} for n in ("qualification", "discovery")]
    log.add("ledger_configured", "2025-03-01", stages=stages)

    result = regressions(replay_deals(log.events), Q1)

    assert [(p.from_stage, p.to_stage, p.backward, p.forward) for p in result.pairs] == [
        ("qualification", "discovery", False, True),
        ("clinical_validation", "qualification", False, False),
    ]
    # Neither move is a regression: the deal moved, and nothing slid back.
    assert (result.total.deals_moved, result.total.deals_regressed) == (1, 0)
    assert (result.total.transitions, result.total.backward, result.regressions) == (2, 0, [])


def test_the_configuration_recorded_last_orders_the_stages_whatever_its_effective_time() -> None:
    log = InlineLog()
    intro_first = [{"name": "intro", "probability": "0.2"}, {"name": "pilot", "probability": "0.5"}]
    log.add("ledger_configured", "2024-01-01", stages=intro_first)
    open_deal(log, "D-1", "2025-01-01", stage="pilot")
    _move(log, "D-1", "2025-01-10", "intro")
    before = log.now
    # Recorded later, effective earlier than the first configuration: pilot now comes first.
    log.add("ledger_configured", "2023-01-01", stages=list(reversed(intro_first)))

    then = regressions(replay_deals(log.events, known_at=before), Q1)
    assert (then.total.deals_moved, then.total.deals_regressed) == (1, 1)
    assert [(m.deal_id, m.move.to_stage) for m in then.regressions] == [("D-1", "intro")]
    now = regressions(replay_deals(log.events), Q1)
    assert (now.total.deals_moved, now.total.deals_regressed, now.total.backward) == (1, 0, 0)
    assert [(p.from_stage, p.to_stage, p.backward, p.forward) for p in now.pairs] == [
        ("pilot", "intro", False, True)
    ]
    assert now.regressions == []


def test_the_backward_moves_are_listed_in_replay_order_not_in_recording_order() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", stage="demo")
    _move(log, "D-1", "2025-02-01", "qualification")
    open_deal(log, "D-2", "2025-01-01", stage="demo")
    _move(log, "D-2", "2025-01-15", "qualification")  # recorded later, effective earlier
    # At the same instant, the move recorded first comes first.
    open_deal(log, "D-3", "2025-01-01", stage="demo")
    open_deal(log, "D-4", "2025-01-01", stage="demo")
    _move(log, "D-4", "2025-03-01", "qualification")
    _move(log, "D-3", "2025-03-01", "qualification")
    result = regressions(replay_deals(log.events), Q1)

    assert [(m.deal_id, m.move.at) for m in result.regressions] == [
        ("D-2", parse_instant("2025-01-15")),
        ("D-1", parse_instant("2025-02-01")),
        ("D-4", parse_instant("2025-03-01")),
        ("D-3", parse_instant("2025-03-01")),
    ]
