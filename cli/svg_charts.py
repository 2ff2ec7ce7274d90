"""Small static SVG charts for the HTML report: lines over time, stacked columns and bars.

Each function returns one `<svg>` element as text, sized by its viewBox so it scales with the
page, with a `<title>` for screen readers. The charts draw exact `Decimal` figures as pixel
positions only (floats are for geometry); the report prints the figures themselves in the
table under each chart. Every text that reaches the SVG is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from cli.render import cell_text

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999999")
"""Colours that stay apart for the common colour-vision deficiencies (Okabe and Ito)."""

WIDTH = 720
PLOT_LEFT = 84
PLOT_RIGHT = 16
PLOT_TOP = 34
AXIS_TEXT = 'font-size="11" fill="#444"'
LABEL_CHARS = 26
"""A bar's label longer than this is cut short (the whole label is its tooltip)."""

Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per label (None: no value there)."""

    name: str
    values: Sequence[Decimal | None]


def _hundredths(value: Decimal) -> str:
    """Return `value` rounded half-even to two decimals, without trailing zeros ("-0" as
    "0")."""
    text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


MONEY_UNITS = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"))


def compact_money(value: float | Decimal) -> str:
    """Return an amount in short form, for an axis or a bar: 1.25M, 350k, 900, 0.5; from the
    exact figure, half-even to two decimals of its unit, as the tables round (3,275,000 ->
    3.28M, not the 3.27M of its nearest float)."""
    exact = _exact(value)
    size = abs(exact)
    for limit, suffix in (*MONEY_UNITS, (Decimal(1000), "k")):
        if size >= limit * Decimal("0.999995"):  # 999,996 shows as 1M, not 1000k
            return f"{_hundredths(exact / limit)}{suffix}"
    return _hundredths(exact)


def percent(value: float) -> str:
    """Return an axis label for a ratio, to at most two decimals of a percentage and no
    trailing zeros: 0.85 -> 85%, 0.075 -> 7.5% (a tick at 7.5 % does not read 8 %)."""
    return f"{_hundredths(_exact(value) * 100)}%"


def _exact(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def percent_tenths(value: float | Decimal) -> str:
    """Return a bar's label for a ratio as the tables print it (half-even, from the exact
    figure): 0.4163 -> 41.6%, 0.2875 -> 28.8%."""
    return cell_text(_exact(value), "ratio")


def days(value: float | Decimal) -> str:
    """Return a bar's label for a number of days as the tables print it: 26.8."""
    return cell_text(_exact(value), "days")


MIN_SPAN = 1e-9
"""The narrowest range an axis spans (the figures are money, ratios and days)."""


def nice_step(span: float, count: int = 5) -> float:
    """Return a round tick step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into
    about `count` parts."""
    if span <= 0:
        return 1.0
    raw = max(span, MIN_SPAN) / count
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def ticks(low: float, high: float) -> list[float]:
    """Return round tick values covering [low, high], which must include 0."""
    step = nice_step(high - low)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    # Float division can land a hair inside the data; one step more then covers it.
    first -= step if first > low else 0
    last += step if last < high else 0
    n = round((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def _svg(height: int, title: str, body: list[str]) -> str:
    """Return the `<svg>` element of a chart `height` pixels high."""
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(names: Sequence[str]) -> list[str]:
    """Return a colour key of the series, left to right above the plot."""
    out, x = [], PLOT_LEFT
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 17}" y="18" font-size="12">{escape(name)}</text>')
        x += 30 + 7 * len(name)
    return out


class _Scale:
    """Maps values to y pixels over the ticks of the values' range (0 always in it)."""

    def __init__(self, values: Sequence[float], top: int, bottom: int) -> None:
        low, high = min([0.0, *values]), max([0.0, *values])
        if low == high:
            high = 1.0
        self.ticks = ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.top, self.bottom = top, bottom

    def y(self, value: float) -> float:
        """Return the y pixel of `value`."""
        share = (value - self.low) / (self.high - self.low)
        return round(self.bottom - share * (self.bottom - self.top), 1)

    def grid(self, fmt: Format) -> list[str]:
        """Return the horizontal grid lines and their labels (the zero line darker)."""
        out = []
        for t in self.ticks:
            y = self.y(t)
            stroke = "#888" if t == 0 else "#e3e3e3"
            out.append(
                f'<line x1="{PLOT_LEFT}" x2="{WIDTH - PLOT_RIGHT}" y1="{y}" y2="{y}" '
                f'stroke="{stroke}"/>'
            )
            out.append(
                f'<text x="{PLOT_LEFT - 6}" y="{y + 4}" text-anchor="end" {AXIS_TEXT}>'
                f"{escape(fmt(t))}</text>"
            )
        return out


def _floats(series: Sequence[Series]) -> list[float]:
    """Return every value of the series as a float (for the scale)."""
    return [float(v) for s in series for v in s.values if v is not None]


MAX_X_LABELS = 10
"""More labels than this under an axis would overprint: every k-th is shown, and the last."""


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: int) -> list[str]:
    """Return the labels under the x axis; the words after a label's first space go on a
    second line ("2026-Q4 to date")."""
    every = -(-len(labels) // MAX_X_LABELS)
    last = len(labels) - 1
    out = []
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if (i % every and i != last) or (i != last and last - i < every and last % every):
            continue
        first, _, rest = label.partition(" ")
        second = f'<tspan x="{x}" dy="13">{escape(rest)}</tspan>' if rest else ""
        out.append(
            f'<text x="{x}" y="{y}" text-anchor="middle" {AXIS_TEXT}>{escape(first)}{second}</text>'
        )
    return out


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Format) -> str:
    """Return a line chart of `series` over `labels` (left to right), values on a y axis."""
    height, bottom = 290, 240
    scale = _Scale(_floats(series), PLOT_TOP, bottom)
    step = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(len(labels), 1)
    xs = [round(PLOT_LEFT + step * (i + 0.5), 1) for i in range(len(labels))]
    body = [*scale.grid(fmt), *_legend([s.name for s in series])]
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        # A missing value breaks the line: each run of values is its own polyline. Every
        # series after the first is dashed, so one that lies on another still shows.
        dash = ' stroke-dasharray="7 4"' if i else ""
        runs: list[list[tuple[float, float]]] = [[]]
        for x, v in zip(xs, s.values, strict=True):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x, scale.y(float(v))))
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x},{y}" for x, y in run)
                body.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"{dash}/>'
                )
            body += [f'<circle cx="{x}" cy="{y}" r="3.5" fill="{colour}"/>' for x, y in run]
    body += _x_labels(labels, xs, bottom + 18)
    return _svg(height, title, body)


