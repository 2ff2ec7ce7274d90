"""Forecast audit and restatement properties over random valid ledgers and views.

For any two views A and B of any history: the deltas sum to forecast(B) − forecast(A) in every
figure, every deal whose contribution differs appears exactly once (and no other), every cited
event lies between the two views, and the categories follow the two axes (same as-of: only
`restated`; same known-at: never `restated`). A forecast restatement's effects are those of
full replays of the log prefixes around each event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from cli.render import cell_text
from ledger.envelope import RecordedEvent
from ledger.events import EventRetracted, ForecastSubmitted
from ledger.periods import Grain, Period, parse_period, period_of
from ledger.timeutil import zone
from projections.coverage import coverage
from projections.deals import replay_deals
from projections.forecast import (
    NOTHING,
    Calendar,
    contribution,
    forecast,
    forecast_events,
    utc_day,
)
from projections.forecast_calls import CallHistory, forecast_calls
from projections.forecast_diff import View, forecast_diff
from projections.restatements import FORECAST_FIGURES, forecast_steps, forecast_values, restate
from tests.inline_log import InlineLog
from tests.known_at_strategies import around_recordings, as_recorded, batched_logs, recorded_by
from tests.strategies import EPOCH, GeneratedLedger, ledgers

RECORDED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
MOVES = frozenset({"deal_updated", "stage_changed"})
"""What moves an open deal in its forecast: a change of close, amount, category or stage."""


def recorded_log(ledger: GeneratedLedger, gaps: list[int]) -> list[RecordedEvent]:
    """Return the history as a log: seq in line order, recorded `gaps[i]` hours apart (0: the
    same batch)."""
    news = ledger.new_events()
    assert all(n.event_id is not None for n in news)
    times: list[datetime] = []
    clock = RECORDED_FROM
    for i in range(len(news)):
        clock += timedelta(hours=gaps[i % len(gaps)])
        times.append(clock)
    return as_recorded(news, times)


@st.composite
def audits(draw: st.DrawFn) -> tuple[list[RecordedEvent], Period, View, View]:
    """Draw a log, a period around some deal's expected close, and two views near its events."""
    ledger = draw(
        ledgers(
            min_events=10,
            max_events=60,
            max_deals=6,
            forecast_moves=draw(st.booleans()),
            pipeline_changes=draw(st.booleans()),
        )
    )
    log = recorded_log(ledger, draw(st.lists(st.integers(0, 3), min_size=1, max_size=5)))

    deal_events = [e for e in log if e.payload.family == "deal"] or log

    def view() -> View:
        e = draw(st.sampled_from(deal_events))
        bound = e.effective_at + timedelta(days=draw(st.integers(-3, 3)))
        known = draw(st.sampled_from(deal_events)).recorded_at
        return View(bound, None if draw(st.integers(0, 3)) == 0 else known)

    a, other = view(), view()
    kinds = ["other", "same_as_of", "same_known", "around_a_move", "around_a_move"]
    kind = draw(st.sampled_from(kinds))
    moves = [e for e in deal_events if e.payload.event_type in MOVES]
    if kind == "around_a_move" and moves:
        # Views on either side of one deal's move: the business categories other than `new`,
        # `won` and `lost` need a deal open in both views that changed in between.
        e = draw(st.sampled_from(moves))
        before, after = (timedelta(days=draw(st.integers(0, 3)), seconds=1) for _ in "ab")
        known = None if draw(st.booleans()) else e.recorded_at
        a = View(e.effective_at - before, known)
        other = View(e.effective_at + after, known)
        deal_id = getattr(e.payload, "deal_id", None)
        deal_events = [x for x in log if getattr(x.payload, "deal_id", None) == deal_id]
    elif kind == "same_as_of":
        other = View(a.bound, other.known_at)
    elif kind == "same_known":
        other = View(other.bound, a.known_at)
    closes = [
        d for e in deal_events if (d := getattr(e.payload, "expected_close", None)) is not None
    ] or [EPOCH.date()]
    close = draw(st.sampled_from(closes))
    grain: Grain = draw(st.sampled_from(["year", "year", "quarter", "month"]))
    fiscal_start = draw(st.sampled_from([1, 1, 2, 4, 7, 10, 12]))
    return log, period_of(close, grain, fiscal_start), a, other


