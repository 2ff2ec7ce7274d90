"""The one renderer: JSON and CSV written as their rows are read say exactly what the whole
answer rendered at once says."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.render import Column, Report, indented_json, render, render_parts

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
