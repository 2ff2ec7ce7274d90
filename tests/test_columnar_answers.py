"""ARR and retention answered in one pass over a view's columns are the per-account answers.

The reference below is the definition taken account by account with Decimal arithmetic (each
timeline's `live_at`, `pending_at`, `projected_churn`, `carr_at`); the one-pass answers must
equal it digit for digit (`str` of every Decimal), since output shows a Decimal as it is. The
packed checkpoint encoding and the replacement of a checkpoint in an older format are here too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.store import Checkpoint, LedgerStore
from projections.account_timeline import ZERO, money
from projections.arr import By, arr_snapshot
from projections.money_sums import as_decimal, places
from projections.packed import pack_ints, pack_texts, unpack_ints, unpack_texts
from projections.retention import Basis, retention, value_at
from projections.revenue_book import FORMAT_VERSION, RevenueView, revenue_view
from queries.readmodel import VIEW, current_book
from queries.readmodel import revenue_view as stored_view
from tests.conftest import events_from
from tests.inline_log import InlineLog, day
from tests.strategies import GeneratedLedger, ledgers
from tests.test_revenue_properties import SETTINGS, instants, log_of

GROUPINGS: tuple[By | None, ...] = (None, "account", "segment", "channel")


def _texts(*values: object) -> list[str]:
    return [str(v) for v in values]


def _group(view: RevenueView, account: str, by: By | None, at: datetime) -> str:
    """Return the account's group: its segment or channel as it stood at the bound `at`."""
    t = view.accounts[account]
    if by is None:
        return "total"
    if by == "account":
        return account
    segment, channel = t.attributes_at(at)
    return (segment if by == "segment" else channel) or "(none)"


def _summed(counted: Iterable[tuple[str, Decimal, Decimal, Decimal]]) -> dict[str, list[str]]:
    """Return per group (and 'total') the count and the Decimal sums of the counted accounts."""
    sums: dict[str, list[Decimal]] = {}
    for group, *values in counted:
        for key in {"total", group}:
            s = sums.setdefault(key, [ZERO, ZERO, ZERO, ZERO])
            s[0] += 1
            for i, v in enumerate(values, start=1):
                s[i] += v
    return {k: _texts(*s) for k, s in sums.items()}


def reference_arr(view: RevenueView, at: datetime, by: By | None) -> dict[str, list[str]]:
    """Return per group (and 'total'): accounts, ARR, backlog, projected churn, as text."""
    rows = [
        (_group(view, a, by, at), t.live_at(at), t.pending_at(at), t.projected_churn(at))
        for a, t in view.accounts.items()
    ]
    return _summed(r for r in rows if r[1] or r[2] or r[3])


def reference_retention(
    view: RevenueView, start: datetime, end: datetime, basis: Basis, by: By | None
) -> dict[str, list[str]]:
    """Return per group (and 'total'): accounts, start, end, retained value, as text."""
    rows = [
        (_group(view, a, by, end), value_at(t, start, basis), value_at(t, end, basis))
        for a, t in view.accounts.items()
        if t.live_at(start) > 0  # the cohort: live at the start, whatever the basis
    ]
    return _summed((g, s, e, min(s, e)) for g, s, e in rows)


@SETTINGS
@given(ledgers(), st.data())
def test_one_pass_arr_equals_the_per_account_definition_digit_for_digit(
    ledger: GeneratedLedger, data: st.DataObject
) -> None:
    log = log_of(ledger)
    built = revenue_view(log)
    loaded = RevenueView.from_json(built.to_json())
    at = data.draw(instants(log))
    for view in (built, loaded):
        for by in GROUPINGS:
            snap = arr_snapshot(view, at, by)
            got = {
                line.key: _texts(line.accounts, line.arr, line.backlog, line.projected_churn)
                for line in [snap.total, *snap.lines]
            }
            want = reference_arr(built, at, by)
            want.setdefault("total", ["0", "0", "0", "0"])
            assert got == want


@SETTINGS
@given(ledgers(), st.data(), st.sampled_from(["arr", "carr"]))
def test_one_pass_retention_equals_the_per_account_definition_digit_for_digit(
    ledger: GeneratedLedger, data: st.DataObject, basis: Basis
) -> None:
    log = log_of(ledger)
    built = revenue_view(log)
    loaded = RevenueView.from_json(built.to_json())
    start, end = sorted([data.draw(instants(log)), data.draw(instants(log))])
    for view in (built, loaded):
        for by in GROUPINGS:
            result = retention(view, start, end, basis, by)
            got = {
                line.key: _texts(line.accounts, line.start, line.end, line.retained)
                for line in [result.total, *result.lines]
            }
            want = reference_retention(built, start, end, basis, by)
            want.setdefault("total", ["0", "0", "0", "0"])
            assert got == want


