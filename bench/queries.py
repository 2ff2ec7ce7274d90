"""Query latency of `revledger arr` and `revledger nrr`, cold and warm, on generated ledgers.

Each measurement is a fresh `revledger` process, as a user runs it:
- cold: the read-model checkpoints are dropped first, so the process replays the log and
  saves the checkpoints;
- warm: the checkpoints are in place and the log has not moved;
- warm after one append: one event was appended since the checkpoint (a backdated contract),
  so the process loads the book, absorbs the tail and saves the new view.
Wall time is measured around the child process; peak resident memory is the child's own
high-water mark (see `bench.peak`). The in-process latency of a warm query (without
interpreter start-up and imports) is measured separately. Ledgers are built once per size
and backend and reused from `bench/out/` (SQLite) or a schema named after the size
(PostgreSQL).

Run: `python -m bench.queries --events 100000 1000000 --backends sqlite,postgresql`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.generate import write_import
from ledger.errors import RevledgerError
from ledger.store import LedgerStore

OUT = Path(__file__).resolve().parent / "out"
PG_URL = os.environ.get(
    "REVLEDGER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
QUERIES = {
    "arr": ["arr", "--as-of", "2025-12-31", "--format", "json"],
    "nrr": ["nrr", "--as-of", "2025-12-31", "--format", "json"],
}


def _db(backend: str, n: int) -> str:
    if backend == "sqlite":
        return str(OUT / f"ledger-{n}.db")
    schema = f"bench_q_{n}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def _reset(backend: str, n: int) -> None:
    """Remove a partly built ledger (an interrupted earlier build)."""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(_db(backend, n) + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS bench_q_{n} CASCADE"))
    engine.dispose()


def _run(db: str, args: list[str]) -> tuple[float, int]:
    """Run one revledger process; return (wall seconds, its own peak RSS in MiB)."""
    peak_file = OUT / "peak.txt"
    OUT.mkdir(parents=True, exist_ok=True)  # not in a fresh checkout
    peak_file.unlink(missing_ok=True)
    env = {**os.environ, "REVLEDGER_BENCH_PEAK_FILE": str(peak_file)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.peak", "--db", db, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"revledger {' '.join(args)} failed: {proc.stderr.decode()}")
    return wall, int(peak_file.read_text(encoding="ascii")) // 1024


def ensure_ledger(backend: str, n: int, seed: int) -> str:
    """Return the database of an n-event ledger, building it when it is not there yet."""
    OUT.mkdir(exist_ok=True)
    db = _db(backend, n)
    try:
        with LedgerStore.open(db) as store:
            if store.head().seq >= n + 1:
                return db
    except RevledgerError:
        pass  # not built yet: no file, or an empty schema
    _reset(backend, n)
    db = _db(backend, n)
    lines = OUT / f"events-{n}-{seed}.jsonl"
    if not lines.exists():
        write_import(lines, n, seed)
    print(f"building {backend} ledger of {n} events ...", file=sys.stderr)
    _run(db, ["init"])
    wall, rss = _run(db, ["import", str(lines)])
    print(f"  imported in {wall:.1f} s (peak {rss} MiB)", file=sys.stderr)
    return db


def _drop_checkpoints(db: str) -> None:
    with LedgerStore.open(db) as store:
        store.drop_checkpoints()


def _append_one(db: str, i: int) -> None:
    """Append one backdated contract (a new customer's), through the CLI."""
    deal = f"BENCH-{time.time_ns()}-{i}"
    args = ["record", "contract_signed", "--deal-id", deal, "--account-id", deal, "--arr", "1"]
    _run(db, [*args, "--effective", "2025-06-01"])


def in_process_warm(db: str, reps: int) -> dict[str, float]:
    """Return the median in-process latency (seconds) of each warm query, imports excluded."""
    from queries.common import TimeQuery
    from queries.revenue import arr_query, retention_query

    out: dict[str, float] = {}
    with LedgerStore.open(db) as store:
        for name, fn in (("arr", arr_query), ("nrr", retention_query)):
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                fn(store, TimeQuery("2025-12-31", None))
                times.append(time.perf_counter() - t)
            out[name] = statistics.median(times)
    return out


def measure(backend: str, n: int, seed: int, reps: int) -> dict[str, Any]:
    db = ensure_ledger(backend, n, seed)
    result: dict[str, Any] = {"backend": backend, "events": n}
    for name, args in QUERIES.items():
        cold = []
        for _ in range(max(1, reps // 2)):
            _drop_checkpoints(db)
            cold.append(_run(db, args))
        warm = [_run(db, args) for _ in range(reps)]
        tail = []
        for i in range(max(1, reps // 2)):
            _append_one(db, i)
            tail.append(_run(db, args))
        result[name] = {
            "cold_s": statistics.median(w for w, _ in cold),
            "cold_peak_mib": max(m for _, m in cold),
            "warm_s": statistics.median(w for w, _ in warm),
            "warm_min_s": min(w for w, _ in warm),
            "warm_peak_mib": max(m for _, m in warm),
            "after_append_s": statistics.median(w for w, _ in tail),
        }
    result["in_process_warm_s"] = in_process_warm(db, reps)
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--events", type=int, nargs="+", default=[100_000])
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    rows = []
    for n in args.events:
        for backend in args.backends.split(","):
            rows.append(measure(backend, n, args.seed, args.reps))
    header = (
        f"{'backend':10} {'events':>9} {'query':5} {'cold s':>7} {'cold MiB':>8} "
        f"{'warm s':>7} {'warm MiB':>8} {'+1 event s':>10} {'in-proc ms':>10}"
    )
    print(header)
    for r in rows:
        for q in QUERIES:
            m = r[q]
            print(
                f"{r['backend']:10} {r['events']:>9,} {q:5} {m['cold_s']:7.2f} "
                f"{m['cold_peak_mib']:8} {m['warm_s']:7.2f} {m['warm_peak_mib']:8} "
                f"{m['after_append_s']:10.2f} {r['in_process_warm_s'][q] * 1000:10.1f}"
            )
    OUT.mkdir(exist_ok=True)
    doc = {"machine": platform.platform(), "python": platform.python_version(), "rows": rows}
    (OUT / "queries.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