@settings(max_examples=150)
@given(audits(), st.sampled_from(["UTC", "UTC", "America/New_York", "Asia/Kolkata"]))
def test_the_audit_explains_every_change_between_any_two_views(
    case: tuple[list[RecordedEvent], Period, View, View], tz: str
) -> None:
    """In any time zone (the day of a signature) and fiscal year (the period's days)."""
    log, period, a, b = case

    def day_of(t: datetime) -> date:
        return t.astimezone(zone(tz)).date()

    diff = forecast_diff(log, period, a, b, day_of)

    # Σ deltas = forecast(B) − forecast(A), each forecast computed on its own.
    fa = forecast(replay_deals(log, a.bound, a.known_at), period, day_of)
    fb = forecast(replay_deals(log, b.bound, b.known_at), period, day_of)
    total = NOTHING
    for change in diff.changes:
        total += change.delta
    assert fa.total + total == fb.total

    # Exactly the deals whose contribution differs, each once.
    book_a = replay_deals(log, a.bound, a.known_at)
    book_b = replay_deals(log, b.bound, b.known_at)
    differing = {
        d
        for d in book_a.deals.keys() | book_b.deals.keys()
        if contribution(book_a.deals.get(d), book_a.pipeline, period, day_of)
        != contribution(book_b.deals.get(d), book_b.pipeline, period, day_of)
    }
    ids = [c.deal_id for c in diff.changes]
    assert len(ids) == len(set(ids))
    assert set(ids) == differing

    # Every cited event lies between the two views, on the axis it names.
    lo, hi = sorted((a.bound, b.bound))
    for change in diff.changes:
        assert change.causes
        for cause in change.causes:
            e = cause.event
            if cause.axis == "valid":
                assert lo <= e.effective_at < hi
            else:
                # None is "everything recorded", the latest knowledge of all.
                known = sorted(k for k in (a.known_at, b.known_at) if k is not None)
                assert known, "nothing is recorded between two views that both know everything"
                assert e.recorded_at > known[0]
                if None not in (a.known_at, b.known_at):
                    assert e.recorded_at <= known[-1]
            if cause.retracts is not None:
                assert isinstance(e.payload, EventRetracted)
                assert e.payload.retracts == cause.retracts.event_id

    # The axes decide what can be restated.
    categories = {c.category for c in diff.changes}
    event(f"changed deals: {min(len(diff.changes), 3)}+")
    for name in categories:
        event(f"category {name}")
    if a.bound == b.bound:
        assert categories <= {"restated"}
    if a.known_at == b.known_at:
        assert "restated" not in categories


@settings(max_examples=40)
@given(audits(), st.data())
def test_forecast_restatements_match_full_replays_of_each_prefix(
    case: tuple[list[RecordedEvent], Period, View, View], data: st.DataObject
) -> None:
    log, period, view, _ = case
    reported_seq = data.draw(st.integers(0, len(log)))

    def value(seq: int) -> dict[str, Decimal | None]:
        book = replay_deals([e for e in log if e.seq <= seq], view.bound)
        return forecast_values(forecast(book, period).total)

    steps = forecast_steps(log, reported_seq, lambda _seq: (Calendar(period, utc_day), view.bound))
    targets = {e.event_id: e for e in log}
    r = restate(FORECAST_FIGURES, value(reported_seq), value(len(log)), steps, targets)

    for x in r.effects:
        assert x.event.seq > reported_seq
        before, after = value(x.event.seq - 1), value(x.event.seq)
        assert x.effect == {f: (after[f] or 0) - (before[f] or 0) for f in FORECAST_FIGURES}
        assert any(v != 0 for v in x.effect.values())


