"""Properties of the pipeline projections over random valid ledgers (no database).

Each property compares a projection with a brute-force count straight from the events, as
known at some instant: the events that count then are picked out by hand (recorded at or before
it, retractions recorded by then applied), on logs appended in batches that share a recording
instant, at, just before or just after one of those instants.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.envelope import RecordedEvent
from ledger.events import (
    ContractSigned,
    DealEvent,
    DealLost,
    DealOpened,
    DealReopened,
    LedgerConfigured,
    StageChanged,
)
from projections.deals import replay_deals
from projections.regressions import moves_in, regressions
from projections.slices import Span
from projections.stages import stage_durations, time_in_stage
from projections.win_rate import win_rates
from tests.known_at_strategies import (
    around_recordings,
    batched_logs,
    counting,
    known_ats,
    recorded_by,
)
from tests.strategies import GeneratedLedger, ledgers
from tests.test_revenue_properties import SETTINGS, instants

DEAL_LEDGERS = ledgers(max_events=40, max_deals=6, max_accounts=4)


def untils(log: Sequence[RecordedEvent]) -> st.SearchStrategy[datetime]:
    """Valid-time bounds around the ledger's history, or a second after some deal event, so
    that the replay often stops inside the deals' histories."""
    deal_times = sorted({e.effective_at for e in log if isinstance(e.payload, DealEvent)})
    if not deal_times:
        return instants(log)
    return instants(log) | st.sampled_from(deal_times).map(lambda t: t + timedelta(seconds=1))


def in_pipeline(
    log: Sequence[RecordedEvent], deal_id: str, until: datetime, known_at: datetime | None
) -> timedelta:
    """Brute force: the deal's time from each opening or reopening to its next close, or to
    `until` while it is still open."""
    since: datetime | None = None
    total = timedelta()
    for e in counting(log, known_at):
        p = e.payload
        if e.effective_at >= until or getattr(p, "deal_id", None) != deal_id:
            continue
        if isinstance(p, DealOpened | DealReopened):
            since = e.effective_at
        elif isinstance(p, ContractSigned | DealLost) and since is not None:
            total += e.effective_at - since
            since = None
    return total + (until - since if since is not None else timedelta())


