"""Revenue projections on inline ledgers: ARR, backlog, CARR, movements, NRR/GRR and cohorts.

`day("2026-03-31")` is the exclusive bound "at the close of 2026-03-31" (UTC ledger).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.timeutil import parse_instant, start_of_day
from projections.arr import arr_snapshot
from projections.cohorts import CohortRow, cohorts
from projections.movements import movements
from projections.retention import retention
from projections.revenue_book import RevenueBook, RevenueView, revenue_view
from tests.inline_log import InlineLog, day

D = Decimal


def life_of_a_customer() -> InlineLog:
    log = InlineLog()
    log.add("ledger_configured", "2020-01-01")
    log.add(
        "deal_opened",
        "2025-11-01",
        deal_id="D-1",
        account_id="A",
        stage="demo",
        amount="100000",
        expected_close="2026-01-31",
    )
    log.add("contract_signed", "2026-01-15", deal_id="D-1", arr="100000")
    log.add("go_live", "2026-03-01", account_id="A", deal_id="D-1")
    log.add("expansion", "2026-05-01", account_id="A", arr="20000")
    log.add("contraction", "2026-07-01", account_id="A", arr="50000")
    log.add("churn", "2026-09-30", account_id="A", reason="budget cut")
    log.add("contract_signed", "2026-11-01", deal_id="D-2", account_id="A", arr="40000")
    log.add("go_live", "2026-12-01", account_id="A", deal_id="D-2")
    return log


def test_each_step_of_a_customer_life_lands_in_its_bucket() -> None:
    view = revenue_view(life_of_a_customer().events)
    steps = [
        ("2026-01-31", "2026-03-31", "new", D(100000)),
        ("2026-03-31", "2026-05-31", "expansion", D(20000)),
        ("2026-05-31", "2026-07-31", "contraction", D(50000)),
        ("2026-07-31", "2026-10-31", "churn", D(70000)),
        ("2026-10-31", "2026-12-31", "reactivation", D(40000)),
    ]
    for start, end, bucket, amount in steps:
        bridge = movements(view, day(start), day(end)).total
        others = {
            k: getattr(bridge, k)
            for k in ("new", "reactivation", "expansion", "contraction", "churn")
            if k != bucket
        }
        assert getattr(bridge, bucket) == amount, (start, bucket)
        assert set(others.values()) == {D(0)}, (start, others)
        assert bridge.bridged_end() == bridge.end


def test_a_window_holding_the_whole_life_shows_every_step_gross() -> None:
    """Every change inside the window counts: a customer won, grown, cut, lost and won back
    within one window shows each movement, not just its start and end values."""
    bridge = movements(
        revenue_view(life_of_a_customer().events), day("2026-01-31"), day("2026-12-31")
    )
    t = bridge.total
    assert (t.start, t.new, t.expansion, t.contraction, t.churn, t.reactivation, t.end) == (
        D(0),
        D(100000),
        D(20000),
        D(50000),
        D(70000),
        D(40000),
        D(40000),
    )
    assert t.bridged_end() == t.end


def test_changes_at_one_instant_count_as_one() -> None:
    """A contraction and an expansion at the same instant move live ARR once: from its value
    before to its value after."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2026-01-10", "2026-02-01")
    log.add("contraction", "2026-05-01", account_id="A", arr="30000")
    log.add("expansion", "2026-05-01", account_id="A", arr="10000")
    t = movements(revenue_view(log.events), day("2026-03-31"), day("2026-06-30")).total
    assert (t.contraction, t.expansion, t.end) == (D(20000), D(0), D(80000))


def test_signed_not_live_is_backlog_and_counts_in_carr_only() -> None:
    view = revenue_view(life_of_a_customer().events)
    snap = arr_snapshot(view, day("2026-02-01"))
    assert (snap.total.arr, snap.total.backlog, snap.total.carr) == (D(0), D(100000), D(100000))
    live = arr_snapshot(view, day("2026-03-01"))
    assert (live.total.arr, live.total.backlog) == (D(100000), D(0))


def test_a_churn_ends_the_backlog_of_a_contract_not_yet_live() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    log.add("contract_signed", "2025-03-01", deal_id="D-2", account_id="A", arr="40000")
    log.add("churn", "2025-04-01", account_id="A")
    view = revenue_view(log.events)

    before = arr_snapshot(view, day("2025-03-15")).total
    assert (before.arr, before.backlog) == (D(100000), D(40000))
    after = arr_snapshot(view, day("2025-04-15")).total
    assert (after.arr, after.backlog, after.carr) == (D(0), D(0), D(0))


