"""Properties of the revenue projections over random valid ledgers (no database).

The ledgers come from `tests.strategies.ledgers()`, whose own model of the rules also predicts
each account's final live and pending ARR: an oracle the projection must agree with.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.envelope import NewEvent, RecordedEvent
from ledger.events import ContractSigned, DealOpened, EventRetracted
from projections.arr import arr_snapshot
from projections.movements import movements
from projections.restatements import revenue_steps, revenue_values
from projections.retention import retention
from projections.revenue_book import RevenueBook, revenue_view
from tests.strategies import GeneratedLedger, ledgers

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RECORDED_FROM = datetime(2030, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


def recorded(news: Sequence[NewEvent]) -> list[RecordedEvent]:
    """Return the events as a log would hold them: seq 1.., one hour apart in recording."""
    return [
        RecordedEvent(
            seq=i,
            event_id=n.event_id or f"generated-{i}",
            type=n.event.event_type,
            schema_version=1,
            stream_id=n.event.stream_id(),
            stream_version=0,
            effective_at=n.effective_at,
            recorded_at=RECORDED_FROM + timedelta(hours=i),
            actor=n.actor,
            source=n.source,
            idempotency_key=n.idempotency_key,
            payload=n.event,
            prev_hash="",
            hash="",
        )
        for i, n in enumerate(news, start=1)
    ]


def log_of(ledger: GeneratedLedger) -> list[RecordedEvent]:
    return recorded(ledger.new_events())


def without_retractions(log: Sequence[RecordedEvent]) -> list[RecordedEvent]:
    """Return `log` without its retractions and the events they retract."""
    retractions = {e.event_id for e in log if isinstance(e.payload, EventRetracted)}
    targets = {e.payload.retracts for e in log if isinstance(e.payload, EventRetracted)}
    return [e for e in log if e.event_id not in retractions | targets]


def instants(log: Sequence[RecordedEvent]) -> st.SearchStrategy[datetime]:
    """Instants around the ledger's business history, including its exact event times."""
    times = sorted({e.effective_at for e in log})
    lo, hi = times[0] - timedelta(days=30), times[-1] + timedelta(days=30)
    span = int((hi - lo).total_seconds())
    return st.one_of(
        st.sampled_from(times),
        st.integers(0, span).map(lambda s: lo + timedelta(seconds=s)),
    )


@SETTINGS
@given(ledgers(), st.data())
def test_the_bridge_sums_for_any_two_dates(ledger: GeneratedLedger, data: st.DataObject) -> None:
    log = log_of(ledger)
    view = revenue_view(log)
    a, b = sorted([data.draw(instants(log)), data.draw(instants(log))])
    for by in (None, "account", "segment"):
        result = movements(view, a, b, by=by)  # raises if any bridge does not sum
        assert result.total.start == arr_snapshot(view, a).total.arr
        assert result.total.end == arr_snapshot(view, b).total.arr
        if by:
            assert sum((x.end for x in result.lines), Decimal(0)) == result.total.end


