"""Pipeline commands: stages, aging, regressions, conversion, win-rate, velocity, coverage,
health."""

from __future__ import annotations

from typing import Any

import click

from cli.app import Ctx, format_option, pass_ctx
from cli.options import (
    AS_OF,
    KNOWN_AT,
    PERIOD_HELP,
    WholeNumber,
    by_option,
    echo_report,
    report_title,
)
from cli.render import Column, Report, attribute_row
from ledger.errors import UsageError
from projections.health import HealthLine
from projections.regressions import DealMove, PairLine
from projections.stages import AgingLine, DealStage, StageLine
from projections.velocity import VelocityLine
from projections.win_rate import WinLine
from queries.common import TimeQuery
from queries.pipeline import (
    MAX_AGING_DAYS,
    aging_query,
    awaiting_go_live_query,
    conversion_query,
    coverage_query,
    deal_stages_query,
    health_query,
    regressions_query,
    stages_query,
    velocity_query,
    win_rate_query,
)

FROM = click.option(
    "--from",
    "start",
    metavar="YYYY-MM-DD",
    help="Window start, inclusive (default: the three months ending on --to).",
)
TO = click.option(
    "--to", "end", metavar="YYYY-MM-DD", help="Window end, inclusive (default: --as-of)."
)
SLICES = ("segment", "channel", "persona")


def windowed(fn: Any) -> Any:
    """Decorate a command with --as-of, --known-at, --from and --to (in that order)."""
    for option in (TO, FROM, KNOWN_AT, AS_OF):
        fn = option(fn)
    return fn


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


def stage_row(line: StageLine) -> dict[str, Any]:
    """Return a time-in-stage line as a row of STAGE_COLUMNS."""
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
@windowed
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
            columns, data = STAGE_COLUMNS, [stage_row(x) for x in lines]
    meta = prov.as_meta()
    ended = f" (visits ended{_window_label(meta)})" if _window_label(meta) else ""
    title = report_title(f"Time in stage, days{ended}", meta)
    echo_report(Report(title, columns, data, meta), fmt)


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
    type=WholeNumber(0, MAX_AGING_DAYS),
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
    title = report_title(f"Open deals older than {days} days", meta)
    echo_report(Report(title, AGING_COLUMNS, [_aging_row(x) for x in rows], meta), fmt)


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
    Column("seq", "seq", "seq"),
]


def _pair_row(p: PairLine) -> dict[str, Any]:
    return {
        "from_stage": p.from_stage,
        "to_stage": p.to_stage,
        "direction": "backward" if p.backward else "forward" if p.forward else "neither",
        "transitions": p.transitions,
        "deals": p.deals,
    }


def _move_row(m: DealMove) -> dict[str, Any]:
    move = m.move
    return {
        "deal_id": m.deal_id,
        "account_id": m.account_id,
        "from_stage": move.from_stage,
        "to_stage": move.to_stage,
        "at": move.at,
        "seq": move.seq,
    }


@click.command("regressions")
@windowed
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
    if by is not None and view != "summary":
        raise UsageError(f"--by groups --view summary only; --view {view} is not grouped")
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
        data = [
            *(attribute_row(x, REGRESSION_COLUMNS) for x in result.lines),
            attribute_row(result.total, REGRESSION_COLUMNS),
        ]
    echo_report(Report(report_title(label + _window_label(meta), meta), columns, data, meta), fmt)


CONVERSION_COLUMNS = [
    Column("key", "group"),
    Column("from_stage", "from"),
    Column("to_stage", "to"),
    Column("reached", "reached from", "int"),
    Column("advanced", "reached to", "int"),
    Column("rate", "conversion", "ratio"),
]