def test_a_second_contract_stays_pending_until_its_own_go_live() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2026-01-10", "2026-02-01")
    log.add("contract_signed", "2026-04-01", deal_id="D-2", account_id="A", arr="30000")
    log.add("go_live", "2026-06-01", account_id="A", deal_id="D-2")
    view = revenue_view(log.events)
    april = arr_snapshot(view, day("2026-04-30")).total
    assert (april.arr, april.backlog, april.carr) == (D(100000), D(30000), D(130000))
    june = arr_snapshot(view, day("2026-06-01")).total
    assert (june.arr, june.backlog) == (D(130000), D(0))
    assert movements(view, day("2026-04-30"), day("2026-06-30")).total.expansion == D(30000)


def test_a_churn_notice_is_projected_churn_before_its_date_and_churn_after() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2026-01-10", "2026-02-01")
    log.signed_and_live("B", "D-2", "50000", "2026-01-10", "2026-02-01")
    log.add("churn", "2026-12-31", recorded="2026-06-15T00:00:00Z", account_id="A")
    view = revenue_view(log.events)
    before = arr_snapshot(view, day("2026-09-30")).total
    assert (before.arr, before.projected_churn, before.carr) == (D(150000), D(100000), D(50000))
    after = arr_snapshot(view, day("2026-12-31")).total
    assert (after.arr, after.projected_churn, after.carr) == (D(50000), D(0), D(50000))
    assert movements(view, day("2026-09-30"), day("2026-12-31")).total.churn == D(100000)
    # As known before the notice was recorded, nothing was projected to churn.
    earlier = revenue_view(log.events, known_at=parse_instant("2026-06-01"))
    assert arr_snapshot(earlier, day("2026-09-30")).total.projected_churn == D(0)


def test_a_scheduled_contraction_is_projected_churn_of_its_amount() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2026-01-10", "2026-02-01")
    log.add("contraction", "2027-01-01", account_id="A", arr="25000")
    snap = arr_snapshot(revenue_view(log.events), day("2026-06-30")).total
    assert (snap.projected_churn, snap.carr) == (D(25000), D(75000))


def test_grr_is_capped_per_account_so_expansion_never_hides_a_loss() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    log.signed_and_live("B", "D-2", "100000", "2025-01-10", "2025-02-01")
    log.add("expansion", "2025-09-01", account_id="A", arr="50000")
    log.add("contraction", "2025-10-01", account_id="B", arr="30000")
    # Not in the cohort: live only after the window's start.
    log.signed_and_live("C", "D-3", "80000", "2025-03-01", "2025-04-01")
    r = retention(revenue_view(log.events), day("2025-02-28"), day("2026-02-28")).total
    assert (r.accounts, r.start, r.end, r.retained) == (2, D(200000), D(220000), D(170000))
    assert r.nrr == D("1.1") and r.grr == D("0.85")


def test_a_backdated_expansion_changes_nrr_as_known_today_but_not_as_known_before() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    log.signed_and_live("B", "D-2", "100000", "2025-01-10", "2025-02-01")
    reported = log.now
    log.add("expansion", "2025-12-01", recorded="2026-03-10T00:00:00Z", account_id="A", arr="40000")
    start, end = day("2025-02-28"), day("2025-12-31")
    today = retention(revenue_view(log.events), start, end).total
    then = retention(revenue_view(log.events, known_at=reported), start, end).total
    assert then.nrr == D(1) and then.grr == D(1)
    assert today.nrr == D("1.2") and today.grr == D(1)


def test_a_retraction_restores_the_earlier_answer() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    before = log.now
    wrong = log.add("churn", "2025-06-01", account_id="A")
    log.add("event_retracted", "2025-06-02", retracts=wrong.event_id, reason="recorded in error")
    at = day("2025-12-31")
    assert arr_snapshot(revenue_view(log.events), at).total.arr == D(100000)
    mid = revenue_view(log.events, known_at=log.events[-2].recorded_at)
    assert arr_snapshot(mid, at).total.arr == D(0)
    assert arr_snapshot(revenue_view(log.events, known_at=before), at).total.arr == D(100000)


