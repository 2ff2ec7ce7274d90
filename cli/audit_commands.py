"""Audit commands: `restatements` (what changed a reported metric since) and `history` (one
deal's or account's events as they happened and as they were recorded)."""

from __future__ import annotations

from typing import Any

import click

from cli.app import Ctx, format_option, pass_ctx
from cli.forecast_commands import money
from cli.options import AS_OF, KNOWN_AT, PERIOD_HELP, echo_report, event_summary
from cli.render import Column, Kind, RatioStep, Report, counted
from ledger.envelope import RecordedEvent
from projections.restatements import Effect, Values
from queries.audit import METRICS, history_query, restatement_query
from queries.common import TimeQuery

TITLES = {"arr": "ARR", "carr": "CARR", "nrr": "NRR", "grr": "GRR", "forecast": "Forecast"}


def _values(values: Values) -> dict[str, Any]:
    return {k: money(v) if v is not None else None for k, v in values.items()}


def _steps(effect: Effect) -> dict[str, RatioStep | None]:
    """Return a ratio's effect as the step from its value before to its value after, shown as
    the difference of the two as rounded, so that reported + effects = now as shown."""
    return {
        f: RatioStep(before, after) if before is not None and after is not None else None
        for f, before, after in ((f, effect.before[f], effect.after[f]) for f in effect.effect)
    }


@click.command("restatements")
@click.option("--metric", required=True, type=click.Choice(METRICS), help="What was reported.")
@AS_OF
@click.option(
    "--reported-at",
    required=True,
    metavar="DATE|INSTANT",
    help="Transaction time it was reported at (a date: the end of that day).",
)
@KNOWN_AT
@click.option("--period", metavar="PERIOD", help=PERIOD_HELP + " For --metric forecast.")
@click.option(
    "--window",
    help="Look-back of nrr and grr: e.g. 12m, 3m, 1q, 1y, 2w, 90d.  [default: 12m]",
)
@format_option
@pass_ctx
def restatements(
    ctx: Ctx,
    metric: str,
    as_of: str | None,
    reported_at: str,
    known_at: str | None,
    period: str | None,
    window: str | None,
    fmt: str,
) -> None:
    """A metric as reported at a past time and as known now, and each event recorded in
    between that moved it, with its effect."""
    with ctx.store() as store:
        answer, prov = restatement_query(
            store,
            TimeQuery(as_of, known_at),
            metric=metric,
            reported_at=reported_at,
            period=period,
            window=window,
        )
    meta = prov.as_meta()
    result = answer.result
    kind: Kind = "ratio" if metric in ("nrr", "grr") else "money"
    columns = [
        Column("line", "line"),
        Column("seq", "seq", "seq"),
        Column("type", "type"),
        Column("effective_at", "effective", "instant"),
        Column("recorded_at", "recorded", "instant"),
        Column("actor", "actor"),
        *(Column(f, f.replace("_", " "), kind) for f in result.figures),
        Column("note", "note"),
    ]
    rows: list[dict[str, Any]] = [
        {
            "line": "reported",
            "seq": answer.reported_seq,
            "recorded_at": answer.reported_at,
            **_values(result.reported),
        }
    ]
    for x in result.effects:
        e = x.event
        note = None
        if x.retracts is not None:
            note = f"retracts #{x.retracts.seq} {x.retracts.payload.event_type}"
        rows.append(
            {
                "line": "effect",
                "seq": e.seq,
                "type": e.payload.event_type,
                "effective_at": e.effective_at,
                "recorded_at": e.recorded_at,
                "actor": e.actor,
                **(_steps(x) if kind == "ratio" else _values(x.effect)),
                "note": note,
            }
        )
    rows.append(
        {
            "line": "now",
            "seq": answer.now_seq,
            "recorded_at": prov.known_at,
            **_values(result.now),
            "note": None if result.changed else "no change since reported",
        }
    )
    what = f"{TITLES[metric]} {meta['options'].get('period', '')}".strip()
    verdict = (
        f"{counted(len(result.effects), 'event')} recorded since moved it"
        if result.changed
        else "no change"
    )
    title = (
        f"{what} as of {meta['as_of']}: reported at {meta['options']['reported_at']} vs known at "
        f"{meta['known_at']} (head seq {meta['head']['seq']}): {verdict}"
    )
    echo_report(Report(title, columns, rows, meta), fmt)