@settings(max_examples=80)
@given(
    audits(), st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
)
def test_a_forecast_of_the_deals_that_can_have_a_line_in_the_period_is_the_whole_forecast(
    case: tuple[list[RecordedEvent], Period, View, View], zone: tzinfo
) -> None:
    """Leaving out the deals with no expected close in the period and no signature within a
    day of it changes no forecast of it, in any view and any time zone."""
    log, period, a, b = case
    kept = forecast_events(log, [period])
    event("left out some events" if len(kept) < len(log) else "kept every event")

    def day_of(t: datetime) -> date:
        return t.astimezone(zone).date()

    for view in (a, b):
        whole = forecast(replay_deals(log, view.bound, view.known_at), period, day_of)
        part = forecast(replay_deals(kept, view.bound, view.known_at), period, day_of)
        assert part == whole


@settings(max_examples=60)
@given(ledgers(min_events=10, max_events=50, max_deals=6, forecast_moves=True), st.data())
def test_a_forecast_call_is_judged_by_the_pipeline_known_when_it_was_recorded(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """Each call's pipeline figures are the forecast at the close of its day replayed from the
    events recorded by the call (so nothing recorded after it changes them), and the calls known
    at k are those of the ledger as it stood at k, whatever was appended since."""
    log = data.draw(batched_logs(ledger.new_events()))
    labels = sorted({e.payload.period for e in log if isinstance(e.payload, ForecastSubmitted)})
    if not labels:
        return
    fiscal_start = data.draw(st.sampled_from([1, 4, 10]))
    period = parse_period(data.draw(st.sampled_from(labels)), fiscal_start)
    known_at = data.draw(st.none() | around_recordings(log))
    times = [e.effective_at for e in log]
    bound = data.draw(st.sampled_from([max(times), *times])) + timedelta(days=1)

    def bound_of(d: date) -> datetime:
        return datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC)

    def calls(events: list[RecordedEvent], known: datetime | None) -> CallHistory:
        return forecast_calls(
            events,
            period,
            bound=bound,
            known_at=known,
            bound_of=bound_of,
            day_of=utc_day,
            over=bound >= bound_of(period.last_day),
        )

    now = calls(log, known_at)
    assert calls(recorded_by(log, known_at), None) == now
    for c in now.calls:
        event("a call")
        then = [e for e in log if e.recorded_at <= c.event.recorded_at]
        book = replay_deals(then, bound_of(c.submitted))
        assert c.pipeline == forecast(book, period, utc_day)


WEIGHED = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**12 - 1), places=2),
        st.decimals(min_value=0, max_value=1, places=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(WEIGHED)
def test_each_deals_weighted_amount_is_in_cents_and_they_add_up_as_shown(
    deals: list[tuple[Decimal, Decimal]],
) -> None:
    """The weighted figure a table shows is the sum of the weighted amounts it shows per deal,
    and `coverage` weighs the same pipeline to the same cent."""
    log = InlineLog()
    for n, (amount, probability) in enumerate(deals):
        log.add(
            "deal_opened", "2026-01-05", deal_id=f"D{n}", account_id=f"A{n}",
            stage="discovery", amount=str(amount), expected_close="2026-11-15",
        )  # fmt: skip
        log.add("deal_updated", "2026-01-06", deal_id=f"D{n}", probability=str(probability))
    period = parse_period("2026-Q4")
    book = replay_deals(log.events)
    result = forecast(book, period)
    shown = [cell_text(line.contribution.weighted, "money") for line in result.lines]
    for line, (amount, probability) in zip(
        sorted(result.lines, key=lambda x: int(x.deal_id[1:])), deals, strict=True
    ):
        exact = amount * probability
        assert abs(line.contribution.weighted - exact) <= Decimal("0.005")
        assert line.contribution.weighted == line.contribution.weighted.quantize(Decimal("0.01"))
    total = sum((Decimal(s.replace(",", "")) for s in shown), Decimal(0))
    assert cell_text(total, "money") == cell_text(result.total.weighted, "money")
    assert coverage(book, period, utc_day).weighted == result.total.weighted
