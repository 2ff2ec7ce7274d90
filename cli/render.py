"""The one renderer: a report as an aligned table (people), JSON (scripts) or CSV (sheets),
and as an HTML table for the HTML report (cells as in the aligned table).

JSON writes money, ratios and days as exact decimal strings, dates as ISO text, and keeps keys
in column order (ratios rounded half-even to 4 places); tables round half-even money to cents,
ratios to a tenth of a percent and days to one decimal. A figure that rounds to zero is shown
without a sign in every format. The `meta` block says what was asked and of which log head it
was computed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape
from typing import Any, Literal

from ledger.events.fields import normalize_decimal
from ledger.timeutil import shown_instant

Kind = Literal["text", "int", "seq", "money", "ratio", "probability", "days", "date", "instant"]
"""How a column shows its values in a table: `int` with thousands separators, `seq` (a log
position, as `log` and `verify` print it) without; a `probability` (a win probability, given to
at most 4 places) as a percentage with two decimals, so it shows as given (33.33%), where a
`ratio` has one."""
FORMATS = ("table", "json", "csv")
NUMERIC_KINDS = ("int", "seq", "money", "ratio", "probability", "days")
"""The kinds whose values align right."""
ENVELOPE_KINDS: dict[str, Kind] = {"seq": "seq", "schema_version": "int", "stream_version": "int"}
"""How the envelope's number fields show (every other envelope field is text)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: its JSON/CSV key, its table title and how to show its values."""

    key: str
    title: str
    kind: Kind = "text"


@dataclass(frozen=True, slots=True)
class Report:
    """Rows to show, with the meta data that makes the output reproducible."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Mapping[str, Any]]
    """The rows: a sequence, an iterator that JSON and CSV output read once (see
    `render_parts`; a table lists it first), or an iterable that gives the same rows afresh
    each time it is iterated, which a table goes over twice without holding it."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    title_for: Callable[[int], str] | None = None
    """The table's title made from its number of rows, in place of `title`: rows read afresh
    need not be counted before the table is written."""


class Rows:
    """Report rows made by `make` from the items of `source` afresh each time they are
    iterated: when `source` reads its items afresh too (not an iterator), a table goes over
    them twice without holding them; an iterator, which can be read only once, is held."""

    __slots__ = ("_make", "_source")

    def __init__(self, source: Iterable[Any], make: Callable[[Any], Mapping[str, Any]]) -> None:
        self._source = list(source) if iter(source) is source else source
        self._make = make

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return map(self._make, self._source)


def counted(n: int, noun: str) -> str:
    """Return `n` with `noun` in the singular for one, else with an s: "1 event", "2 events"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def attribute_row(item: Any, columns: Sequence[Column]) -> dict[str, Any]:
    """Return a report row of `item`'s attributes named by the columns' keys."""
    return {c.key: getattr(item, c.key) for c in columns}


@dataclass(frozen=True, slots=True)
class RatioStep:
    """A ratio's change from `before` to `after` (both exact), as one step of a walk such as a
    restatement's: shown as the difference of the two as each format rounds a ratio, so that
    a start, its steps and the end add up as shown (77.4% - 12.1% = 65.3%, in JSON 0.7739 -
    0.1206 = 0.6533), which the rounded exact differences need not."""

    before: Decimal
    after: Decimal

    def shown(self, step: Decimal, scale: int = 0) -> Decimal:
        """Return after - before, each scaled by 10^`scale` and rounded half-even to `step`."""
        moved = _rounded(self.after.scaleb(scale), step) - _rounded(self.before.scaleb(scale), step)
        return _rounded(moved, step)


_AS_IS = frozenset({str, int, bool, float})
"""Types whose values are JSON-ready as they are (checked first: most cells are text)."""


def _plain(value: Any, kind: Kind) -> Any:
    """Return a JSON-ready value: exact decimal strings, ISO dates, plain ints and text (a
    list's items each as `kind`)."""
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, Decimal):
        if kind in ("ratio", "probability"):
            return f"{_rounded(value, _RATIO_PLACES):f}"
        if kind == "money":  # as the ledger stores money: no trailing zeros
            return format(normalize_decimal(value), "f")
        return "0" if value.is_zero() else format(value, "f")
    if isinstance(value, RatioStep):
        return f"{value.shown(_RATIO_PLACES):f}"
    if isinstance(value, datetime):
        return shown_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v, "text") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, kind) for v in value]
    return value


