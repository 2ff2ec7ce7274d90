"""Win rate, sales cycle and stage conversion on small inline ledgers (checked by hand)."""

from __future__ import annotations

from decimal import Decimal

from projections.conversion import conversion
from projections.deals import replay_deals
from projections.slices import Span
from projections.win_rate import win_rates
from tests.inline_log import InlineLog, day
from tests.pipeline_log import open_deal

H1 = Span(day("2024-12-31"), day("2025-06-30"))


def _won(log: InlineLog, deal: str, when: str, arr: str) -> None:
    log.add("contract_signed", when, deal_id=deal, arr=arr)


def _lost(log: InlineLog, deal: str, when: str) -> None:
    log.add("deal_lost", when, deal_id=deal)


def _committee_ledger() -> InlineLog:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", personas=["cmio", "cfo"])
    _won(log, "D-1", "2025-04-11", "200000")  # 100 days
    open_deal(log, "D-2", "2025-01-01", amount="50000", personas=["cfo", "cmio"])
    _lost(log, "D-2", "2025-03-01")
    open_deal(log, "D-3", "2025-02-01", personas=["cmio"])
    _won(log, "D-3", "2025-03-03", "80000")  # 30 days
    open_deal(log, "D-4", "2025-01-01", amount="300000", personas=["it_security"])
    _lost(log, "D-4", "2025-02-01")
    open_deal(log, "D-5", "2025-01-01", amount="70000")
    _won(log, "D-5", "2025-07-01", "70000")  # closed after the window
    open_deal(log, "D-6", "2025-01-01", amount="999999")  # still open
    return log


def test_win_rate_by_count_and_by_value_among_deals_closed_in_the_window() -> None:
    t = win_rates(replay_deals(_committee_ledger().events), H1).total

    assert (t.won, t.lost, t.closed) == (2, 2, 4)
    assert t.win_rate == Decimal("0.5")
    assert (t.won_value, t.lost_value) == (Decimal(280000), Decimal(350000))
    assert t.value_win_rate == Decimal(280000) / Decimal(630000)
    # Sales cycles of the won deals: 100 and 30 days.
    assert (t.cycle.count, t.cycle.median, t.cycle.mean, t.cycle.p90) == (
        2,
        Decimal(65),
        Decimal(65),
        Decimal(100),
    )


def test_win_rate_by_persona_combination_and_by_persona() -> None:
    book = replay_deals(_committee_ledger().events)

    combos = win_rates(book, H1, by="persona-combination").lines
    assert [(x.key, x.won, x.lost, x.win_rate) for x in combos] == [
        ("cfo+cmio", 1, 1, Decimal("0.5")),
        ("cmio", 1, 0, Decimal(1)),
        ("it_security", 0, 1, Decimal(0)),
    ]
    personas = win_rates(book, H1, by="persona").lines
    assert [(x.key, x.won, x.lost) for x in personas] == [
        ("cfo", 1, 1),
        ("cmio", 2, 1),
        ("it_security", 0, 1),
    ]


def test_personas_engaged_after_the_close_are_not_in_the_committee_that_won_or_lost() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", personas=["cmio"])
    log.add("persona_engaged", "2025-03-01", deal_id="D-1", persona="cfo")  # while open
    _won(log, "D-1", "2025-04-01", "100000")
    log.add("persona_engaged", "2025-04-01", deal_id="D-1", persona="legal")  # on the day
    log.add("persona_engaged", "2025-05-01", deal_id="D-1", persona="it_security")  # go-live
    open_deal(log, "D-2", "2025-01-01", amount="50000", personas=["cmio"])
    _lost(log, "D-2", "2025-02-01")
    log.add("persona_engaged", "2025-02-15", deal_id="D-2", persona="procurement")
    open_deal(log, "D-3", "2025-01-01", amount="40000", personas=["cmio"])
    _lost(log, "D-3", "2025-02-01")
    log.add("persona_engaged", "2025-02-15", deal_id="D-3", persona="cfo")  # while lost...
    log.add("deal_reopened", "2025-03-01", deal_id="D-3", stage="demo")  # ...then back
    _won(log, "D-3", "2025-06-01", "40000")
    book = replay_deals(log.events, day("2025-06-30"))

    combos = win_rates(book, H1, by="persona-combination").lines
    # D-1 was won by cfo+cmio+legal (legal engaged at the signature's instant counts);
    # it_security came on board for the go-live. D-2 was lost by cmio alone. D-3 was won by
    # cfo+cmio: its cfo joined while it was lost, before it was won.
    assert [(x.key, x.won, x.lost) for x in combos] == [
        ("cfo+cmio", 1, 0),
        ("cfo+cmio+legal", 1, 0),
        ("cmio", 0, 1),
    ]
    personas = win_rates(book, H1, by="persona").lines
    assert [(x.key, x.won, x.lost) for x in personas] == [
        ("cfo", 2, 0),
        ("cmio", 2, 1),
        ("legal", 1, 0),
    ]
    # While D-3 is lost its committee is the one that lost it; reopened, everyone engaged so far.
    lost = replay_deals(log.events, day("2025-02-20")).deals["D-3"]
    assert (lost.status, lost.committee()) == ("lost", ("cmio",))
    assert replay_deals(log.events, day("2025-03-20")).deals["D-3"].committee() == ("cmio", "cfo")


