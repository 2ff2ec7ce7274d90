"""Revenue commands: arr, movements, nrr, cohorts, and rebuilding the read model."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.app import Ctx, format_option, pass_ctx
from cli.options import AS_OF, KNOWN_AT, by_option, echo_report, report_title
from cli.render import Column, Report, attribute_row
from ledger.errors import EXIT_INTEGRITY
from queries.common import TimeQuery
from queries.readmodel import check as check_read_model
from queries.readmodel import rebuild as rebuild_read_model
from queries.revenue import (
    arr_query,
    cohorts_query,
    movements_query,
    retention_query,
)

ARR_COLUMNS = [
    Column("key", "group"),
    Column("accounts", "accounts", "int"),
    Column("arr", "ARR", "money"),
    Column("backlog", "backlog", "money"),
    Column("projected_churn", "projected churn", "money"),
    Column("carr", "CARR", "money"),
]


@click.command("arr")
@AS_OF
@KNOWN_AT
@by_option("account", "segment", "channel")
@format_option
@pass_ctx
def arr(ctx: Ctx, as_of: str | None, known_at: str | None, by: Any, fmt: str) -> None:
    """ARR, backlog, projected churn and CARR at the close of a day."""
    with ctx.store() as store:
        snap, prov = arr_query(store, TimeQuery(as_of, known_at), by=by)
    meta = prov.as_meta()
    rows = [
        *(attribute_row(x, ARR_COLUMNS) for x in snap.lines),
        attribute_row(snap.total, ARR_COLUMNS),
    ]
    echo_report(Report(report_title("ARR", meta), ARR_COLUMNS, rows, meta), fmt)


MOVEMENT_COLUMNS = [
    Column("key", "group"),
    Column("start", "start ARR", "money"),
    Column("new", "new", "money"),
    Column("reactivation", "reactivation", "money"),
    Column("expansion", "expansion", "money"),
    Column("contraction", "contraction", "money"),
    Column("churn", "churn", "money"),
    Column("end", "end ARR", "money"),
]


@click.command("movements")
@click.option(
    "--from",
    "start",
    metavar="YYYY-MM-DD",
    help="Start: close of this day (default: three months before --to).",
)
@click.option(
    "--to", "as_of", metavar="YYYY-MM-DD", help="End: close of this day (default: today)."
)
@KNOWN_AT
@by_option("account", "segment", "channel")
@format_option
@pass_ctx
def movements(
    ctx: Ctx, start: str | None, as_of: str | None, known_at: str | None, by: Any, fmt: str
) -> None:
    """The ARR bridge between two days: new, reactivation, expansion, contraction, churn."""
    with ctx.store() as store:
        result, prov = movements_query(store, TimeQuery(as_of, known_at), start=start, by=by)
    meta = prov.as_meta()
    rows = [
        *(attribute_row(b, MOVEMENT_COLUMNS) for b in result.lines),
        attribute_row(result.total, MOVEMENT_COLUMNS),
    ]
    title = report_title(f"ARR movements from {meta['options']['start']}", meta)
    echo_report(Report(title, MOVEMENT_COLUMNS, rows, meta), fmt)


NRR_COLUMNS = [
    Column("key", "group"),
    Column("accounts", "accounts", "int"),
    Column("start", "start", "money"),
    Column("end", "end", "money"),
    Column("retained", "retained", "money"),
    Column("nrr", "NRR", "ratio"),
    Column("grr", "GRR", "ratio"),
]


@click.command("nrr")
@AS_OF
@KNOWN_AT
@click.option(
    "--window", default="12m", show_default=True, help="Look-back: e.g. 12m, 3m, 1q, 1y, 2w, 90d."
)
@click.option(
    "--basis",
    type=click.Choice(["arr", "carr"]),
    default="arr",
    show_default=True,
    help="Measure live ARR or contracted ARR.",
)
@by_option("account", "segment", "channel")
@format_option
@pass_ctx
def nrr(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    window: str,
    basis: Any,
    by: Any,
    fmt: str,
) -> None:
    """Net and gross revenue retention of the accounts live one window earlier."""
    with ctx.store() as store:
        result, prov = retention_query(
            store, TimeQuery(as_of, known_at), window=window, basis=basis, by=by
        )
    meta = prov.as_meta()
    rows = [
        *(attribute_row(x, NRR_COLUMNS) for x in result.lines),
        attribute_row(result.total, NRR_COLUMNS),
    ]
    options = meta["options"]  # the window as parsed: `12 M` is `12m`, as in the footer
    title = report_title(
        f"NRR/GRR over {options['window']} ({basis}, cohort live on {options['start']})", meta
    )
    echo_report(Report(title, NRR_COLUMNS, rows, meta), fmt)


@click.command("cohorts")
@AS_OF
@KNOWN_AT
@click.option(
    "--grain",
    type=click.Choice(["quarter", "month"]),
    default="quarter",
    show_default=True,
    help="Cohort by quarter or month of first go-live.",
)
@click.option(
    "--metric",
    type=click.Choice(["revenue", "logos"]),
    default="revenue",
    show_default=True,
    help="Which retention the table shows (JSON has both).",
)
@format_option
@pass_ctx
def cohorts(
    ctx: Ctx, as_of: str | None, known_at: str | None, grain: Any, metric: str, fmt: str
) -> None:
    """Revenue and logo retention of customers by period of first go-live."""
    with ctx.store() as store:
        rows, prov = cohorts_query(store, TimeQuery(as_of, known_at), grain=grain)
    meta = prov.as_meta()
    width = max((len(r.revenue) for r in rows), default=0)
    columns = [
        Column("cohort", "cohort"),
        Column("accounts", "accounts", "int"),
        Column("start_arr", "first-period ARR", "money"),
    ]
    if fmt == "json":
        columns += [
            Column("revenue", "revenue", "ratio"),
            Column("logos", "logos", "ratio"),
            Column("arr", "arr", "money"),
        ]
        data: list[dict[str, Any]] = [
            {
                "cohort": r.cohort.label,
                "accounts": r.accounts,
                "start_arr": r.start_arr,
                "revenue": r.revenue,
                "logos": r.logos,
                "arr": r.arr,
            }
            for r in rows
        ]
    else:
        # CSV keys name the metric (`revenue_p0`, `logos_p0`, …): the files of both look alike.
        columns += [Column(f"{metric}_p{k}", f"+{k}", "ratio") for k in range(width)]
        data = []
        for r in rows:
            values = r.revenue if metric == "revenue" else r.logos
            row: dict[str, Any] = {
                "cohort": r.cohort.label,
                "accounts": r.accounts,
                "start_arr": r.start_arr,
            }
            row.update({f"{metric}_p{k}": v for k, v in enumerate(values)})
            data.append(row)
    title = report_title(f"{metric.capitalize()} retention by {grain} of first go-live", meta)
    echo_report(Report(title, columns, data, meta), fmt)


CHECK_COLUMNS = [
    Column("read_model", "read model"),
    Column("seq", "covers up to seq", "seq"),
    Column("status", "status"),
]


@click.command("rebuild")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: hold each saved read model against a replay of the log it covers "
    "(exit 5 when one differs).",
)
@format_option
@pass_ctx
def rebuild(ctx: Ctx, check: bool, fmt: str) -> None:
    """Drop the persisted read models and rebuild them from the whole log."""
    with ctx.store() as store:
        if not check:
            head = rebuild_read_model(store)
            if fmt == "table":
                click.echo(
                    f"rebuilt the revenue read model from {head.seq} events (head seq {head.seq})"
                )
            else:
                row = {"head_seq": head.seq, "head_hash": head.hash}
                echo_report(Report("", [Column(k, k) for k in row], [row]), fmt)
            return
        checks, head = check_read_model(store)
    rows = [{"read_model": c.name, "seq": c.seq, "status": c.status} for c in checks]
    meta = {"head": {"seq": head.seq, "hash": head.hash}}
    echo_report(Report("Saved read models against the log", CHECK_COLUMNS, rows, meta), fmt)
    if any(c.status == "differs" for c in checks):
        click.echo(
            "revledger: integrity failure: a saved read model differs from the log it covers "
            "(edited by hand, or a bug), so answers from it are wrong; `revledger rebuild` "
            "computes it again from the log.",
            err=True,
        )
        sys.exit(EXIT_INTEGRITY)


COMMANDS = [arr, movements, nrr, cohorts, rebuild]
