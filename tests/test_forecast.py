"""The forecast of a period: closed won, the open pipeline closing in it, quota and coverage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.periods import parse_period
from ledger.timeutil import parse_instant, zone
from projections.coverage import coverage
from projections.deals import replay_deals
from projections.forecast import Contribution, forecast, forecast_deals, forecast_events, utc_day
from projections.forecast_calls import CallCalendar, CallHistory, forecast_calls
from tests.inline_log import InlineLog, day

Q4 = parse_period("2026-Q4")


def open_deal(
    log: InlineLog,
    deal: str,
    stage: str,
    amount: str,
    expected_close: str,
    *,
    when: str = "2026-03-01",
    recorded: str | None = None,
    **extra: Any,
) -> None:
    """Open `deal` for account A-`deal` at `stage`."""
    log.add(
        "deal_opened",
        when,
        recorded=recorded,
        deal_id=deal,
        account_id=f"A-{deal}",
        stage=stage,
        amount=amount,
        expected_close=expected_close,
        **extra,
    )


def q4_ledger() -> InlineLog:
    """One deal of each kind around 2026-Q4 (see the figures in the tests)."""
    log = InlineLog()
    open_deal(log, "D-WON", "negotiation", "200000", "2026-10-31")
    log.add("contract_signed", "2026-10-20", deal_id="D-WON", arr="180000")
    open_deal(log, "D-Q3WON", "negotiation", "50000", "2026-09-30")
    log.add("contract_signed", "2026-09-15", deal_id="D-Q3WON", arr="50000")
    open_deal(log, "D-COMMIT", "legal_review", "100000", "2026-11-15")
    open_deal(log, "D-BEST", "security_review", "80000", "2026-12-31")
    open_deal(log, "D-PIPE", "demo", "60000", "2026-10-01")
    log.add("deal_updated", "2026-04-01", deal_id="D-PIPE", probability="0.25")
    open_deal(log, "D-OMIT", "negotiation", "500000", "2026-12-01")
    log.add("deal_updated", "2026-04-01", deal_id="D-OMIT", forecast_category="omitted")
    open_deal(log, "D-NEXT", "negotiation", "90000", "2027-01-01")
    open_deal(log, "D-LOST", "discovery", "70000", "2026-11-01")
    log.add("deal_lost", "2026-10-05", deal_id="D-LOST")
    open_deal(log, "D-CAT", "discovery", "40000", "2026-11-30")
    log.add("deal_updated", "2026-04-01", deal_id="D-CAT", forecast_category="commit")
    log.add("quota_set", "2026-09-01", period="2026-Q4", amount="600000")
    return log


def test_closed_won_and_the_open_pipeline_closing_in_the_period() -> None:
    f = forecast(replay_deals(q4_ledger().events, day("2026-12-31")), Q4)

    # closed won: D-WON's contract (not its amount), not D-Q3WON (signed in Q3).
    # open: D-COMMIT 100000 × 0.70, D-BEST 80000 × 0.55, D-PIPE 60000 × 0.25 (override),
    # D-CAT 40000 × 0.20 (commit by override); D-OMIT omitted, D-NEXT next quarter, D-LOST lost.
    assert f.total == Contribution(
        closed_won=Decimal("180000"),
        unweighted=Decimal("280000"),
        weighted=Decimal("137000"),
        commit=Decimal("140000"),
        best_case=Decimal("80000"),
    )
    assert (f.won_deals, f.open_deals, f.omitted_deals) == (1, 4, 1)
    assert [(x.deal_id, x.category) for x in f.lines] == [
        ("D-WON", "commit"),
        ("D-COMMIT", "commit"),
        ("D-CAT", "commit"),
        ("D-BEST", "best_case"),
        ("D-PIPE", "pipeline"),
        ("D-OMIT", "omitted"),
    ]
    won = f.lines[0]
    assert (won.status, won.close, won.amount) == ("won", date(2026, 10, 20), Decimal("180000"))
    omitted = f.lines[-1]
    assert omitted.contribution == Contribution()


def test_quota_attainment_and_coverage_of_what_is_left_to_close() -> None:
    f = forecast(replay_deals(q4_ledger().events, day("2026-12-31")), Q4)

    assert f.quota == Decimal("600000")
    assert f.attainment == Decimal("0.3")
    # 600000 - 180000 = 420000 still to close.
    assert f.coverage == Decimal("280000") / Decimal("420000")
    assert f.weighted_coverage == Decimal("137000") / Decimal("420000")


def test_no_quota_or_quota_reached_leaves_coverage_undefined() -> None:
    log = q4_ledger()
    f = forecast(replay_deals(log.events, day("2026-12-31")), parse_period("2026-11"))
    assert (f.quota, f.attainment, f.coverage) == (None, None, None)

    log.add("quota_set", "2026-09-02", period="2026-Q4", amount="150000")
    f = forecast(replay_deals(log.events, day("2026-12-31")), Q4)
    assert f.attainment == Decimal("1.2")
    assert (f.coverage, f.weighted_coverage) == (None, None)


def test_a_quota_met_exactly_leaves_nothing_to_cover() -> None:
    # Closed won 180000 (D-WON) against a quota of 180000: attained, nothing left to close.
    log = q4_ledger()
    log.add("quota_set", "2026-09-02", period="2026-Q4", amount="180000")
    book = replay_deals(log.events, day("2026-12-31"))

    f = forecast(book, Q4)
    assert (f.quota, f.attainment) == (Decimal("180000"), Decimal(1))
    assert (f.coverage, f.weighted_coverage) == (None, None)
    c = coverage(book, Q4, utc_day)
    assert (c.remaining, c.coverage, c.weighted_coverage) == (Decimal(0), None, None)


def test_the_quota_is_the_last_one_effective_by_the_as_of_close() -> None:
    """In replay order (effective time): a quota effective after the as-of close is not yet
    the quota, and one recorded later but effective earlier does not override it."""
    log = InlineLog()
    log.add("quota_set", "2026-09-01", period="2026-Q4", amount="600000")
    log.add("quota_set", "2026-10-15", period="2026-Q4", amount="800000")
    log.add("quota_set", "2026-10-01", period="2026-Q4", amount="700000")

    def quota(as_of: str) -> Decimal | None:
        book = replay_deals(log.events, day(as_of))
        assert coverage(book, Q4, utc_day).quota == forecast(book, Q4).quota
        return forecast(book, Q4).quota

    assert quota("2026-08-31") is None
    assert quota("2026-09-30") == Decimal("600000")
    assert quota("2026-10-14") == Decimal("700000")
    assert quota("2026-10-15") == Decimal("800000")


def test_a_won_deal_counts_as_won_whatever_its_forecast_category() -> None:
    # Marked `omitted` while open, then signed in Q4: closed won, neither open nor omitted.
    log = InlineLog()
    open_deal(log, "D-1", "negotiation", "100000", "2026-11-30")
    log.add("deal_updated", "2026-04-01", deal_id="D-1", forecast_category="omitted")
    log.add("contract_signed", "2026-10-20", deal_id="D-1", arr="90000")

    f = forecast(replay_deals(log.events, day("2026-12-31")), Q4)
    assert (f.won_deals, f.open_deals, f.omitted_deals) == (1, 0, 0)
    assert f.total == Contribution(closed_won=Decimal("90000"))


def test_a_win_a_day_either_side_of_the_period_in_utc_is_kept_for_the_ledger_time_zone() -> None:
    """Which deals can have a line is decided before the time zone is applied: a contract
    signed 04:30 UTC on Jan 1 (Dec 31 in New York) keeps its deal among Q4's."""
    log = InlineLog()
    open_deal(log, "D-1", "negotiation", "100000", "2027-02-15")
    log.add("contract_signed", "2027-01-01T04:30:00Z", deal_id="D-1", arr="100000")
    open_deal(log, "D-2", "negotiation", "100000", "2027-02-15")
    log.add("contract_signed", "2027-01-02T04:30:00Z", deal_id="D-2", arr="100000")

    assert forecast_deals(log.events, [Q4]) == {"D-1"}
    new_york = zone("America/New_York")
    kept = replay_deals(forecast_events(log.events, [Q4]))
    ny = forecast(kept, Q4, day_of=lambda t: t.astimezone(new_york).date())
    assert ny.total.closed_won == Decimal("100000")


