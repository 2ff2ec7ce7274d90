"""Commands that create, fill, inspect and check the log: init, import, export, log, verify."""

from __future__ import annotations

import io
import os
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import click

from cli.app import Ctx, format_option, pass_ctx
from cli.options import (
    KNOWN_AT,
    OUTPUT,
    WholeNumber,
    answer_stream,
    echo_report,
    event_summary,
    stream_answer,
)
from cli.render import ENVELOPE_KINDS, Column, Report, Rows, counted
from ledger.canonical import payload_json
from ledger.crm import MAP_OPTION, SOURCES, CrmRequest
from ledger.envelope import ENVELOPE_COLUMNS, RecordedEvent
from ledger.errors import EXIT_INTEGRITY, UsageError
from ledger.operations import (
    CrmSummary,
    LogQuery,
    default_actor,
    export_file,
    export_lines,
    import_crm,
    import_file,
    init_ledger,
    list_events,
    load_stages,
    restore_ledger,
    retract_import,
    unknown_id_hint,
    verify_ledger,
)
from ledger.store import shown

PROGRESS_MIN_LINES = 20_000
PROGRESS_BAR_WIDTH = 36
PROGRESS_CLUTTER = 30
"""The width of an import's progress line beside its bar: `importing  [`, `]  100%` and the
time left, `  00:00:12`, with a column to spare (a line that fills the last column wraps on
some terminals)."""
PROGRESS_MIN_BAR = 10


def progress_width(stream: TextIO, total: int) -> int | None:
    """Return the width of the progress bar an import of `total` lines draws on `stream`, or
    None for none: a short file, a stream that is no terminal, a terminal that cannot move its
    cursor back (TERM=dumb: the bar's control characters would show as text), or one too
    narrow for the line (each redraw would wrap onto a new line)."""
    if total < PROGRESS_MIN_LINES or not stream.isatty() or os.environ.get("TERM") == "dumb":
        return None
    width = min(PROGRESS_BAR_WIDTH, _columns(stream) - PROGRESS_CLUTTER)
    return width if width >= PROGRESS_MIN_BAR else None