def test_book_views_answer_for_any_prefix_of_the_log() -> None:
    log = life_of_a_customer()
    book = RevenueBook().absorb(log.events)
    for i, e in enumerate(log.events, start=1):
        prefix = revenue_view(log.events[:i])
        assert book.view(upto_seq=e.seq).accounts == prefix.accounts


def test_a_book_takes_each_event_once() -> None:
    """A book absorbs the log in seq order from where it stands: an event it already holds,
    the last one included, is refused and the book is left as it was."""
    log = life_of_a_customer()
    book = RevenueBook().absorb(log.events[:-1])
    before = book.view().accounts
    last_held = log.events[-2]
    with pytest.raises(ValueError, match=f"seq {last_held.seq} was already absorbed"):
        book.absorb([last_held])
    assert book.view().accounts == before
    book.absorb(log.events[-1:])
    assert book.view().accounts["A"].live_at(day("2026-12-31")) == D(40000)


def test_arr_by_segment_and_channel_follow_the_first_signed_deal() -> None:
    log = InlineLog()
    log.signed_and_live(
        "A", "D-1", "100000", "2026-01-10", "2026-02-01", segment="health_system", channel="direct"
    )
    log.signed_and_live(
        "B", "D-2", "40000", "2026-01-10", "2026-02-01", segment="clinic", channel="partner:epic"
    )
    log.signed_and_live("C", "D-3", "10000", "2026-01-10", "2026-02-01", segment="clinic")
    view = revenue_view(log.events)
    by_segment = arr_snapshot(view, day("2026-03-01"), by="segment").lines
    assert [(x.key, x.accounts, x.arr) for x in by_segment] == [
        ("health_system", 1, D(100000)),
        ("clinic", 2, D(50000)),
    ]
    by_channel = arr_snapshot(view, day("2026-03-01"), by="channel").lines
    assert [(x.key, x.arr) for x in by_channel] == [
        ("direct", D(100000)),
        ("partner:epic", D(40000)),
        ("(none)", D(10000)),
    ]


