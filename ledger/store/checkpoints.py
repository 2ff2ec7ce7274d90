"""Persisted read-model state ("checkpoints"): opaque text tied to the log prefix it absorbed.

The ledger does not know what a checkpoint holds; a reader validates it by checking that the
event at `absorbed_seq` still has `absorbed_hash`, then extends it with the events after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from ledger.store.engine import (
    WAIT_OPTION,
    WRITE_OPTION,
    access_refused,
    is_disk_full,
    is_locked,
    is_read_only,
    write_needs,
)
from ledger.store.schema import checkpoints, events
from ledger.timeutil import format_instant, utc_now


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A saved read-model state and the log prefix (seq and that event's hash) it covers."""

    name: str
    absorbed_seq: int
    absorbed_hash: str
    state: str


def load_checkpoint(engine: Engine, name: str, *, strict: bool = False) -> Checkpoint | None:
    """Return the checkpoint `name` if it still matches the log, else None (also to a reader
    that may not read the checkpoints: it computes the answer from the log; with `strict`,
    such a reader gets a StorageError)."""
    with engine.connect() as conn:
        try:
            row = conn.execute(
                select(
                    checkpoints.c.absorbed_seq, checkpoints.c.absorbed_hash, checkpoints.c.state
                ).where(checkpoints.c.name == name)
            ).first()
        except DBAPIError as exc:
            if not is_read_only(exc):
                raise
            if strict:
                raise access_refused(
                    exc, "read the saved read models", "checking them needs SELECT on checkpoints"
                ) from exc
            return None
        if row is None:
            return None
        seq, h, state = int(row[0]), row[1], row[2]
        if seq:
            stored = conn.execute(select(events.c.hash).where(events.c.seq == seq)).scalar()
            if stored != h:
                return None
    return Checkpoint(name, seq, h, state)


def save_checkpoint(engine: Engine, checkpoint: Checkpoint) -> None:
    """Store `checkpoint` unless a checkpoint of the same name already covers more of the log.

    One covering the same prefix is replaced (it may be in a format its reader no longer reads),
    and so is one that does not match the log (its seq is not there with its hash: edited, or
    from a log since replaced), however much it claims to cover.
    """
    values = {
        "absorbed_seq": checkpoint.absorbed_seq,
        "absorbed_hash": checkpoint.absorbed_hash,
        "state": checkpoint.state,
        "saved_at": format_instant(utc_now()),
    }
    try:
        with _writing(engine, wait=False) as conn:
            done = conn.execute(
                update(checkpoints)
                .where(checkpoints.c.name == checkpoint.name)
                .where(
                    or_(
                        checkpoints.c.absorbed_seq <= checkpoint.absorbed_seq,
                        ~exists().where(
                            events.c.seq == checkpoints.c.absorbed_seq,
                            events.c.hash == checkpoints.c.absorbed_hash,
                        ),
                    )
                )
                .values(**values)
            ).rowcount
            if done:
                return
            held = conn.execute(
                select(checkpoints.c.name).where(checkpoints.c.name == checkpoint.name)
            ).first()
            if held is not None:
                return
        with _writing(engine, wait=False) as conn:
            conn.execute(insert(checkpoints).values(name=checkpoint.name, **values))
    except SqlIntegrityError:
        return  # another reader saved it first; either copy is a valid checkpoint
    except Exception as exc:
        if is_locked(exc):
            return  # another holds the lock (a long import, say): the next query saves it
        if is_read_only(exc) or is_disk_full(exc):
            return  # a reader that may not write, or finds no room, gets its answer unsaved
        raise


def drop_checkpoints(engine: Engine) -> int:
    """Delete every checkpoint (they are derived data); return how many there were."""
    try:
        with _writing(engine) as conn:
            return conn.execute(delete(checkpoints)).rowcount or 0
    except DBAPIError as exc:
        if not is_read_only(exc):
            raise
        needs = write_needs(exc, engine.dialect.name, "DELETE, INSERT and UPDATE on checkpoints")
        raise access_refused(
            exc, "change the saved read models", f"rebuilding them needs {needs}"
        ) from exc


CHECKPOINT_WAIT_MS = 100
"""How long saving a checkpoint waits for a lock before it gives up: SQLite's write lock, or on
PostgreSQL a lock on a checkpoint's row (another session saving or rebuilding the read models,
left open in its transaction, say); a query never waits for another's write to save derived
data. (On PostgreSQL, appends hold no lock a checkpoint's rows need.)"""


@contextmanager
def _writing(engine: Engine, *, wait: bool = True) -> Iterator[Connection]:
    """Yield a connection in a write transaction (BEGIN IMMEDIATE on SQLite, READ COMMITTED on
    PostgreSQL); without `wait`, one whose statements wait at most `CHECKPOINT_WAIT_MS` for a
    lock (SQLite's write lock, PostgreSQL's row locks)."""
    options: dict[str, Any] = {WRITE_OPTION: True}
    if not wait:
        options[WAIT_OPTION] = CHECKPOINT_WAIT_MS
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn
