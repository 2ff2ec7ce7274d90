"""Restatements: the value reported at a past transaction time, the value known now, and each
event recorded in between that moved it (reported + Σ effects = now)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from ledger.errors import IntegrityError
from ledger.periods import parse_period
from ledger.timeutil import parse_instant
from projections.deals import replay_deals
from projections.forecast import Calendar, forecast, utc_day
from projections.restatements import (
    FORECAST_FIGURES,
    Restatement,
    forecast_steps,
    forecast_values,
    restate,
    revenue_steps,
    revenue_values,
)
from projections.revenue_book import RevenueBook
from tests.inline_log import InlineLog, day
from tests.test_forecast_diff import october

Q3_END = day("2026-09-30")
YEAR_BEFORE = day("2025-09-30")


def prefix_seq(log: InlineLog, known_at: datetime) -> int:
    """Return the last seq recorded by `known_at`."""
    return max((e.seq for e in log.events if e.recorded_at <= known_at), default=0)


def revenue_restatement(log: InlineLog, metric: str, reported_at: str) -> Restatement:
    book = RevenueBook().absorb(log.events)
    reported_seq = prefix_seq(log, parse_instant(reported_at))

    def value(seq: int) -> dict[str, Decimal | None]:
        return revenue_values(metric, book.view(seq), Q3_END, YEAR_BEFORE)

    candidates = [e for e in log.events if e.seq > reported_seq]
    steps = revenue_steps(book, candidates, metric, lambda seq: (Q3_END, YEAR_BEFORE))
    figures = (metric,)
    targets = {e.event_id: e for e in log.events}
    return restate(figures, value(reported_seq), value(len(log.events)), steps, targets)


def q3_customers() -> InlineLog:
    """Two customers live a year before Q3 end; one expands in May; recorded as it happened."""
    log = InlineLog("2025-01-01T00:00:00Z")
    log.signed_and_live("A-1", "D-1", "100000", "2025-01-10", "2025-02-01")
    log.signed_and_live("A-2", "D-2", "50000", "2025-03-10", "2025-04-01")
    log.add(
        "expansion", "2026-05-01", recorded="2026-05-01T09:00:00Z", account_id="A-1", arr="20000"
    )
    return log


def test_q3_nrr_reported_on_oct_5_restated_by_a_backdated_churn_recorded_oct_20() -> None:
    log = q3_customers()
    # Recorded after Oct 5 but effective after Q3: it cannot move Q3 NRR.
    log.add(
        "expansion", "2026-10-10", recorded="2026-10-10T09:00:00Z", account_id="A-1", arr="5000"
    )
    churn = log.add(
        "churn", "2026-09-15", recorded="2026-10-20T09:00:00Z", account_id="A-2", reason="merged"
    )

    nrr = revenue_restatement(log, "nrr", "2026-10-05T23:59:59Z")

    # Cohort live on 2025-09-30: A-1 100000 + A-2 50000. Reported: (120000 + 50000) / 150000.
    # Known now, A-2 churned on Sep 15: 120000 / 150000.
    assert nrr.reported == {"nrr": Decimal(170000) / Decimal(150000)}
    assert nrr.now == {"nrr": Decimal("0.8")}
    assert [x.event.seq for x in nrr.effects] == [churn.seq]
    assert nrr.effects[0].effect["nrr"] == Decimal("0.8") - Decimal(170000) / Decimal(150000)
    assert nrr.changed

    grr = revenue_restatement(log, "grr", "2026-10-05T23:59:59Z")
    # GRR caps A-1 at its start value: (100000 + 50000) / 150000 reported, 100000 / 150000 now.
    assert grr.reported == {"grr": Decimal(1)}
    assert grr.now == {"grr": Decimal(100000) / Decimal(150000)}
    assert [x.event for x in grr.effects] == [churn]


def test_nothing_recorded_in_between_moved_it() -> None:
    log = q3_customers()
    log.add(
        "expansion", "2026-10-10", recorded="2026-10-10T09:00:00Z", account_id="A-1", arr="5000"
    )

    arr = revenue_restatement(log, "arr", "2026-10-05T23:59:59Z")

    assert arr.reported == arr.now == {"arr": Decimal("170000")}
    assert arr.effects == []
    assert not arr.changed


def test_a_retraction_names_the_event_it_took_out() -> None:
    log = q3_customers()
    expansion = log.events[-1]
    log.add(
        "contraction", "2026-08-01", recorded="2026-10-07T09:00:00Z", account_id="A-2", arr="10000"
    )
    retraction = log.add(
        "event_retracted",
        "2026-10-08",
        recorded="2026-10-08T09:00:00Z",
        retracts=expansion.event_id,
        reason="duplicate of a CRM entry",
    )

    carr = revenue_restatement(log, "carr", "2026-10-05T23:59:59Z")

    assert carr.reported == {"carr": Decimal("170000")}
    assert carr.now == {"carr": Decimal("140000")}
    assert [(x.event.seq, x.effect["carr"]) for x in carr.effects] == [
        (retraction.seq - 1, Decimal("-10000")),
        (retraction.seq, Decimal("-20000")),
    ]
    assert carr.effects[1].retracts == expansion


def test_the_forecast_restated_by_a_backdated_stage_change_and_a_retraction() -> None:
    log = october()
    q4, as_of = parse_period("2026-Q4"), day("2026-10-01")
    reported_seq = prefix_seq(log, parse_instant("2026-10-01T23:59:59Z"))

    def value(seq: int) -> dict[str, Decimal | None]:
        book = replay_deals([e for e in log.events if e.seq <= seq], as_of)
        return forecast_values(forecast(book, q4).total)

    steps = forecast_steps(log.events, reported_seq, lambda _seq: (Calendar(q4, utc_day), as_of))
    targets = {e.event_id: e for e in log.events}
    r = restate(FORECAST_FIGURES, value(reported_seq), value(len(log.events)), steps, targets)

    # October's business events are effective after Oct 1 and cannot move the Oct 1 forecast.
    assert r.reported == {
        "closed_won": Decimal(0),
        "unweighted": Decimal("630000"),
        "weighted": Decimal("327000"),
    }
    assert [
        (x.event.payload.event_type, x.effect["unweighted"], x.effect["weighted"])
        for x in r.effects
    ] == [
        ("stage_changed", Decimal(0), Decimal("50000")),
        ("event_retracted", Decimal("-30000"), Decimal("-9000")),
    ]
    assert r.now == {
        "closed_won": Decimal(0),
        "unweighted": Decimal("600000"),
        "weighted": Decimal("368000"),
    }


def test_steps_that_do_not_reach_the_value_known_now_are_an_integrity_error() -> None:
    log = q3_customers()
    e = log.events[-1]
    with pytest.raises(IntegrityError, match="does not reach"):
        restate(("arr",), {"arr": Decimal(1)}, {"arr": Decimal(3)}, [(e, {"arr": Decimal(2)})], {})