def test_groups_follow_the_segment_an_account_had_at_the_asked_time() -> None:
    """A re-segmented deal moves its account to the new segment from the change's effective
    time on, in business order: a change recorded later but effective earlier does not win."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1000", "2026-01-01", "2026-02-01", segment="clinic")
    log.add("deal_updated", "2026-09-01", deal_id="D-1", segment="payer")
    view = revenue_view(log.events)
    march = arr_snapshot(view, day("2026-03-31"), by="segment").lines
    assert [(x.key, x.arr) for x in march] == [("clinic", D(1000))]
    october = arr_snapshot(view, day("2026-10-31"), by="segment").lines
    assert [(x.key, x.arr) for x in october] == [("payer", D(1000))]

    log.add("deal_updated", "2026-08-01", deal_id="D-1", segment="life_sciences")
    view = revenue_view(log.events)
    august = arr_snapshot(view, day("2026-08-15"), by="segment").lines
    assert [x.key for x in august] == ["life_sciences"]
    assert [x.key for x in arr_snapshot(view, day("2026-10-31"), by="segment").lines] == ["payer"]
    # Movements and NRR group by the segment at the end of their window.
    bridge = movements(view, day("2026-01-31"), day("2026-08-15"), by="segment")
    assert [(b.key, b.new) for b in bridge.lines] == [("life_sciences", D(1000))]
    nrr = retention(view, day("2026-03-31"), day("2026-10-31"), by="segment")
    assert [(x.key, x.start, x.end) for x in nrr.lines] == [("payer", D(1000), D(1000))]


def quarter_cohorts(view: RevenueView, bound: datetime) -> list[CohortRow]:
    """Return the quarterly cohorts of a UTC ledger up to the exclusive bound `bound`."""
    return cohorts(
        view,
        bound,
        grain="quarter",
        fiscal_start=1,
        day_of=lambda t: t.date(),
        bound_of=lambda d: start_of_day(d, "UTC"),
    )


def test_cohorts_by_quarter_of_first_go_live() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    log.signed_and_live("B", "D-2", "50000", "2025-01-10", "2025-03-01")
    log.signed_and_live("C", "D-3", "80000", "2025-04-10", "2025-05-01")
    log.add("expansion", "2025-05-15", account_id="A", arr="50000")
    log.add("churn", "2025-08-01", account_id="B")
    rows = quarter_cohorts(revenue_view(log.events), day("2025-10-15"))
    assert [(r.cohort.label, r.accounts, r.start_arr) for r in rows] == [
        ("2025-Q1", 2, D(150000)),
        ("2025-Q2", 1, D(80000)),
    ]
    q1 = rows[0]
    assert q1.arr == [D(150000), D(200000), D(150000), D(150000)]
    assert q1.revenue == [D(1), D(200000) / D(150000), D(1), D(1)]
    assert q1.logos == [D(1), D(1), D("0.5"), D("0.5")]
    assert rows[1].revenue == [D(1), D(1), D(1)]


def test_no_change_in_the_window_means_nrr_and_grr_of_one() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100000", "2025-01-10", "2025-02-01")
    r = retention(revenue_view(log.events), day("2025-03-31"), day("2026-03-31")).total
    assert r.nrr == r.grr == D(1)
    assert (
        retention(revenue_view(log.events), day("2024-03-31"), day("2025-03-31")).total.nrr is None
    )


def test_book_round_trips_through_json() -> None:
    log = life_of_a_customer()
    wrong = log.add("expansion", "2026-12-15", account_id="A", arr="1000")
    log.add("event_retracted", "2026-12-16", retracts=wrong.event_id, reason="duplicate")
    book = RevenueBook().absorb(log.events)
    again = RevenueBook.from_json(book.to_json())
    assert again.to_json() == book.to_json()
    for seq in (None, 5, len(log.events) - 1):
        assert again.view(seq).accounts == book.view(seq).accounts


def test_the_retention_cohort_is_the_customers_live_at_the_start_on_either_basis() -> None:
    log = InlineLog()
    log.signed_and_live("X1", "D-1", "100", "2025-01-01", "2025-02-01")
    log.add("churn", "2025-08-01", account_id="X1")  # churns inside the window
    log.signed_and_live("X2", "D-2", "100", "2025-01-01", "2025-02-01")
    log.add(  # backlog only at the start: signed, never live
        "contract_signed", "2025-06-01", deal_id="D-3", account_id="X3", arr="50"
    )
    log.add("churn", "2025-09-15", account_id="X3")
    view = revenue_view(log.events)

    arr = retention(view, day("2025-06-30"), day("2025-09-30"), "arr").total
    carr = retention(view, day("2025-06-30"), day("2025-09-30"), "carr").total

    assert (arr.accounts, arr.start, arr.end, arr.nrr) == (2, D(200), D(100), D("0.5"))
    # X1's churn, recorded, is already out of its contracted ARR at the start; X3 had no
    # live ARR then and is no customer of the cohort.
    assert (carr.accounts, carr.start, carr.end, carr.nrr, carr.grr) == (
        2,
        D(100),
        D(100),
        D(1),
        D(1),
    )


def test_a_free_pilot_adds_no_arr_and_makes_no_customer_until_paid_arr_goes_live() -> None:
    log = InlineLog()
    log.signed_and_live("A", "P-1", "0", "2025-01-10", "2025-02-01")  # a $0 pilot, live
    log.signed_and_live("B", "D-2", "50000", "2025-01-10", "2025-02-01")
    log.signed_and_live("A", "D-1", "100000", "2025-04-10", "2025-05-01")
    view = revenue_view(log.events)

    march = arr_snapshot(view, day("2025-03-31")).total
    assert (march.accounts, march.arr, march.backlog) == (1, D(50000), D(0))
    # A's first live ARR is its paid contract's: new in Q2, in the Q2 cohort, not in Q1's.
    bridge = movements(view, day("2025-03-31"), day("2025-06-30")).total
    assert (bridge.new, bridge.end) == (D(100000), D(150000))
    rows = quarter_cohorts(view, day("2025-06-30"))
    assert [(r.cohort.label, r.accounts, r.start_arr) for r in rows] == [
        ("2025-Q1", 1, D(50000)),
        ("2025-Q2", 1, D(100000)),
    ]


def test_a_go_live_undone_at_its_own_instant_leaves_the_account_never_live() -> None:
    """Facts of one instant are taken together: a go-live and a churn effective at the same
    time leave live ARR at 0 at every valid time, so the account's later first paid go-live is
    `new` (not a reactivation), whichever window it falls in, and names its cohort."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-01-10", "2025-02-01")
    log.add("churn", "2025-02-01", account_id="A")
    log.signed_and_live("A", "D-2", "50", "2025-03-01", "2025-04-01")
    view = revenue_view(log.events)
    for start in ("2025-01-31", "2025-02-15"):
        t = movements(view, day(start), day("2025-04-30")).total
        assert (t.new, t.reactivation, t.churn, t.end) == (D(50), D(0), D(0), D(50)), start
    rows = quarter_cohorts(view, day("2025-06-30"))
    assert [(r.cohort.label, r.accounts, r.start_arr) for r in rows] == [("2025-Q2", 1, D(50))]