@SETTINGS
@given(DEAL_LEDGERS, st.data())
def test_stage_durations_add_up_to_the_time_each_deal_was_in_the_pipeline(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = data.draw(batched_logs(ledger.new_events()))
    until = data.draw(untils(log))
    known_at = data.draw(known_ats(log))
    book = replay_deals(log, until, known_at)
    assert set(book.deals) == {  # every deal with an event of its stream before `until`
        e.payload.deal_id
        for e in counting(log, known_at)
        if isinstance(e.payload, DealEvent) and e.effective_at < until
    }
    for deal in book.deals.values():
        durations = stage_durations(deal, until)
        assert sum(durations.values(), timedelta()) == in_pipeline(
            log, deal.deal_id, until, known_at
        )
    lines = time_in_stage(book, until)
    assert sum(x.visits for x in lines) == sum(len(d.visits) for d in book.deals.values())
    assert sum(x.open.count for x in lines) == sum(
        1 for d in book.deals.values() if d.status == "open" and d.visits
    )


def brute_force_moves(
    log: Sequence[RecordedEvent], span: Span, known_at: datetime | None
) -> tuple[int, int, set[str], set[str]]:
    """Return (transitions, backward transitions, deals moved, deals regressed) in `span`,
    replaying stages and the last known configuration straight from the events."""
    seen = counting(log, known_at)
    configs = sorted(
        (e for e in seen if isinstance(e.payload, LedgerConfigured)), key=lambda e: e.seq
    )
    config = configs[-1].payload if configs else LedgerConfigured()
    assert isinstance(config, LedgerConfigured)
    order = {name: i for i, name in enumerate(config.stage_names())}
    stage: dict[str, str] = {}
    transitions = backward = 0
    moved: set[str] = set()
    regressed: set[str] = set()
    for e in seen:
        p = e.payload
        if isinstance(p, DealOpened | DealReopened):
            stage[p.deal_id] = p.stage
        elif isinstance(p, StageChanged):
            before, stage[p.deal_id] = stage[p.deal_id], p.stage
            if span.start <= e.effective_at < span.end:
                transitions += 1
                moved.add(p.deal_id)
                if order[p.stage] < order[before]:
                    backward += 1
                    regressed.add(p.deal_id)
    return transitions, backward, moved, regressed


@SETTINGS
@given(DEAL_LEDGERS, st.data())
def test_regressions_equal_a_brute_force_count_of_backward_moves(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = data.draw(batched_logs(ledger.new_events()))
    start, end = sorted([data.draw(instants(log)), data.draw(instants(log))])
    known_at = data.draw(known_ats(log))
    span = Span(start, end)
    book = replay_deals(log, None, known_at)
    result = regressions(book, span)

    transitions, backward, moved, regressed = brute_force_moves(log, span, known_at)
    t = result.total
    assert (t.transitions, t.backward) == (transitions, backward)
    assert (t.deals_moved, t.deals_regressed) == (len(moved), len(regressed))
    assert {m.deal_id for m in result.regressions} == regressed
    assert sum(p.transitions for p in result.pairs) == transitions
    assert sum(p.transitions for p in result.pairs if p.backward) == backward
    # Each pair counts the distinct deals that made it, whatever moves of others lie between.
    pair_deals: dict[tuple[str, str], set[str]] = {}
    for m in moves_in(book, span):
        pair_deals.setdefault((m.move.from_stage, m.move.to_stage), set()).add(m.deal_id)
    assert {(p.from_stage, p.to_stage): p.deals for p in result.pairs} == {
        pair: len(deals) for pair, deals in pair_deals.items()
    }


@SETTINGS
@given(DEAL_LEDGERS, st.data())
def test_win_rate_counts_every_close_once_and_combinations_partition_the_total(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = data.draw(batched_logs(ledger.new_events()))
    start, end = sorted([data.draw(instants(log)), data.draw(instants(log))])
    until = data.draw(untils(log))
    known_at = data.draw(known_ats(log))
    book = replay_deals(log, until, known_at)
    rates = win_rates(book, Span(start, end), by="persona-combination")

    # Brute force: each deal's last close (won or lost) before `until`, unless reopened after.
    closes: dict[str, tuple[str, datetime] | None] = {}
    for e in counting(log, known_at):
        p = e.payload
        if e.effective_at >= until or getattr(p, "deal_id", None) is None:
            continue
        if isinstance(p, ContractSigned):
            closes[p.deal_id] = ("won", e.effective_at)
        elif isinstance(p, DealLost):
            closes[p.deal_id] = ("lost", e.effective_at)
        elif isinstance(p, DealReopened):
            closes[p.deal_id] = None
    closed = [c for c in closes.values() if c is not None and start <= c[1] < end]
    assert rates.total.won == sum(1 for status, _ in closed if status == "won")
    assert rates.total.lost == sum(1 for status, _ in closed if status == "lost")
    assert sum(x.won for x in rates.lines) == rates.total.won
    assert sum(x.lost for x in rates.lines) == rates.total.lost
    assert sum((x.won_value for x in rates.lines), Decimal(0)) == rates.total.won_value


@SETTINGS
@given(DEAL_LEDGERS, st.data())
def test_events_recorded_after_an_instant_never_change_the_pipeline_answers_known_then(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """A pipeline answer as known at k depends only on what was recorded by k: however much
    of the rest of the log has been appended since (later events, backdated ones, retractions
    of events recorded by k), each deal's stage durations, time in stage, regressions and win
    rates as known at k are what they were when the ledger held exactly the events recorded
    by k."""
    log = data.draw(batched_logs(ledger.new_events()))
    known_at = data.draw(around_recordings(log))
    n = len(recorded_by(log, known_at))
    start, end = sorted([data.draw(instants(log)), data.draw(instants(log))])
    until = data.draw(untils(log))
    span = Span(start, end)

    def answers(events: Sequence[RecordedEvent], known_at: datetime | None) -> tuple[object, ...]:
        book = replay_deals(events, until, known_at)
        return (
            {d.deal_id: stage_durations(d, until) for d in book.deals.values()},
            time_in_stage(book, until, span=span),
            regressions(replay_deals(events, None, known_at), span),
            win_rates(book, span, by="persona-combination"),
        )

    then = answers(log[:n], None)
    for m in sorted({n, data.draw(st.integers(n, len(log))), len(log)}):
        assert answers(log[:m], known_at) == then, m
