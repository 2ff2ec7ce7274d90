"""Pipeline commands: stages, aging, regressions, conversion, win-rate, velocity, coverage,
health."""

from __future__ import annotations

from typing import Any

import click

from cli.app import Ctx, format_option, pass_ctx
from cli.render import Column, Report
from cli.revenue_commands import AS_OF, KNOWN_AT, _echo, _title, by_option
from ledger.errors import UsageError
from projections.regressions import DealMove, PairLine, RegressionLine
from projections.stages import AgingLine, DealStage, StageLine
from queries.common import TimeQuery
from queries.pipeline import (
    aging_query,
    deal_stages_query,
    regressions_query,
    stages_query,
)

FROM = click.option(
    "--from",
    "start",
    metavar="YYYY-MM-DD",
    help="Window start, inclusive (default: three months before --to).",
)
TO = click.option(
    "--to", "end", metavar="YYYY-MM-DD", help="Window end, inclusive (default: --as-of)."
)
SLICES = ("segment", "channel", "persona")


def _window_label(meta: dict[str, Any]) -> str:
    opts = meta["options"]
    return f" from {opts['from']} to {opts['to']}" if opts.get("from") else ""


STAGE_COLUMNS = [
    Column("key", "group"),
    Column("stage", "stage"),
    Column("deals", "deals", "int"),
    Column("visits", "visits", "int"),
    Column("completed", "done", "int"),
    Column("median_days", "median", "days"),
    Column("mean_days", "mean", "days"),
    Column("p90_days", "p90", "days"),
    Column("mean_cumulative_days", "cum/deal", "days"),
    Column("mean_latest_days", "latest/deal", "days"),
    Column("open", "open", "int"),
    Column("open_median_age_days", "open age med", "days"),
    Column("open_max_age_days", "open age max", "days"),
]


def _stage_row(line: StageLine) -> dict[str, Any]:
    return {
        "key": line.key,
        "stage": line.stage,
        "deals": line.deals,
        "visits": line.visits,
        "completed": line.completed.count,
        "median_days": line.completed.median,
        "mean_days": line.completed.mean,
        "p90_days": line.completed.p90,
        "mean_cumulative_days": line.mean_cumulative,
        "mean_latest_days": line.mean_latest,
        "open": line.open.count,
        "open_median_age_days": line.open.median,
        "open_max_age_days": line.open.max,
    }


DEAL_STAGE_COLUMNS = [
    Column("deal_id", "deal"),
    Column("stage", "stage"),
    Column("visits", "visits", "int"),
    Column("cumulative_days", "cumulative", "days"),
    Column("latest_days", "latest visit", "days"),
    Column("status", "latest visit is"),
]


def _deal_stage_row(r: DealStage) -> dict[str, Any]:
    return {
        "deal_id": r.deal_id,
        "stage": r.stage,
        "visits": r.visits,
        "cumulative_days": r.cumulative,
        "latest_days": r.latest,
        "status": "open" if r.open else "ended",
    }


@click.command("stages")
@AS_OF
@KNOWN_AT
@FROM
@TO
@by_option(*SLICES)
@click.option(
    "--deals", "per_deal", is_flag=True, help="One row per deal and stage instead of per stage."
)
@format_option
@pass_ctx
def stages(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    by: Any,
    per_deal: bool,
    fmt: str,
) -> None:
    """Time in stage: visits, median/mean/p90 days, cumulative and latest visit, open ages.

    With --from/--to only the visits that ended in that window count.
    """
    when = TimeQuery(as_of, known_at)
    with ctx.store() as store:
        if per_deal:
            if by is not None:
                raise UsageError("--by cannot be combined with --deals")
            rows, prov = deal_stages_query(store, when, start=start, end=end)
            columns, data = DEAL_STAGE_COLUMNS, [_deal_stage_row(r) for r in rows]
        else:
            lines, prov = stages_query(store, when, start=start, end=end, by=by)
            columns, data = STAGE_COLUMNS, [_stage_row(x) for x in lines]
    meta = prov.as_meta()
    ended = f" (visits ended{_window_label(meta)})" if _window_label(meta) else ""
    title = _title(f"Time in stage, days{ended}", meta)
    _echo(Report(title, columns, data, meta), fmt)


