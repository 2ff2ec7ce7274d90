"""Forecast commands: `forecast` (with its `history` of submitted calls) and `forecast-diff`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import click
from click.core import ParameterSource

from cli.app import Ctx, format_option, pass_ctx
from cli.options import AS_OF, KNOWN_AT, PERIOD_HELP, OnceGroup, echo_report, report_title
from cli.render import Column, Report
from projections.forecast import Contribution, DealLine, Forecast
from projections.forecast_diff import Cause, DealChange, ForecastDiff, describe
from queries.common import TimeQuery
from queries.forecast import (
    AuditViews,
    forecast_diff_query,
    forecast_history_query,
    forecast_query,
)

SUMMARY_COLUMNS = [
    Column("period", "period"),
    Column("closed_won", "closed won", "money"),
    Column("open_deals", "open deals", "int"),
    Column("unweighted", "unweighted", "money"),
    Column("weighted", "weighted", "money"),
    Column("commit", "commit", "money"),
    Column("best_case", "best case", "money"),
    Column("quota", "quota", "money"),
    Column("attainment", "attainment", "ratio"),
    Column("coverage", "coverage", "ratio"),
    Column("weighted_coverage", "weighted coverage", "ratio"),
]

DEAL_COLUMNS = [
    Column("deal_id", "deal"),
    Column("account_id", "account"),
    Column("status", "status"),
    Column("stage", "stage"),
    Column("category", "category"),
    Column("close", "close", "date"),
    Column("probability", "probability", "probability"),
    Column("amount", "amount", "money"),
    Column("closed_won", "closed won", "money"),
    Column("unweighted", "unweighted", "money"),
    Column("weighted", "weighted", "money"),
    Column("commit", "commit", "money"),
    Column("best_case", "best case", "money"),
]


def money(value: Decimal) -> Decimal:
    """Return `value` without trailing zeros (70000.00 and 70000.0 both print as 70000)."""
    return value.normalize() if value else Decimal(0)


def _figures(c: Contribution) -> dict[str, Decimal]:
    return {
        "closed_won": money(c.closed_won),
        "unweighted": money(c.unweighted),
        "weighted": money(c.weighted),
        "commit": money(c.commit),
        "best_case": money(c.best_case),
    }


def summary_row(f: Forecast) -> dict[str, Any]:
    """Return a forecast's totals as a row of SUMMARY_COLUMNS."""
    return {
        "period": f.period.label,
        "open_deals": f.open_deals,
        **_figures(f.total),
        "quota": money(f.quota) if f.quota is not None else None,
        "attainment": f.attainment,
        "coverage": f.coverage,
        "weighted_coverage": f.weighted_coverage,
    }


def _deal_row(line: DealLine) -> dict[str, Any]:
    return {
        "deal_id": line.deal_id,
        "account_id": line.account_id,
        "status": line.status,
        "stage": line.stage,
        "category": line.category,
        "close": line.close,
        "probability": line.probability,
        "amount": money(line.amount),
        **_figures(line.contribution),
    }


@click.group("forecast", cls=OnceGroup, invoke_without_command=True)
@click.option("--period", metavar="PERIOD", help=PERIOD_HELP + " Required.")
@AS_OF
@KNOWN_AT
@click.option("--deals", is_flag=True, help="List the deals behind the forecast, with a total.")
@format_option
@pass_ctx
def forecast(
    ctx: Ctx, period: str | None, as_of: str | None, known_at: str | None, deals: bool, fmt: str
) -> None:
    """A period's forecast: closed won, the open pipeline closing in it, quota and coverage.

    `revledger forecast history --period P` lists the forecast calls submitted for it.
    """
    context = click.get_current_context()
    if context.invoked_subcommand is not None:
        if deals:
            raise click.UsageError("--deals lists a forecast's deals; `forecast history` has none")
        typed = context.get_parameter_source("fmt") is not ParameterSource.DEFAULT
        given = [o for o, v in (("--period", period), ("--as-of", as_of), ("--known-at", known_at),
                                ("--format", typed)) if v]  # fmt: skip
        if given:
            raise click.UsageError(
                f"give {given[0]} after `forecast history`, not before it: the options before "
                "it are the forecast's own"
            )
        return
    if period is None:
        raise click.UsageError("Missing option '--period'.")
    with ctx.store() as store:
        result, prov = forecast_query(store, TimeQuery(as_of, known_at), period=period)
    meta = prov.as_meta()
    if deals:
        rows = [_deal_row(x) for x in result.lines]
        rows.append({"deal_id": "total", **_figures(result.total)})
        title = report_title(f"Deals in the {result.period.label} forecast", meta)
        echo_report(Report(title, DEAL_COLUMNS, rows, meta), fmt)
        return
    title = report_title(f"Forecast {result.period.label}", meta)
    echo_report(Report(title, SUMMARY_COLUMNS, [summary_row(result)], meta), fmt)


HISTORY_COLUMNS = [
    Column("submitted", "submitted", "date"),
    Column("recorded_at", "recorded", "instant"),
    Column("actor", "by"),
    Column("commit", "call commit", "money"),
    Column("best_case", "call best case", "money"),
    Column("closed_won", "won then", "money"),
    Column("pipeline_commit", "pipeline commit", "money"),
    Column("pipeline_best_case", "pipeline best case", "money"),
    Column("pipeline_weighted", "pipeline weighted", "money"),
    Column("outcome", "outcome", "money"),
    Column("note", "note"),
]