def test_a_lost_deal_reopened_and_won_counts_once_with_its_whole_cycle() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    _lost(log, "D-1", "2025-02-01")
    log.add("deal_reopened", "2025-03-01", deal_id="D-1", stage="demo")
    _won(log, "D-1", "2025-04-01", "90000")

    lost_then = win_rates(replay_deals(log.events, day("2025-02-15")), H1).total
    assert (lost_then.won, lost_then.lost) == (0, 1)
    reopened = win_rates(replay_deals(log.events, day("2025-03-15")), H1).total
    assert reopened.closed == 0 and reopened.win_rate is None
    won = win_rates(replay_deals(log.events), H1).total
    assert (won.won, won.lost, won.cycle.median) == (1, 0, Decimal(90))


def test_a_deal_signed_without_being_opened_wins_but_has_no_cycle() -> None:
    log = InlineLog()
    log.add("contract_signed", "2025-02-01", deal_id="D-9", account_id="A-9", arr="5000")
    t = win_rates(replay_deals(log.events), H1).total

    assert (t.won, t.won_value, t.cycle.count, t.cycle.median) == (1, Decimal(5000), 0, None)


def test_conversion_counts_skipped_stages_as_passed_and_won_as_past_the_last() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-01-10", deal_id="D-1", stage="demo")  # skips discovery
    _lost(log, "D-1", "2025-02-01")
    open_deal(log, "D-2", "2025-01-01", stage="discovery")
    log.add("stage_changed", "2025-01-10", deal_id="D-2", stage="negotiation")
    log.add("stage_changed", "2025-01-20", deal_id="D-2", stage="demo")  # a regression
    open_deal(log, "D-3", "2025-01-01", stage="negotiation")
    _won(log, "D-3", "2025-02-01", "1000")
    open_deal(log, "D-4", "2025-01-01")  # still in qualification
    lines = conversion(replay_deals(log.events))

    assert [(x.from_stage, x.to_stage, x.reached, x.advanced) for x in lines] == [
        ("qualification", "discovery", 4, 3),
        ("discovery", "demo", 3, 3),
        ("demo", "clinical_validation", 3, 2),
        ("clinical_validation", "security_review", 2, 2),
        ("security_review", "legal_review", 2, 2),
        ("legal_review", "negotiation", 2, 2),
        ("negotiation", "won", 2, 1),
    ]
    assert lines[0].rate == Decimal("0.75")
    opened_later = conversion(replay_deals(log.events), Span(day("2025-01-01"), day("2025-12-31")))
    assert opened_later == []


def test_a_won_deal_reached_every_stage_even_through_stages_dropped_since() -> None:
    log = InlineLog()
    open_deal(log, "W", "2025-01-05", stage="clinical_validation")
    _won(log, "W", "2025-01-20", "50000")
    open_deal(log, "P", "2025-01-01", stage="clinical_validation")
    log.add("stage_changed", "2025-02-01", deal_id="P", stage="qualification")
    open_deal(log, "L", "2025-01-01", stage="clinical_validation")
    _lost(log, "L", "2025-02-01")  # not won, and only in the stage dropped below
    stages = [
        {"name": n, "probability": "0.5"}
        for n in ("qualification", "discovery", "demo", "negotiation")
    ]
    log.add("ledger_configured", "2025-03-01", stages=stages)

    lines = conversion(replay_deals(log.events))

    assert [(x.from_stage, x.to_stage, x.reached, x.advanced) for x in lines] == [
        ("qualification", "discovery", 2, 1),
        ("discovery", "demo", 1, 1),
        ("demo", "negotiation", 1, 1),
        ("negotiation", "won", 1, 1),
    ]