AGING_COLUMNS = [
    Column("deal_id", "deal"),
    Column("account_id", "account"),
    Column("stage", "stage"),
    Column("owner", "owner"),
    Column("segment", "segment"),
    Column("channel", "channel"),
    Column("amount", "amount", "money"),
    Column("opened_at", "opened", "instant"),
    Column("expected_close", "expected close", "date"),
    Column("age_days", "age", "days"),
    Column("in_stage_days", "in stage", "days"),
]


def _aging_row(x: AgingLine) -> dict[str, Any]:
    return {
        "deal_id": x.deal_id,
        "account_id": x.account_id,
        "stage": x.stage,
        "owner": x.owner,
        "segment": x.segment,
        "channel": x.channel,
        "amount": x.amount,
        "opened_at": x.opened_at,
        "expected_close": x.expected_close,
        "age_days": x.age,
        "in_stage_days": x.in_stage,
    }


@click.command("aging")
@AS_OF
@KNOWN_AT
@click.option(
    "--days",
    type=int,
    default=180,
    show_default=True,
    help="List open deals opened more than this many days before the close of --as-of.",
)
@format_option
@pass_ctx
def aging(ctx: Ctx, as_of: str | None, known_at: str | None, days: int, fmt: str) -> None:
    """Pipeline aging: open deals older than a threshold, oldest first."""
    with ctx.store() as store:
        rows, prov = aging_query(store, TimeQuery(as_of, known_at), older_than_days=days)
    meta = prov.as_meta()
    title = _title(f"Open deals older than {days} days", meta)
    _echo(Report(title, AGING_COLUMNS, [_aging_row(x) for x in rows], meta), fmt)


REGRESSION_COLUMNS = [
    Column("key", "group"),
    Column("deals_moved", "deals moved", "int"),
    Column("deals_regressed", "regressed", "int"),
    Column("regression_rate", "regression rate", "ratio"),
    Column("transitions", "transitions", "int"),
    Column("backward", "backward", "int"),
    Column("backward_share", "backward share", "ratio"),
]
PAIR_COLUMNS = [
    Column("from_stage", "from"),
    Column("to_stage", "to"),
    Column("direction", "direction"),
    Column("transitions", "transitions", "int"),
    Column("deals", "deals", "int"),
]
MOVE_COLUMNS = [
    Column("deal_id", "deal"),
    Column("account_id", "account"),
    Column("from_stage", "from"),
    Column("to_stage", "to"),
    Column("at", "effective", "instant"),
    Column("seq", "seq", "int"),
]


def _regression_row(x: RegressionLine) -> dict[str, Any]:
    return {
        "key": x.key,
        "deals_moved": x.deals_moved,
        "deals_regressed": x.deals_regressed,
        "regression_rate": x.regression_rate,
        "transitions": x.transitions,
        "backward": x.backward,
        "backward_share": x.backward_share,
    }


def _pair_row(p: PairLine) -> dict[str, Any]:
    return {
        "from_stage": p.from_stage,
        "to_stage": p.to_stage,
        "direction": "backward" if p.backward else "forward",
        "transitions": p.transitions,
        "deals": p.deals,
    }


def _move_row(m: DealMove) -> dict[str, Any]:
    return {c.key: getattr(m, c.key) for c in MOVE_COLUMNS}


@click.command("regressions")
@AS_OF
@KNOWN_AT
@FROM
@TO
@by_option(*SLICES)
@click.option(
    "--view",
    type=click.Choice(["summary", "pairs", "deals"]),
    default="summary",
    show_default=True,
    help="summary: rates per group; pairs: transitions per stage pair; deals: each backward move.",
)
@format_option
@pass_ctx
def regressions(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    by: Any,
    view: str,
    fmt: str,
) -> None:
    """Deals sliding backwards in a window: regression rate, stage pairs, the deals involved."""
    with ctx.store() as store:
        result, prov = regressions_query(
            store, TimeQuery(as_of, known_at), start=start, end=end, by=by
        )
    meta = prov.as_meta()
    if view == "pairs":
        label, columns = "Stage transitions", PAIR_COLUMNS
        data = [_pair_row(p) for p in result.pairs]
    elif view == "deals":
        label, columns = "Backward moves", MOVE_COLUMNS
        data = [_move_row(m) for m in result.regressions]
    else:
        label, columns = "Regressions", REGRESSION_COLUMNS
        data = [*(_regression_row(x) for x in result.lines), _regression_row(result.total)]
    _echo(Report(_title(label + _window_label(meta), meta), columns, data, meta), fmt)


COMMANDS = [stages, aging, regressions]
