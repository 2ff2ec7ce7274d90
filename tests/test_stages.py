"""Time in stage and pipeline aging on small inline ledgers (durations checked by hand)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from projections.deals import replay_deals
from projections.slices import Span
from projections.stages import aging, deal_stages, stage_durations, time_in_stage
from projections.stats import summarize, to_days
from tests.inline_log import InlineLog, day
from tests.pipeline_log import open_deal


def _line(lines: list[Any], stage: str, key: str = "total") -> Any:
    return next(x for x in lines if x.stage == stage and x.key == key)


def test_a_deal_that_visits_a_stage_twice_has_cumulative_and_latest_days() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-01-11", deal_id="D-1", stage="demo")
    log.add("stage_changed", "2025-01-21", deal_id="D-1", stage="discovery")
    log.add("stage_changed", "2025-02-10", deal_id="D-1", stage="demo")
    log.add("contract_signed", "2025-03-02", deal_id="D-1", arr="100000")
    until = day("2025-06-30")
    book = replay_deals(log.events, until)

    rows = {r.stage: r for r in deal_stages(book, until)}
    # demo: Jan 11 -> Jan 21 (10 days), then Feb 10 -> Mar 2 (20 days, February has 28).
    demo_row = rows["demo"]
    assert (demo_row.visits, demo_row.cumulative, demo_row.latest) == (2, Decimal(30), Decimal(20))
    assert (rows["discovery"].visits, rows["discovery"].cumulative) == (1, Decimal(20))
    assert [r.stage for r in deal_stages(book, until)] == ["qualification", "discovery", "demo"]
    assert not rows["demo"].open
    assert stage_durations(book.deals["D-1"], until) == {
        "qualification": timedelta(days=10),
        "demo": timedelta(days=30),
        "discovery": timedelta(days=20),
    }

    demo = _line(time_in_stage(book, until), "demo")
    assert (demo.deals, demo.visits, demo.completed.count, demo.open.count) == (1, 2, 2, 0)
    assert (demo.completed.median, demo.completed.mean, demo.completed.p90) == (15, 15, 20)
    assert (demo.mean_cumulative, demo.mean_latest) == (30, 20)


def test_an_open_visit_has_an_age_at_the_close_of_as_of() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="demo")
    until = day("2025-03-10")
    lines = time_in_stage(replay_deals(log.events, until), until)

    qualification, demo = _line(lines, "qualification"), _line(lines, "demo")
    assert (qualification.completed.count, qualification.completed.median) == (1, 59)
    assert qualification.open.count == 0
    # Entered at the start of Mar 1, measured at the close of Mar 10: ten days.
    assert (demo.completed.count, demo.open.count) == (0, 1)
    assert (demo.open.median, demo.open.max, demo.mean_latest) == (10, 10, 10)
    assert demo.completed.median is None
    later = time_in_stage(replay_deals(log.events, day("2025-03-20")), day("2025-03-20"))
    assert _line(later, "demo").open.max == 20


def test_median_mean_and_p90_over_completed_visits_of_several_deals() -> None:
    log = InlineLog()
    for deal, days in (("D-1", 10), ("D-2", 20), ("D-3", 60)):
        open_deal(log, deal, "2025-01-01")
        moved = (day("2024-12-31") + timedelta(days=days)).date().isoformat()
        log.add("stage_changed", moved, deal_id=deal, stage="demo")
    until = day("2025-06-30")
    line = _line(time_in_stage(replay_deals(log.events, until), until), "qualification")

    assert (line.deals, line.completed.count) == (3, 3)
    assert (line.completed.median, line.completed.mean, line.completed.p90) == (20, 30, 60)
    assert line.completed.total == 90


def test_summaries_use_the_nearest_rank_p90_and_exact_fractional_days() -> None:
    ten = summarize(timedelta(days=d) for d in range(1, 11))
    assert (ten.count, ten.total) == (10, Decimal(55))
    assert (ten.median, ten.mean, ten.p90, ten.max) == (
        Decimal("5.5"),
        Decimal("5.5"),
        Decimal(9),
        Decimal(10),
    )
    assert summarize([]).median is None
    assert to_days(timedelta(hours=36)) == Decimal("1.5")
    assert to_days(timedelta(hours=1)) == Decimal("0.041667")
    assert str(to_days(timedelta(days=31))) == "31"


def test_a_backdated_stage_change_shifts_durations_as_known_today_not_as_known_before() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="negotiation")
    before = log.now
    log.add("stage_changed", "2025-02-01", deal_id="D-1", stage="demo")
    until = day("2025-03-31")

    then = time_in_stage(replay_deals(log.events, until, before), until)
    now = time_in_stage(replay_deals(log.events, until), until)

    assert _line(then, "qualification").completed.median == 59
    assert [x.stage for x in then] == ["qualification", "negotiation"]
    assert _line(now, "qualification").completed.median == 31
    assert _line(now, "demo").completed.median == 28
    assert _line(now, "negotiation").open.max == _line(then, "negotiation").open.max == 31


def test_a_reopened_lost_deal_has_no_visit_while_lost() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("deal_lost", "2025-02-01", deal_id="D-1")
    log.add("deal_reopened", "2025-04-01", deal_id="D-1", stage="demo")
    until = day("2025-04-30")
    deal = replay_deals(log.events, until).deals["D-1"]

    assert stage_durations(deal, until) == {
        "qualification": timedelta(days=31),
        "demo": timedelta(days=30),
    }
    lines = time_in_stage(replay_deals(log.events, until), until)
    assert _line(lines, "qualification").completed.median == 31
    assert _line(lines, "demo").open.median == 30
    # While lost (Feb 1 .. Apr 1) the deal was in no stage at all.
    lost = replay_deals(log.events, day("2025-03-01"))
    assert time_in_stage(lost, day("2025-03-01"))[0].open.count == 0


def test_a_window_counts_only_the_visits_that_ended_in_it() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-02-01", deal_id="D-1", stage="demo")
    log.add("stage_changed", "2025-03-01", deal_id="D-1", stage="negotiation")
    open_deal(log, "D-2", "2025-01-15")
    log.add("stage_changed", "2025-03-31", deal_id="D-2", stage="demo")
    until = day("2025-04-30")
    book = replay_deals(log.events, until)
    # February and March: D-1 left qualification on Feb 1 (in) and demo on Mar 1 (in); D-2
    # left qualification at the start of Mar 31 (in); D-1 has been in negotiation since (open).
    febmar = Span(day("2025-01-31"), day("2025-03-31"))
    lines = time_in_stage(book, until, span=febmar)

    assert [(x.stage, x.visits) for x in lines] == [("qualification", 2), ("demo", 1)]
    assert _line(lines, "qualification").completed.median == 53  # of 31 and 75 days
    assert all(x.open.count == 0 for x in lines)
    march = time_in_stage(book, until, span=Span(day("2025-02-28"), day("2025-03-30")))
    assert [(x.stage, x.visits) for x in march] == [("demo", 1)]
    assert [r.stage for r in deal_stages(book, until, febmar) if r.deal_id == "D-2"] == [
        "qualification"
    ]


def test_slices_by_segment_and_by_persona() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01", segment="idn", personas=["cmio", "cfo"])
    log.add("stage_changed", "2025-01-11", deal_id="D-1", stage="demo")
    open_deal(log, "D-2", "2025-01-01", segment="payer", personas=["cfo"])
    log.add("stage_changed", "2025-01-21", deal_id="D-2", stage="demo")
    open_deal(log, "D-3", "2025-01-01")
    log.add("stage_changed", "2025-01-31", deal_id="D-3", stage="demo")
    until = day("2025-02-28")
    book = replay_deals(log.events, until)

    by_segment = time_in_stage(book, until, by="segment")
    assert [(x.key, x.stage) for x in by_segment] == [
        ("idn", "qualification"),
        ("idn", "demo"),
        ("payer", "qualification"),
        ("payer", "demo"),
        ("(none)", "qualification"),
        ("(none)", "demo"),
    ]
    assert _line(by_segment, "qualification", "payer").completed.median == 20
    by_persona = time_in_stage(book, until, by="persona")
    cfo = _line(by_persona, "qualification", "cfo")
    assert (cfo.deals, cfo.completed.median, cfo.completed.mean) == (2, 15, 15)
    assert _line(by_persona, "qualification", "cmio").deals == 1
    assert _line(by_persona, "qualification", "(none)").completed.median == 30


def test_a_deal_signed_without_being_opened_has_no_timeline() -> None:
    log = InlineLog()
    log.add("contract_signed", "2025-02-01", deal_id="D-9", account_id="A-9", arr="5000")
    until = day("2025-03-01")
    book = replay_deals(log.events, until)

    assert time_in_stage(book, until) == []
    assert deal_stages(book, until) == []
    assert aging(book, until, 0) == []


def test_aging_lists_open_deals_older_than_the_threshold_oldest_first() -> None:
    log = InlineLog()
    open_deal(log, "D-old", "2024-01-01", owner="ana")
    log.add("stage_changed", "2024-06-01", deal_id="D-old", stage="demo")
    open_deal(log, "D-older", "2023-06-01")
    open_deal(log, "D-young", "2024-05-01")
    open_deal(log, "D-won", "2023-01-01")
    log.add("contract_signed", "2024-01-01", deal_id="D-won", arr="1")
    open_deal(log, "D-edge", "2024-06-13")  # exactly 180 days before the close of 2024-12-09
    until = day("2024-12-09")
    rows = aging(replay_deals(log.events, until), until, 180)

    assert [r.deal_id for r in rows] == ["D-older", "D-old", "D-young"]
    old = rows[1]
    assert (old.age, old.in_stage) == (Decimal(344), Decimal(192))
    assert (old.stage, old.owner) == ("demo", "ana")
    assert [r.deal_id for r in aging(replay_deals(log.events, until), until, 179)][-1] == "D-edge"


def test_a_deal_back_in_a_stage_is_open_there_by_its_latest_visit() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "2025-01-01")
    log.add("stage_changed", "2025-01-11", deal_id="D-1", stage="demo")
    log.add("stage_changed", "2025-01-21", deal_id="D-1", stage="discovery")
    log.add("stage_changed", "2025-02-10", deal_id="D-1", stage="demo")
    until = day("2025-02-19")
    book = replay_deals(log.events, until)

    rows = {r.stage: r for r in deal_stages(book, until)}
    # demo: Jan 11 -> Jan 21 (10 days, ended), then from Feb 10 to the close of Feb 19 (10 days).
    demo = rows["demo"]
    assert (demo.visits, demo.cumulative, demo.latest, demo.open) == (
        2,
        Decimal(20),
        Decimal(10),
        True,
    )
    assert not rows["discovery"].open
    line = _line(time_in_stage(book, until), "demo")
    assert (line.completed.count, line.completed.median) == (1, 10)
    assert (line.open.count, line.open.max) == (1, 10)
