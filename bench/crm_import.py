"""Throughput of a Salesforce history import, as a user runs it: rows per second, whole process.

A seeded generator writes an OpportunityHistory export with the quirks of a real one (every
value quoted, `yyyy-MM-dd HH:mm:ss` times, ` 00:00:00` close dates, forecast categories as labels
and API names, blank amounts, rows of one instant, deleted rows, won deals flipped to lost,
rows in no particular order) plus the Opportunity file giving each deal's account. Each
measurement is one fresh `revledger import --from salesforce` process into a new ledger (its
`init` is not timed), on SQLite and PostgreSQL; the median of the repetitions is reported.

Run: `python -m bench.crm_import [--rows 100000] [--reps 3] [--backends sqlite,postgresql]`
Results are printed as a table and written to `bench/out/crm-import.json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_PG_URL, machine, pg_schema, schema_url, temp_dir
from bench.queries import _run as run_revledger  # one timed revledger process (wall, peak RSS)
from ledger.crm import CrmRequest, crm_batch
from ledger.events import LedgerConfigured

OUT = Path(__file__).resolve().parent / "out"
STAGE_MAP = Path(__file__).resolve().parent.parent / "fixtures" / "crm" / "salesforce"
STAGE_MAP /= "stage-map.csv"
OPEN = [
    ("Prospecting", 10, "Pipeline"),
    ("Needs Analysis", 20, "Pipeline"),
    ("Value Proposition", 30, "Pipeline"),
    ("Perception Analysis", 40, "Best Case"),
    ("Security Review", 55, "BestCase"),
    ("Proposal/Price Quote", 70, "Commit"),
    ("Negotiation/Review", 85, "Forecast"),
]
HEADER = [
    "Id",
    "OpportunityId",
    "CreatedById",
    "CreatedDate",
    "StageName",
    "Amount",
    "ExpectedRevenue",
    "CloseDate",
    "Probability",
    "ForecastCategory",
    "IsDeleted",
]
START = datetime(2021, 1, 4, 8, 0, tzinfo=UTC)


def _opportunity(rng: random.Random, n: int) -> list[list[str]]:
    """Return the history rows of opportunity `n`, in time order."""
    opp = f"006{n:012d}"
    at = START + timedelta(minutes=rng.randrange(4 * 365 * 24 * 60))
    amount = rng.randrange(20, 600) * 1000
    close = (at + timedelta(days=rng.randrange(270, 540))).date()
    rows: list[list[str]] = []

    def row(stage: str, probability: int, category: str, amt: str, deleted: str = "0") -> None:
        when = at.strftime("%Y-%m-%d %H:%M:%S")
        rid = f"008{n:09d}{len(rows):03d}"
        expected = str(int(amt or 0) * probability // 100)
        closes = f"{close.isoformat()} 00:00:00"
        values = [rid, opp, "005U1", when, stage, amt, expected, closes, str(probability)]
        rows.append([*values, category, deleted])

    level = 0
    blank_first = rng.random() < 0.1
    row(*OPEN[0], "" if blank_first else str(amount))
    for _ in range(rng.randrange(3, 10)):
        if rng.random() >= 0.3:  # otherwise this row has the same CreatedDate as the last
            at += timedelta(days=rng.randrange(3, 40), minutes=rng.randrange(600))
        level = max(0, min(len(OPEN) - 1, level + rng.choice((1, 1, 1, 2, -1))))
        if rng.random() < 0.2:
            amount = rng.randrange(20, 600) * 1000
            close += timedelta(days=rng.randrange(-20, 60))
        row(*OPEN[level], str(amount), "1" if rng.random() < 0.01 else "0")
    outcome = rng.random()
    at += timedelta(days=rng.randrange(5, 60))
    if outcome < 0.35:
        row("Closed Won", 100, "Closed", str(amount))
        if rng.random() < 0.05:
            at += timedelta(days=rng.randrange(3, 30))
            row("Closed Lost", 0, "Omitted", str(amount))
    elif outcome < 0.75:
        row("Closed Lost", 0, "Omitted", str(amount))
    return rows


def write_export(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """Write an OpportunityHistory file of exactly `rows` rows and its Opportunity file."""
    rng = random.Random(seed)
    history: list[list[str]] = []
    n = 0
    while len(history) < rows:
        history += _opportunity(rng, n)
        n += 1
    del history[rows:]
    rng.shuffle(history)  # exports are not in time order
    path = folder / "OpportunityHistory.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, quoting=csv.QUOTE_ALL)
        out.writerow(HEADER)
        out.writerows(history)
    opportunities = folder / "Opportunity.csv"
    with opportunities.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, quoting=csv.QUOTE_ALL)
        out.writerow(["Id", "AccountId", "Name", "OwnerId"])
        for i in range(n):
            out.writerow([f"006{i:012d}", f"001{rng.randrange(n // 4 + 1):09d}", f"Deal {i}", ""])
    return path, opportunities


@contextmanager
def fresh_ledger(backend: str, folder: Path, pg: str, i: int) -> Iterator[str]:
    """Yield the location of a new, initialised ledger on `backend`."""
    if backend == "sqlite":
        db = str(folder / f"ledger-{i}.db")
        _init(db)
        yield db
        return
    with pg_schema(pg) as schema:
        db = schema_url(pg, schema)
        _init(db)
        yield db


def _init(db: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", db, "init"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def measure(backends: list[str], rows: int, reps: int, seed: int, pg: str) -> dict[str, Any]:
    """Return the rows/s of every repetition on each backend, with the medians, and the number
    of events the rows come to (derived once in this process, not timed)."""
    results: dict[str, Any] = {}
    with temp_dir() as folder:
        history, opportunities = write_export(folder, rows, seed)
        request = CrmRequest("salesforce", history, opportunities, STAGE_MAP)
        results["events"] = len(crm_batch(request, LedgerConfigured(), "bench").news)
        args = ["import", "--from", "salesforce", str(history)]
        args += ["--opportunities", str(opportunities), "--stage-map", str(STAGE_MAP)]
        for backend in backends:
            seconds: list[float] = []
            rss: list[int] = []
            for i in range(reps):
                with fresh_ledger(backend, folder, pg, i) as db:
                    wall, peak = run_revledger(db, args)
                seconds.append(wall)
                rss.append(peak)
                print(f"{backend} run {i + 1}: {wall:.1f} s", file=sys.stderr, flush=True)
            rates = [rows / s for s in seconds]
            results[backend] = {
                "seconds": seconds,
                "rows_per_second": rates,
                "median_rows_per_second": statistics.median(rates),
                "median_seconds": statistics.median(seconds),
                "peak_rss_mib": max(rss),
            }
    return results


def table(results: dict[str, Any], rows: int) -> str:
    """Return the results as a text table."""
    lines = [
        f"Salesforce history import, {rows:,} OpportunityHistory rows ({results['events']:,} "
        "events), whole process",
        "",
        "backend     median s   median rows/s   min-max rows/s      peak RSS",
    ]
    for backend, r in results.items():
        if backend == "events":
            continue
        low, high = min(r["rows_per_second"]), max(r["rows_per_second"])
        lines.append(
            f"{backend:<10}  {r['median_seconds']:8.1f}   {r['median_rows_per_second']:13,.0f}"
            f"   {low:6,.0f}-{high:6,.0f}   {r['peak_rss_mib']:7,} MiB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = measure(backends, args.rows, args.reps, args.seed, args.pg_url)
    report = {
        "workload": "salesforce-import",
        "rows": args.rows,
        "reps": args.reps,
        "seed": args.seed,
        "command": "revledger import --from salesforce OpportunityHistory.csv "
        "--opportunities Opportunity.csv --stage-map stage-map.csv",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(args.pg_url if "postgresql" in backends else None),
        "results": results,
        "table": table(results, args.rows),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "crm-import.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(report["table"])
    print(f"\nresults written to {OUT / 'crm-import.json'}")


if __name__ == "__main__":
    main()