def test_a_contraction_larger_than_live_arr_takes_it_to_zero_as_a_churn() -> None:
    """Live ARR never goes below zero: a contraction of more than the account has takes what
    there is, and live ARR going to 0 is a churn of it (movements/2)."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1000", "2025-01-10", "2025-02-01")
    log.signed_and_live("B", "D-2", "400", "2025-01-10", "2025-02-01")
    log.add("contraction", "2025-04-01", account_id="A", arr="1500")
    view = revenue_view(log.events)
    assert arr_snapshot(view, day("2025-04-30")).total.arr == D(400)
    t = movements(view, day("2025-03-31"), day("2025-04-30")).total
    assert (t.start, t.contraction, t.churn, t.end) == (D(1400), D(0), D(1000), D(400))


def test_a_go_live_moves_only_its_own_contract_from_backlog_to_arr() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2026-01-10", "2026-02-01")
    log.add("contract_signed", "2026-01-10", deal_id="D-2", account_id="A", arr="30")
    snap = arr_snapshot(revenue_view(log.events), day("2026-02-28")).total
    assert (snap.arr, snap.backlog, snap.carr) == (D(100), D(30), D(130))


def test_an_account_is_grouped_by_its_first_signed_deal_not_a_later_one() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-01-10", "2025-02-01", segment="clinic")
    log.signed_and_live("A", "D-2", "50", "2025-06-01", "2025-07-01", segment="payer")
    lines = arr_snapshot(revenue_view(log.events), day("2025-09-30"), by="segment").lines
    assert [(x.key, x.arr) for x in lines] == [("clinic", D(150))]


def test_a_fact_backdated_by_one_microsecond_lands_before_the_later_one() -> None:
    """Business order is by effective time, however close: an expansion recorded after a churn
    but effective one microsecond before it is wiped out by the churn."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1000", "2025-01-10", "2025-02-01")
    log.add("churn", "2025-06-01T00:00:00.000001Z", account_id="A")
    log.add("expansion", "2025-06-01T00:00:00Z", account_id="A", arr="500")
    view = revenue_view(log.events)
    assert arr_snapshot(view, day("2025-06-30")).total.arr == D(0)
    t = movements(view, day("2025-05-31"), day("2025-06-30")).total
    assert (t.expansion, t.churn) == (D(500), D(1500))


def test_movements_by_account_leave_out_an_account_whose_live_arr_never_moved() -> None:
    """A contract signed but not yet live inside the window moves no live ARR: the account has
    no line, as an account without any fact in the window has none."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-01-10", "2025-02-01")
    log.add("expansion", "2025-05-01", account_id="A", arr="20")
    log.add("contract_signed", "2025-05-10", deal_id="D-2", account_id="B", arr="70")
    m = movements(revenue_view(log.events), day("2025-03-31"), day("2025-06-30"), by="account")
    assert [(b.key, b.start, b.expansion, b.end) for b in m.lines] == [("A", D(100), D(20), D(120))]


def test_a_window_of_no_time_has_no_movements() -> None:
    """`(t, t]` is empty: start ARR is end ARR and every movement is 0."""
    view = revenue_view(life_of_a_customer().events)
    t = movements(view, day("2026-05-31"), day("2026-05-31")).total
    assert (t.start, t.end) == (D(120000), D(120000))
    assert (t.new, t.reactivation, t.expansion, t.contraction, t.churn) == (D(0),) * 5


def test_retention_groups_come_largest_start_first() -> None:
    log = InlineLog()
    log.signed_and_live("A", "D-1", "20", "2025-01-10", "2025-02-01", segment="clinic")
    log.signed_and_live("B", "D-2", "100", "2025-01-10", "2025-02-01", segment="payer")
    r = retention(revenue_view(log.events), day("2025-03-31"), day("2025-06-30"), by="segment")
    assert [(x.key, x.start) for x in r.lines] == [("payer", D(100)), ("clinic", D(20))]


def test_nrr_on_carr_keeps_the_cents_of_a_scheduled_contraction() -> None:
    """Contracted ARR takes a scheduled contraction off in full, cents included."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1000", "2025-01-10", "2025-02-01")
    log.add("contraction", "2026-01-15", account_id="A", arr="0.50")
    r = retention(revenue_view(log.events), day("2025-03-31"), day("2025-06-30"), "carr").total
    assert (r.accounts, r.start, r.end, r.nrr, r.grr) == (
        1,
        D("999.50"),
        D("999.50"),
        D(1),
        D(1),
    )