@SETTINGS
@given(ledgers(), st.data())
def test_a_bridge_is_the_sum_of_the_bridges_of_its_parts(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """Every change of live ARR counts once, in the window it falls in: splitting a window
    anywhere splits each movement between the two parts, account by account."""
    log = log_of(ledger)
    view = revenue_view(log)
    a, b, c = sorted(data.draw(instants(log)) for _ in range(3))
    whole = movements(view, a, c, by="account")
    parts = [movements(view, a, b, by="account"), movements(view, b, c, by="account")]
    kinds = ("new", "reactivation", "expansion", "contraction", "churn")
    for kind in kinds:
        assert getattr(whole.total, kind) == sum(getattr(p.total, kind) for p in parts)
    by_account: dict[str, list[Decimal]] = {}
    for part in parts:
        for line in part.lines:
            sums = by_account.setdefault(line.key, [Decimal(0)] * len(kinds))
            for i, kind in enumerate(kinds):
                sums[i] += getattr(line, kind)
    for line in whole.lines:
        assert [getattr(line, kind) for kind in kinds] == by_account.get(
            line.key, [Decimal(0)] * len(kinds)
        )


@SETTINGS
@given(ledgers())
def test_final_arr_agrees_with_the_model_of_the_rules(ledger: GeneratedLedger) -> None:
    view = revenue_view(log_of(ledger))
    snap = arr_snapshot(view, FAR_FUTURE, by="account")
    by_account = {x.key: x for x in snap.lines}
    for account in ledger.accounts.values():
        line = by_account.get(account.account_id)
        live = line.arr if line else Decimal(0)
        pending = line.backlog if line else Decimal(0)
        assert live == account.live, account.account_id
        assert pending == sum(account.pending.values(), Decimal(0)), account.account_id


def _constraints(log: Sequence[RecordedEvent]) -> dict[int, set[int]]:
    """Return, per seq, the seqs that must be appended before it for the book to accept it."""
    after: dict[int, set[int]] = {e.seq: set() for e in log}
    by_id = {e.event_id: e.seq for e in log}
    opened: dict[str, int] = {}
    last_at: dict[datetime, int] = {}
    for e in log:
        p = e.payload
        if e.effective_at in last_at:  # equal effective times keep their relative order
            after[e.seq].add(last_at[e.effective_at])
        last_at[e.effective_at] = e.seq
        if isinstance(p, DealOpened):
            opened[p.deal_id] = e.seq
        elif isinstance(p, ContractSigned) and p.deal_id in opened:
            after[e.seq].add(opened[p.deal_id])
        elif isinstance(p, EventRetracted) and p.retracts in by_id:
            after[e.seq].add(by_id[p.retracts])
    return after


def reordered(log: Sequence[RecordedEvent], rng: random.Random) -> list[RecordedEvent]:
    """Return the same events appended in another random order (a random topological sort)."""
    before = _constraints(log)
    placed: list[RecordedEvent] = []
    done: set[int] = set()
    pending = {e.seq: e for e in log}
    while pending:
        ready = sorted(s for s in pending if before[s] <= done)
        pick = pending.pop(rng.choice(ready))
        done.add(pick.seq)
        placed.append(pick)
    return [
        e._replace(seq=i, recorded_at=RECORDED_FROM + timedelta(hours=i))
        for i, e in enumerate(placed, start=1)
    ]


@SETTINGS
@given(ledgers(), st.randoms(use_true_random=False), st.data())
def test_append_order_does_not_change_the_numbers(
    ledger: GeneratedLedger, rng: random.Random, data: st.DataObject
) -> None:
    log = log_of(ledger)
    other = reordered(log, rng)
    a, b = sorted([data.draw(instants(log)), data.draw(instants(log))])
    first, second = revenue_view(log), revenue_view(other)
    for at in (a, b):
        assert arr_snapshot(first, at, by="account") == arr_snapshot(second, at, by="account")
    assert movements(first, a, b, by="account") == movements(second, a, b, by="account")
    assert retention(first, a, b) == retention(second, a, b)


@SETTINGS
@given(ledgers(), st.data())
def test_known_at_before_an_event_equals_the_ledger_without_it(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = log_of(ledger)
    cut = data.draw(st.integers(0, len(log) - 1))
    known_at = log[cut].recorded_at - timedelta(seconds=1)  # just before event cut+1 was recorded
    as_known = revenue_view(log, known_at=known_at)
    assert as_known.accounts == revenue_view(log[:cut]).accounts
    book = RevenueBook().absorb(log)
    assert book.view(upto_seq=cut).accounts == as_known.accounts


@SETTINGS
@given(ledgers(min_events=5))
def test_a_retracted_event_equals_its_absence(ledger: GeneratedLedger) -> None:
    log = log_of(ledger)
    without = without_retractions(log)
    assert revenue_view(log).accounts == revenue_view(without).accounts


@SETTINGS
@given(ledgers(), st.integers(1, 400))
def test_nothing_changing_in_the_window_means_nrr_and_grr_of_one(
    ledger: GeneratedLedger, days: int
) -> None:
    log = log_of(ledger)
    view = revenue_view(log)
    start = max(e.effective_at for e in log) + timedelta(days=1)
    result = retention(view, start, start + timedelta(days=days)).total
    if result.accounts:
        assert result.nrr == result.grr == Decimal(1)
    else:
        assert result.nrr is None and result.grr is None


@SETTINGS
@given(ledgers(), st.lists(st.integers(1, 40), max_size=6))
def test_a_checkpointed_book_extended_step_by_step_equals_a_full_replay(
    ledger: GeneratedLedger, cuts: list[int]
) -> None:
    log = log_of(ledger)
    full = RevenueBook().absorb(log)
    book = RevenueBook()
    position = 0
    for cut in [*sorted({c for c in cuts if c < len(log)}), len(log)]:
        book.absorb(log[position:cut])
        book = RevenueBook.from_json(book.to_json())  # persisted and loaded at the checkpoint
        position = cut
    assert book.to_json() == full.to_json()
    assert book.view().accounts == full.view().accounts


@SETTINGS
@given(ledgers(), st.data())
def test_prefix_views_walked_forward_equal_the_views_of_each_prefix(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """A walk over log prefixes that folds again only the accounts each event touched (how a
    restatement steps) gives every prefix's view exactly."""
    log = log_of(ledger)
    book = RevenueBook().absorb(log)
    every = list(range(len(log) + 1))  # steps of one event
    drawn = sorted(data.draw(st.sets(st.integers(0, len(log)), min_size=1, max_size=6)))
    for seqs in (every, drawn):  # and steps of several
        for seq, walked in zip(seqs, book.prefix_views(seqs), strict=True):
            view = book.view(seq)
            assert walked.accounts == view.accounts
            assert walked.to_json() == view.to_json()


@SETTINGS
@given(ledgers(), st.data())
def test_restatement_steps_summed_account_by_account_equal_each_prefix_computed_whole(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """A restatement step sums again only the accounts its event touched (and all of them when
    the bounds move, as after a change of time zone); each step's value is exactly the metric
    computed on that log prefix's whole view."""
    log = log_of(ledger)
    book = RevenueBook().absorb(log)
    start = data.draw(instants(log))
    bounds = sorted([start, data.draw(instants(log))])
    moves = data.draw(st.sets(st.integers(1, len(log)), max_size=3))

    def bounds_at(seq: int) -> tuple[datetime, datetime]:
        shift = timedelta(hours=sum(1 for m in moves if m <= seq))  # a time zone changing
        return bounds[1] + shift, bounds[0] + shift

    for metric in ("arr", "carr", "nrr", "grr"):
        steps = revenue_steps(book, log, metric, bounds_at)
        for e, value in steps:
            whole = revenue_values(metric, book.view(e.seq), *bounds_at(e.seq))
            assert value == whole, (metric, e.seq)
            # the very Decimals, decimal places included (1000.50 + 1000 is 2000.50)
            assert [v.as_tuple() if v is not None else None for v in value.values()] == [
                w.as_tuple() if w is not None else None for w in whole.values()
            ], (metric, e.seq)
