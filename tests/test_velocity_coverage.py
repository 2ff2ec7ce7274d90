"""Sales velocity and pipeline coverage against numbers computed by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ledger.periods import parse_period
from ledger.timeutil import zone
from projections.coverage import coverage
from projections.deals import replay_deals
from projections.forecast import forecast
from projections.slices import Span
from projections.velocity import velocity
from tests.inline_log import InlineLog, day
from tests.pipeline_log import open_deal

H1 = Span(day("2024-12-31"), day("2025-06-30"))


def _velocity_ledger() -> InlineLog:
    log = InlineLog()
    # Closed in the first half of 2025: two won (cycles 60 and 120 days), one lost.
    open_deal(
        log, "W-1", "2025-01-01", stage="demo", amount="100000", close="2025-03-01", segment="idn"
    )
    log.add("contract_signed", "2025-03-02", deal_id="W-1", arr="100000")
    open_deal(
        log, "W-2", "2025-01-01", stage="demo", amount="200000", close="2025-05-01", segment="idn"
    )
    log.add("contract_signed", "2025-05-01", deal_id="W-2", arr="200000")
    open_deal(
        log, "L-1", "2025-01-01", stage="demo", amount="50000", close="2025-05-01", segment="payer"
    )
    log.add("deal_lost", "2025-04-01", deal_id="L-1")
    # Open at the end of June: five deals.
    for n, segment in enumerate(("idn", "idn", "idn", "payer", "payer"), start=1):
        open_deal(
            log,
            f"O-{n}",
            "2025-02-01",
            stage="discovery",
            amount="10000",
            close="2025-09-30",
            segment=segment,
        )
    return log


def test_velocity_is_open_deals_times_win_rate_times_average_size_over_average_cycle() -> None:
    book = replay_deals(_velocity_ledger().events, day("2025-06-30"))
    total = velocity(book, H1)[-1]

    assert (total.key, total.open_deals, total.closed.won, total.closed.closed) == (
        "total",
        5,
        2,
        3,
    )
    assert total.average_won == Decimal("150000.00")
    assert total.closed.cycle.mean == Decimal(90)
    # 5 open × 2/3 won × 150,000 average / 90 days = 5,555.555… a day.
    assert total.velocity == Decimal("5555.56")


def test_velocity_by_segment() -> None:
    book = replay_deals(_velocity_ledger().events, day("2025-06-30"))
    idn, payer, total = velocity(book, H1, by="segment")

    # idn: 3 open × 2/2 won × 150,000 / 90 days = 5,000 a day.
    assert (idn.key, idn.open_deals, idn.velocity) == ("idn", 3, Decimal("5000.00"))
    # payer: nothing won, so no velocity (and no average size).
    assert (payer.key, payer.open_deals, payer.velocity, payer.average_won) == (
        "payer",
        2,
        None,
        None,
    )
    assert total.velocity == Decimal("5555.56")


def _utc_day(t: datetime) -> date:
    return t.date()


def _coverage_ledger() -> InlineLog:
    log = InlineLog()
    log.add("quota_set", "2025-06-01", period="2025-Q3", amount="500000")
    open_deal(log, "W-1", "2025-05-01", stage="negotiation", amount="80000", close="2025-07-15")
    log.add("contract_signed", "2025-07-10", deal_id="W-1", arr="100000")
    open_deal(log, "W-0", "2025-05-01", stage="negotiation", amount="80000", close="2025-06-30")
    log.add("contract_signed", "2025-06-30", deal_id="W-0", arr="77000")  # won in Q2
    # Open, expected to close in Q3: 200k at negotiation (0.85), 300k at demo with a 0.5 override.
    open_deal(log, "O-1", "2025-05-01", stage="negotiation", amount="200000", close="2025-09-30")
    open_deal(log, "O-2", "2025-05-01", stage="demo", amount="300000", close="2025-07-01")
    log.add("deal_updated", "2025-06-01", deal_id="O-2", probability="0.5")
    # Open but expected in Q4, and a Q3 deal lost: neither counts.
    open_deal(log, "O-3", "2025-05-01", stage="negotiation", amount="900000", close="2025-10-01")
    open_deal(log, "L-1", "2025-05-01", stage="negotiation", amount="400000", close="2025-08-01")
    log.add("deal_lost", "2025-07-20", deal_id="L-1")
    return log


def test_coverage_unweighted_and_weighted_against_quota_minus_closed_won() -> None:
    book = replay_deals(_coverage_ledger().events, day("2025-07-31"))
    c = coverage(book, parse_period("2025-Q3"), _utc_day)

    assert (c.quota, c.closed_won, c.won_deals, c.remaining) == (
        Decimal(500000),
        Decimal(100000),
        1,
        Decimal(400000),
    )
    assert (c.open_deals, c.pipeline) == (2, Decimal(500000))
    assert c.weighted == Decimal(170000) + Decimal(150000)
    assert c.coverage == Decimal("1.25")
    assert c.weighted_coverage == Decimal("0.8")


def test_coverage_leaves_out_omitted_deals_as_the_forecast_does() -> None:
    """A deal in the `omitted` forecast category is not pipeline: coverage and the period's
    forecast give the same ratios."""
    log = _coverage_ledger()
    open_deal(log, "O-4", "2025-05-01", stage="negotiation", amount="40000", close="2025-08-15")
    log.add("deal_updated", "2025-06-02", deal_id="O-4", forecast_category="omitted")
    book = replay_deals(log.events, day("2025-07-31"))
    period = parse_period("2025-Q3")
    c = coverage(book, period, _utc_day)
    assert (c.open_deals, c.pipeline, c.coverage) == (2, Decimal(500000), Decimal("1.25"))
    f = forecast(book, period, _utc_day)
    assert (f.coverage, f.weighted_coverage) == (c.coverage, c.weighted_coverage)


def test_weighted_pipeline_is_kept_in_cents() -> None:
    """Amount × probability has as many places as the two together (33,333.33 × 0.1234): the
    weighted pipeline is rounded half-even to cents, like the other amounts."""
    log = InlineLog()
    open_deal(log, "O-1", "2025-05-01", stage="demo", amount="33333.33", close="2025-08-01")
    log.add("deal_updated", "2025-06-01", deal_id="O-1", probability="0.1234")
    c = coverage(replay_deals(log.events, day("2025-07-31")), parse_period("2025-Q3"), _utc_day)
    assert str(c.weighted) == "4113.33"  # 4113.332922


def test_coverage_has_no_ratio_without_a_quota_or_once_the_quota_is_met() -> None:
    log = _coverage_ledger()
    c = coverage(replay_deals(log.events, day("2025-07-31")), parse_period("2025-Q4"), _utc_day)
    assert (c.quota, c.pipeline, c.coverage, c.weighted_coverage) == (
        None,
        Decimal(900000),
        None,
        None,
    )
    log.add("contract_signed", "2025-08-01", deal_id="O-2", arr="450000")
    met = coverage(replay_deals(log.events, day("2025-08-31")), parse_period("2025-Q3"), _utc_day)
    assert (met.closed_won, met.remaining, met.coverage) == (
        Decimal(550000),
        Decimal(-50000),
        None,
    )


def test_coverage_as_of_the_quarter_start_sees_the_quota_and_the_whole_pipeline() -> None:
    book = replay_deals(_coverage_ledger().events, day("2025-06-30"))
    c = coverage(book, parse_period("2025-Q3"), _utc_day)

    # W-1 and L-1 are still open with Q3 dates; W-0 was won in Q2 and does not count.
    assert (c.closed_won, c.open_deals, c.pipeline) == (
        Decimal(0),
        4,
        Decimal(80000 + 200000 + 300000 + 400000),
    )
    assert c.coverage == Decimal("1.96")


def test_velocity_divides_by_the_exact_mean_cycle_not_the_rounded_one() -> None:
    log = InlineLog()
    open_deal(log, "S", "2025-03-01T00:00:00Z", stage="negotiation", amount="1000000")
    log.add("contract_signed", "2025-03-01T08:00:00Z", deal_id="S", arr="1000000")  # 1/3 day
    open_deal(log, "O", "2025-03-02")
    book = replay_deals(log.events, day("2025-03-31"))

    total = velocity(book, H1)[-1]

    assert total.closed.cycle.mean == Decimal("0.333333")  # as shown
    assert total.velocity == Decimal("3000000.00")  # 1 × 1 × 1,000,000 / (1/3)


def test_the_mean_cycle_is_over_the_won_deals_that_have_a_cycle() -> None:
    """A contract signed for a deal never opened is won (its ARR counts) but has no sales
    cycle: the mean cycle is taken over the won deals that were opened, so such a deal does not
    shorten it."""
    log = InlineLog()
    open_deal(log, "W-1", "2025-03-01", stage="negotiation", amount="100000")
    log.add("contract_signed", "2025-03-11", deal_id="W-1", arr="100000")  # a 10-day cycle
    log.add("contract_signed", "2025-03-15", deal_id="W-2", account_id="A-W-2", arr="100000")
    open_deal(log, "O-1", "2025-03-20")
    book = replay_deals(log.events, day("2025-03-31"))

    total = velocity(book, H1)[-1]

    assert (total.open_deals, total.closed.won, total.closed.closed) == (1, 2, 2)
    assert total.closed.cycle.count == 1
    assert total.closed.cycle.mean == Decimal(10)
    # 1 open × 2/2 won × 100,000 average / 10 days = 10,000 a day.
    assert total.velocity == Decimal("10000.00")


def test_a_deal_won_on_the_first_day_of_the_next_period_is_not_closed_won_in_this_one() -> None:
    log = InlineLog()
    log.add("quota_set", "2025-06-01", period="2025-Q3", amount="500000")
    open_deal(log, "W-1", "2025-05-01", stage="negotiation", amount="80000", close="2025-09-30")
    log.add("contract_signed", "2025-10-01", deal_id="W-1", arr="80000")
    book = replay_deals(log.events, day("2025-10-31"))

    q3 = coverage(book, parse_period("2025-Q3"), _utc_day)
    q4 = coverage(book, parse_period("2025-Q4"), _utc_day)

    assert (q3.closed_won, q3.won_deals, q3.remaining) == (Decimal(0), 0, Decimal(500000))
    assert (q4.closed_won, q4.won_deals) == (Decimal(80000), 1)


def test_velocity_by_persona_counts_an_open_deal_in_every_group_of_its_committee() -> None:
    log = InlineLog()
    open_deal(log, "W-1", "2025-01-01", personas=["cfo", "cmio"])
    log.add("contract_signed", "2025-03-02", deal_id="W-1", arr="100000")  # 60 days
    open_deal(log, "L-1", "2025-01-01", personas=["cfo"])
    log.add("deal_lost", "2025-04-01", deal_id="L-1")
    open_deal(log, "O-1", "2025-02-01", personas=["cfo", "cmio"])
    open_deal(log, "O-2", "2025-02-01", personas=["cmio"])
    open_deal(log, "O-3", "2025-02-01", personas=["it_security"])  # nothing closed with it
    open_deal(log, "O-4", "2025-02-01")
    book = replay_deals(log.events, day("2025-06-30"))
    lines = velocity(book, H1, by="persona")

    assert [(x.key, x.open_deals, x.velocity) for x in lines] == [
        # cfo: 1 open × 1/2 won × 100,000 / 60 days = 833.33 a day.
        ("cfo", 1, Decimal("833.33")),
        # cmio: 2 open × 1/1 won × 100,000 / 60 days = 3,333.33 a day.
        ("cmio", 2, Decimal("3333.33")),
        ("it_security", 1, None),
        ("(none)", 1, None),
        # total: 4 open × 1/2 won × 100,000 / 60 days.
        ("total", 4, Decimal("3333.33")),
    ]


def test_closed_won_counts_a_win_in_the_period_of_its_day_in_the_ledger_time_zone() -> None:
    # 02:00 UTC on Oct 1 is still Sep 30 in New York: closed won in Q3 there, in Q4 in UTC.
    log = InlineLog()
    log.add("quota_set", "2025-06-01", period="2025-Q3", amount="500000")
    open_deal(log, "W-1", "2025-05-01", stage="negotiation", amount="80000", close="2025-09-30")
    log.add("contract_signed", "2025-10-01T02:00:00Z", deal_id="W-1", arr="100000")
    book = replay_deals(log.events, day("2025-10-31"))
    new_york = zone("America/New_York")

    def ny_day(t: datetime) -> date:
        return t.astimezone(new_york).date()

    q3 = parse_period("2025-Q3")
    assert coverage(book, q3, _utc_day).closed_won == 0
    ny = coverage(book, q3, ny_day)
    assert (ny.closed_won, ny.won_deals, ny.remaining) == (Decimal(100000), 1, Decimal(400000))
