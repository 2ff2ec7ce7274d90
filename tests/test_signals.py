"""Ctrl-C and SIGTERM end a command at once, also while it waits for another writer.

A write waits up to two minutes for the ledger's write lock. The `revledger` process here is
real (a child running the console script's module): it is sent the signal while it waits, and
it must end within a few seconds with the documented exit code and sentence, having written
nothing.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.store import LedgerStore
from ledger.store import transaction as transaction_module

ROOT = Path(__file__).resolve().parent.parent
WAITING_S = 2.0
"""How long the child runs before the signal: an append that does not wait takes far less."""
ENDED_WITHIN_S = 10.0


@contextmanager
def write_lock_held(db: str) -> Iterator[None]:
    """Hold the ledger's write lock as another writer in the middle of a long import does."""
    if "://" not in db:
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(db)
    with engine.connect() as conn, conn.begin():
        conn.execute(text(transaction_module.LOCK_STATEMENTS[1]))
        yield
    engine.dispose()


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 143, "revledger: terminated.\n"),
        (signal.SIGINT, 130, "revledger: interrupted.\n"),
    ],
)
def test_a_write_waiting_for_the_lock_ends_on_a_signal_and_writes_nothing(
    db_url: str, signum: int, code: int, said: str
) -> None:
    init = subprocess.run(
        [sys.executable, "-m", "cli.entry", "--db", db_url, "init"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    with LedgerStore.open(db_url) as store:
        head = store.head()
    record = [
        sys.executable, "-m", "cli.entry", "--db", db_url,
        "record", "quota_set", "--period", "2027-Q1", "--amount", "5", "--effective", "2026-12-01",
    ]  # fmt: skip
    with write_lock_held(db_url):
        child = subprocess.Popen(
            record, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(WAITING_S)
        assert child.poll() is None, "the append did not wait for the lock"
        child.send_signal(signum)
        sent = time.monotonic()
        try:
            out, err = child.communicate(timeout=ENDED_WITHIN_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            pytest.fail(f"the waiting append ran on for {ENDED_WITHIN_S} s after the signal")
        took = time.monotonic() - sent
    assert (child.returncode, out, err.lstrip("\n")) == (code, "", said)
    assert took < ENDED_WITHIN_S
    with LedgerStore.open(db_url) as store:
        assert store.head() == head