def test_a_cohort_period_ends_at_the_close_of_its_last_day() -> None:
    """A churn during a quarter's last day is in that quarter's column."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1000", "2025-01-10", "2025-01-20")
    log.signed_and_live("B", "D-2", "1000", "2025-01-10", "2025-01-20")
    log.add("churn", "2025-03-31T12:00:00Z", account_id="A")
    [q1] = quarter_cohorts(revenue_view(log.events), day("2025-06-30"))
    assert (q1.accounts, q1.start_arr, q1.arr) == (2, D(1000), [D(1000), D(1000)])
    assert q1.logos == [D(1), D(1)]


def test_cohorts_follow_the_fiscal_quarters() -> None:
    """With a fiscal year starting in February, fiscal Q1 is February to April: a go-live in
    January is in the previous fiscal year's Q4, and an expansion on May 1 falls in Q2."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-01-10", "2025-01-20")
    log.signed_and_live("B", "D-2", "1000", "2025-02-01", "2025-02-10")
    log.add("expansion", "2025-05-01", account_id="B", arr="500")
    rows = cohorts(
        revenue_view(log.events),
        day("2025-07-31"),
        grain="quarter",
        fiscal_start=2,
        day_of=lambda t: t.date(),
        bound_of=lambda d: start_of_day(d, "UTC"),
    )
    assert [(r.cohort.label, r.arr) for r in rows] == [
        ("2025-Q4", [D(100), D(100), D(100)]),
        ("2026-Q1", [D(1000), D(1500)]),
    ]


def test_cohorts_take_the_day_of_first_go_live_in_the_ledgers_time_zone() -> None:
    """16:00 UTC on March 31 is already April 1 in Tokyo: a Tokyo ledger's Q2 cohort."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-03-10", "2025-03-31T16:00:00Z")
    tokyo = ZoneInfo("Asia/Tokyo")
    rows = cohorts(
        revenue_view(log.events),
        start_of_day(date(2025, 7, 1), "Asia/Tokyo"),
        grain="quarter",
        fiscal_start=1,
        day_of=lambda t: t.astimezone(tokyo).date(),
        bound_of=lambda d: start_of_day(d, "Asia/Tokyo"),
    )
    assert [(r.cohort.label, r.accounts, r.arr) for r in rows] == [("2025-Q2", 1, [D(100)])]


def test_a_go_live_undone_one_microsecond_later_was_live_for_that_microsecond() -> None:
    """Only facts of the very same instant are taken together: a churn one microsecond after
    the go-live leaves the account live in between, so its next go-live is a reactivation."""
    log = InlineLog()
    log.signed_and_live("A", "D-1", "100", "2025-01-10", "2025-02-01")
    log.add("churn", "2025-02-01T00:00:00.000001Z", account_id="A")
    log.signed_and_live("A", "D-2", "50", "2025-03-01", "2025-04-01")
    t = movements(revenue_view(log.events), day("2025-02-15"), day("2025-04-30")).total
    assert (t.new, t.reactivation) == (D(0), D(50))


def test_of_two_segment_changes_at_one_instant_the_later_recorded_holds_throughout() -> None:
    """A deal signed without being opened takes its segment from its first change: when two
    changes share that instant, the later recorded one decides, also before the instant."""
    log = InlineLog()
    log.add("contract_signed", "2025-01-10", deal_id="D-1", account_id="A", arr="100")
    log.add("go_live", "2025-02-01", account_id="A", deal_id="D-1")
    log.add("deal_updated", "2025-06-01", deal_id="D-1", segment="clinic")
    log.add("deal_updated", "2025-06-01", deal_id="D-1", segment="payer")
    view = revenue_view(log.events)
    for when in ("2025-03-31", "2025-09-30"):
        lines = arr_snapshot(view, day(when), by="segment").lines
        assert [(x.key, x.arr) for x in lines] == [("payer", D(100))], when
