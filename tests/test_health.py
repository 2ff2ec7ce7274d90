"""Health-tech metrics on a small inline ledger: security reviews, contracts, time to value,
channel partners (medians and shares checked by hand)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from projections.deals import replay_deals
from projections.health import awaiting_go_live, health
from projections.slices import Span
from tests.inline_log import InlineLog, day
from tests.pipeline_log import open_deal

UNTIL = day("2025-12-31")


def _review(log: InlineLog, deal: str, framework: str, started: str, done: str | None) -> None:
    log.add("security_review_started", started, deal_id=deal, framework=framework)
    if done is not None:
        log.add("security_questionnaire_completed", done, deal_id=deal, framework=framework)


def _ledger() -> InlineLog:
    log = InlineLog()
    open_deal(
        log, "D-1", "2025-01-01", stage="security_review", amount="100000", channel="partner:epic"
    )
    _review(log, "D-1", "hitrust", "2025-02-01", "2025-04-02")  # 60 days
    log.add("contract_signed", "2025-05-01", deal_id="D-1", arr="120000", baa_signed=True)
    log.add("go_live", "2025-07-30", account_id="A-D-1", deal_id="D-1")  # 90 days
    open_deal(log, "D-2", "2025-01-01", stage="security_review", amount="100000")
    _review(log, "D-2", "soc2", "2025-02-01", "2025-02-21")  # 20 days
    _review(log, "D-2", "hitrust", "2025-02-01", "2025-03-13")  # 40 days
    log.add("contract_signed", "2025-06-30", deal_id="D-2", arr="80000", standard_terms=True)
    log.add("go_live", "2025-07-10", account_id="A-D-2", deal_id="D-2")  # 10 days
    open_deal(log, "D-3", "2025-03-01", stage="security_review", amount="50000", channel="direct")
    log.add("contract_signed", "2025-04-30", deal_id="D-3", arr="50000", baa_signed=True)
    open_deal(
        log, "D-4", "2025-06-01", stage="security_review", amount="300000", channel="partner:epic"
    )
    _review(log, "D-4", "hecvat", "2025-12-01", None)  # open, 31 days at the close of Dec 31
    open_deal(
        log, "D-5", "2025-06-01", stage="security_review", amount="100000", channel="partner:veeva"
    )
    open_deal(log, "D-6", "2025-06-01", stage="security_review", amount="100000")
    _review(log, "D-6", "custom", "2025-07-01", None)
    log.add("deal_lost", "2025-08-01", deal_id="D-6")  # an abandoned review is not open
    return log


def _lines(span: Span | None = None) -> dict[tuple[str, str], Any]:
    book = replay_deals(_ledger().events, UNTIL)
    return {(x.metric, x.key): x for x in health(book, UNTIL, span)}


def test_security_questionnaire_cycle_median_and_p90_by_framework() -> None:
    lines = _lines()

    hitrust = lines[("security_questionnaire", "hitrust")]
    assert (hitrust.count, hitrust.days.median, hitrust.days.p90) == (2, Decimal(50), Decimal(60))
    every = lines[("security_questionnaire", "all")]
    assert (every.count, every.days.median, every.days.p90) == (3, Decimal(40), Decimal(60))
    assert lines[("security_questionnaire", "soc2")].days.median == Decimal(20)
    still_open = lines[("security_review_open", "all")]
    assert (still_open.count, still_open.days.max) == (1, Decimal(31))
    assert ("security_review_open", "custom") not in lines


def test_won_cycles_with_and_without_a_security_review() -> None:
    lines = _lines()

    with_review = lines[("won_cycle", "with security review")]
    assert (with_review.count, with_review.days.median) == (2, Decimal("150"))  # 120 and 180
    without = lines[("won_cycle", "without security review")]
    assert (without.count, without.days.median) == (1, Decimal(60))


def test_a_review_started_after_the_signature_is_no_part_of_the_won_cycle() -> None:
    """D-3 was signed on Apr 30 without a review; the one started on May 15 (a yearly
    reassessment) leaves its 60-day cycle among the deals won without a review, while its
    questionnaire is still measured. A review started on the day of the signature counts."""
    log = _ledger()
    _review(log, "D-3", "soc2", "2025-05-15", "2025-06-04")  # 20 days
    open_deal(log, "D-7", "2025-01-01", stage="negotiation", amount="10000")
    _review(log, "D-7", "custom", "2025-02-10", None)
    log.add("contract_signed", "2025-02-10", deal_id="D-7", arr="10000")  # 40 days
    book = replay_deals(log.events, UNTIL)
    lines: dict[tuple[str, str], Any] = {(x.metric, x.key): x for x in health(book, UNTIL)}

    with_review = lines[("won_cycle", "with security review")]
    assert (with_review.count, with_review.days.median) == (3, Decimal(120))  # 40, 120, 180
    without = lines[("won_cycle", "without security review")]
    assert (without.count, without.days.median) == (1, Decimal(60))
    assert lines[("security_questionnaire", "soc2")].days.median == Decimal(20)


def test_baa_and_standard_terms_rates_among_signed_contracts() -> None:
    lines = _lines()

    assert lines[("baa_rate", "signed contracts")].rate == Decimal(2) / Decimal(3)
    assert lines[("standard_terms_rate", "signed contracts")].rate == Decimal(1) / Decimal(3)


def test_time_to_value_median_and_contracts_still_waiting() -> None:
    lines = _lines()

    ttv = lines[("time_to_value", "live")]
    assert (ttv.count, ttv.days.median, ttv.days.p90) == (2, Decimal(50), Decimal(90))
    waiting = lines[("awaiting_go_live", "signed, not live")]
    # D-3 signed Apr 30, still not live at the close of Dec 31: 246 days.
    assert (waiting.count, waiting.days.max, waiting.amount) == (1, Decimal(246), Decimal(50000))
    rows = awaiting_go_live(replay_deals(_ledger().events, UNTIL), UNTIL)
    assert [(r.deal_id, r.arr, r.age) for r in rows] == [("D-3", Decimal(50000), Decimal(246))]


def test_channel_partner_share_of_pipeline_and_of_won_arr() -> None:
    lines = _lines()

    # Open pipeline: D-4 300k (epic), D-5 100k (veeva): 400k of 400k.
    assert lines[("partner_share_pipeline", "partner:epic")].rate == Decimal("0.75")
    assert lines[("partner_share_pipeline", "all partners")].amount == Decimal(400000)
    # Won ARR: D-1 120k (epic) of 250k.
    epic = lines[("partner_share_won_arr", "partner:epic")]
    assert (epic.count, epic.amount, epic.rate) == (1, Decimal(120000), Decimal("0.48"))


def test_a_window_keeps_what_finished_in_it_and_measures_what_is_open_at_the_bound() -> None:
    second_quarter = Span(day("2025-03-31"), day("2025-06-30"))
    lines = _lines(second_quarter)

    assert lines[("security_questionnaire", "all")].count == 1  # D-1, completed Apr 2
    assert lines[("baa_rate", "signed contracts")].count == 3
    assert lines[("time_to_value", "live")].count == 0
    assert lines[("security_review_open", "all")].count == 1
    assert lines[("partner_share_won_arr", "all partners")].rate == Decimal("0.48")


def test_a_churn_cancels_the_contracts_still_waiting_for_go_live() -> None:
    """A-D-3 churns on Sep 1 with D-3 signed and not live: from then on D-3 is no backlog
    (the ledger refuses its go-live), as ARR's backlog says; a contract signed after the
    churn waits again."""
    log = _ledger()
    log.add("churn", "2025-09-01", account_id="A-D-3", reason="budget cut")
    before = awaiting_go_live(replay_deals(log.events, day("2025-08-31")), day("2025-08-31"))
    assert [r.deal_id for r in before] == ["D-3"]
    assert awaiting_go_live(replay_deals(log.events, UNTIL), UNTIL) == []
    log.add("contract_signed", "2025-10-01", deal_id="D-9", account_id="A-D-3", arr="20000")
    after = awaiting_go_live(replay_deals(log.events, UNTIL), UNTIL)
    assert [(r.deal_id, r.arr) for r in after] == [("D-9", Decimal(20000))]


def test_a_window_counts_only_the_contracts_signed_in_it() -> None:
    """May and June: D-1 (May 1, BAA, partner:epic, 120k) and D-2 (Jun 30, standard terms,
    80k) were signed in them; D-3 (Apr 30) was not."""
    lines = _lines(Span(day("2025-04-30"), day("2025-06-30")))

    baa, standard = (
        lines[("baa_rate", "signed contracts")],
        lines[("standard_terms_rate", "signed contracts")],
    )
    assert (baa.count, baa.rate) == (2, Decimal("0.5"))
    assert (standard.count, standard.rate) == (2, Decimal("0.5"))
    epic = lines[("partner_share_won_arr", "partner:epic")]
    assert (epic.count, epic.amount, epic.rate) == (1, Decimal(120000), Decimal("0.6"))
    # Both reviewed: D-1 Jan 1 -> May 1 (120 days), D-2 Jan 1 -> Jun 30 (180 days).
    reviewed = lines[("won_cycle", "with security review")]
    assert (reviewed.count, reviewed.days.median) == (2, Decimal(150))
    assert lines[("won_cycle", "without security review")].count == 0


def test_the_contracts_waiting_longest_for_go_live_come_first() -> None:
    log = _ledger()
    log.add("contract_signed", "2025-09-01", deal_id="E-1", account_id="A-E-1", arr="10000")
    log.add("contract_signed", "2025-02-01", deal_id="F-1", account_id="A-F-1", arr="20000")
    rows = awaiting_go_live(replay_deals(log.events, UNTIL), UNTIL)

    # To the close of Dec 31: from Feb 1, 334 days; from Apr 30, 246; from Sep 1, 122.
    assert [(r.deal_id, r.age) for r in rows] == [
        ("F-1", Decimal(334)),
        ("D-3", Decimal(246)),
        ("E-1", Decimal(122)),
    ]
    book = replay_deals(log.events, UNTIL)
    backlog: Any = next(x for x in health(book, UNTIL) if x.metric == "awaiting_go_live")
    assert (backlog.count, backlog.amount, backlog.days.max) == (3, Decimal(80000), Decimal(334))


def test_a_churn_cancels_a_contract_signed_without_a_deal_being_opened() -> None:
    log = InlineLog()
    log.add("contract_signed", "2025-03-01", deal_id="D-9", account_id="A-9", arr="20000")
    log.add("churn", "2025-04-01", account_id="A-9", reason="budget cut")

    before = awaiting_go_live(replay_deals(log.events, day("2025-03-31")), day("2025-03-31"))
    assert [(r.deal_id, r.arr) for r in before] == [("D-9", Decimal(20000))]
    assert awaiting_go_live(replay_deals(log.events, UNTIL), UNTIL) == []


def test_a_completion_closes_the_latest_open_review_of_its_framework() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", stage="security_review")
    log.add("security_review_started", "2025-02-01", deal_id="D-1", framework="soc2")
    _review(log, "D-1", "hitrust", "2025-02-01", None)
    _review(log, "D-1", "hitrust", "2025-03-01", "2025-03-21")  # the second one: 20 days
    until = day("2025-03-31")
    lines = health(replay_deals(log.events, until), until)

    done = [(x.key, x.count) for x in lines if x.metric == "security_questionnaire"]
    assert done == [("hitrust", 1), ("all", 1)]
    hitrust: Any = next(x for x in lines if x.metric == "security_questionnaire")
    assert hitrust.days.median == Decimal(20)
    # Still open at the close of Mar 31, by framework name: the first hitrust review (59 days)
    # and the soc2 one (59 days).
    waiting = [(x.key, x.count) for x in lines if x.metric == "security_review_open"]
    assert waiting == [("hitrust", 1), ("soc2", 1), ("all", 2)]
    first: Any = next(x for x in lines if x.metric == "security_review_open")
    assert first.days.max == Decimal(59)
