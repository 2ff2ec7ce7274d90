"""The report's SVG charts: round axis ticks that cover the data, marks where the values put
them, well-formed XML with every text escaped."""

from __future__ import annotations

import re
import xml.dom.minidom
from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from cli.svg_charts import (
    Series,
    bar_chart,
    column_chart,
    compact_money,
    line_chart,
    nice_step,
    percent,
    ticks,
)

amounts = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.lists(amounts, min_size=1, max_size=20))
def test_ticks_are_evenly_spaced_round_values_that_cover_the_data_and_zero(values) -> None:
    low, high = min([0.0, *values]), max([0.0, *values])
    if low == high:
        high = 1.0
    t = ticks(low, high)
    assert t[0] <= low + 1e-6 * abs(low) and t[-1] >= high - 1e-6 * abs(high)
    assert any(abs(x) < 1e-9 * max(abs(low), abs(high), 1) for x in t)  # zero is a tick
    steps = [b - a for a, b in pairwise(t)]
    assert steps[0] > 0 and all(abs(s - steps[0]) <= 1e-6 * steps[0] for s in steps)
    assert 2 <= len(t) <= 12


def test_nice_steps_are_one_two_two_and_a_half_or_five_times_a_power_of_ten() -> None:
    assert [nice_step(s) for s in (5, 9, 12, 40, 1_000_000, 0.3)] == [
        1,
        2,
        2.5,
        10,
        200_000,
        0.1,
    ]


def test_axis_labels() -> None:
    assert [compact_money(v) for v in (0, 900, 1500, 350_000, 2_000_000, -1.25e9)] == [
        "0",
        "900",
        "1.5k",
        "350k",
        "2M",
        "-1.2B",
    ]
    assert percent(1.145) == "114%" and percent(0.0) == "0%"


def _ys(svg: str, tag: str, attr: str) -> list[float]:
    return [float(v) for v in re.findall(rf'<{tag} [^>]*?{attr}="([-0-9.]+)"', svg)]


def test_a_line_chart_leaves_out_missing_values_and_puts_larger_values_higher() -> None:
    svg = line_chart(
        "NRR", ["a", "b", "c"], [Series("NRR", [None, Decimal("0.5"), Decimal("1.2")])], percent
    )
    xml.dom.minidom.parseString(svg)
    circles = _ys(svg, "circle", "cy")
    assert len(circles) == 2 and circles[1] < circles[0]  # SVG y grows downwards


def test_stacked_columns_put_gains_above_the_axis_and_losses_below() -> None:
    svg = column_chart(
        "bridge",
        ["Q1"],
        [Series("new", [Decimal(300)]), Series("churn", [Decimal(-100)])],
        compact_money,
    )
    xml.dom.minidom.parseString(svg)
    axis = re.search(r'<line [^>]*y1="([-0-9.]+)"[^>]*stroke="#888"', svg)
    assert axis is not None
    zero = float(axis[1])
    rects = re.findall(r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', svg)
    # The legend's two squares come first, then the gain and the loss.
    (gain_y, gain_h), (loss_y, loss_h) = [(float(y), float(h)) for y, h in rects[-2:]]
    assert abs(gain_y + gain_h - zero) < 0.2 and abs(loss_y - zero) < 0.2
    assert abs(gain_h / loss_h - 3) < 0.05


def test_bars_escape_labels_and_cut_long_ones_short() -> None:
    label = "<b>" + "x" * 40
    svg = bar_chart("t & u", [(label, Decimal(5)), ("none", None)], compact_money)
    xml.dom.minidom.parseString(svg)
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "\u2026" in svg
    assert "<title>t &amp; u</title>" in svg