def test_a_free_pilot_is_a_won_deal_worth_nothing() -> None:
    log = InlineLog()
    open_deal(log, "P-1", "2025-01-01", amount="0")
    _won(log, "P-1", "2025-02-01", "0")  # 31 days
    open_deal(log, "D-2", "2025-01-01", amount="60000")
    _lost(log, "D-2", "2025-03-01")
    t = win_rates(replay_deals(log.events), H1).total

    assert (t.won, t.lost, t.win_rate) == (1, 1, Decimal("0.5"))
    assert (t.won_value, t.lost_value, t.value_win_rate) == (Decimal(0), Decimal(60000), Decimal(0))
    assert (t.cycle.count, t.cycle.median) == (1, Decimal(31))


def test_a_lost_deal_is_worth_its_last_amount_even_when_updated_to_nothing() -> None:
    log = InlineLog()
    open_deal(log, "L-1", "2025-01-01", amount="100000")
    log.add("deal_updated", "2025-02-01", deal_id="L-1", amount="0")  # scoped down to nothing
    _lost(log, "L-1", "2025-03-01")
    open_deal(log, "W-1", "2025-01-01", amount="40000")
    _won(log, "W-1", "2025-03-01", "50000")
    t = win_rates(replay_deals(log.events), H1).total

    # By count one of two; by value 50k won of 50k + 0 lost.
    assert (t.won, t.lost, t.win_rate) == (1, 1, Decimal("0.5"))
    assert (t.won_value, t.lost_value, t.value_win_rate) == (Decimal(50000), Decimal(0), Decimal(1))


def test_a_deal_signed_without_being_opened_has_no_place_in_the_funnel() -> None:
    log = InlineLog()
    log.add("contract_signed", "2025-02-01", deal_id="D-9", account_id="A-9", arr="5000")
    open_deal(log, "D-1", "2025-01-01", stage="discovery")
    _lost(log, "D-1", "2025-02-01")
    lines = conversion(replay_deals(log.events))

    # Only D-1 counts: it reached qualification and discovery (passed), then nothing further.
    assert [(x.from_stage, x.reached, x.advanced) for x in lines[:3]] == [
        ("qualification", 1, 1),
        ("discovery", 1, 0),
        ("demo", 0, 0),
    ]
    assert (lines[-1].from_stage, lines[-1].to_stage, lines[-1].reached) == (
        "negotiation",
        "won",
        0,
    )


def test_a_deal_counts_in_the_segment_it_has_at_the_as_of_bound() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", segment="idn")
    log.add("deal_updated", "2025-02-01", deal_id="D-1", segment="payer")  # reassigned
    _won(log, "D-1", "2025-03-01", "100000")
    open_deal(log, "D-2", "2025-01-01", segment="payer")
    _lost(log, "D-2", "2025-03-01")
    lines = win_rates(replay_deals(log.events), H1, by="segment").lines

    assert [(x.key, x.won, x.lost) for x in lines] == [("payer", 1, 1)]


def test_a_persona_engaged_again_after_the_close_stays_in_the_committee() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", personas=["cfo"])
    _won(log, "D-1", "2025-03-01", "100000")
    # After the signature: the CFO comes back (a renewal talk), the CMIO is new.
    log.add("persona_engaged", "2025-04-01", deal_id="D-1", persona="cfo")
    log.add("persona_engaged", "2025-04-01", deal_id="D-1", persona="cmio")
    lines = win_rates(replay_deals(log.events), H1, by="persona").lines

    assert [(x.key, x.won) for x in lines] == [("cfo", 1)]


def test_conversion_by_segment() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", segment="idn")
    log.add("stage_changed", "2025-01-10", deal_id="D-1", stage="discovery")
    open_deal(log, "D-2", "2025-01-01", segment="payer")
    open_deal(log, "D-3", "2025-01-01", segment="idn")
    _lost(log, "D-3", "2025-02-01")
    lines = conversion(replay_deals(log.events), by="segment")

    first_steps = [(x.key, x.reached, x.advanced) for x in lines if x.from_stage == "qualification"]
    assert first_steps == [("idn", 2, 1), ("payer", 1, 0)]
