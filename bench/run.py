"""Run every benchmark side by side and report medians: `python -m bench.run`.

    python -m bench.run [--events 100000] [--backends sqlite,postgresql] [--reps 3]
                        [--single-events 1000] [--single-reps 3] [--pg-url URL]

The same generated events (see `bench.generate`) go through revledger, the `eventsourcing`
library and the raw database drivers. Results are printed as a table and written as JSON to
`bench/out/` (the newest also as `bench/out/latest.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import systems
from bench.common import DEFAULT_PG_URL, Measurement, machine, temp_dir
from bench.generate import GENERATOR_VERSION, write_import

OUT_DIR = Path(__file__).resolve().parent / "out"
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
EV_S = "events/s"
TX_S = "appends/s"


class Results:
    """All measurements of one run, keyed by (workload, system, backend)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], Measurement] = {}

    def get(self, workload: str, system: str, backend: str, unit: str, count: int) -> Measurement:
        key = (workload, system, backend)
        if key not in self.items:
            self.items[key] = Measurement(workload, system, backend, unit, count)
        return self.items[key]

    def find(self, workload: str, system: str, backend: str) -> Measurement | None:
        return self.items.get((workload, system, backend))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    backends: list[str] = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKEND_NAMES:
            raise SystemExit(f"unknown backend {b!r}; use sqlite and/or postgresql")
    pg: str = args.pg_url
    load_before = os.getloadavg()
    results = Results()
    n: int = args.events
    single_n = min(args.single_events, n)
    with temp_dir() as d:
        path = write_import(d / "events.jsonl", n, args.seed)
        lines = path.read_text(encoding="utf-8").splitlines()
        rows: list[systems.Row] = []
        for backend in backends:
            for rep in range(args.reps):
                _log(f"[{backend}] import + read-back, repetition {rep + 1}/{args.reps}")
                imp_s, read_n, read_s, got = systems.revledger_import_and_read(
                    backend, pg, path, n, keep_rows=not rows
                )
                rows = rows or got
                results.get("import", "revledger", backend, EV_S, n).add(n, imp_s)
                results.get("read", "revledger", backend, EV_S, read_n).add(read_n, read_s)

                stored, imp_s, read_n, read_s = systems.es_import_and_read(backend, pg, path)
                m = results.get("import", "eventsourcing", backend, EV_S, stored)
                m.note = f"{stored - n} of the {stored} stored events create account aggregates"
                m.add(stored, imp_s)
                results.get("read", "eventsourcing", backend, EV_S, read_n).add(read_n, read_s)

                count, secs = systems.raw_bulk(backend, pg, rows, bare=False)
                results.get("import", "raw", backend, EV_S, count).add(count, secs)
                count, secs = systems.raw_bulk(backend, pg, rows, bare=True)
                results.get("bulk_bare", "raw", backend, EV_S, count).add(count, secs)

            for rep in range(args.single_reps):
                _log(f"[{backend}] single appends, repetition {rep + 1}/{args.single_reps}")
                count, secs = systems.revledger_single(backend, pg, lines[:single_n])
                results.get("single", "revledger", backend, TX_S, count).add(count, secs)
                count, secs = systems.es_single(backend, pg, lines[:single_n])
                results.get("single", "eventsourcing", backend, TX_S, count).add(count, secs)
                count, secs = systems.raw_single(backend, pg, rows[:single_n])
                results.get("single", "raw", backend, TX_S, count).add(count, secs)
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
        "config": {
            "events": n,
            "single_events": single_n,
            "reps": args.reps,
            "single_reps": args.single_reps,
            "seed": args.seed,
            "generator_version": GENERATOR_VERSION,
            "backends": backends,
        },
        "machine": machine(pg if "postgresql" in backends else None),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "measurements": [m.as_dict() for m in results.items.values()],
        "table": table(results, backends, n, single_n),
    }


def _cell(m: Measurement | None) -> str:
    if m is None or not m.samples:
        return "-"
    return f"{m.median:,.0f} ({min(m.samples):,.0f}–{max(m.samples):,.0f})"


def table(results: Results, backends: Sequence[str], n: int, single_n: int) -> str:
    """Return the results as a Markdown table: medians, with min–max in brackets."""
    rows: list[tuple[str, str, str, str, str]] = []
    specs = (
        ("import", f"Import {n:,} events, one transaction (events/s)"),
        ("bulk_bare", f"Bulk write {n:,} rows, primary key only (events/s)"),
        ("single", f"Single appends, {single_n:,} transactions (appends/s)"),
        ("read", "Full-log read-back into typed events (events/s)"),
    )
    for workload, title in specs:
        for backend in backends:
            rows.append(
                (
                    title,
                    BACKEND_NAMES[backend],
                    _cell(results.find(workload, "revledger", backend)),
                    _cell(results.find(workload, "eventsourcing", backend)),
                    _cell(results.find(workload, "raw", backend)),
                )
            )
    head = ("Workload", "Backend", "revledger", "eventsourcing", "raw driver")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    notes = [
        "",
        "Medians of the repetitions, min–max in brackets. The raw driver writes the rows "
        "revledger stored: for the import, in one transaction into the ledger's own events "
        "table with its keys and indexes (sqlite3 `executemany`, psycopg COPY); for the bulk "
        "write, into a table with only a primary key; for single appends, one INSERT and COMMIT "
        "per row (SQLite in WAL mode with synchronous=FULL, as revledger runs it).",
    ]
    for backend in backends:
        single = results.find("single", "revledger", backend)
        raw = results.find("single", "raw", backend)
        if single and raw and single.samples and raw.samples:
            notes.append(
                f"Single appends on {BACKEND_NAMES[backend]}: revledger runs at "
                f"{single.median / raw.median:.2f}× the raw fsync-bound rate."
            )
    return "\n".join(lines + notes)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark revledger against eventsourcing and the raw database drivers.",
    )
    ap.add_argument("--events", type=int, default=100_000, help="events to import (100000)")
    ap.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions of import/read (3)")
    ap.add_argument(
        "--single-events", type=int, default=1000, help="events appended one by one (1000)"
    )
    ap.add_argument("--single-reps", type=int, default=3, help="repetitions of singles (3)")
    ap.add_argument("--seed", type=int, default=42, help="seed of the event generator (42)")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("REVLEDGER_BENCH_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL server (default $REVLEDGER_BENCH_PG_URL or the local test database)",
    )
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the JSON results")
    return ap.parse_args(argv)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so temporary files and schemas are removed


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = report["generated_at"].replace(":", "").replace("-", "")
    text = json.dumps(report, indent=2, sort_keys=True)
    (args.out / f"results-{stamp}.json").write_text(text + "\n", encoding="utf-8")
    (args.out / "latest.json").write_text(text + "\n", encoding="utf-8")
    print(report["table"])
    before, after = report["load_average"]["before"], report["load_average"]["after"]
    print(f"\nload average (1, 5, 15 min): before {before}, after {after}")
    print(f"\nresults written to {args.out / 'latest.json'}")


if __name__ == "__main__":
    main()
