"""The one renderer: JSON and CSV written as their rows are read say exactly what the whole
answer rendered at once says; a table of rows read afresh is measured and written in two
passes without holding them."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import render as render_module
from cli.render import (
    Column,
    RatioStep,
    Report,
    Rows,
    counted,
    indented_json,
    render,
    render_parts,
)

COLUMNS = [Column("id", "id"), Column("amount", "amount", "money"), Column("detail", "detail")]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(),
            # money within the ledger's limit (10^12)
            "amount": st.decimals(min_value=-(10**12), max_value=10**12, places=2),
            "detail": VALUES,
        }
    ),
    max_size=1_200,
)


@settings(max_examples=40, deadline=None)
@given(ROWS, st.dictionaries(st.text(), VALUES, max_size=3))
def test_json_rows_read_one_at_a_time_are_the_document_json_writes(
    rows: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    streamed = "".join(render_parts(Report("", COLUMNS, iter(rows), meta), "json"))
    doc = json.loads(streamed)
    assert streamed == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert [Decimal(r["amount"]) for r in doc["rows"]] == [r["amount"] for r in rows]
    assert streamed == render(Report("", COLUMNS, rows, meta), "json")


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text() | st.floats(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner, inner)
            | st.dictionaries(st.text() | st.integers(), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.sampled_from(["", "  ", "    "]),
)
def test_indented_json_is_the_text_json_dumps_writes(value: Any, pad: str) -> None:
    expected = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + pad)
    assert indented_json(value, pad) == expected


@pytest.mark.parametrize("n", [0, 1, 499, 500, 501, 1_001])
def test_csv_rows_read_one_at_a_time_are_the_whole_table(n: int) -> None:
    rows = [{"id": f"=D-{i}", "amount": Decimal(i) / 4, "detail": [i]} for i in range(n)]
    parts = list(render_parts(Report("", COLUMNS, iter(rows), {}), "csv"))
    text = "".join(parts)
    assert text == render(Report("", COLUMNS, rows, {}), "csv")
    assert text.count("\n") == n + 1 and len(parts) == n // 500 + 1


class _Row(dict[str, Any]):
    """A report row whose end can be watched (a plain dict cannot be weakly referenced)."""

    __hash__ = object.__hash__  # type: ignore[assignment]


class _Fresh:
    """Rows made afresh each time they are iterated, counting the passes and the most rows
    alive at once."""

    def __init__(self, n: int) -> None:
        self.n, self.passes, self.most_alive = n, 0, 0
        self.alive: weakref.WeakSet[_Row] = weakref.WeakSet()

    def __iter__(self) -> Iterator[int]:
        self.passes += 1
        for i in range(self.n):
            self.most_alive = max(self.most_alive, len(self.alive))
            yield i

    def make(self, i: int) -> _Row:
        row = _Row(id=f"D-{i}" + "x" * (i % 7), amount=Decimal(i * 1000) / 8, detail=[i])
        self.alive.add(row)
        return row


@pytest.mark.parametrize("n", [0, 1, 499, 500, 1_001])
def test_a_table_of_rows_read_afresh_is_measured_then_written_without_holding_them(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module, "_KEPT_ROWS", 0)  # as if every log were long
    fresh = _Fresh(n)
    meta = {"head": {"seq": n}}
    report = Report(
        "", COLUMNS, Rows(fresh, fresh.make), meta, title_for=lambda k: counted(k, "row")
    )
    text = "".join(render_parts(report, "table"))
    assert fresh.passes == (2 if n else 1) and fresh.most_alive <= 1
    listed = [fresh.make(i) for i in range(n)]
    assert text == render(Report(counted(n, "row"), COLUMNS, listed, meta), "table")
    lines = text.splitlines()
    assert lines[0] == counted(n, "row") and len(lines) == 4 + max(n, 1) + 2
    rules = lines[3].split("  ")  # the dashes under each title are as wide as its column
    widest = max((len(r["id"]) for r in listed), default=0)
    assert len(rules[0]) == max(2, widest)


def test_a_short_table_of_rows_read_afresh_is_read_once() -> None:
    fresh = _Fresh(30)
    report = Report("t", COLUMNS, Rows(fresh, fresh.make), {})
    text = "".join(render_parts(report, "table"))
    assert fresh.passes == 1
    assert text == render(Report("t", COLUMNS, [fresh.make(i) for i in range(30)], {}), "table")


def test_a_long_table_of_rows_made_from_an_iterator_shows_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows made from an iterator, which cannot be read a second time, are held: the table
    written after its measuring pass shows them all, as a list of the same rows does."""
    monkeypatch.setattr(render_module, "_KEPT_ROWS", 0)  # as if every log were long
    fresh = _Fresh(3)
    report = Report("t", COLUMNS, Rows(iter(list(fresh)), fresh.make), {})
    listed = [fresh.make(i) for i in range(3)]
    assert render(report, "table") == render(Report("t", COLUMNS, listed, {}), "table")