_RATIO_PLACES = Decimal("0.0001")
_CENTS = Decimal("0.01")
_TENTHS = Decimal("0.1")


def _rounded(value: Decimal, step: Decimal) -> Decimal:
    """Return `value` rounded half-even to the places of `step`; a value that rounds to zero
    is zero without a sign (-0.004 shows as 0.00, never -0.00)."""
    rounded = value.quantize(step, rounding=ROUND_HALF_EVEN)
    return abs(rounded) if rounded.is_zero() else rounded


def cell_text(value: Any, kind: Kind) -> str:
    """Return the table text of one value: thousands separators, percentages, short times."""
    if type(value) is str:  # most cells: shown as they are
        return value
    if value is None:
        return "-"
    if kind == "money" and isinstance(value, Decimal | int):
        return f"{_rounded(Decimal(value), _CENTS):,f}"
    if kind == "ratio" and isinstance(value, Decimal):
        return f"{_rounded(value * 100, _TENTHS):,f}%"
    if kind == "probability" and isinstance(value, Decimal):
        return f"{_rounded(value * 100, _CENTS):f}%"
    if isinstance(value, RatioStep):
        return f"{value.shown(_TENTHS, 2):,f}%"
    if kind == "days" and isinstance(value, Decimal):
        return f"{_rounded(value, _TENTHS):,f}"
    if kind == "int" and isinstance(value, int):
        return f"{value:,}"
    if kind == "instant" and isinstance(value, datetime):
        if value.year >= 1000:  # the same text, about a quarter of strftime's time
            return value.isoformat(" ", "seconds")[:19]
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _one_line(text: str) -> str:
    """Return a cell's text with its line breaks (free text may hold some) as spaces, so the
    row stays one line."""
    if text.isprintable():  # no line break of any kind (each is unprintable)
        return text
    lines = text.splitlines()
    return " ".join(lines) if len(lines) > 1 else text


_KEPT_ROWS = 20_000
"""Rows read afresh whose cells a table keeps from its measuring pass; past that it drops
them and makes them again in the writing pass."""


def _table_parts(report: Report) -> Iterator[str]:
    """Yield `report` as an aligned table: every row is measured before the first is written,
    `_ROWS_PER_PART` lines at a time. Rows read afresh (see `Report.rows`) are made again for
    the writing pass once there are more than `_KEPT_ROWS`, so they are never all held."""
    cols = report.columns
    rows = report.rows
    if iter(rows) is rows:  # an iterator can be read only once
        rows = list(rows)
    keep_all = isinstance(rows, Sequence)  # held anyway
    kinds = [(c.key, c.kind) for c in cols]

    def cells(r: Mapping[str, Any]) -> list[str]:
        return [_one_line(cell_text(r.get(key), kind)) for key, kind in kinds]

    widths = [len(c.title) for c in cols]
    kept: list[list[str]] | None = []
    n = 0
    for r in rows:
        n += 1
        row = cells(r)
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
        if kept is not None:
            kept.append(row)
            if not keep_all and n > _KEPT_ROWS:
                kept = None
    right = [c.kind in NUMERIC_KINDS for c in cols]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    title = report.title_for(n) if report.title_for is not None else report.title
    out = [title, ""] if title else []
    out.append(line([c.title for c in cols]))
    out.append(line(["-" * w for w in widths]))
    yield "\n".join(out) + "\n"
    part: list[str] = []
    for row in kept if kept is not None else map(cells, rows):
        part.append(line(row) + "\n")
        if len(part) >= _ROWS_PER_PART:
            yield "".join(part)
            part = []
    if n == 0:
        part.append("(no rows)\n")
    footer = _footer(report.meta)
    if footer:
        part.append("\n" + footer + "\n")
    yield "".join(part)