def column_chart(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Format) -> str:
    """Return stacked columns, one per label: positive values stack up from zero and negative
    ones down, each series in its colour (a bridge's gains above the axis, losses below)."""
    height, bottom = 310, 260
    ups: list[float] = []
    downs: list[float] = []
    for i in range(len(labels)):
        values = [float(s.values[i] or 0) for s in series]
        ups.append(sum(v for v in values if v > 0))
        downs.append(sum(v for v in values if v < 0))
    scale = _Scale([*ups, *downs], PLOT_TOP, bottom)
    step = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(len(labels), 1)
    bar = round(min(step * 0.6, 48), 1)
    xs = [round(PLOT_LEFT + step * (i + 0.5), 1) for i in range(len(labels))]
    body = [*scale.grid(fmt), *_legend([s.name for s in series])]
    for i, x in enumerate(xs):
        up = down = 0.0
        for k, s in enumerate(series):
            v = float(s.values[i] or 0)
            if v == 0:
                continue
            base = up if v > 0 else down
            top, end = base + v, base
            if v > 0:
                up = top
            else:
                down = top
            y1, y2 = sorted((scale.y(top), scale.y(end)))
            body.append(
                f'<rect x="{round(x - bar / 2, 1)}" y="{y1}" width="{bar}" '
                f'height="{round(max(y2 - y1, 0.5), 1)}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(s.name)}: {escape(fmt(v))}</title></rect>"
            )
    body += _x_labels(labels, xs, bottom + 18)
    return _svg(height, title, body)


def bar_chart(
    title: str,
    items: Sequence[tuple[str, Decimal | None]],
    fmt: Callable[[Decimal], str],
    colour: int = 0,
) -> str:
    """Return horizontal bars, one per (label, value), top to bottom, each value at its end,
    written by `fmt` from the exact figure (so it reads as the table beside it)."""
    row, label_width, top = 24, 190, 8
    height = top + row * max(len(items), 1) + 8
    values = [float(v) for _, v in items if v is not None]
    high = max([0.0, *values]) or 1.0
    low = min([0.0, *values])
    left, right = PLOT_LEFT + label_width - 70, WIDTH - PLOT_RIGHT - 70
    width = right - left

    def x(v: float) -> float:
        return round(left + (v - low) / (high - low) * width, 1)

    zero = x(0.0)
    body = [f'<line x1="{zero}" x2="{zero}" y1="{top}" y2="{height - 4}" stroke="#888"/>']
    for i, (label, value) in enumerate(items):
        y = top + i * row
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        if value is None:
            body.append(f'<text x="{zero + 6}" y="{y + 15}" {AXIS_TEXT}>-</text>')
            continue
        end = x(float(value))
        x1, x2 = sorted((zero, end))
        body.append(
            f'<rect x="{x1}" y="{y + 3}" width="{round(max(x2 - x1, 0.5), 1)}" height="{row - 8}" '
            f'fill="{PALETTE[colour % len(PALETTE)]}"/>'
        )
        shown = escape(fmt(value))
        body.append(f'<text x="{max(x1, x2) + 6}" y="{y + 15}" {AXIS_TEXT}>{shown}</text>')
    return _svg(height, title, body)
