"""Deal replay: stage visits, moves, attributes and outcome of each deal on both time axes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from projections.deals import Pipeline, StageVisit, replay_deals
from projections.logged import visible
from tests.inline_log import InlineLog, day


def _opened(log: InlineLog, deal: str = "D-1", when: str = "2025-01-01", **extra: Any) -> None:
    log.add(
        "deal_opened",
        when,
        deal_id=deal,
        account_id="A-1",
        stage="qualification",
        amount="100000",
        expected_close="2025-12-31",
        **extra,
    )


def test_a_deal_moves_through_stages_and_is_won() -> None:
    log = InlineLog()
    _opened(log, segment="idn", channel="partner:epic", personas=["cmio"])
    log.add("stage_changed", "2025-02-01", deal_id="D-1", stage="demo")
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="discovery")
    log.add("persona_engaged", "2025-03-05", deal_id="D-1", persona="cfo")
    log.add("deal_updated", "2025-03-10", deal_id="D-1", amount="120000", probability="0.5")
    log.add("contract_signed", "2025-04-01", deal_id="D-1", arr="120000", baa_signed=True)
    log.add("go_live", "2025-06-01", account_id="A-1", deal_id="D-1")

    deal = replay_deals(log.events).deals["D-1"]

    assert deal.status == "won"
    assert deal.stage == "discovery"
    assert deal.amount == Decimal("120000")
    assert deal.probability == Decimal("0.5")
    assert deal.personas == ("cmio", "cfo")
    assert (deal.segment, deal.channel) == ("idn", "partner:epic")
    assert deal.contract is not None and deal.contract.baa_signed
    assert deal.closed_at == day("2025-03-31")
    assert deal.live_at == day("2025-05-31")
    assert [(v.stage, v.entered_at, v.left_at) for v in deal.visits] == [
        ("qualification", day("2024-12-31"), day("2025-01-31")),
        ("demo", day("2025-01-31"), day("2025-02-28")),
        ("discovery", day("2025-02-28"), day("2025-03-31")),
    ]
    assert [(m.from_stage, m.to_stage, m.backward) for m in deal.moves] == [
        ("qualification", "demo", False),
        ("demo", "discovery", True),
    ]
    assert len(deal.events) == 7


def test_the_bound_cuts_valid_time_and_leaves_the_current_visit_open() -> None:
    log = InlineLog()
    _opened(log)
    log.add("stage_changed", "2025-02-01", deal_id="D-1", stage="demo")
    log.add("deal_lost", "2025-05-01", deal_id="D-1")

    deal = replay_deals(log.events, bound=day("2025-03-01")).deals["D-1"]

    assert deal.status == "open"
    assert deal.visits[-1] == StageVisit("demo", day("2025-01-31"))
    assert deal.visits[-1].end(day("2025-03-01")) == day("2025-03-01")


def test_a_lost_deal_reopens_at_a_stage() -> None:
    log = InlineLog()
    _opened(log)
    log.add("deal_lost", "2025-02-01", deal_id="D-1")
    log.add("deal_reopened", "2025-04-01", deal_id="D-1", stage="demo")

    lost = replay_deals(log.events, bound=day("2025-03-01")).deals["D-1"]
    reopened = replay_deals(log.events).deals["D-1"]

    assert (lost.status, lost.closed_at) == ("lost", day("2025-01-31"))
    assert (reopened.status, reopened.closed_at) == ("open", None)
    assert [v.stage for v in reopened.visits] == ["qualification", "demo"]
    assert reopened.visits[0].left_at == day("2025-01-31")
    assert reopened.reopened_at == [day("2025-03-31")]
    assert reopened.moves == []


def test_a_backdated_stage_change_counts_only_as_known_after_it_was_recorded() -> None:
    log = InlineLog()
    _opened(log)
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="negotiation")
    before = log.now
    log.add("stage_changed", "2025-02-01", deal_id="D-1", stage="demo")

    then = replay_deals(log.events, known_at=before).deals["D-1"]
    now = replay_deals(log.events).deals["D-1"]

    assert [v.stage for v in then.visits] == ["qualification", "negotiation"]
    assert [v.stage for v in now.visits] == ["qualification", "demo", "negotiation"]
    assert then.visits[0].left_at == day("2025-02-28")
    assert now.visits[0].left_at == day("2025-01-31")


def test_a_retracted_event_counts_until_its_retraction_is_known() -> None:
    log = InlineLog()
    _opened(log)
    wrong = log.add("deal_updated", "2025-02-01", deal_id="D-1", amount="250000")
    before = log.now
    log.add("event_retracted", "2025-02-02", retracts=wrong.event_id, reason="typo")

    assert replay_deals(log.events, known_at=before).deals["D-1"].amount == Decimal("250000")
    assert replay_deals(log.events).deals["D-1"].amount == Decimal("100000")
    assert wrong not in visible(log.events, None)
    assert wrong in visible(log.events, before)


def test_what_counts_is_the_known_prefix_less_retractions_and_what_they_name() -> None:
    """The events that count as known at a time are the log prefix recorded by then, in replay
    order (effective time, then seq), without the retractions in it and the events they name."""
    log = InlineLog()
    _opened(log)
    wrong = log.add("deal_updated", "2025-02-01", deal_id="D-1", amount="250000")
    backdated = log.add("persona_engaged", "2025-01-15", deal_id="D-1", persona="cfo")
    log.add("event_retracted", "2025-02-02", retracts=wrong.event_id, reason="typo")
    opened = log.events[0]

    assert visible(log.events, backdated.recorded_at) == [opened, backdated, wrong]
    assert visible(log.events, None) == [opened, backdated]


def test_security_reviews_quotas_and_the_configured_pipeline() -> None:
    log = InlineLog()
    log.add(
        "ledger_configured",
        "2024-01-01",
        stages=[
            {"name": "intro", "probability": "0.2"},
            {"name": "review", "probability": "0.6", "forecast_category": "commit"},
        ],
    )
    log.add("quota_set", "2024-12-01", period="2025-Q1", amount="500000")
    log.add("quota_set", "2025-01-15", period="2025-Q1", amount="450000")
    log.add(
        "deal_opened",
        "2025-01-01",
        deal_id="D-1",
        account_id="A-1",
        stage="intro",
        amount="1000",
        expected_close="2025-03-31",
    )
    log.add("security_review_started", "2025-01-10", deal_id="D-1", framework="hitrust")
    log.add("security_review_started", "2025-01-12", deal_id="D-1", framework="soc2")
    log.add("security_questionnaire_completed", "2025-02-20", deal_id="D-1", framework="hitrust")
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="review")

    book = replay_deals(log.events)
    deal = book.deals["D-1"]

    assert book.pipeline == Pipeline(
        ("intro", "review"),
        {"intro": Decimal("0.2"), "review": Decimal("0.6")},
        {"intro": "pipeline", "review": "commit"},
    )
    assert book.quotas == {"2025-Q1": Decimal("450000")}
    assert [(r.framework, r.completed_at) for r in deal.reviews] == [
        ("hitrust", day("2025-02-19")),
        ("soc2", None),
    ]
    assert deal.stage_probability(book.pipeline) == Decimal("0.6")
    assert deal.category(book.pipeline) == "commit"
    assert replay_deals(log.events, bound=day("2025-01-14")).quotas == {
        "2025-Q1": Decimal("500000")
    }


def test_the_default_pipeline_orders_regressions() -> None:
    pipeline = Pipeline.of(None)

    assert pipeline.is_backward("negotiation", "demo")
    assert not pipeline.is_backward("demo", "negotiation")
    # A stage the pipeline no longer has is neither earlier nor later than another.
    assert not pipeline.is_backward("retired_stage", "demo")
    assert not pipeline.is_backward("demo", "retired_stage")
    assert pipeline.is_forward("demo", "negotiation")
    assert not pipeline.is_forward("negotiation", "demo")
    assert not pipeline.is_forward("retired_stage", "demo")
    assert not pipeline.is_forward("demo", "retired_stage")
    assert pipeline.position("unknown") == len(pipeline.stages)


def test_a_churn_cancels_only_the_contracts_still_waiting_for_go_live() -> None:
    """A churn of the account cancels its signed contracts that are not live yet; a contract
    already live is not cancelled (its ARR ends with the churn), and the churn is no event of
    that deal."""
    log = InlineLog()
    _opened(log)
    log.add("contract_signed", "2025-02-01", deal_id="D-1", arr="100000")
    log.add("go_live", "2025-03-01", account_id="A-1", deal_id="D-1")
    _opened(log, "D-2", "2025-03-01")
    log.add("contract_signed", "2025-04-01", deal_id="D-2", arr="50000")
    log.add("churn", "2025-05-01", account_id="A-1", reason="budget cut")

    deals = replay_deals(log.events).deals
    live, waiting = deals["D-1"], deals["D-2"]

    assert (live.live_at, live.cancelled_at) == (day("2025-02-28"), None)
    assert [e.payload.event_type for e in live.events] == [
        "deal_opened",
        "contract_signed",
        "go_live",
    ]
    assert (waiting.live_at, waiting.cancelled_at) == (None, day("2025-04-30"))
    assert [e.payload.event_type for e in waiting.events] == [
        "deal_opened",
        "contract_signed",
        "churn",
    ]