def html_table(report: Report, style: Callable[[Column, Any], str] | None = None) -> str:
    """Return `report`'s rows as an HTML table, each cell as the aligned table shows it
    (escaped), numbers right-aligned; the title becomes the caption. `style` gives a cell's
    inline CSS from its column and value ("" for none)."""
    cols = report.columns

    def num(c: Column) -> str:
        return ' class="num"' if c.kind in NUMERIC_KINDS else ""

    def td(c: Column, value: Any) -> str:
        attrs = num(c)
        css = style(c, value) if style is not None else ""
        if css:
            attrs += f' style="{escape(css)}"'
        return f"<td{attrs}>{escape(_one_line(cell_text(value, c.kind)))}</td>"

    head = "".join(f"<th{num(c)}>{escape(c.title)}</th>" for c in cols)
    body = ["<tr>" + "".join(td(c, r.get(c.key)) for c in cols) + "</tr>" for r in report.rows]
    if not body:
        body = [f'<tr><td colspan="{len(cols)}">(no rows)</td></tr>']
    caption = f"<caption>{escape(report.title)}</caption>" if report.title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _footer(meta: Mapping[str, Any]) -> str:
    parts = []
    for key, value in meta.items():
        if isinstance(value, Mapping):
            inner = ", ".join(
                f"{k} {cell_text(_plain(v, 'text'), 'text')}"
                for k, v in value.items()
                if v not in (None, [], ())
            )
            if inner:
                parts.append(f"{key}: {inner}")
        elif value is not None:
            parts.append(f"{key}: {_plain(value, 'text')}")
    return "\n".join(parts)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet cell that it would run as a formula begins."""


def _csv_cell(value: Any, kind: Kind) -> Any:
    """Return a JSON-ready value as a CSV cell: nested values as JSON text (UTF-8 kept),
    booleans as `true`/`false` as in JSON, nothing as an empty cell. A text cell that a
    spreadsheet would run as a formula (`=HYPERLINK(…)`, `+A1`, `@SUM(…)`, `-2+3`) gets a
    leading apostrophe, which the spreadsheet shows as text; numbers are left as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    elif kind in NUMERIC_KINDS:
        return value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def render(report: Report, fmt: str) -> str:
    """Return `report` rendered as `fmt` ('table', 'json' or 'csv'), ending with a newline."""
    return "".join(render_parts(report, fmt))


def render_parts(report: Report, fmt: str) -> Iterator[str]:
    """Yield `report` rendered as `fmt` in parts that join to `render`'s text. JSON and CSV
    take the rows one at a time (`report.rows` may be an iterator, read once), so a long
    answer is written as it is read; a table measures every row first (see `_table_parts`)."""
    if fmt == "table":
        yield from _table_parts(report)
    elif fmt == "json":
        yield from _json_parts(report)
    elif fmt == "csv":
        yield from _csv_parts(report)
    else:
        raise ValueError(f"unknown format {fmt!r}")


_ROWS_PER_PART = 500
"""Rows rendered into one part of a table, JSON or CSV answer."""


_json_text = json.encoder.encode_basestring
"""How `json.dumps(..., ensure_ascii=False)` writes a string (C code)."""


def indented_json(value: Any, pad: str = "") -> str:
    """Return `json.dumps(value, indent=2, ensure_ascii=False)` with `pad` after each line
    break: the same text, written here because `json` falls back to a pure-Python encoder
    whenever it indents. Plain dicts with text keys, lists, text, ints, booleans and None are
    written here; anything else is left to `json.dumps`."""
    if isinstance(value, str):
        return _json_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    inner = pad + "  "
    if type(value) is list:
        if not value:
            return "[]"
        items = ",\n".join(inner + indented_json(v, inner) for v in value)
        return f"[\n{items}\n{pad}]"
    if type(value) is dict and all(type(k) is str for k in value):
        if not value:
            return "{}"
        items = ",\n".join(
            f"{inner}{_json_text(k)}: {indented_json(v, inner)}" for k, v in value.items()
        )
        return f"{{\n{items}\n{pad}}}"
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + pad)


def _json_parts(report: Report) -> Iterator[str]:
    # The text json.dumps(indent=2) gives for {"meta": …, "rows": […]}, one row at a time.
    meta = json.dumps(_plain(report.meta, "text"), indent=2, ensure_ascii=False)
    yield '{\n  "meta": ' + meta.replace("\n", "\n  ") + ',\n  "rows": ['
    part: list[str] = []
    first = True
    for r in report.rows:
        row = {c.key: _plain(r.get(c.key), c.kind) for c in report.columns}
        text = indented_json(row, "    ")
        part.append(("\n    " if first else ",\n    ") + text)
        first = False
        if len(part) >= _ROWS_PER_PART:
            yield "".join(part)
            part = []
    yield "".join(part) + ("]\n}\n" if first else "\n  ]\n}\n")


def _csv_parts(report: Report) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in report.columns])
    for n, r in enumerate(report.rows, start=1):
        writer.writerow([_csv_cell(_plain(r.get(c.key), c.kind), c.kind) for c in report.columns])
        if n % _ROWS_PER_PART == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
