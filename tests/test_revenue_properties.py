"""Properties of the revenue projections over random valid ledgers (no database).

The ledgers come from `tests.strategies.ledgers()`, whose own model of the rules also predicts
each account's final live and pending ARR: an oracle the projection must agree with.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cli.render import Report, attribute_row, render
from cli.revenue_commands import ARR_COLUMNS, MOVEMENT_COLUMNS, NRR_COLUMNS
from ledger.envelope import NewEvent, RecordedEvent
from ledger.events import (
    Churn,
    Contraction,
    ContractSigned,
    DealOpened,
    EventRetracted,
    Expansion,
    GoLive,
    LedgerConfigured,
)
from projections.arr import arr_snapshot
from projections.movements import movements
from projections.restatements import revenue_steps, revenue_values
from projections.retention import Basis, retention
from projections.revenue_book import RevenueBook, RevenueView, revenue_view
from tests.known_at_strategies import (
    RECORDED_FROM,
    account_of,
    around_recordings,
    as_recorded,
    batched_logs,
    counting,
    recorded_by,
    retracted_by,
)
from tests.strategies import GeneratedLedger, ledgers


def revenue_ledgers(**kwargs: Any) -> st.SearchStrategy[GeneratedLedger]:
    """`ledgers(**kwargs)`, half of them leaning towards accounts taken through their whole
    life (live, contracted, churned, signed again and live again), which the bridge, NRR and
    the book's folds are about."""
    return st.booleans().flatmap(lambda lean: ledgers(revenue_lifecycle=lean, **kwargs))


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


def recorded(news: Sequence[NewEvent]) -> list[RecordedEvent]:
    """Return the events as a log would hold them: seq 1.., one hour apart in recording."""
    return as_recorded(news, [RECORDED_FROM + timedelta(hours=i) for i in range(1, len(news) + 1)])


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


def after_go_lives(view: RevenueView, log: Sequence[RecordedEvent]) -> st.SearchStrategy[datetime]:
    """Instants around the history, more often some days after an account's first go-live (so
    that cohorts exist, and some of their periods have ended)."""
    firsts = sorted(f for t in view.accounts.values() if (f := t.first_live()) is not None)
    if not firsts:
        return instants(log)
    later = st.builds(
        lambda t, days: t + timedelta(days=days), st.sampled_from(firsts), st.integers(1, 400)
    )
    return st.one_of(later, instants(log))


def _grows(
    p: object, account: str, live: dict[str, Decimal], pending: dict[str, dict[str, Decimal]]
) -> bool:
    """Take in `p` when it signs (ARR pending), goes live (pending ARR live) or expands an
    account's ARR; return whether it was one of those."""
    if isinstance(p, ContractSigned):
        pending.setdefault(account, {})[p.deal_id] = p.arr
    elif isinstance(p, GoLive):
        gone_live = pending.get(account, {}).pop(p.deal_id, Decimal(0))
        live[account] = live.get(account, Decimal(0)) + gone_live
    elif isinstance(p, Expansion):
        live[account] = live.get(account, Decimal(0)) + p.arr
    else:
        return False
    return True


def live_arr_by_hand(log: Sequence[RecordedEvent], at: datetime) -> dict[str, Decimal]:
    """Return each account's live ARR counting the events effective before `at` (everything
    recorded counting), replayed in business order: a signed contract's ARR waits for its
    go-live, an expansion adds, a contraction takes away, a churn ends what is live and pending.
    Accounts with none are left out."""
    live: dict[str, Decimal] = {}
    pending: dict[str, dict[str, Decimal]] = {}
    for e in counting(log, None):
        if e.effective_at >= at:
            break
        p, account = e.payload, account_of(log, e)
        if account is None:
            continue
        if _grows(p, account, live, pending):
            continue
        if isinstance(p, Contraction):
            live[account] = live.get(account, Decimal(0)) - p.arr
        elif isinstance(p, Churn):
            live[account] = Decimal(0)
            pending.pop(account, None)
    return {a: v for a, v in live.items() if v}