@click.command("conversion")
@AS_OF
@KNOWN_AT
@click.option(
    "--from", "start", metavar="YYYY-MM-DD", help="Only deals opened on or after this day."
)
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Only deals opened on or before this day.")
@by_option(*SLICES)
@format_option
@pass_ctx
def conversion(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    by: Any,
    fmt: str,
) -> None:
    """Stage-to-stage conversion: of the deals that reached a stage, how many reached the next."""
    with ctx.store() as store:
        lines, prov = conversion_query(
            store, TimeQuery(as_of, known_at), start=start, end=end, by=by
        )
    meta = prov.as_meta()
    window = _window_label(meta)
    title = report_title(f"Stage conversion{' of deals opened' + window if window else ''}", meta)
    echo_report(
        Report(
            title, CONVERSION_COLUMNS, [attribute_row(x, CONVERSION_COLUMNS) for x in lines], meta
        ),
        fmt,
    )


WIN_RATE_COLUMNS = [
    Column("key", "group"),
    Column("won", "won", "int"),
    Column("lost", "lost", "int"),
    Column("win_rate", "win rate", "ratio"),
    Column("won_value", "won ARR", "money"),
    Column("lost_value", "lost amount", "money"),
    Column("value_win_rate", "win rate by value", "ratio"),
    Column("cycle_median_days", "cycle median", "days"),
    Column("cycle_mean_days", "cycle mean", "days"),
    Column("cycle_p90_days", "cycle p90", "days"),
]


def win_row(x: WinLine) -> dict[str, Any]:
    """Return a win-rate line as a row of WIN_RATE_COLUMNS."""
    cycle = x.cycle
    return {
        "key": x.key,
        "won": x.won,
        "lost": x.lost,
        "win_rate": x.win_rate,
        "won_value": x.won_value,
        "lost_value": x.lost_value,
        "value_win_rate": x.value_win_rate,
        "cycle_median_days": cycle.median,
        "cycle_mean_days": cycle.mean,
        "cycle_p90_days": cycle.p90,
    }


@click.command("win-rate")
@windowed
@by_option(*SLICES, "persona-combination")
@format_option
@pass_ctx
def win_rate(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    by: Any,
    fmt: str,
) -> None:
    """Win rate by count and by value, and sales cycle days, of the deals closed in a window."""
    with ctx.store() as store:
        result, prov = win_rate_query(
            store, TimeQuery(as_of, known_at), start=start, end=end, by=by
        )
    meta = prov.as_meta()
    rows = [*(win_row(x) for x in result.lines), win_row(result.total)]
    title = report_title(f"Win rate of deals closed{_window_label(meta)}", meta)
    echo_report(Report(title, WIN_RATE_COLUMNS, rows, meta), fmt)


VELOCITY_COLUMNS = [
    Column("key", "group"),
    Column("open_deals", "open deals", "int"),
    Column("won", "won", "int"),
    Column("closed", "closed", "int"),
    Column("win_rate", "win rate", "ratio"),
    Column("average_won", "avg won ARR", "money"),
    Column("cycle_mean_days", "avg cycle", "days"),
    Column("velocity", "ARR per day", "money"),
]


def _velocity_row(x: VelocityLine) -> dict[str, Any]:
    return {
        "key": x.key,
        "open_deals": x.open_deals,
        "won": x.closed.won,
        "closed": x.closed.closed,
        "win_rate": x.closed.win_rate,
        "average_won": x.average_won,
        "cycle_mean_days": x.closed.cycle.mean,
        "velocity": x.velocity,
    }


@click.command("velocity")
@windowed
@by_option(*SLICES)
@format_option
@pass_ctx
def velocity(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    by: Any,
    fmt: str,
) -> None:
    """Sales velocity: open deals × win rate × average won ARR / average cycle days."""
    with ctx.store() as store:
        lines, prov = velocity_query(store, TimeQuery(as_of, known_at), start=start, end=end, by=by)
    meta = prov.as_meta()
    title = report_title(f"Sales velocity (rates of deals closed{_window_label(meta)})", meta)
    echo_report(Report(title, VELOCITY_COLUMNS, [_velocity_row(x) for x in lines], meta), fmt)


