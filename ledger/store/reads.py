"""Reading the events table: the filters of a read, its SQL for the driver, and a read-ahead
of PostgreSQL's server-side cursor."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, or_
from sqlalchemy.sql.elements import ColumnElement

from ledger.store.schema import events
from ledger.timeutil import format_instant

STORED_PAYLOAD_COLUMNS = ("seq", "event_id", "type", "schema_version", "effective_at", "payload")
KEYED_PAYLOAD_COLUMNS = (
    *("seq", "event_id", "idempotency_key", "type", "effective_at", "payload", "deal_id"),
)
GATE = events.alias("gate")


def read_ahead(parts: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """Yield `parts`, fetching each next one in a thread while the caller works on this one.

    For PostgreSQL, where a fetch mostly waits on the server (with the GIL released), so a
    long read's server time overlaps the caller's decoding. One fetch runs at a time, so the
    connection is never used by two threads at once; if the caller stops early, the fetch
    under way finishes before the connection is given back.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="revledger-read") as fetcher:
        pending = fetcher.submit(next, parts, None)
        while (part := pending.result()) is not None:
            pending = fetcher.submit(next, parts, None)
            yield part


def driver_sql(q: Select[Any], conn: Connection) -> tuple[str, Any]:
    """Return `q` as SQL text and parameters for `conn`'s driver (a list for positional
    parameter marks, a mapping for named ones)."""
    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        return str(compiled), [params[name] for name in compiled.positiontup]
    return str(compiled), params


def filtered(
    q: Select[Any],
    *,
    after_seq: int = 0,
    upto_seq: int | None = None,
    known_at: datetime | None = None,
    stream_id: str | None = None,
    deal_id: str | None = None,
    account_id: str | None = None,
    types: Sequence[str] | None = None,
    types_with_field: Mapping[str, str] | None = None,
    effective_from: datetime | None = None,
    effective_before: datetime | None = None,
    in_seq_order: bool = False,
) -> Select[Any]:
    """Return `q` restricted by the filters of `LedgerStore.read`.

    With `in_seq_order` the type filter is kept off the type index (`type || ''` is the same
    value): for a read of a large share of the log, walking the seq range and filtering is
    faster than gathering rows from the index and sorting them back into seq order.
    """
    q = q.where(events.c.seq > after_seq)
    if upto_seq is not None:
        q = q.where(events.c.seq <= upto_seq)
    if known_at is not None:
        q = q.where(events.c.recorded_at <= format_instant(known_at))
    if stream_id is not None:
        q = q.where(events.c.stream_id == stream_id)
    if deal_id is not None:
        q = q.where(events.c.deal_id == deal_id)
    if account_id is not None:
        q = q.where(events.c.account_id == account_id)
    if types or types_with_field:
        # `types_with_field` adds events of a type only when their payload has that field;
        # the canonical payload encoding writes every key as `"name":`, so this is exact.
        type_ = events.c.type + "" if in_seq_order else events.c.type
        wanted: list[ColumnElement[bool]] = [type_.in_(list(types or ()))]
        wanted += [
            and_(type_ == t, events.c.payload.like(f'%"{name}":%'))
            for t, name in (types_with_field or {}).items()
        ]
        q = q.where(or_(*wanted))
    if effective_from is not None:
        q = q.where(events.c.effective_at >= format_instant(effective_from))
    if effective_before is not None:
        q = q.where(events.c.effective_at < format_instant(effective_before))
    return q
