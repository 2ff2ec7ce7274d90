"""A `revledger import` killed with SIGKILL leaves the ledger with none or all of its events.

The import of 200,000 events runs as a real `revledger` process and is killed while it works.
An import reads, checks and writes its file a chunk of lines at a time, all inside one write
transaction; it is killed early in that transaction (its first lines being parsed and checked)
and in the middle of the writes (several chunks of rows in the database, uncommitted).
Afterwards the ledger holds either none or all of the import, `revledger verify` passes, and
the ledger takes new appends at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from ledger.operations import IMPORT_CHUNK
from ledger.store import LedgerStore, resolve_url
from ledger.store.engine import sqlite_path
from tests.conftest import PG_URL, events_from

pytestmark = pytest.mark.slow

CRASH_EVENTS = 200_000
EVENTS_PER_DEAL = 5
PHASE_TIMEOUT_S = 240.0
INSERTED_ROWS = IMPORT_CHUNK // 2
"""Kill the insert once this many rows of one chunk are in (PostgreSQL reports the progress
of the COPY that writes a chunk)."""
WAL_INSERTING_BYTES = 16 << 20
"""A WAL this large means the importer has written some chunks of the new rows to it."""


def _import_lines(n_events: int) -> Iterator[str]:
    """Yield `n_events` valid import lines: each deal opens, advances, signs, goes live, expands."""
    for i in range(n_events // EVENTS_PER_DEAL):
        day = f"{2021 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        deal, account = f"D{i}", f"A{i}"
        yield json.dumps(
            {
                "type": "deal_opened",
                "effective_at": day,
                "deal_id": deal,
                "account_id": account,
                "stage": "qualification",
                "amount": str(1000 + i % 500),
                "expected_close": f"{2026 + i % 3}-06-30",
            }
        )
        yield json.dumps(
            {
                "type": "stage_changed",
                "effective_at": f"{day}T01:00:00Z",
                "deal_id": deal,
                "stage": "discovery",
            }
        )
        yield json.dumps(
            {
                "type": "contract_signed",
                "effective_at": f"{day}T02:00:00Z",
                "deal_id": deal,
                "arr": str(1200 + i % 300),
            }
        )
        yield json.dumps(
            {
                "type": "go_live",
                "effective_at": f"{day}T03:00:00Z",
                "deal_id": deal,
                "account_id": account,
            }
        )
        yield json.dumps(
            {
                "type": "expansion",
                "effective_at": f"{day}T04:00:00Z",
                "account_id": account,
                "arr": "50.25",
            }
        )


@pytest.fixture(scope="module")
def big_import(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSON Lines file of CRASH_EVENTS events that is valid against a fresh ledger."""
    path = tmp_path_factory.mktemp("crash") / "big.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for line in _import_lines(CRASH_EVENTS):
            fh.write(line + "\n")
    return path


def test_the_generated_import_is_valid(store: LedgerStore) -> None:
    lines = list(_import_lines(2000))
    assert len(lines) == 2000
    result = store.append_batch(events_from(lines))
    assert (result.appended, result.duplicates, store.count()) == (2000, 0, 2001)
    assert [e.type for e in store.read(deal_id="D0")] == [
        "deal_opened",
        "stage_changed",
        "contract_signed",
        "go_live",
    ]
    assert [e.type for e in store.read(stream_id="account:A0")] == ["go_live", "expansion"]


def _revledger() -> list[str]:
    script = shutil.which("revledger", path=os.path.dirname(sys.executable)) or shutil.which(
        "revledger"
    )
    return [script] if script else [sys.executable, "-m", "cli.main"]


class Importer:
    """What can be seen of a running import from outside: its phase, through the database."""

    db: str

    def opened(self) -> bool:
        """The importer has opened the ledger."""
        raise NotImplementedError

    def holds_write_lock(self) -> bool:
        """The importer's write transaction is open."""
        raise NotImplementedError

    def inserting(self) -> bool:
        """The importer is writing the new rows."""
        raise NotImplementedError

    def wait_gone(self) -> None:
        """Return once nothing of the killed importer is left in the database server."""

    def close(self) -> None:
        """Release what the observer holds."""