def _columns(stream: TextIO) -> int:
    """Return the width of the terminal `stream` writes to: `COLUMNS` when set, else that
    terminal's own (not standard output's, which may be a file: `import … > log.txt`)."""
    given = os.environ.get("COLUMNS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return shutil.get_terminal_size().columns


@click.command("init")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency code.")
@click.option(
    "--timezone", default="UTC", show_default=True, help="IANA zone that bare dates refer to."
)
@click.option(
    "--fiscal-year-start",
    type=WholeNumber(1, 12),
    default=1,
    show_default=True,
    help="Month (1-12) in which the fiscal year starts; a fiscal year is named by the calendar "
    "year it ends in.",
)
@click.option(
    "--stages-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON list of {name, probability, forecast_category}; default: the standard pipeline.",
)
@click.option("--actor", help="Who initialises the ledger (default $REVLEDGER_ACTOR or your user).")
@click.option(
    "--backfill-from",
    metavar="YYYY-MM-DD",
    help="Record the configuration as of the start of this past day instead of now, so that "
    "`import --from … --backfill` can record a CRM history with its own times after it.",
)
@pass_ctx
def init(
    ctx: Ctx,
    currency: str,
    timezone: str,
    fiscal_year_start: int,
    stages_file: Path | None,
    actor: str | None,
    backfill_from: str | None,
) -> None:
    """Create a ledger and record its configuration (currency, time zone, pipeline)."""
    stages = load_stages(stages_file) if stages_file else None
    done = init_ledger(
        ctx.db,
        currency=currency,
        timezone=timezone,
        fiscal_year_start_month=fiscal_year_start,
        stages=stages,
        actor=default_actor(actor),
        backfill_from=backfill_from,
    )
    click.echo(f"initialised {shown(ctx.db)}: seq {done.seq} ledger_configured {done.event_id}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything, write nothing (reading the ledger is enough).",
)
@click.option(
    "--restore",
    is_flag=True,
    help="FILE is a `revledger export`: rebuild it verbatim (same seq, times, hashes) into an "
    "empty ledger.",
)
@click.option(
    "--actor", help="Actor for lines without one (default $REVLEDGER_ACTOR or your user)."
)
@click.option(
    "--retract",
    is_flag=True,
    help="Instead of importing FILE, retract every event that importing it recorded and that "
    "still counts: all at once, latest first, or none (needs --reason).",
)
@click.option("--reason", help="With --retract: why, in a few words (no patient data).")
@click.option(
    "--from",
    "crm",
    type=click.Choice(SOURCES),
    help="FILE is a CRM history export: Salesforce OpportunityHistory CSV, or HubSpot deal "
    "property history CSV.",
)
@click.option(
    "--opportunities",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from: a deals CSV giving each deal's account (Salesforce Opportunity.csv: "
    "Id, AccountId, OwnerId; HubSpot: dealId, companyId).",
)
@click.option(
    "--stage-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from salesforce: CSV lines `salesforce stage,ledger stage` (or won/lost).",
)
@click.option(
    "--pipeline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from hubspot: CSV lines `stage id,ledger stage` (or won/lost).",
)
@click.option(
    "--backfill",
    is_flag=True,
    help="With --from: record each event at the CRM's own change time instead of now.",
)
@pass_ctx
def import_(
    ctx: Ctx,
    file: Path,
    dry_run: bool,
    restore: bool,
    actor: str | None,
    crm: str | None,
    opportunities: Path | None,
    stage_map: Path | None,
    pipeline: Path | None,
    backfill: bool,
    retract: bool,
    reason: str | None,
) -> None:
    """Import events from a JSON Lines FILE, or a CRM history with --from, atomically."""
    if retract or reason is not None:
        given = (
            ("--restore", restore),
            ("--from", crm is not None),
            ("--opportunities", opportunities is not None),
            ("--stage-map", stage_map is not None),
            ("--pipeline", pipeline is not None),
            ("--backfill", backfill),
        )
        other = next((name for name, on in given if on), None)
        _retract_import(ctx, file, dry_run, actor, other, retract, reason)
        return
    if crm is not None or opportunities or stage_map or pipeline or backfill:
        if restore:
            raise UsageError("--restore and --from cannot be combined")
        request = _crm_request(crm, file, opportunities, stage_map, pipeline, backfill)
        with ctx.store() as store:
            done = import_crm(
                store,
                request,
                actor=default_actor(actor),
                dry_run=dry_run,
            )
        _crm_report(file, done)
        return
    if restore:
        if dry_run:
            raise UsageError("--restore and --dry-run cannot be combined")
        if actor is not None:
            raise UsageError(
                "--restore and --actor cannot be combined: a restore keeps each event's actor"
            )
        head = restore_ledger(ctx.db, file)
        click.echo(f"restored {counted(head.seq, 'event')}; head seq {head.seq} hash {head.hash}")
        return
    with ctx.store() as store:
        total = _count_lines(file)
        width = progress_width(sys.stderr, total)
        with click.progressbar(
            length=2 * total,
            label="importing",
            file=sys.stderr,
            hidden=width is None,
            width=width or PROGRESS_BAR_WIDTH,
        ) as bar:
            summary = import_file(
                store,
                file,
                actor=default_actor(actor),
                dry_run=dry_run,
                progress=bar.update,
            )
    verb = "would append" if summary.dry_run else "appended"
    notes = []
    if summary.repeated:
        n, where = summary.repeated, _repeat_place(summary.repeated, summary.first_repeated)
        notes.append(f"{n} of them {REPEATED}" + (f": {where}" if where else ""))
    if summary.retracted_duplicates:
        n, first = summary.retracted_duplicates, summary.first_retracted
        notes.append(
            f"{n} of them retracted since, so {'they do' if n > 1 else 'it does'} not count"
            + (f": {first}{' the first' if n > 1 else ''}" if first else "")
            + "; to record a line again, give it an idempotency_key of its own and no event_id"
        )
    click.echo(
        f"{file.name}: {counted(summary.lines, 'event')} read, {verb} {summary.appended}, "
        f"{summary.duplicates} already recorded"
        + (f" ({'; '.join(notes)})" if notes else "")
        + f"; head seq {summary.head.seq}"
        + (" (dry run: nothing written)" if summary.dry_run else "")
    )


REPEATED = "the same event as an earlier line of the file"
"""How an import's summary names a line that gives the event an earlier line gave (an import
records it once)."""


def _repeat_place(n: int, first: str | None) -> str:
    """Return where the first of `n` lines that repeat an earlier line is (`line 4`, followed
    by ` the first` when there are more); empty when the lines have no place."""
    if first is None:
        return ""
    return first + (" the first" if n > 1 else "")


def _retract_import(
    ctx: Ctx,
    file: Path,
    dry_run: bool,
    actor: str | None,
    other: str | None,
    retract: bool,
    reason: str | None,
) -> None:
    """Retract the events importing `file` recorded (`import --retract`), and say so; `other`
    names an option given that does not go with it."""
    if not retract:
        raise UsageError("--reason goes with --retract")
    if reason is None:
        raise UsageError("--retract needs --reason: why the import's events no longer count")
    if other is not None:
        raise UsageError(f"--retract and {other} cannot be combined")
    with ctx.store() as store:
        done = retract_import(
            store, file, reason=reason, actor=default_actor(actor), dry_run=dry_run
        )
    verb = "would retract" if done.dry_run else "retracted"
    repeated = ""
    if done.repeated:
        where = _repeat_place(done.repeated, done.first_repeated)
        repeated = f", {done.repeated} {REPEATED}" + (f" ({where})" if where else "")
    kept = ""
    if done.kept:
        kept = (
            f", {counted(done.kept, 'retraction')} kept (a retraction is never retracted; "
            f"record again what {'it' if done.kept == 1 else 'they'} took out, if that should "
            "count)"
        )
    click.echo(
        f"{file.name}: {counted(done.lines, 'event')} read, {verb} {done.retracted}{repeated}, "
        f"{done.already} retracted before, {done.missing} not recorded{kept}; "
        f"head seq {done.head.seq}" + (" (dry run: nothing written)" if done.dry_run else "")
    )


def _crm_request(
    crm: str | None,
    file: Path,
    opportunities: Path | None,
    stage_map: Path | None,
    pipeline: Path | None,
    backfill: bool,
) -> CrmRequest:
    """Return the CRM import the options ask for; raise UsageError when they do not fit."""
    if crm is None:
        given = "--opportunities" if opportunities else "--stage-map" if stage_map else None
        given = given or ("--pipeline" if pipeline else "--backfill")
        needs = {"--stage-map": "--from salesforce", "--pipeline": "--from hubspot"}
        raise UsageError(f"{given} needs {needs.get(given, '--from salesforce or --from hubspot')}")
    misplaced = pipeline if crm == "salesforce" else stage_map
    if misplaced is not None:
        wrong = "--pipeline" if crm == "salesforce" else "--stage-map"
        raise UsageError(
            f"{wrong} does not go with --from {crm}; its stage map is {MAP_OPTION[crm]}"
        )
    return CrmRequest(crm, file, opportunities, stage_map or pipeline, backfill)


def _crm_report(file: Path, done: CrmSummary) -> None:
    verb = "would append" if done.dry_run else "appended"
    what = "an imported event" if done.withdrawn == 1 else "imported events"
    withdrawn = f" ({done.withdrawn} retracting {what} this export no longer gives)"
    click.echo(
        f"{file.name}: {counted(done.rows, 'row')} read ({done.skipped} skipped) on "
        f"{counted(done.deals, 'deal')}, {counted(done.events, 'event')} derived, {verb} "
        f"{done.appended}{withdrawn if done.withdrawn else ''}, {done.duplicates} already "
        f"recorded; head seq {done.head.seq}"
        + (" (dry run: nothing written)" if done.dry_run else "")
    )
    if not done.accounts_given:
        click.echo(
            "note: without --opportunities each deal is recorded as its own account", err=True
        )
    elif done.own_accounts:
        n, shown_ids = len(done.own_accounts), ", ".join(done.own_accounts[:5])
        click.echo(
            f"note: {n} deal{'s' if n > 1 else ''} with no account in the deals file "
            f"({shown_ids}{', …' if n > 5 else ''}) {'are' if n > 1 else 'is'} recorded as "
            f"{'their' if n > 1 else 'its'} own account{'s' if n > 1 else ''}",
            err=True,
        )
    if done.missing:
        n, shown_ids = len(done.missing), ", ".join(done.missing[:5])
        click.echo(
            f"note: {counted(n, 'deal')} recorded by an earlier import from this CRM "
            f"({shown_ids}{', …' if n > 5 else ''}) {'have' if n > 1 else 'has'} no rows in "
            "this export (deleted in the CRM, or left out of the export); "
            f"{'their' if n > 1 else 'its'} events stay in the ledger (retract those that "
            "should no longer count with `revledger record event_retracted`)",
            err=True,
        )


def _count_lines(path: Path) -> int:
    """Return the number of lines of a regular file, for the progress bar; 0 for a pipe or a
    device (`/dev/stdin`, `<(zcat …)`), which can be read only once, by the import itself."""
    if not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


@click.command("export")
@OUTPUT
@pass_ctx
def export(ctx: Ctx, output: Path | None) -> None:
    """Export every event as a JSON line with its full envelope (seq, times, hashes)."""
    with ctx.store() as store:
        if output is None:
            # Lines are written without a flush each: a whole log is many of them.
            stream_answer(export_lines(store), flush=False)
            return
        n = export_file(store, output)
    click.echo(f"exported {counted(n, 'event')} to {output}", err=True)


LOG_COLUMNS = [
    Column("seq", "seq", "seq"),
    Column("effective_at", "effective", "instant"),
    Column("recorded_at", "recorded", "instant"),
    Column("type", "type"),
    Column("stream_id", "stream"),
    Column("actor", "actor"),
    Column("payload", "payload"),
    Column("retracted_by", "retracted by", "seq"),
]
LOG_JSON_COLUMNS = [
    *(Column(k, k, ENVELOPE_KINDS.get(k, "text")) for k in ENVELOPE_COLUMNS),
    Column("retracted_by", "retracted_by", "seq"),
]


def _log_row(e: RecordedEvent, full: bool, retracted_by: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": e.seq,
        "effective_at": e.effective_at,
        "recorded_at": e.recorded_at,
        "type": e.type,
        "stream_id": e.stream_id,
        "actor": e.actor,
    }
    if full:
        import json

        row.update(
            event_id=e.event_id,
            schema_version=e.schema_version,
            stream_version=e.stream_version,
            source=e.source,
            idempotency_key=e.idempotency_key,
            payload=json.loads(payload_json(e.payload)),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
    else:
        row["payload"] = event_summary(e)
    row["retracted_by"] = retracted_by.get(e.event_id)
    return row


@click.command("log")
@click.option(
    "--deal",
    "deal_id",
    help="Only events of this deal (incl. its go-live), and the retractions of any of them.",
)
@click.option(
    "--account",
    "account_id",
    help="Only events of this account and its deals, and the retractions of any of them.",
)
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option(
    "--from",
    "effective_from",
    metavar="YYYY-MM-DD",
    help="Only events effective on or after this day.",
)
@click.option(
    "--to",
    "effective_to",
    metavar="YYYY-MM-DD",
    help="Only events effective on or before this day.",
)
@KNOWN_AT
@format_option
@pass_ctx
def log(
    ctx: Ctx,
    deal_id: str | None,
    account_id: str | None,
    types: tuple[str, ...],
    effective_from: str | None,
    effective_to: str | None,
    known_at: str | None,
    fmt: str,
) -> None:
    """List events in recording order (seq), with filters; an event that no longer counts
    names the seq of its retraction (as known at --known-at)."""
    query = LogQuery(deal_id, account_id, types, effective_from, effective_to, known_at)
    with ctx.store() as store:
        head, found, retracted = list_events(store, query)
        meta = {
            "query": {
                "deal": query.deal_id,
                "account": query.account_id,
                "types": list(types),
                "from": effective_from,
                "to": effective_to,
                "known_at": known_at,
            },
            "head": {"seq": head.seq, "hash": head.hash},
        }
        shown = 0

        def row(e: RecordedEvent, full: bool) -> dict[str, Any]:
            nonlocal shown
            shown += 1
            return _log_row(e, full, retracted)

        if fmt == "table":
            # Measured, then written, each pass reading the events afresh (not held).
            rows = Rows(found, partial(row, full=False))
            title = partial(counted, noun="event")
            echo_report(Report("", LOG_COLUMNS, rows, meta, title_for=title), fmt)
        else:
            # Written as read: a whole log in JSON held about 7 KB an event in rows.
            echo_report(Report("", LOG_JSON_COLUMNS, (row(e, True) for e in found), meta), fmt)
        option, column, value = (
            ("--deal", "deal_id", deal_id) if deal_id else ("--account", "account_id", account_id)
        )
        hint = (
            unknown_id_hint(store, column, value, upto_seq=head.seq) if value and not shown else ""
        )
        if hint:
            click.echo(f"revledger: note: nothing listed for {option} {value!r}{hint}", err=True)


@click.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="SEQ:HASH",
    help="A head seq and hash kept from an earlier verify (repeatable): the log must still hold "
    "that event with that hash, which finds events removed from its end or a chain rewritten "
    "up to it.",
)
@format_option
@pass_ctx
def verify(ctx: Ctx, anchors: tuple[str, ...], fmt: str) -> None:
    """Walk the hash chain; name the first bad seq (exit 5) or confirm the log is intact."""
    with ctx.store() as store:
        report = verify_ledger(store, anchors)
    if fmt != "table":
        row = {
            "ok": report.ok,
            "events": report.events,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "first_bad_seq": report.first_bad_seq,
            "problem": report.problem,
        }
        echo_report(Report("", [Column(k, k) for k in row], [row]), fmt)
    elif report.ok:
        kept = f"; {counted(report.anchors, 'anchor')} matched" if report.anchors else ""
        click.echo(
            f"ok: {counted(report.events, 'event')}, hash chain intact{kept}; head seq "
            f"{report.head_seq} hash {report.head_hash}",
            file=answer_stream(),
        )
    if not report.ok:
        click.echo(
            f"revledger: integrity failure: {report.problem}",
            err=True,
        )
        sys.exit(EXIT_INTEGRITY)


COMMANDS = [init, import_, export, log, verify]