@SETTINGS
@given(revenue_ledgers(), st.randoms(use_true_random=False), st.data())
def test_the_bridge_sums_and_runs_from_each_accounts_arr_at_the_start_to_its_arr_at_the_end(
    ledger: GeneratedLedger, rng: random.Random, data: st.DataObject
) -> None:
    """The log is appended in another valid order, so an account's facts are recorded out of
    business order (backdated): each account's bridge still starts and ends at the live ARR a
    replay of its events in business order gives."""
    log = reordered(log_of(ledger), rng)
    view = revenue_view(log)
    a, b = sorted([data.draw(instants(log)), data.draw(instants(log))])
    for by in (None, "account", "segment"):
        result = movements(view, a, b, by=by)  # raises if any bridge does not sum
        assert result.total.start == arr_snapshot(view, a).total.arr
        assert result.total.end == arr_snapshot(view, b).total.arr
        if by:
            assert sum((x.end for x in result.lines), Decimal(0)) == result.total.end
    lines = movements(view, a, b, by="account").lines
    assert {x.key: x.start for x in lines if x.start} == live_arr_by_hand(log, a)
    assert {x.key: x.end for x in lines if x.end} == live_arr_by_hand(log, b)


@SETTINGS
@given(revenue_ledgers(), st.data())
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
@given(revenue_ledgers())
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
    """Return, per seq, the seqs that must be appended before it for the book to accept it
    (and for the same configuration to be the last one recorded)."""
    after: dict[int, set[int]] = {e.seq: set() for e in log}
    by_id = {e.event_id: e.seq for e in log}
    opened: dict[str, int] = {}
    last_at: dict[datetime, int] = {}
    configured: int | None = None
    for e in log:
        p = e.payload
        if e.effective_at in last_at:  # equal effective times keep their relative order
            after[e.seq].add(last_at[e.effective_at])
        last_at[e.effective_at] = e.seq
        if isinstance(p, LedgerConfigured):  # the configuration recorded last is the pipeline
            if configured is not None:
                after[e.seq].add(configured)
            configured = e.seq
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
@given(revenue_ledgers(), st.randoms(use_true_random=False), st.data())
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
@given(revenue_ledgers(), st.data())
def test_a_view_known_at_an_instant_equals_the_ledger_recorded_by_then(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """known_at bounds recording time inclusively: an event recorded at that very instant
    counts and one recorded a microsecond later does not, and the events of one batch (one
    recording instant) count together."""
    log = data.draw(batched_logs(ledger.new_events()))
    known_at = data.draw(around_recordings(log))
    by_then = recorded_by(log, known_at)
    expected = revenue_view(by_then).accounts
    assert revenue_view(log, known_at=known_at).accounts == expected
    assert RevenueBook().absorb(log).view(upto_seq=len(by_then)).accounts == expected


@SETTINGS
@given(revenue_ledgers(min_events=20))
def test_a_book_view_of_every_log_prefix_equals_the_book_of_that_prefix(
    ledger: GeneratedLedger,
) -> None:
    """Every prefix, so also the one ending at a retraction (its target no longer counts) and
    the one just before it (the target still counts). Longer ledgers, so that more of them
    retract a revenue fact (an expansion or contraction) or a deal's segment."""
    log = log_of(ledger)
    book = RevenueBook().absorb(log)
    for cut in range(len(log) + 1):
        assert book.view(upto_seq=cut).accounts == revenue_view(log[:cut]).accounts, cut


def answers(view: RevenueView, a: datetime, b: datetime) -> tuple[object, ...]:
    """Return ARR at `a` and `b`, the bridge between them and NRR/GRR, account by account."""
    return (
        arr_snapshot(view, a, by="account"),
        arr_snapshot(view, b, by="account"),
        movements(view, a, b, by="account"),
        retention(view, a, b, by="account"),
    )


@SETTINGS
@given(revenue_ledgers(), st.data())
def test_events_recorded_after_an_instant_never_change_the_answers_known_then(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """An answer as known at k depends only on what was recorded by k: however much of the
    rest of the log has been appended since (later facts, facts backdated before those known
    at k, retractions of events recorded by k), ARR, the bridge and NRR/GRR as known at k are
    what they were when the ledger held exactly the events recorded by k."""
    log = data.draw(batched_logs(ledger.new_events()))
    known_at = data.draw(around_recordings(log))
    n = len(recorded_by(log, known_at))
    a, b = sorted([data.draw(instants(log)), data.draw(instants(log))])
    known, later = log[:n], log[n:]
    if {e.event_id for e in known} & retracted_by(later, None):
        event("an event recorded by k is retracted later")
    if known and later and min(e.effective_at for e in later) < known[-1].effective_at:
        event("an event recorded later is backdated before one recorded by k")
    then = answers(revenue_view(known), a, b)
    for m in sorted({n, data.draw(st.integers(n, len(log))), len(log)}):
        assert answers(revenue_view(log[:m], known_at=known_at), a, b) == then, m
        assert answers(RevenueBook().absorb(log[:m]).view(upto_seq=n), a, b) == then, m


@SETTINGS
@given(revenue_ledgers(), st.data())
def test_a_fact_known_at_one_instant_is_known_at_every_later_one_until_retracted(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """For k1 <= k2, each account's facts as known at k1 (by effective time), less those whose
    event a retraction recorded by k2 names, are among its facts as known at k2."""
    log = data.draw(batched_logs(ledger.new_events()))
    k1, k2 = sorted([data.draw(around_recordings(log)), data.draw(around_recordings(log))])

    def facts(known_at: datetime) -> Counter[tuple[str, datetime]]:
        view = revenue_view(log, known_at=known_at)
        return Counter((a, row[0]) for a, t in view.accounts.items() for row in t.rows())

    gone = retracted_by(log, k2)
    dropped = Counter(
        (account, e.effective_at)
        for e in recorded_by(log, k1)
        if e.event_id in gone and (account := account_of(log, e)) is not None
    )
    assert not (facts(k1) - dropped) - facts(k2)


@SETTINGS
@given(revenue_ledgers(min_events=5))
def test_a_retracted_event_equals_its_absence(ledger: GeneratedLedger) -> None:
    log = log_of(ledger)
    without = without_retractions(log)
    assert revenue_view(log).accounts == revenue_view(without).accounts


@SETTINGS
@given(revenue_ledgers(), st.integers(1, 400))
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
@given(revenue_ledgers(), st.lists(st.integers(1, 40), max_size=6))
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
@given(revenue_ledgers(), st.data())
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
@given(revenue_ledgers(), st.data())
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


@SETTINGS
@given(revenue_ledgers(), st.data(), st.sampled_from(["arr", "carr"]))
def test_nrr_and_grr_are_the_cohort_sums_of_the_definition_and_grr_is_within_its_bounds(
    ledger: GeneratedLedger, data: st.DataObject, basis: Basis
) -> None:
    """The cohort is the accounts with live ARR > 0 at the start; on ARR, NRR = Σ end / Σ start
    and GRR = Σ min(start, end) / Σ start, replayed by hand. On either basis
    0 <= GRR <= 1 and GRR <= NRR, and a line per account sums to the total."""
    log = log_of(ledger)
    view = revenue_view(log)
    a = data.draw(after_go_lives(view, log))
    b = a + timedelta(days=data.draw(st.integers(0, 730)), seconds=data.draw(st.integers(0, 9)))
    result = retention(view, a, b, basis=basis, by="account")
    total = result.total
    cohort = live_arr_by_hand(log, a)
    assert total.accounts == len(cohort)
    if basis == "arr":
        end = live_arr_by_hand(log, b)
        start_sum = sum(cohort.values(), Decimal(0))
        assert total.start == start_sum
        assert total.end == sum((end.get(x, Decimal(0)) for x in cohort), Decimal(0))
        assert total.retained == sum(
            (min(v, end.get(x, Decimal(0))) for x, v in cohort.items()), Decimal(0)
        )
    assert {line.key for line in result.lines} == set(cohort)
    for name in ("start", "end", "retained"):
        assert sum((getattr(x, name) for x in result.lines), Decimal(0)) == getattr(total, name)
    if total.grr is not None and total.nrr is not None:
        event("a cohort with a start value")
        assert 0 <= total.grr <= 1
        assert total.grr <= total.nrr


def projected_churn_by_hand(log: Sequence[RecordedEvent], at: datetime) -> dict[str, Decimal]:
    """Return each account's projected churn at `at`, replayed by hand from the definition: of
    its live ARR at `at`, all of it when a churn is effective later, else what the later
    contractions take (each at most what is live then), at most that live ARR. Accounts with
    none are left out."""
    live_then = live_arr_by_hand(log, at)
    live: dict[str, Decimal] = {}
    pending: dict[str, dict[str, Decimal]] = {}
    taken: dict[str, Decimal] = {}
    churned: set[str] = set()
    for e in counting(log, None):
        p, account = e.payload, account_of(log, e)
        if account is None or account in churned:
            continue
        later = e.effective_at >= at
        if _grows(p, account, live, pending):
            continue
        if isinstance(p, Contraction):
            amount = min(p.arr, live.get(account, Decimal(0)))
            live[account] = live.get(account, Decimal(0)) - amount
            if later:
                taken[account] = taken.get(account, Decimal(0)) + amount
        elif isinstance(p, Churn):
            live[account] = Decimal(0)
            pending.pop(account, None)
            if later:
                churned.add(account)
    out = {a: v if a in churned else min(v, taken.get(a, Decimal(0))) for a, v in live_then.items()}
    return {a: v for a, v in out.items() if v}


@SETTINGS
@given(revenue_ledgers(), st.data())
def test_carr_is_arr_plus_backlog_less_the_projected_churn_of_the_definition(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    """Projected churn at t, account by account, is the live ARR at t that the churns and
    contractions effective after t remove; CARR = ARR + backlog − projected churn."""
    log = log_of(ledger)
    view = revenue_view(log)
    losses = [e.effective_at for e in log if isinstance(e.payload, Churn | Contraction)]
    before_a_loss = st.builds(
        lambda t, days: t - timedelta(days=days), st.sampled_from(losses), st.integers(0, 90)
    )
    at = data.draw(before_a_loss | after_go_lives(view, log) if losses else instants(log))
    snap = arr_snapshot(view, at, by="account")
    by_account = {x.key: x.projected_churn for x in snap.lines if x.projected_churn}
    expected = projected_churn_by_hand(log, at)
    if expected:
        event("some projected churn")
    assert by_account == expected
    total = snap.total
    assert total.carr == total.arr + total.backlog - total.projected_churn
    assert 0 <= total.projected_churn <= total.arr


def _shown_table(report: Report) -> list[dict[str, Decimal]]:
    """Return the rows of `report` as its table shows them: each money cell read back from its
    text (thousands separators and all), cut at the column edges the dash line marks."""
    lines = render(report, "table").splitlines()
    dashes = lines[1]
    edges = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
    money = {c.key for c in report.columns if c.kind == "money"}
    rows = []
    for line in lines[2:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in edges]
        rows.append(
            {
                c.key: Decimal(text.replace(",", ""))
                for c, text in zip(report.columns, cells, strict=True)
                if c.key in money
            }
        )
    return rows


@SETTINGS
@given(revenue_ledgers(), st.data(), st.sampled_from([None, "account", "segment", "channel"]))
def test_the_arr_and_movements_tables_add_up_as_shown(
    ledger: GeneratedLedger, data: st.DataObject, by: Any
) -> None:
    """What a reader adds up on the page adds up: in every row of a movements table, start +
    new + reactivation + expansion - contraction - churn = end as shown, and the groups' rows
    sum to the total row in every column; in every row of an ARR table, ARR + backlog -
    projected churn = CARR as shown, and the groups sum to the total; so do the start, end and
    retained ARR of an NRR table's groups."""
    log = log_of(ledger)
    view = revenue_view(log)
    a, b = sorted([data.draw(instants(log)), data.draw(instants(log))])
    bridge = movements(view, a, b, by=by)
    snap = arr_snapshot(view, b, by=by)
    shown_bridge = _shown_table(
        Report(
            "",
            MOVEMENT_COLUMNS,
            [
                *(attribute_row(x, MOVEMENT_COLUMNS) for x in bridge.lines),
                attribute_row(bridge.total, MOVEMENT_COLUMNS),
            ],
        )
    )
    shown_arr = _shown_table(
        Report(
            "",
            ARR_COLUMNS,
            [
                *(attribute_row(x, ARR_COLUMNS) for x in snap.lines),
                attribute_row(snap.total, ARR_COLUMNS),
            ],
        )
    )
    for row in shown_bridge:
        gains = row["new"] + row["reactivation"] + row["expansion"]
        assert row["start"] + gains - row["contraction"] - row["churn"] == row["end"], row
    for row in shown_arr:
        assert row["arr"] + row["backlog"] - row["projected_churn"] == row["carr"], row
    kept = retention(view, a, b, by=by)
    shown_nrr = _shown_table(
        Report(
            "",
            NRR_COLUMNS,
            [
                *(attribute_row(x, NRR_COLUMNS) for x in kept.lines),
                attribute_row(kept.total, NRR_COLUMNS),
            ],
        )
    )
    for shown in (shown_bridge, shown_arr, shown_nrr):
        *groups, total = shown
        if by is not None:
            for key, value in total.items():
                assert sum((g[key] for g in groups), Decimal(0)) == value, key
