"""The HTML report: one self-contained page (no scripts, no fetched files) of a `LedgerReport`.

Each section pairs a chart (inline SVG, see `cli.svg_charts`) with the table of its exact
figures, written by the one renderer (`cli.render.html_table`), so a number on the page reads
as `revledger` prints it elsewhere. Every text from the ledger is escaped. The page prints on
paper as it shows on screen, and it depends only on the ledger, the options and the program's
version: the same question gives the same bytes.
"""

from __future__ import annotations

import re
import shlex
from calendar import month_name
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cli.forecast_commands import SUMMARY_COLUMNS, summary_row
from cli.pipeline_commands import (
    HEALTH_COLUMNS,
    REGRESSION_COLUMNS,
    STAGE_COLUMNS,
    WIN_RATE_COLUMNS,
    health_row,
    stage_row,
    win_row,
)
from cli.render import Column, Report, attribute_row, cell_text, html_table
from cli.revenue_commands import ARR_COLUMNS, MOVEMENT_COLUMNS, NRR_COLUMNS
from cli.svg_charts import (
    Series,
    bar_chart,
    column_chart,
    compact_money,
    days,
    line_chart,
    percent,
    percent_tenths,
)
from ledger.timeutil import shown_instant
from queries.common import Provenance
from queries.report import LedgerReport

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0 auto;
max-width:66rem;padding:1.5rem 1.25rem 3rem;line-height:1.4}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2.2rem 0 .5rem;
border-bottom:1px solid #ddd;padding-bottom:.25rem}
.sub,.note,footer{color:#555;font-size:.9rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.6rem;
margin:1rem 0}.tile{border:1px solid #ddd;border-radius:6px;padding:.5rem .7rem}
.tile dt{font-size:.8rem;color:#555}.tile dd{margin:0;font-size:1.15rem;font-weight:600;
font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
svg.chart{width:100%;height:auto;display:block;margin:.25rem 0 .5rem}
figure{margin:.75rem 0 0}figcaption{font-size:.85rem;font-weight:600;color:#444}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0 1rem;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{padding:.2rem .45rem;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
th{border-bottom:1px solid #bbb;font-weight:600;white-space:normal;vertical-align:bottom}
.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
code{font-size:.85rem}
footer dl{display:grid;grid-template-columns:7rem 1fr;gap:.25rem .8rem}footer dd{margin:0}
.word{white-space:nowrap}
td[style]{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@media print{body{max-width:none;padding:0}section{break-inside:avoid}.scroll{overflow:visible}
table{font-size:.68rem}th,td{white-space:normal;padding:.15rem .3rem}}
"""


def _version() -> str:
    """Return the installed program's version."""
    try:
        return version("revledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _money(value: Decimal | None) -> str:
    """Return an amount as the tables print it."""
    return cell_text(value, "money")


def _ratio(value: Decimal | None) -> str:
    """Return a ratio as the tables print it (a percentage)."""
    return cell_text(value, "ratio")


def _table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    style: Callable[[Column, Any], str] | None = None,
) -> str:
    """Return a table of the one renderer, scrolling sideways on a narrow screen."""
    return f'<div class="scroll">{html_table(Report(title, columns, rows), style)}</div>'


def _section(anchor: str, title: str, *parts: str) -> str:
    """Return one section of the page: its heading, then its parts (charts with a caption)."""
    shown = "".join(_figure(x) if x.startswith("<svg") else x for x in parts)
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{shown}</section>'


def _figure(svg: str) -> str:
    """Return a chart with its title as a visible caption (the SVG's own title is a tooltip,
    which a printed page does not show); the title is escaped already."""
    found = re.search(r"<title>(.*?)</title>", svg)
    caption = found[1] if found else ""
    return f"<figure><figcaption>{caption}</figcaption>{svg}</figure>"


def _note(text: str) -> str:
    """Return a paragraph that says how to read a section."""
    return f'<p class="note">{escape(text)}</p>'


def _tiles(r: LedgerReport) -> str:
    """Return the headline figures at the as-of day."""
    now = r.points[-1]
    kept = now.retention
    current = r.forecasts[0]
    tiles = [
        ("ARR", _money(now.revenue.arr)),
        ("CARR", _money(now.revenue.carr)),
        ("Backlog (signed, not live)", _money(now.revenue.backlog)),
        ("Projected churn", _money(now.revenue.projected_churn)),
        ("NRR, 12 months", _ratio(kept.nrr if kept else None)),
        ("GRR, 12 months", _ratio(kept.grr if kept else None)),
        (f"Closed won {now.label}", _money(current.total.closed_won)),
        (f"Commit (open deals) {current.period.label}", _money(current.total.commit)),
        ("Win rate by count, 12 months", _ratio(r.win_rates.total.win_rate)),
        ("Accounts with ARR or backlog", cell_text(now.revenue.accounts, "int")),
    ]
    items = "".join(
        f'<div class="tile"><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>' for k, v in tiles
    )
    return f'<dl class="tiles">{items}</dl>'


def _revenue(r: LedgerReport, currency: str) -> str:
    """Return the ARR and CARR trend."""
    labels = [p.label for p in r.points]
    chart = line_chart(
        f"ARR and CARR at each quarter end and the as-of day ({currency})",
        labels,
        [
            Series("ARR", [p.revenue.arr for p in r.points]),
            Series("CARR", [p.revenue.carr for p in r.points]),
        ],
        compact_money,
    )
    columns = [
        Column("point", "quarter"),
        Column("day", "at the close of", "date"),
        *ARR_COLUMNS[1:],
    ]
    rows = [
        {"point": p.label, "day": p.day, **attribute_row(p.revenue, ARR_COLUMNS[1:])}
        for p in r.points
    ]
    return _section(
        "revenue",
        f"ARR and CARR ({currency})",
        chart,
        _table("", columns, rows),
        _note(
            "CARR = ARR + backlog (contracts signed, not live yet) - projected churn (live ARR "
            "of accounts with a churn or contraction recorded for a later day)."
        ),
    )


BRIDGE_PARTS = ("new", "reactivation", "expansion", "contraction", "churn")


def _bridge(r: LedgerReport, currency: str) -> str:
    """Return the ARR bridge of each quarter (losses drawn below the axis)."""
    labels = [p.label for p in r.points]
    series = [
        Series(
            part,
            [
                getattr(p.bridge, part) * (-1 if part in ("contraction", "churn") else 1)
                for p in r.points
            ],
        )
        for part in BRIDGE_PARTS
    ]
    title = f"ARR bridge by quarter ({currency})"
    chart = column_chart(
        f"{title}: gains above the axis, losses below", labels, series, compact_money
    )
    columns = [Column("point", "quarter"), *MOVEMENT_COLUMNS[1:]]
    rows = [{"point": p.label, **attribute_row(p.bridge, MOVEMENT_COLUMNS[1:])} for p in r.points]
    return _section(
        "bridge",
        title,
        chart,
        _table("", columns, rows),
        _note(
            "Each quarter runs from the close of the quarter before: start + new + reactivation "
            "+ expansion - contraction - churn = end."
        ),
    )


def _retention(r: LedgerReport) -> str:
    """Return the NRR and GRR trend."""
    labels = [p.label for p in r.points]
    kept = [p.retention for p in r.points]
    chart = line_chart(
        "NRR and GRR over the 12 months before each point",
        labels,
        [
            Series("NRR", [k.nrr if k else None for k in kept]),
            Series("GRR", [k.grr if k else None for k in kept]),
        ],
        percent,
    )
    columns = [Column("point", "quarter"), *NRR_COLUMNS[1:]]
    rows = [
        {"point": p.label, **(attribute_row(p.retention, columns[1:]) if p.retention else {})}
        for p in r.points
    ]
    return _section(
        "retention",
        "Net and gross revenue retention (12 months, live ARR)",
        chart,
        _table("", columns, rows),
        _note(
            "The cohort is the accounts live 12 months before each point; NRR = their ARR at "
            "the point / their ARR then, GRR caps each account at its ARR then."
        ),
    )


def _segments(r: LedgerReport, currency: str) -> str:
    """Return ARR by segment at the as-of day, with its total row as `arr --by segment`
    gives it."""
    lines = r.by_segment.lines
    chart = bar_chart(
        f"ARR by segment at the as-of day ({currency})",
        [(x.key, x.arr) for x in lines],
        compact_money,
    )
    columns = [Column("key", "segment"), *ARR_COLUMNS[1:]]
    rows = [attribute_row(x, columns) for x in (*lines, r.by_segment.total)]
    return _section("segments", f"ARR by segment ({currency})", chart, _table("", columns, rows))


def _heat(column: Column, value: Any) -> str:
    """Return the background of a retention cell: blue, the deeper the more above 100 %;
    orange, the deeper the more lost below it (0 % the deepest); near white at 100 %."""
    if not column.key.startswith("p") or not isinstance(value, Decimal):
        return ""
    v = float(value)
    hue, depth = (205, min(v - 1.0, 0.5) / 0.5) if v >= 1 else (22, min(1.0 - v, 1.0))
    light = round(95 - 45 * depth)
    ink = "#fff" if light < 62 else "#1d1d1f"
    return f"background:hsl({hue},75%,{light}%);color:{ink}"


def _cohorts(r: LedgerReport) -> str:
    """Return revenue retention by quarter of first go-live, as a heat map."""
    width = max((len(x.revenue) for x in r.cohorts), default=0)
    columns = [
        Column("cohort", "cohort"),
        Column("accounts", "accounts", "int"),
        Column("start_arr", "first-quarter ARR", "money"),
        *(Column(f"p{k}", f"+{k}", "ratio") for k in range(width)),
    ]
    rows = [
        {
            "cohort": x.cohort.label,
            "accounts": x.accounts,
            "start_arr": x.start_arr,
            **{f"p{k}": v for k, v in enumerate(x.revenue)},
        }
        for x in r.cohorts
    ]
    return _section(
        "cohorts",
        "Revenue retention by quarter of first go-live",
        _table("", columns, rows, _heat),
        _note(
            "Each cell: the cohort's live ARR at the end of the k-th quarter after its first "
            "(the last one: at the as-of day) / at the end of its first quarter; blue above "
            "100 %, orange below."
        ),
    )


def _forecast(r: LedgerReport, currency: str) -> str:
    """Return the forecasts of the as-of day's quarter and the next, the first as a chart."""
    current = r.forecasts[0]
    t = current.total
    items: list[tuple[str, Decimal | None]] = [
        ("closed won", t.closed_won),
        ("commit (open)", t.commit),
        ("best case (open)", t.best_case),
        ("weighted pipeline", t.weighted),
        ("unweighted pipeline", t.unweighted),
    ]
    if current.quota is not None:
        items.append(("quota", current.quota))
    chart = bar_chart(
        f"Forecast for {current.period.label} ({currency})", items, compact_money, colour=2
    )
    rows = [summary_row(f) for f in r.forecasts]
    return _section(
        "forecast",
        f"Forecast: {' and '.join(f.period.label for f in r.forecasts)} ({currency})",
        chart,
        _table("", SUMMARY_COLUMNS, rows),
        _note(
            "Closed won: contracts signed in the quarter. The open figures count the open deals "
            "expected to close in it; weighted uses each deal's probability (its override, else "
            "its stage's)."
        ),
    )


def _pipeline(r: LedgerReport, currency: str) -> str:
    """Return the deals open at the as-of day, summed per stage in pipeline order."""
    title = f"Open pipeline by stage at the as-of day ({currency})"
    chart = bar_chart(title, [(x.stage, x.amount) for x in r.pipeline], compact_money, colour=4)
    columns = [
        Column("stage", "stage"),
        Column("deals", "open deals", "int"),
        Column("amount", "amount", "money"),
    ]
    rows = [attribute_row(x, columns) for x in r.pipeline]
    return _section(
        "pipeline",
        title,
        chart,
        _table("", columns, rows),
        _note(
            "Every deal open at the close of the as-of day, whatever its expected close (the "
            "deals that revledger aging --days 0 lists), by the stage it stands in; amounts "
            "unweighted."
        ),
    )


def _stages(r: LedgerReport) -> str:
    """Return time in stage, in pipeline order."""
    lines = r.stages
    chart = bar_chart(
        "Median days in stage, over the completed visits of the whole history",
        [(x.stage, x.completed.median) for x in lines],
        days,
        colour=1,
    )
    columns = [c for c in STAGE_COLUMNS if c.key != "key"]
    rows = [stage_row(x) for x in lines]
    return _section("stages", "Time in stage", chart, _table("", columns, rows))


def _wins(r: LedgerReport) -> str:
    """Return win rates by segment and the regressions over the report's 12 months."""
    w = r.win_rates
    chart = bar_chart(
        "Win rate by segment, by count, of the deals closed in the 12 months",
        [*((x.key, x.win_rate) for x in w.lines), ("all segments", w.total.win_rate)],
        percent_tenths,
        colour=5,
    )
    rows = [win_row(x) for x in [*w.lines, w.total]]
    since = r.year_from.isoformat()
    regression = _table(
        f"Stage regressions since {since}",
        REGRESSION_COLUMNS[1:],
        [attribute_row(r.regressions, REGRESSION_COLUMNS[1:])],
    )
    return _section(
        "win-rate",
        f"Win rate and regressions, deals closed or moved since {since}",
        chart,
        _table("", WIN_RATE_COLUMNS, rows),
        regression,
    )


def _health(r: LedgerReport) -> str:
    """Return the health-tech metrics over the report's 12 months."""
    rows = [health_row(x) for x in r.health]
    return _section(
        "health",
        f"Health-tech metrics since {r.year_from.isoformat()}",
        _table("", HEALTH_COLUMNS, rows),
        _note(
            "Security questionnaires, BAA and standard-terms rates, time to value and partner "
            "share: what finished in the window counts; what is still open is aged at the as-of "
            "day."
        ),
    )


def _known(r: LedgerReport) -> str:
    """Return the transaction time the report stands at, as `--known-at` takes it."""
    return shown_instant(r.known_at) if r.known_at else "(nothing recorded)"


def _fiscal(start: int) -> str:
    """Return what the page says of its quarters when the fiscal year is not the calendar's."""
    if start == 1:
        return ""
    return (
        f"; quarters are fiscal, the year starting in {month_name[start]} and named by the "
        "year it ends in"
    )


def _provenance(r: LedgerReport, prov: Provenance, command: str) -> str:
    """Return the page's footer: both time coordinates, the log head, the definition, the
    program and the command that makes the page again."""
    meta = prov.as_meta()
    head = meta["head"]
    facts = [
        ("as of", f"the close of {meta['as_of']} ({r.timezone})"),
        ("known at", _known(r)),
        ("log head", f"seq {head['seq']}, hash {head['hash']}"),
        ("definition", meta["definition"]),
        ("made by", f"revledger {_version()}"),
        ("again", command),
    ]
    items = "".join(
        f"<dt>{escape(k)}</dt><dd><code>{_unbroken(v, shell=k == 'again')}</code></dd>"
        for k, v in facts
    )
    return f"<footer><h2>What this report is</h2><dl>{items}</dl></footer>"


def _unbroken(text: str, *, shell: bool = False) -> str:
    """Return `text` escaped, its words kept whole: a line may break between them only, never
    at a hyphen inside one (`2026-12-06` torn in two would not paste back as a command); the
    words of a `shell` command as the shell reads them, so never at a space inside a quoted
    one (a folder name with a space)."""
    words = [shlex.quote(w) for w in shlex.split(text)] if shell else text.split(" ")
    return " ".join(f'<span class="word">{escape(w)}</span>' for w in words)


def html_report(r: LedgerReport, prov: Provenance, command: str) -> str:
    """Return the whole HTML page of the report; `command` is the command that makes it
    again (shown at the end)."""
    currency, timezone = prov.currency, r.timezone
    title = f"Revenue report as of {r.as_of.isoformat()}"
    sections = [
        _revenue(r, currency),
        _bridge(r, currency),
        _retention(r),
        _segments(r, currency),
        _cohorts(r),
        _pipeline(r, currency),
        _forecast(r, currency),
        _stages(r),
        _wins(r),
        _health(r),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="sub">At the close of {escape(r.as_of.isoformat())} ({escape(timezone)}), '
        f"as known at {escape(_known(r))}; amounts in {escape(currency)}"
        f"{escape(_fiscal(r.fiscal_start))}.</p>"
        f"{_tiles(r)}</header>{''.join(sections)}{_provenance(r, prov, command)}"
        "</body></html>\n"
    )