@forecast.command("history")
@click.option("--period", required=True, metavar="PERIOD", help=PERIOD_HELP)
@AS_OF
@KNOWN_AT
@format_option
@pass_ctx
def history(ctx: Ctx, period: str, as_of: str | None, known_at: str | None, fmt: str) -> None:
    """The forecast calls submitted for a period, beside the pipeline as known when each was
    made, and the outcome once the period is over."""
    with ctx.store() as store:
        result, prov = forecast_history_query(store, TimeQuery(as_of, known_at), period=period)
    meta = prov.as_meta()
    rows = [
        {
            "submitted": c.submitted,
            "recorded_at": c.event.recorded_at,
            "actor": c.event.actor,
            "commit": money(c.call.commit),
            "best_case": money(c.call.best_case),
            "closed_won": money(c.pipeline.total.closed_won),
            "pipeline_commit": money(c.pipeline_commit),
            "pipeline_best_case": money(c.pipeline_best_case),
            "pipeline_weighted": money(c.pipeline_weighted),
            "outcome": money(result.outcome) if result.outcome is not None else None,
            "note": c.call.note,
        }
        for c in result.calls
    ]
    title = report_title(f"Forecast calls for {result.period.label}", meta)
    echo_report(Report(title, HISTORY_COLUMNS, rows, meta), fmt)


DIFF_COLUMNS = [
    Column("line", "line"),
    Column("category", "category"),
    Column("deal_id", "deal"),
    Column("closed_won", "closed won", "money"),
    Column("unweighted", "unweighted", "money"),
    Column("weighted", "weighted", "money"),
    Column("commit", "commit", "money"),
    Column("best_case", "best case", "money"),
    Column("change", "change"),
    Column("events", "events"),
]


def _cause_text(c: Cause) -> str:
    e = c.event
    what = f"#{e.seq} {e.payload.event_type}"
    if c.retracts is not None:
        what += f" of #{c.retracts.seq}"
    return (
        f"{what} (effective {_short(e.effective_at)}, recorded {_short(e.recorded_at)}, {e.actor})"
    )


def _short(t: datetime) -> str:
    """Return an instant as UTC text to the second, for table cells."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cause_doc(c: Cause) -> dict[str, Any]:
    e = c.event
    return {
        "seq": e.seq,
        "event_id": e.event_id,
        "type": e.payload.event_type,
        "effective_at": e.effective_at,
        "recorded_at": e.recorded_at,
        "actor": e.actor,
        "axis": c.axis,
        "retracts": c.retracts.seq if c.retracts is not None else None,
    }


def _diff_rows(diff: ForecastDiff, fmt: str) -> list[dict[str, Any]]:
    cause = _cause_text if fmt == "table" else _cause_doc
    rows: list[dict[str, Any]] = [{"line": "from", **_figures(diff.before.total)}]
    for category, subtotal in diff.by_category.items():
        changes: list[DealChange] = [c for c in diff.changes if c.category == category]
        rows += [
            {
                "line": "deal",
                "category": category,
                "deal_id": c.deal_id,
                **_figures(c.delta),
                "change": "; ".join(describe(c, diff.pipeline_before, diff.pipeline_after)),
                "events": [cause(x) for x in c.causes],
            }
            for c in changes
        ]
        rows.append({"line": "subtotal", "category": category, **_figures(subtotal)})
    rows.append({"line": "to", **_figures(diff.after.total)})
    return rows


@click.command("forecast-diff")
@click.option("--period", required=True, metavar="PERIOD", help=PERIOD_HELP)
@click.option(
    "--from-as-of",
    metavar="YYYY-MM-DD",
    help="View A, valid time (by default the same as --to-as-of).",
)
@click.option("--to-as-of", metavar="YYYY-MM-DD", help="View B, valid time (default: today).")
@click.option(
    "--from-known-at",
    metavar="DATE|INSTANT",
    help="View A, transaction time (by default the same as --to-known-at).",
)
@click.option(
    "--to-known-at",
    metavar="DATE|INSTANT",
    help="View B, transaction time (default: everything recorded).",
)
@format_option
@pass_ctx
def forecast_diff(
    ctx: Ctx,
    period: str,
    from_as_of: str | None,
    to_as_of: str | None,
    from_known_at: str | None,
    to_known_at: str | None,
    fmt: str,
) -> None:
    """How a period's forecast changed between two views, deal by deal, and why.

    Give --from-as-of, --from-known-at or both: view A, compared with view B (by default
    today, as known now).

    Each changed deal gets one category (won, lost, new, pulled_in, pushed_out, stage_forward,
    stage_backward, amount_up, amount_down, category_change, restated), its delta and the
    events between the views that caused it; the rows run from forecast A to forecast B.
    """
    views = AuditViews(from_as_of, to_as_of, from_known_at, to_known_at)
    with ctx.store() as store:
        result, prov = forecast_diff_query(store, views, period=period)
    meta = prov.as_meta()
    opts = meta["options"]
    title = (
        f"Forecast {result.period.label} change from {opts['from_as_of']} (known at "
        f"{opts['from_known_at']}) to {meta['as_of']} (known at {meta['known_at']}; "
        f"head seq {meta['head']['seq']})"
    )
    echo_report(Report(title, DIFF_COLUMNS, _diff_rows(result, fmt), meta), fmt)


COMMANDS = [forecast, forecast_diff]
