"""`revledger demo`: create the demo ledger and print a short tour of what the ledger answers."""

from __future__ import annotations

import shlex
from datetime import date, timedelta
from typing import Any

import click

from cli.app import Ctx, pass_ctx
from cli.options import WholeNumber
from cli.render import Column, Report, render
from ledger.demo import DemoLoad, demo_today
from ledger.errors import UsageError
from ledger.store import same_ledger, shown
from projections.forecast import Contribution
from queries.tour import Tour, demo_tour


def _section(title: str, columns: list[Column], rows: list[dict[str, Any]]) -> str:
    return render(Report(title, columns, rows), "table")


def _revenue(tour: Tour) -> str:
    r = tour.revenue
    row = {
        "accounts": r.accounts,
        "arr": r.arr,
        "backlog": r.backlog,
        "projected_churn": r.projected_churn,
        "carr": r.carr,
    }
    columns = [
        Column("accounts", "accounts", "int"),
        Column("arr", "ARR", "money"),
        Column("backlog", "backlog", "money"),
        Column("projected_churn", "projected churn", "money"),
        Column("carr", "CARR", "money"),
    ]
    return _section(f"ARR and CARR today ({tour.today.isoformat()})", columns, [row])


def _retention(tour: Tour) -> str:
    r = tour.retention
    row = {"accounts": r.accounts, "start": r.start, "end": r.end, "nrr": r.nrr, "grr": r.grr}
    columns = [
        Column("accounts", "accounts", "int"),
        Column("start", "ARR a year before", "money"),
        Column("end", "their ARR now", "money"),
        Column("nrr", "NRR", "ratio"),
        Column("grr", "GRR", "ratio"),
    ]
    title = f"NRR as of {tour.nrr_as_of.isoformat()}, the last quarter end (12 months, live ARR)"
    return _section(title, columns, [row])


def _stages(tour: Tour) -> str:
    rows = [
        {"stage": x.stage, "visits": x.completed.count, "days": x.completed.median}
        for x in tour.stages
    ]
    columns = [
        Column("stage", "stage"),
        Column("visits", "completed visits", "int"),
        Column("days", "median days", "days"),
    ]
    slowest = tour.slowest.stage if tour.slowest else "not known yet"
    return _section(f"Time in stage: the slowest stage is {slowest}", columns, rows)


def _regressions(tour: Tour) -> str:
    g = tour.regressions
    row = {"moved": g.deals_moved, "regressed": g.deals_regressed, "rate": g.regression_rate}
    columns = [
        Column("moved", "deals that moved", "int"),
        Column("regressed", "moved back a stage", "int"),
        Column("rate", "regression rate", "ratio"),
    ]
    title = f"Regressions from {tour.regressions_from.isoformat()} to {tour.today.isoformat()}"
    return _section(title, columns, [row])


def _forecast(tour: Tour) -> str:
    diff = tour.forecast
    start, end = tour.quarter.start.isoformat(), tour.quarter.last_day.isoformat()

    def row(
        line: str, c: Contribution, *, open_: int | None = None, changed: int | None = None
    ) -> dict[str, Any]:
        return {
            "line": line,
            "open": open_,
            "changed": changed,
            "closed_won": c.closed_won,
            "unweighted": c.unweighted,
            "weighted": c.weighted,
        }

    # The open deals of a forecast and the deals of a change are different counts: a deal won
    # within the quarter may not have been open on its first day (new to the period, then won).
    rows = [row(f"forecast on {start}", diff.before.total, open_=diff.before.open_deals)]
    for category, subtotal in diff.by_category.items():
        count = sum(1 for c in diff.changes if c.category == category)
        rows.append(row(f"  {category.replace('_', ' ')}", subtotal, changed=count))
    rows.append(row(f"forecast on {end}", diff.after.total, open_=diff.after.open_deals))
    columns = [
        Column("line", "change"),
        Column("open", "open deals", "int"),
        Column("changed", "deals changed", "int"),
        Column("closed_won", "closed won", "money"),
        Column("unweighted", "open, unweighted", "money"),
        Column("weighted", "open, weighted", "money"),
    ]
    title = (
        f"How the {tour.quarter.label} forecast changed from {start} to {end} (each as known then)"
    )
    return _section(title, columns, rows)


def _next_steps(db: str, tour: Tour) -> str:
    q_end = tour.nrr_as_of.isoformat()
    reported = (tour.nrr_as_of + timedelta(days=5)).isoformat()
    # A URL that holds a password is not printed: the commands read it from REVLEDGER_DB.
    secret = "://" in db and shown(db) != db
    base = 'revledger --db "$REVLEDGER_DB"' if secret else f"revledger --db {shlex.quote(db)}"
    tries = [
        f"{base} report -o report.html",
        f"{base} arr --by segment",
        f"{base} nrr --as-of {q_end} --by segment",
        f"{base} stages --by segment",
        f"{base} regressions --from {tour.regressions_from.isoformat()}",
        f"{base} forecast-diff --period {tour.quarter.label} --from-as-of "
        f"{tour.quarter.start.isoformat()} --from-known-at {tour.quarter.start.isoformat()} "
        f"--to-as-of {q_end} --to-known-at {q_end}",
        f"{base} health",
        f"{base} cohorts --grain quarter",
        f"{base} log --type event_retracted",
        f"{base} restatements --metric carr --as-of {q_end} --reported-at {reported}",
    ]
    head = "Try next" + (" (with REVLEDGER_DB set to the database URL)" if secret else "")
    return f"{head}:\n" + "".join(f"  {t}\n" for t in tries)


def tour_text(db: str, loaded: DemoLoad, tour: Tour, verified: str) -> str:
    """Return the text `revledger demo` prints: what was loaded, the tour, what to try next."""
    h = loaded.history
    last_day = date.fromordinal(h.today.toordinal() - 1)
    head = (
        f"Created the demo ledger {shown(db)} (seed {h.seed}): {loaded.head.seq:,} events from "
        f"{h.first_day.isoformat()} to {last_day.isoformat()}, {h.deals:,} deals, "
        f"{h.customers:,} customers. {verified}\n"
    )
    parts = [head, _revenue(tour), _retention(tour), _stages(tour), _regressions(tour)]
    parts += [_forecast(tour), _next_steps(db, tour)]
    return "\n".join(parts)


@click.command("demo")
@click.option(
    "--seed",
    type=WholeNumber(0),
    default=1,
    show_default=True,
    help="Seed of the generator: the same seed and day give the same ledger.",
)
@click.option(
    "--db",
    "db",
    metavar="PATH|URL",
    help="Where to create the demo ledger (default: the global --db).",
)
@click.option(
    "--today",
    metavar="YYYY-MM-DD",
    help="The day the three-year history ends, nothing effective or recorded from it on "
    "(default: today, company time).",
)
@pass_ctx
def demo(ctx: Ctx, seed: int, db: str | None, today: str | None) -> None:
    """Create a new ledger holding three years of a health-tech company, and tour it."""
    if db and db.strip() and ctx.given and not same_ledger(db, ctx.db):
        raise UsageError(
            f"--db is given twice, as {ctx.db} before demo and as {db} after it: which ledger "
            "was meant?"
        )
    target = ctx.db if db is None else db  # an empty --db is refused, not read as none
    done = demo_tour(target, seed=seed, today=demo_today(today))
    verified = f"Hash chain verified up to seq {done.verified_upto}."
    click.echo(tour_text(target, done.loaded, done.tour, verified), nl=False)


COMMANDS = [demo]