HISTORY_COLUMNS = [
    Column("happened", "happened", "int"),
    Column("recorded", "recorded", "int"),
    Column("seq", "seq", "seq"),
    Column("effective_at", "effective", "instant"),
    Column("recorded_at", "recorded at", "instant"),
    Column("lag_days", "lag days", "days"),
    Column("type", "type"),
    Column("actor", "actor"),
    Column("details", "details"),
    Column("note", "note"),
]
HISTORY_JSON_COLUMNS = [
    *HISTORY_COLUMNS[:6],
    Column("event_id", "event id"),
    Column("stream_id", "stream"),
    *HISTORY_COLUMNS[6:9],
    Column("out_of_order", "out of order"),
    Column("retracted_by", "retracted by", "int"),
    Column("retracted_at", "retracted at", "instant"),
    Column("retracts", "retracts", "int"),
    Column("note", "note"),
]


@click.command("history")
@click.option("--deal", "deal_id", help="The deal whose events to show (with its go-live).")
@click.option("--account", "account_id", help="The account whose events to show (with its deals).")
@click.option(
    "--order",
    type=click.Choice(["happened", "recorded"]),
    default="happened",
    show_default=True,
    help="Sort as it happened (effective time, then seq) or as it was recorded (seq).",
)
@KNOWN_AT
@format_option
@pass_ctx
def history(
    ctx: Ctx,
    deal_id: str | None,
    account_id: str | None,
    order: str,
    known_at: str | None,
    fmt: str,
) -> None:
    """One deal's or account's events as they happened and as they were recorded, with how
    late each was recorded, events recorded out of order, and retractions marked."""
    with ctx.store() as store:
        lines, prov = history_query(store, deal=deal_id, account=account_id, known_at=known_at)
    meta = prov.as_meta()
    if order == "recorded":
        lines = sorted(lines, key=lambda x: x.recorded)
    rows = []
    for x in lines:
        e = x.event
        assert isinstance(e, RecordedEvent)  # the query reads them from the store
        notes = []
        if x.out_of_order:
            notes.append("recorded out of order")
        if x.retracted_by is not None:
            notes.append(
                f"retracted by #{x.retracted_by.seq} (recorded "
                f"{x.retracted_by.recorded_at:%Y-%m-%d %H:%M:%S})"
            )
        if x.retracts is not None:
            notes.append(f"retracts #{x.retracts.seq} {x.retracts.payload.event_type}")
        rows.append(
            {
                "happened": x.happened,
                "recorded": x.recorded,
                "seq": e.seq,
                "effective_at": e.effective_at,
                "recorded_at": e.recorded_at,
                "event_id": e.event_id,
                "stream_id": e.payload.stream_id(),
                "type": e.payload.event_type,
                "actor": e.actor,
                "details": event_summary(e),
                "lag_days": x.lag_days,
                "out_of_order": x.out_of_order,
                "retracted_by": x.retracted_by.seq if x.retracted_by else None,
                "retracted_at": x.retracted_by.recorded_at if x.retracted_by else None,
                "retracts": x.retracts.seq if x.retracts else None,
                "note": "; ".join(notes) or None,
            }
        )
    deal, account = meta["options"]["deal"], meta["options"]["account"]  # as the query read them
    subject = f"deal {deal}" if deal is not None else f"account {account}"
    title = (
        f"History of {subject} as {order} (known at {meta['known_at']}; "
        f"head seq {meta['head']['seq']}): {counted(len(rows), 'event')}"
    )
    columns = HISTORY_COLUMNS if fmt == "table" else HISTORY_JSON_COLUMNS
    echo_report(Report(title, columns, rows, meta), fmt)


COMMANDS = [restatements, history]
