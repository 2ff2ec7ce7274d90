"""The rule book's view of the stored log: facts read inside the append transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, bindparam, func, or_, select

from ledger.events.stored import decode_stored
from ledger.rules import Fact
from ledger.store.schema import events
from ledger.timeutil import read_instant

CHUNK = 500
T = TypeVar("T")

_FACT_COLUMNS = (
    events.c.effective_at,
    events.c.seq,
    events.c.event_id,
    events.c.type,
    events.c.schema_version,
    events.c.payload,
    events.c.account_id,
    events.c.stream_id,
    events.c.stream_version,
)


# The statements are built once: building a SELECT costs more than running it on SQLite, and
# an append runs several of them.
_RETRACTED_Q = select(events.c.payload).where(events.c.type == "event_retracted")
_DEAL_FACTS_Q = select(*_FACT_COLUMNS).where(
    events.c.stream_id.in_(bindparam("streams", expanding=True))
)
_ACCOUNT_FACTS_Q = select(*_FACT_COLUMNS).where(
    or_(
        events.c.stream_id.in_(bindparam("streams", expanding=True)),
        and_(
            events.c.type == "contract_signed",
            events.c.account_id.in_(bindparam("accounts", expanding=True)),
        ),
    )
)
_BY_EVENT_ID_Q = select(*_FACT_COLUMNS).where(
    events.c.event_id.in_(bindparam("event_ids", expanding=True))
)
_VERSIONS_Q = (
    select(events.c.stream_id, func.max(events.c.stream_version))
    .where(events.c.stream_id.in_(bindparam("streams", expanding=True)))
    .group_by(events.c.stream_id)
)
_CONFIGURATIONS_Q = (
    select(*_FACT_COLUMNS).where(events.c.type == "ledger_configured").order_by(events.c.seq)
)


def chunks(items: Collection[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Yield `items` in lists of at most `size` (for IN clauses of bounded length)."""
    seq: Sequence[T] = list(items)
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


def _fact(row: Any) -> Fact:
    eff, seq, eid, typ, ver, payload, account_id, _stream, _version = row
    return Fact(read_instant(eff), seq, eid, decode_stored(typ, ver, payload), account_id)


class SqlFacts:
    """Implements `ledger.rules.FactSource` over an open connection (inside the write lock)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._retracted: set[str] | None = None
        # Versions of the streams whose every row a facts query read (0 for a new stream), so
        # `stream_versions` need not ask again for them: one query fewer per new deal.
        self._versions: dict[str, int] = {}

    def follow_retractions(self, retracted: set[str]) -> None:
        """Read which events are retracted from `retracted` (a rule book's own set, which grows
        as the book admits retractions) instead of from the log: the book already holds them,
        and the facts read for later events of the same transaction leave out the events it
        retracted."""
        self._retracted = retracted

    def retracted_ids(self) -> set[str]:
        if self._retracted is None:
            rows = self._conn.execute(_RETRACTED_Q)
            self._retracted = {json.loads(p)["retracts"] for (p,) in rows}
        return set(self._retracted)

    def _live(self, rows: Any, whole: Collection[str] = ()) -> Iterator[tuple[Any, Fact]]:
        """Yield the non-retracted rows with their facts, noting the versions of the streams
        in `whole` (streams all of whose rows are among `rows`)."""
        retracted = self.retracted_ids()
        versions = self._versions
        for stream in whole:
            versions.setdefault(stream, 0)
        for row in rows:
            if row.stream_id in whole and row.stream_version > versions[row.stream_id]:
                versions[row.stream_id] = row.stream_version
            if row.event_id not in retracted:
                yield row, _fact(row)

    def facts_for_deals(self, deal_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for chunk in chunks(deal_ids):
            streams = {f"deal:{d}" for d in chunk}
            rows = self._conn.execute(_DEAL_FACTS_Q, {"streams": list(streams)})
            for row, fact in self._live(rows, streams):
                out.setdefault(row.stream_id[len("deal:") :], []).append(fact)
        return out

    def facts_for_accounts(self, account_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for chunk in chunks(account_ids):
            streams = {f"account:{a}" for a in chunk}
            rows = self._conn.execute(
                _ACCOUNT_FACTS_Q, {"streams": list(streams), "accounts": chunk}
            )
            for row, fact in self._live(rows, streams):
                out.setdefault(row.account_id, []).append(fact)
        return out

    def facts_by_event_id(self, event_ids: Collection[str]) -> dict[str, Fact]:
        out: dict[str, Fact] = {}
        for chunk in chunks(event_ids):
            rows = self._conn.execute(_BY_EVENT_ID_Q, {"event_ids": chunk})
            for row in rows:
                out[row.event_id] = _fact(row)
        return out

    def stream_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        out = {s: self._versions[s] for s in stream_ids if s in self._versions}
        for chunk in chunks([s for s in stream_ids if s not in out]):
            rows = self._conn.execute(_VERSIONS_Q, {"streams": chunk})
            out.update({s: int(v) for s, v in rows})
        return out

    def configurations(self) -> list[Fact]:
        rows = self._conn.execute(_CONFIGURATIONS_Q)
        return [fact for _row, fact in self._live(rows)]
