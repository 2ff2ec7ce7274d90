"""Concurrent writers in separate OS processes, on SQLite and PostgreSQL.

Every writer opens its own `LedgerStore` in its own process and waits at a barrier, so the
appends really contend for the ledger's write lock. Afterwards the log must be exactly what the
writers asked for: `seq` gapless and unique, recorded_at never decreasing along it, the hash
chain intact; and of two appends racing with the same expected stream version exactly one
lands while the other is refused as a conflict and leaves nothing behind.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from cli.main import cli
from ledger.envelope import NewEvent
from ledger.errors import EXIT_CONFLICT, ConflictError
from ledger.operations import init_ledger, verify_ledger
from ledger.store import LedgerStore
from tests.conftest import events_from, pg_schema_url

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")
WRITERS = 4
APPENDS_PER_WRITER = 500
RACE_ROUNDS = 10
CLI_RACE_ROUNDS = 3
JOIN_TIMEOUT_S = 300
REPO_ROOT = Path(__file__).resolve().parent.parent


def _deal_opened(deal_id: str, account_id: str, day: str = "2026-01-05") -> str:
    return json.dumps(
        {
            "type": "deal_opened",
            "effective_at": day,
            "deal_id": deal_id,
            "account_id": account_id,
            "stage": "qualification",
            "amount": "1000",
            "expected_close": "2026-06-30",
        }
    )


def _stage_changed(deal_id: str, stage: str) -> str:
    return json.dumps(
        {"type": "stage_changed", "effective_at": "2026-02-01", "deal_id": deal_id, "stage": stage}
    )


def _as(new: NewEvent, actor: str, expected_version: int | None = None) -> NewEvent:
    """Return `new` recorded by `actor` (and checked against `expected_version`)."""
    return NewEvent(
        new.event,
        new.effective_at,
        actor,
        new.source,
        idempotency_key=new.idempotency_key,
        expected_version=expected_version,
    )


# -- work done in the child processes (top level, so the 'spawn' context can import it) --------
def _append_many(db: str, writer: int, count: int, barrier: Any, out: Any) -> None:
    """Wait for every writer, then open the ledger and append `count` deals one per transaction."""
    try:
        lines = [_deal_opened(f"w{writer}-d{i}", f"w{writer}-a{i}") for i in range(count)]
        news = [_as(n, f"writer-{writer}") for n in events_from(lines)]
        barrier.wait(timeout=120)
        started = time.time()
        with LedgerStore.open(db) as store:
            seqs = [store.append(n).seq for n in news]
        out.put((writer, f"writer-{writer}", "ok", (seqs, started, time.time())))
    except BaseException as exc:
        out.put((writer, f"writer-{writer}", "error", f"{type(exc).__name__}: {exc}"))
        raise


def _race(db: str, name: str, stage: str, rounds: int, barrier: Any, out: Any) -> None:
    """Each round, move deal race-<round> to `stage` expecting it at version 1, in step."""
    try:
        with LedgerStore.open(db) as store:
            for r in range(rounds):
                (new,) = events_from([_stage_changed(f"race-{r}", stage)])
                barrier.wait(timeout=120)
                try:
                    done = store.append(_as(new, name, expected_version=1))
                except ConflictError as exc:
                    out.put((r, name, "conflict", str(exc)))
                else:
                    out.put((r, name, "won", done.seq))
    except BaseException as exc:
        out.put((-1, name, "error", f"{type(exc).__name__}: {exc}"))
        raise


def _init(db: str, name: str, barrier: Any, out: Any) -> None:
    """Wait for every initialiser, then initialise the ledger at `db` (a new database)."""
    try:
        barrier.wait(timeout=120)
        try:
            done = init_ledger(
                db, currency="USD", timezone="UTC", fiscal_year_start_month=1, stages=None,
                actor=name,
            )  # fmt: skip
        except ConflictError as exc:
            out.put((0, name, "conflict", str(exc)))
        else:
            out.put((0, name, "won", done.seq))
    except BaseException as exc:
        out.put((0, name, "error", f"{type(exc).__name__}: {exc}"))
        raise


def _run_together(target: Any, args_per_process: list[tuple[Any, ...]], results: int) -> list[Any]:
    """Start one spawned process per args tuple, sharing a barrier and a result queue.

    Returns the `results` items, each (key, name, status, detail), that the processes put on the
    queue; fails if any process reports an error or exits with a failure.
    """
    barrier = SPAWN.Barrier(len(args_per_process))
    out = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=target, args=(*args, barrier, out), daemon=True)
        for args in args_per_process
    ]
    for p in procs:
        p.start()
    got: list[Any] = []
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while len(got) < results:
            got.append(out.get(timeout=max(1.0, deadline - time.monotonic())))
            assert got[-1][2] != "error", f"a writer process failed: {got[-1]}"
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0, f"writer process exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return got


# -- many writers ------------------------------------------------------------------------------
def test_concurrent_appends_from_four_processes_keep_seq_gapless_and_the_chain_intact(
    store: LedgerStore, db_url: str
) -> None:
    before = store.count()
    assert before == 1
    got = _run_together(
        _append_many,
        [(db_url, w, APPENDS_PER_WRITER) for w in range(WRITERS)],
        results=WRITERS,
    )

    rows = list(store.raw_rows())
    total = WRITERS * APPENDS_PER_WRITER
    assert len(rows) == before + total
    assert [r["seq"] for r in rows] == list(range(1, before + total + 1))
    new_rows = rows[before:]
    recorded = [r["recorded_at"] for r in rows]
    assert recorded == sorted(recorded), "recorded_at goes backwards along seq"

    # Every writer got its 500 distinct seqs back, and they are exactly the rows it wrote.
    reported = {writer: seqs for writer, _name, _status, (seqs, _start, _end) in got}
    assert sorted(reported) == list(range(WRITERS))
    all_seqs = [s for seqs in reported.values() for s in seqs]
    assert sorted(all_seqs) == list(range(before + 1, before + total + 1))
    by_seq = {r["seq"]: r for r in new_rows}
    for writer, seqs in reported.items():
        assert seqs == sorted(seqs), "a writer's own appends must keep their order"
        assert {by_seq[s]["actor"] for s in seqs} == {f"writer-{writer}"}
        deals = [json.loads(by_seq[s]["payload"])["deal_id"] for s in seqs]
        assert deals == [f"w{writer}-d{i}" for i in range(APPENDS_PER_WRITER)]
    assert Counter(r["actor"] for r in new_rows) == {
        f"writer-{w}": APPENDS_PER_WRITER for w in range(WRITERS)
    }
    assert {(r["stream_id"], r["stream_version"]) for r in new_rows} == {
        (f"deal:w{w}-d{i}", 1) for w in range(WRITERS) for i in range(APPENDS_PER_WRITER)
    }
    # The writers really contended: each was still appending when the last one started. (How
    # finely their appends interleave is up to the database's lock scheduling: SQLite lets the
    # writer that just committed take the lock again while the others back off.)
    windows = [(start, end) for _writer, _name, _status, (_seqs, start, end) in got]
    assert max(start for start, _ in windows) < min(end for _, end in windows)

    report = verify_ledger(store)
    assert report.ok, report.problem
    assert report.events == before + total
    assert store.head().seq == before + total


@pytest.mark.parametrize("isolation", ["serializable", "repeatable read"])
def test_writers_keep_seq_gapless_whatever_isolation_the_database_sets_by_default(
    pg_schema: str, isolation: str
) -> None:
    # As `ALTER DATABASE … SET default_transaction_isolation` would: every session's default.
    db = f"{pg_schema_url(pg_schema)}%20-cdefault_transaction_isolation%3D" + quote(
        isolation.replace(" ", "\\ ")
    )
    engine = create_engine(db)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW default_transaction_isolation").scalar() == isolation
    engine.dispose()
    init_ledger(
        db, currency="USD", timezone="UTC", fiscal_year_start_month=1, stages=None, actor="t"
    )  # fmt: skip

    _run_together(_append_many, [(db, w, 100) for w in range(3)], results=3)

    with LedgerStore.open(db) as store:
        assert [r["seq"] for r in store.raw_rows()] == list(range(1, 302))
        assert verify_ledger(store).ok


# -- racing on one stream ----------------------------------------------------------------------
def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
    store: LedgerStore, db_url: str
) -> None:
    (opened,) = events_from([_deal_opened("D-1", "A-1")])
    store.append(opened)
    (to_demo,) = events_from([_stage_changed("D-1", "demo")])
    (to_discovery,) = events_from([_stage_changed("D-1", "discovery")])

    won = store.append(_as(to_demo, "first", expected_version=1))
    assert (won.stream_id, won.stream_version, won.duplicate) == ("deal:D-1", 2, False)
    head = store.head()
    with pytest.raises(ConflictError, match="at version 2, not the expected 1"):
        store.append(_as(to_discovery, "second", expected_version=1))
    assert store.head() == head
    stream = list(store.read(stream_id="deal:D-1"))
    assert [(e.stream_version, e.actor) for e in stream] == [(1, "test"), (2, "first")]
    assert getattr(stream[-1].payload, "stage", None) == "demo"
    # The command line refuses the same stale version with exit code 4 and writes nothing.
    stale = CliRunner().invoke(
        cli,
        [
            *("--db", db_url, "record", "stage_changed", "--deal-id", "D-1"),
            *("--stage", "discovery", "--expect-version", "1", "--effective", "2026-02-01"),
        ],
    )
    assert stale.exit_code == EXIT_CONFLICT, stale.output
    assert "at version 2, not the expected 1" in stale.stderr
    assert store.head() == head
    # The same append with the version it now expects goes through.
    assert store.append(_as(to_discovery, "second", expected_version=2)).stream_version == 3
    assert verify_ledger(store).ok


def test_two_processes_racing_with_one_expected_version_one_wins_one_conflicts(
    store: LedgerStore, db_url: str
) -> None:
    opened = events_from([_deal_opened(f"race-{r}", f"race-acct-{r}") for r in range(RACE_ROUNDS)])
    store.append_batch(opened)
    before = store.count()

    got = _run_together(
        _race,
        [(db_url, "racer-a", "demo", RACE_ROUNDS), (db_url, "racer-b", "discovery", RACE_ROUNDS)],
        results=2 * RACE_ROUNDS,
    )

    stage_of = {"racer-a": "demo", "racer-b": "discovery"}
    for r in range(RACE_ROUNDS):
        outcomes = {name: (status, detail) for rnd, name, status, detail in got if rnd == r}
        assert sorted(s for s, _ in outcomes.values()) == ["conflict", "won"], outcomes
        winner = next(name for name, (s, _) in outcomes.items() if s == "won")
        loser = next(name for name, (s, _) in outcomes.items() if s == "conflict")
        assert "at version 2, not the expected 1" in outcomes[loser][1]
        stream = list(store.read(stream_id=f"deal:race-{r}"))
        assert [e.stream_version for e in stream] == [1, 2]
        assert stream[1].actor == winner
        assert stream[1].seq == outcomes[winner][1]
        assert getattr(stream[1].payload, "stage", None) == stage_of[winner]
    assert store.count() == before + RACE_ROUNDS
    assert {e.actor for e in store.read(after_seq=before)} <= set(stage_of)
    assert verify_ledger(store).ok


_CLI_ON_SIGNAL = """
import os, sys, time
from cli.main import main
go, ready, args = sys.argv[1], sys.argv[2], sys.argv[3:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
sys.argv = ["revledger", *args]
main()
"""
"""Run `revledger ARGS` once the file `go` exists (after creating `ready`)."""


def test_cli_racers_with_the_same_expect_version_one_exits_0_the_other_4(
    store: LedgerStore, db_url: str, tmp_path: Path
) -> None:
    opened = events_from([_deal_opened(f"cli-{r}", f"cli-acct-{r}") for r in range(3)])
    store.append_batch(opened)
    before = store.count()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    racers = {"racer-a": "demo", "racer-b": "discovery"}

    for r in range(CLI_RACE_ROUNDS):
        go = tmp_path / f"go-{r}"
        procs: dict[str, subprocess.Popen[str]] = {}
        for name, stage in racers.items():
            args = [
                *("--db", db_url, "record", "stage_changed"),
                *("--deal-id", f"cli-{r}", "--stage", stage, "--expect-version", "1"),
                *("--actor", name, "--effective", "2026-02-01"),
            ]
            ready = tmp_path / f"ready-{r}-{name}"
            procs[name] = subprocess.Popen(
                [sys.executable, "-c", _CLI_ON_SIGNAL, str(go), str(ready), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{r}-{n}").exists() for n in racers):
            assert time.monotonic() < deadline, "racer processes did not start"
            time.sleep(0.01)
        go.touch()
        results = {name: (p.wait(timeout=120), *p.communicate()) for name, p in procs.items()}

        codes = sorted(code for code, _out, _err in results.values())
        assert codes == [0, EXIT_CONFLICT], results
        winner = next(n for n, (code, _o, _e) in results.items() if code == 0)
        loser = next(n for n, (code, _o, _e) in results.items() if code == EXIT_CONFLICT)
        assert "not the expected 1" in results[loser][2]
        assert results[loser][1] == ""
        stream = list(store.read(stream_id=f"deal:cli-{r}"))
        assert [(e.stream_version, e.actor) for e in stream] == [(1, "test"), (2, winner)]
        assert getattr(stream[1].payload, "stage", None) == racers[winner]
    assert store.count() == before + CLI_RACE_ROUNDS
    assert verify_ledger(store).ok


@pytest.mark.parametrize("attempt", range(2))
def test_of_inits_racing_on_a_new_database_one_initialises_the_others_conflict(
    db_url: str, attempt: int
) -> None:
    names = [f"init-{i}" for i in range(3)]
    got = _run_together(_init, [(db_url, n) for n in names], len(names))
    assert sorted(status for _r, _n, status, _d in got) == ["conflict", "conflict", "won"], got
    (winner,) = [n for _r, n, status, _d in got if status == "won"]
    for _r, _n, status, detail in got:
        if status == "conflict":
            assert "is already initialised" in detail
    with LedgerStore.open(db_url) as store:
        assert [(e.seq, e.type, e.actor) for e in store.read()] == [
            (1, "ledger_configured", winner)
        ]