FIGURES = [
    Column("amount", "amount", "money"),
    Column("share", "share", "ratio"),
    Column("days", "days", "days"),
]


def _is_negative_zero(text: str) -> bool:
    digits = text.replace(",", "").rstrip("%")
    return digits.startswith("-") and Decimal(digits).is_zero()


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=8, allow_nan=False),
    st.integers(min_value=-8, max_value=2),
)
def test_a_figure_rounding_to_zero_shows_no_sign_in_any_format(value: Decimal, scale: int) -> None:
    """-0.00, -0.0% and -0.0000 read as a loss that is not there: a figure that rounds to zero
    is shown as zero in tables, JSON and CSV."""
    value = value.scaleb(scale)
    rows = [{"amount": value, "share": value, "days": value}]
    table = render(Report("", FIGURES, rows), "table").splitlines()[2].split()
    as_json = json.loads(render(Report("", FIGURES, rows), "json"))["rows"][0]
    as_csv = render(Report("", FIGURES, rows), "csv").splitlines()[1].split(",")
    for text in [*table, *as_json.values(), *as_csv]:
        assert not _is_negative_zero(text), (value, text)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False))
def test_a_table_rounds_money_half_even_to_cents_with_separators(value: Decimal) -> None:
    (cell,) = render(Report("", FIGURES[:1], [{"amount": value}]), "table").splitlines()[2:3]
    text = cell.strip()
    assert text == f"{abs(value) if value.quantize(Decimal('0.01')).is_zero() else value:,.2f}"
    assert Decimal(text.replace(",", "")) == value.quantize(Decimal("0.01"), "ROUND_HALF_EVEN")


def test_edge_figures_as_each_format_shows_them() -> None:
    rows = [
        {"amount": Decimal("-0"), "share": Decimal("-0.00004"), "days": Decimal("-0.04")},
        {"amount": Decimal("1E+3"), "share": Decimal("0E-8"), "days": Decimal("0E-8")},
        {"amount": Decimal("0.005"), "share": Decimal("0.00125"), "days": Decimal("0.05")},
        {"amount": Decimal("0.015"), "share": Decimal("12345.6789"), "days": Decimal("1234.56")},
        {"amount": Decimal("999999999999.99"), "share": Decimal("1.0"), "days": Decimal(7)},
    ]
    report = Report("", FIGURES, rows)
    assert [line.split() for line in render(report, "table").splitlines()[2:]] == [
        ["0.00", "0.0%", "0.0"],
        ["1,000.00", "0.0%", "0.0"],
        ["0.00", "0.1%", "0.0"],
        ["0.02", "1,234,567.9%", "1,234.6"],
        ["999,999,999,999.99", "100.0%", "7.0"],
    ]
    assert render(report, "csv").splitlines()[1:] == [
        "0,0.0000,-0.04",
        "1000,0.0000,0",
        "0.005,0.0012,0.05",
        "0.015,12345.6789,1234.56",
        "999999999999.99,1.0000,7",
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.decimals(min_value=0, max_value=100, places=12), min_size=1, max_size=20))
def test_a_walk_of_ratio_steps_adds_up_as_shown_in_every_format(values: list[Decimal]) -> None:
    """A ratio walked from its first value to its last by steps (a restatement) adds up as each
    format shows it: start + Σ steps = end, to 4 places in JSON and CSV, to a tenth of a
    percent in tables."""
    steps = [RatioStep(a, b) for a, b in pairwise(values)]
    ratio = [Column("r", "r", "ratio")]
    rows: list[dict[str, Any]] = [{"r": values[0]}, *({"r": s} for s in steps), {"r": values[-1]}]
    as_json = [Decimal(r["r"]) for r in json.loads(render(Report("", ratio, rows), "json"))["rows"]]
    as_csv = [Decimal(x) for x in render(Report("", ratio, rows), "csv").splitlines()[1:]]
    table = render(Report("", ratio, rows), "table").splitlines()[2:]
    as_table = [Decimal(x.strip().rstrip("%").replace(",", "")) for x in table]
    for shown in (as_json, as_csv, as_table):
        assert shown[0] + sum(shown[1:-1], Decimal(0)) == shown[-1]