class SqliteImporter(Importer):
    """SQLite: the WAL file appears on open and grows during the insert; probe the lock."""

    def __init__(self, db: str) -> None:
        path = sqlite_path(resolve_url(db))
        assert path
        self.db = db
        self.path = path
        self.wal = Path(path + "-wal")

    def opened(self) -> bool:
        return self.wal.exists()

    def holds_write_lock(self) -> bool:
        probe = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        finally:
            probe.close()
        return False

    def inserting(self) -> bool:
        return self.wal.exists() and self.wal.stat().st_size > WAL_INSERTING_BYTES


class PostgresImporter(Importer):
    """PostgreSQL: find the importer's backend by application_name in pg_stat_activity."""

    def __init__(self, db: str) -> None:
        assert PG_URL
        self.app = f"rl_crash_{uuid.uuid4().hex[:12]}"
        self.db = (
            make_url(db)
            .update_query_dict({"application_name": self.app})
            .render_as_string(hide_password=False)
        )
        self.engine: Engine = create_engine(PG_URL)

    def _count(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), {"app": self.app}).scalar_one())

    def opened(self) -> bool:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"
        return self._count(sql) > 0

    def holds_write_lock(self) -> bool:
        return (
            self._count(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.application_name = :app AND l.locktype = 'advisory' "
                "AND l.classid = 1919249481 AND l.granted"
            )
            > 0
        )

    def inserting(self) -> bool:
        return (
            self._count(
                "SELECT coalesce(max(p.tuples_processed), 0) FROM pg_stat_progress_copy p "
                "JOIN pg_stat_activity a ON a.pid = p.pid WHERE a.application_name = :app"
            )
            >= INSERTED_ROWS
        )

    def wait_gone(self) -> None:
        # The server notices the closed socket and rolls the backend's transaction back.
        _wait_for(lambda: not self.opened(), "the killed importer's backend to go away", 60)

    def close(self) -> None:
        self.engine.dispose()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = PHASE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def importer(db_url: str) -> Iterator[Importer]:
    watch: Importer = SqliteImporter(db_url) if "://" not in db_url else PostgresImporter(db_url)
    yield watch
    watch.close()


@pytest.mark.parametrize("kill_point", ["checking", "inserting"])
def test_an_import_killed_midway_leaves_none_or_all_and_verifies(
    store: LedgerStore, importer: Importer, big_import: Path, kill_point: str, tmp_path: Path
) -> None:
    assert store.count() == 1
    store.close()  # no connection of ours is open while the importer runs
    stdout = (tmp_path / "import.out").open("w")
    stderr = (tmp_path / "import.err").open("w")
    proc = subprocess.Popen(
        [*_revledger(), "--db", importer.db, "import", str(big_import)],
        stdout=stdout,
        stderr=stderr,
    )
    try:
        _wait_for(lambda: proc.poll() is not None or importer.opened(), "the import to start")
        if kill_point == "checking":
            # Inside the import's transaction: the write lock held for a while (opening the
            # ledger takes it only for a moment), the first chunk being parsed and checked.
            while True:
                _wait_for(lambda: proc.poll() is not None or importer.holds_write_lock(), "lock")
                time.sleep(0.2)
                if proc.poll() is not None or importer.holds_write_lock():
                    break
        else:
            _wait_for(lambda: proc.poll() is not None or importer.inserting(), "the insert")
            assert importer.holds_write_lock()
        assert proc.poll() is None, (tmp_path / "import.err").read_text()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()
        stderr.close()
    importer.wait_gone()

    count = store.count()
    assert count in (1, 1 + CRASH_EVENTS), f"a partial import is visible: {count} events"
    if kill_point == "checking":
        assert count == 1  # killed long before its commit
    done = subprocess.run(
        [*_revledger(), "--db", importer.db, "verify"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    noun = "event" if count == 1 else "events"
    assert done.stdout.startswith(f"ok: {count} {noun}, hash chain intact")

    # Nothing of the dead import holds the ledger: the next append goes through at once.
    (opened,) = events_from([next(_import_lines(EVENTS_PER_DEAL)).replace('"D0"', '"after"')])
    assert store.append(opened).seq == count + 1
    assert store.count() == count + 1