def test_the_as_of_bound_decides_won_or_still_open() -> None:
    before_signing = forecast(replay_deals(q4_ledger().events, day("2026-10-19")), Q4)

    assert before_signing.total.closed_won == 0
    assert before_signing.total.unweighted == Decimal("480000")  # D-WON open at 200000
    assert before_signing.total.weighted == Decimal("137000") + Decimal("170000")


def test_known_at_leaves_out_what_was_recorded_later() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "demo", "100000", "2026-11-30")
    known = log.now
    log.add("stage_changed", "2026-05-01", deal_id="D-1", stage="negotiation")  # backdated

    then = forecast(replay_deals(log.events, day("2026-09-30"), known), Q4)
    now = forecast(replay_deals(log.events, day("2026-09-30")), Q4)

    assert then.total.weighted == Decimal("30000")
    assert now.total.weighted == Decimal("85000")
    assert now.total.commit == Decimal("100000")


def test_months_and_fiscal_quarters() -> None:
    log = InlineLog()
    open_deal(log, "D-APR", "demo", "1000", "2026-04-30")
    open_deal(log, "D-MAY", "demo", "2000", "2026-05-01")
    book = replay_deals(log.events)

    # Fiscal year starting in February: FY2027 Q1 = 2026-02-01 .. 2026-04-30.
    fq1 = forecast(book, parse_period("2027-Q1", fiscal_start=2))
    assert [x.deal_id for x in fq1.lines] == ["D-APR"]
    assert [x.deal_id for x in forecast(book, parse_period("2026-05")).lines] == ["D-MAY"]
    assert forecast(book, parse_period("2026")).total.unweighted == Decimal("3000")