COVERAGE_COLUMNS = [
    Column("period", "period"),
    Column("quota", "quota", "money"),
    Column("closed_won", "closed won", "money"),
    Column("remaining", "remaining", "money"),
    Column("open_deals", "open deals", "int"),
    Column("pipeline", "pipeline", "money"),
    Column("weighted", "weighted", "money"),
    Column("coverage", "coverage", "ratio"),
    Column("weighted_coverage", "weighted coverage", "ratio"),
]


@click.command("coverage")
@AS_OF
@KNOWN_AT
@click.option(
    "--period",
    metavar="PERIOD",
    help=PERIOD_HELP + " Default: the quarter of --as-of.",
)
@format_option
@pass_ctx
def coverage(
    ctx: Ctx, as_of: str | None, known_at: str | None, period: str | None, fmt: str
) -> None:
    """Pipeline coverage: open pipeline closing in a period / (quota − closed won)."""
    with ctx.store() as store:
        c, prov = coverage_query(store, TimeQuery(as_of, known_at), period=period)
    meta = prov.as_meta()
    row = {
        "period": c.period.label,
        "quota": c.quota,
        "closed_won": c.closed_won,
        "remaining": c.remaining,
        "open_deals": c.open_deals,
        "pipeline": c.pipeline,
        "weighted": c.weighted,
        "coverage": c.coverage,
        "weighted_coverage": c.weighted_coverage,
    }
    title = report_title(f"Pipeline coverage of {c.period.label}", meta)
    echo_report(Report(title, COVERAGE_COLUMNS, [row], meta), fmt)


HEALTH_COLUMNS = [
    Column("metric", "metric"),
    Column("key", "key"),
    Column("count", "count", "int"),
    Column("median_days", "median", "days"),
    Column("p90_days", "p90", "days"),
    Column("max_days", "max", "days"),
    Column("rate", "rate", "ratio"),
    Column("amount", "amount", "money"),
]
AWAITING_COLUMNS = [
    Column("deal_id", "deal"),
    Column("account_id", "account"),
    Column("signed_at", "signed", "instant"),
    Column("arr", "ARR", "money"),
    Column("age", "waiting", "days"),
]


def health_row(x: HealthLine) -> dict[str, Any]:
    """Return a health-tech line as a row of HEALTH_COLUMNS."""
    days = x.days
    return {
        "metric": x.metric,
        "key": x.key,
        "count": x.count,
        "median_days": days.median if days else None,
        "p90_days": days.p90 if days else None,
        "max_days": days.max if days else None,
        "rate": x.rate,
        "amount": x.amount,
    }


@click.command("health")
@windowed
@click.option(
    "--view",
    type=click.Choice(["summary", "awaiting-go-live"]),
    default="summary",
    show_default=True,
    help="summary: every metric; awaiting-go-live: each signed contract not live yet (nor "
    "cancelled by a churn).",
)
@format_option
@pass_ctx
def health(
    ctx: Ctx,
    as_of: str | None,
    known_at: str | None,
    start: str | None,
    end: str | None,
    view: str,
    fmt: str,
) -> None:
    """Health-tech metrics: security reviews, BAA and standard terms, time to value, partners.

    With --from/--to only what finished in the window counts (what is open is measured at
    --as-of).
    """
    when = TimeQuery(as_of, known_at)
    with ctx.store() as store:
        if view == "awaiting-go-live":
            if start is not None or end is not None:
                raise UsageError("--view awaiting-go-live takes no --from/--to")
            waiting, prov = awaiting_go_live_query(store, when)
            columns, data = AWAITING_COLUMNS, [attribute_row(x, AWAITING_COLUMNS) for x in waiting]
            label = "Signed contracts awaiting go-live"
        else:
            lines, prov = health_query(store, when, start=start, end=end)
            columns, data = HEALTH_COLUMNS, [health_row(x) for x in lines]
            label = "Health-tech metrics"
    meta = prov.as_meta()
    window = _window_label(meta)
    title = report_title(f"{label}{' (finished' + window + ')' if window else ''}", meta)
    echo_report(Report(title, columns, data, meta), fmt)


COMMANDS = [
    stages,
    aging,
    regressions,
    conversion,
    win_rate,
    velocity,
    coverage,
    health,
]
