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
    days,
    line_chart,
    nice_step,
    percent,
    percent_tenths,
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
    values = (0, 0.4, -0.4, 900, 1500, 350_000, 1_250_000, 999_950, 999_999.5, -1.25e9, 3e13)
    assert [compact_money(v) for v in values] == [
        "0",
        "0.4",
        "-0.4",
        "900",
        "1.5k",
        "350k",
        "1.25M",
        "999.95k",
        "1M",
        "-1.25B",
        "30T",
    ]
    # Bars print an amount from its exact figure, half-even, as the tables round.
    exact = (Decimal(1_015_000), Decimal(3_275_000), Decimal(1_745_000), Decimal("1250.005"))
    assert [compact_money(v) for v in exact] == ["1.02M", "3.28M", "1.74M", "1.25k"]
    assert percent(1.145) == "114.5%" and percent(0.0) == "0%" and percent(0.85) == "85%"
    # Bars print their value as the tables do: one decimal of a percentage, of days.
    assert percent_tenths(0.41634) == "41.6%" and days(26.75) == "26.8" and days(0.3) == "0.3"
    # from the exact figure, half-even, as a table: 23/80 and 10 days 1 h 12 min
    assert percent_tenths(Decimal(23) / Decimal(80)) == "28.8%"
    assert days(Decimal("10.05")) == "10.0" and days(10.05) == "10.0"


def test_an_all_zero_chart_has_distinct_axis_labels() -> None:
    svg = line_chart("ARR", ["a", "b"], [Series("ARR", [Decimal(0), Decimal(0)])], compact_money)
    labels = re.findall(r'text-anchor="end" [^>]*>([^<]+)<', svg)
    assert len(labels) == len(set(labels)) >= 2 and labels[0] == "0"


def test_low_ratios_label_each_tick_with_its_own_value() -> None:
    # An NRR of 11 % everywhere: ticks every 2.5 %, which whole percentages would print as
    # 2 %, 5 %, 8 %, 10 %, 12 %; an NRR of 2 %: every 0.5 %, printed 0 %, 0 %, 1 %, 2 %, 2 %.
    for ratio, want in (
        ("0.11", ["0%", "2.5%", "5%", "7.5%", "10%", "12.5%"]),
        ("0.02", ["0%", "0.5%", "1%", "1.5%", "2%"]),
    ):
        svg = line_chart("NRR", ["a", "b"], [Series("NRR", [Decimal(ratio)] * 2)], percent)
        assert re.findall(r'text-anchor="end" [^>]*>([^<]+)<', svg) == want


def test_many_points_label_every_kth_and_the_last() -> None:
    labels = [f"Q{i}" for i in range(41)]
    svg = line_chart("x", labels, [Series("s", [Decimal(i) for i in range(41)])], compact_money)
    shown = re.findall(r'text-anchor="middle" [^>]*>(Q\d+)', svg)
    assert shown[0] == "Q0" and shown[-1] == "Q40" and len(shown) <= 11


def _ys(svg: str, tag: str, attr: str) -> list[float]:
    return [float(v) for v in re.findall(rf'<{tag} [^>]*?{attr}="([-0-9.]+)"', svg)]


def test_a_line_chart_leaves_out_missing_values_and_puts_larger_values_higher() -> None:
    svg = line_chart(
        "NRR", ["a", "b", "c"], [Series("NRR", [None, Decimal("0.5"), Decimal("1.2")])], percent
    )
    xml.dom.minidom.parseString(svg)
    circles = _ys(svg, "circle", "cy")
    assert len(circles) == 2 and circles[1] < circles[0]  # SVG y grows downwards


def test_a_missing_value_breaks_the_line_and_later_series_are_dashed() -> None:
    values = [Decimal("1.1"), None, Decimal("0.9"), Decimal("1.0")]
    svg = line_chart("NRR", list("abcd"), [Series("NRR", values), Series("GRR", values)], percent)
    lines = re.findall(r"<polyline [^>]*>", svg)
    assert len(lines) == 2  # one line per series, over c and d only: a stands alone
    assert all(line.count(",") == 2 for line in lines)
    assert "stroke-dasharray" not in lines[0] and "stroke-dasharray" in lines[1]
    assert len(_ys(svg, "circle", "cy")) == 6


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


def test_gains_stack_on_each_other() -> None:
    svg = column_chart(
        "bridge",
        ["Q1"],
        [Series("new", [Decimal(200)]), Series("expansion", [Decimal(100)])],
        compact_money,
    )
    rects = re.findall(r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', svg)
    (new_y, new_h), (exp_y, exp_h) = [(float(y), float(h)) for y, h in rects[-2:]]
    assert abs(exp_y + exp_h - new_y) < 0.2  # expansion sits on top of new
    assert abs(new_h / exp_h - 2) < 0.05


def test_bars_escape_labels_and_cut_long_ones_short() -> None:
    label = "<b>" + "x" * 40
    svg = bar_chart("t & u", [(label, Decimal(5)), ("none", None)], compact_money)
    xml.dom.minidom.parseString(svg)
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "\u2026" in svg
    assert "<title>t &amp; u</title>" in svg
