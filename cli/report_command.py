"""`revledger report`: the revenue and pipeline report as one self-contained HTML page."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cli.app import Ctx, pass_ctx
from cli.html_report import html_report
from cli.options import AS_OF, KNOWN_AT, OUTPUT, WholeNumber, answer_stream
from ledger.operations import write_output
from ledger.store import resolve_url, shown, sqlite_path
from ledger.timeutil import shown_instant
from queries.common import TimeQuery
from queries.report import DEFAULT_QUARTERS, MAX_QUARTERS, report_query


def _command(ctx: Ctx, as_of: str, known_at: str | None, quarters: int) -> str:
    """Return the command that makes the same report again: both time coordinates spelled
    out, the database as messages show it (a URL's password masked)."""
    # A SQLite file by its full path (given as a path or as a sqlite:/// URL): the page is
    # mailed, and a relative one means nothing to its reader.
    file = sqlite_path(resolve_url(ctx.db))
    db = shown(ctx.db) if file is None else str(Path(file).resolve())
    words = ["revledger", "--db", db, "report", "--as-of", as_of]
    if known_at is not None:
        words += ["--known-at", known_at]
    if quarters != DEFAULT_QUARTERS:
        words += ["--quarters", str(quarters)]
    return shlex.join(words)


@click.command("report")
@AS_OF
@KNOWN_AT
@click.option(
    "--quarters",
    type=WholeNumber(1, MAX_QUARTERS),
    default=DEFAULT_QUARTERS,
    show_default=True,
    help="How many quarter ends before the as-of day the trends show.",
)
@OUTPUT
@pass_ctx
def report(
    ctx: Ctx, as_of: str | None, known_at: str | None, quarters: int, output: Path | None
) -> None:
    """The revenue and pipeline report as one HTML page with charts: ARR and CARR, the ARR
    bridge and NRR/GRR by quarter, ARR by segment, cohorts, the forecast, time in stage, win
    rates, regressions and the health-tech metrics."""
    with ctx.store() as store:
        result, prov = report_query(store, TimeQuery(as_of, known_at), quarters=quarters)
        known_at = shown_instant(result.known_at) if result.known_at else None
        again = _command(ctx, result.as_of.isoformat(), known_at, quarters)
        page = html_report(result, prov, again)
        if output is None:
            answer_stream().write(page)
            return
        write_output(store, output, lambda out: out.write(page))
    click.echo(f"wrote the report as of {result.as_of.isoformat()} to {output}", err=True)


COMMANDS = [report]