def test_a_win_counts_in_the_period_of_its_day_in_the_ledger_time_zone() -> None:
    log = InlineLog()
    open_deal(log, "D-1", "negotiation", "100000", "2026-12-31")
    # 23:30 on Dec 31 in New York is already Jan 1 in UTC.
    log.add("contract_signed", "2027-01-01T04:30:00Z", deal_id="D-1", arr="100000")
    book = replay_deals(log.events)
    new_york = zone("America/New_York")

    assert forecast(book, Q4).total.closed_won == 0
    ny = forecast(book, Q4, day_of=lambda t: t.astimezone(new_york).date())
    assert ny.total.closed_won == Decimal("100000")
    assert ny.lines[0].close == date(2026, 12, 31)


def q4_calls(log: InlineLog, as_of: str, known: str | None) -> CallHistory:
    """Return the 2026-Q4 forecast calls of `log` as of the close of `as_of` (UTC), as known at
    `known` (None: everything recorded)."""
    return forecast_calls(
        log.events,
        Q4,
        bound=day(as_of),
        known_at=parse_instant(known) if known else None,
        bound_of=lambda d: day(d.isoformat()),
        day_of=utc_day,
        over=as_of >= "2026-12-31",
    )


def test_each_call_beside_the_pipeline_as_known_when_it_was_recorded() -> None:
    log = InlineLog("2026-09-30T00:00:00Z")
    open_deal(log, "D-1", "negotiation", "100000", "2026-11-30", recorded="2026-09-30T01:00:00Z")
    first = log.add(
        "forecast_submitted",
        "2026-10-01",
        recorded="2026-10-01T09:00:00Z",
        period="2026-Q4",
        commit="100000",
        best_case="150000",
    )
    log.add(
        "contract_signed", "2026-10-20", recorded="2026-10-20T09:00:00Z", deal_id="D-1", arr="90000"
    )
    # Opened backdated to Oct 1, recorded just before the second call: that call saw it.
    open_deal(
        log, "D-2", "legal_review", "50000", "2026-12-15", when="2026-10-01",
        recorded="2026-10-25T08:00:00Z",
    )  # fmt: skip
    second = log.add(
        "forecast_submitted",
        "2026-10-25",
        recorded="2026-10-25T09:00:00Z",
        period="2026-Q4",
        commit="90000",
        best_case="120000",
    )
    # Recorded after the second call, backdated before it: not what that call saw.
    log.add("deal_updated", "2026-10-20", recorded="2026-10-26T08:00:00Z", deal_id="D-2",
            amount="70000")  # fmt: skip
    log.add("forecast_submitted", "2026-10-26", recorded="2026-10-26T09:00:00Z", period="2027-Q1",
            commit="1", best_case="1")  # fmt: skip
    log.add("event_retracted", "2026-10-27", recorded="2026-10-27T09:00:00Z",
            retracts=first.event_id, reason="duplicate of a CRM entry")  # fmt: skip

    def calls(known: str | None, as_of: str) -> CallHistory:
        return q4_calls(log, as_of, known)

    before_retraction = calls("2026-10-26T00:00:00Z", "2026-11-01")
    assert [c.event for c in before_retraction.calls] == [first, second]
    assert before_retraction.outcome is None
    one, two = before_retraction.calls
    assert (one.pipeline_commit, one.pipeline_best_case) == (Decimal("100000"), Decimal("100000"))
    assert one.pipeline_weighted == Decimal("85000")  # 100000 × 0.85, open on Oct 1
    # Oct 25: D-1 won (90000) and D-2 in legal review, commit: 90000 + 50000.
    assert (two.pipeline.total.closed_won, two.pipeline_commit) == (
        Decimal("90000"),
        Decimal("140000"),
    )
    assert two.pipeline_weighted == Decimal("125000")

    now = calls(None, "2026-12-31")
    assert [c.event for c in now.calls] == [second]  # the first call was retracted
    assert now.outcome == Decimal("90000")
    assert now.calls[0].pipeline_commit == Decimal("140000")