@given(st.lists(st.integers(-(10**9), 10**9), max_size=8))
def test_summing_cents_keeps_the_places_a_decimal_sum_shows(cents: list[int]) -> None:
    decimal_sum = sum((money(c) for c in cents), ZERO)
    summed = as_decimal(sum(cents), max([0, *map(places, cents)]))
    assert str(summed) == str(decimal_sum)


def test_places_are_those_an_amount_needs() -> None:
    assert [places(c) for c in (0, 500, 150, 125, -150, -7)] == [0, 0, 1, 2, 1, 2]
    assert [str(as_decimal(c, p)) for c, p in ((500, 0), (500, 2), (150, 1), (0, 2))] == [
        "5",
        "5.00",
        "1.5",
        "0.00",
    ]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20))
def test_packed_integers_round_trip(values: list[int]) -> None:
    stored = pack_ints(values)
    assert isinstance(stored, str)
    assert list(unpack_ints(json.loads(json.dumps(stored)))) == values


@given(st.lists(st.text(st.characters(blacklist_characters="\n"), max_size=12), max_size=20))
def test_packed_texts_round_trip(values: list[str]) -> None:
    stored = pack_texts(values)
    assert unpack_texts(json.loads(json.dumps(stored))) == values


def test_a_text_column_is_deflated_only_where_that_pays() -> None:
    ids = [f"01a24b3d-17a2-721c-b7cd-3f4d5d35{i:04x}" for i in range(1000)]
    assert pack_texts(ids)[0] == "z" and len(pack_texts(ids)) < len("\n".join(ids)) // 4
    assert pack_texts(["A-1", "A-2"]) == "rA-1\nA-2"
    assert [pack_texts([]), pack_texts([""])] == ["e", "r"]
    with pytest.raises(ValueError, match="damaged"):
        unpack_texts("zAAAA")
    with pytest.raises(ValueError, match="unknown mark"):
        unpack_texts("qA-1")


def test_a_column_is_deflated_only_where_that_pays() -> None:
    assert str(pack_ints([7] * 1000))[:2] == "iz"
    rng = random.Random(1)
    spread = [rng.getrandbits(60) for _ in range(1000)]  # random bits do not deflate
    assert str(pack_ints(spread))[:2] == "qr"
    assert list(unpack_ints(pack_ints(spread))) == spread


def test_integers_beyond_64_bits_stay_an_exact_list() -> None:
    values = [1, 2**63, -(2**70)]
    assert pack_ints(values) == values
    assert list(unpack_ints(pack_ints(values))) == values


def test_a_checkpoint_in_an_older_format_is_rebuilt_and_replaced(store: LedgerStore) -> None:
    store.append_batch(
        events_from(
            [
                '{"type":"contract_signed","effective_at":"2025-01-10","deal_id":"D-1",'
                '"account_id":"A-1","arr":"1200.50"}',
                '{"type":"go_live","effective_at":"2025-02-01","account_id":"A-1","deal_id":"D-1"}',
            ]
        )
    )
    head = store.head()
    older = json.dumps({"format": FORMAT_VERSION - 1, "upto_seq": head.seq, "accounts": ""})
    for name in ("revenue", VIEW):
        store.save_checkpoint(Checkpoint(name, head.seq, head.hash, older))
    view, _ = stored_view(store)  # not the empty older view: rebuilt from the log
    assert view.accounts["A-1"].live_at(datetime.fromisoformat("2026-01-01T00:00:00Z")) == (
        Decimal("1200.50")
    )
    for name in ("revenue", VIEW):
        replaced = store.load_checkpoint(name)
        assert replaced is not None and json.loads(replaced.state)["format"] == FORMAT_VERSION
    book, _ = current_book(store)
    assert book.absorbed_seq == head.seq and set(book.accounts) == {"A-1"}
    saved = store.load_checkpoint(VIEW)
    assert saved is not None and RevenueView.from_json(saved.state).accounts == view.accounts


def test_equal_start_and_end_values_keep_the_start_value_as_retained() -> None:
    # Contracted ARR is 1.25 live + 0.25 pending at the start, 1.50 live at the end: equal
    # amounts, written 1.50 and 1.5, as the Decimal sums are; min() keeps the start value.
    log = InlineLog()
    log.signed_and_live("A", "D-1", "1.25", "2025-01-10", "2025-02-01")
    log.signed_and_live("A", "D-2", "0.25", "2025-02-10", "2025-06-01")
    total = retention(revenue_view(log.events), day("2025-03-31"), day("2025-12-31"), "carr").total
    assert _texts(total.start, total.end, total.retained) == ["1.50", "1.5", "1.50"]


def test_a_damaged_packed_column_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="damaged"):
        unpack_ints("qzAAAA")


def test_a_column_is_packed_in_32_bits_when_every_value_fits() -> None:
    assert str(pack_ints([0, 2**31 - 1, -(2**31)]))[0] == "i"
    assert str(pack_ints([2**31]))[0] == "q"
    with pytest.raises(ValueError, match="unknown mark"):
        unpack_ints("xzAAAA")