def test_a_call_is_judged_at_the_close_of_its_day_and_the_outcome_at_the_close_of_the_last() -> (
    None
):
    log = InlineLog("2026-09-30T00:00:00Z")
    # Opened in the afternoon of the call's day, recorded before the call: the call's pipeline.
    open_deal(log, "D-1", "negotiation", "100000", "2026-12-20", when="2026-10-01T15:00:00Z",
              recorded="2026-10-01T16:00:00Z")  # fmt: skip
    first = log.add("forecast_submitted", "2026-10-01T09:00:00Z", recorded="2026-10-01T17:00:00Z",
                    period="2026-Q4", commit="100000", best_case="100000")  # fmt: skip
    # Effective at the very close of Nov 1 (midnight): after an as-of of Nov 1.
    second = log.add("forecast_submitted", "2026-11-02T00:00:00Z",
                     recorded="2026-11-02T01:00:00Z", period="2026-Q4", commit="100000",
                     best_case="100000")  # fmt: skip
    # Won on the period's last day, recorded two days later.
    log.add("contract_signed", "2026-12-31T12:00:00Z", recorded="2027-01-02T09:00:00Z",
            deal_id="D-1", arr="90000")  # fmt: skip

    def calls(as_of: str, known: str | None = None) -> CallHistory:
        return q4_calls(log, as_of, known)

    nov_1 = calls("2026-11-01")
    assert [c.event for c in nov_1.calls] == [first]
    assert nov_1.calls[0].pipeline_weighted == Decimal("85000")  # 100000 × 0.85
    assert [c.event for c in calls("2026-11-02").calls] == [first, second]
    # The outcome: closed won at the close of Dec 31, as known at the query's known-at.
    assert calls("2026-12-31").outcome == Decimal("90000")
    assert calls("2026-12-31", "2027-01-01T00:00:00Z").outcome == Decimal(0)


def test_a_call_is_judged_in_the_calendar_known_when_it_was_recorded() -> None:
    """A call for 2026-Q4 recorded while the ledger was on New York time with fiscal years
    from January is dated and judged in that calendar: made at 02:00 UTC on Oct 1 (Sep 30 in
    New York), it is set beside the October-December pipeline at the close of Sep 30 in New
    York, though the ledger is now on UTC with fiscal years from February (2026-Q4 =
    2025-11-01..2026-01-31)."""
    log = InlineLog("2026-09-30T00:00:00Z")
    open_deal(log, "D-1", "demo", "100000", "2026-11-15", when="2026-10-01T00:00:00Z",
              recorded="2026-10-01T00:30:00Z")  # fmt: skip
    # Later on Oct 1 in New York, recorded before the call: after the close of its day.
    log.add("deal_updated", "2026-10-01T12:00:00Z", recorded="2026-10-01T08:00:00Z",
            deal_id="D-1", amount="300000")  # fmt: skip
    log.add("forecast_submitted", "2026-10-01T02:00:00Z", recorded="2026-10-01T09:00:00Z",
            period="2026-Q4", commit="0", best_case="0")  # fmt: skip
    reconfigured = parse_instant("2026-10-02T00:00:00Z")
    fiscal_q4 = parse_period("2026-Q4", fiscal_start=2)
    new_york = zone("America/New_York")

    def utc_close(d: date) -> datetime:
        return day(d.isoformat())

    def ny_close(d: date) -> datetime:
        return datetime.combine(d + (Q4.end - Q4.last_day), datetime.min.time(), new_york)

    def calendar_at(t: datetime) -> CallCalendar:
        if t < reconfigured:
            return CallCalendar(Q4, lambda i: i.astimezone(new_york).date(), ny_close)
        return CallCalendar(fiscal_q4, utc_day, utc_close)

    history = forecast_calls(
        log.events, fiscal_q4, bound=day("2026-10-31"), known_at=None, bound_of=utc_close,
        day_of=utc_day, over=False, calendar_at=calendar_at,
    )  # fmt: skip
    [call] = history.calls
    assert call.submitted == date(2026, 9, 30)
    assert call.pipeline.period == Q4
    assert call.pipeline.total.unweighted == Decimal("100000")
