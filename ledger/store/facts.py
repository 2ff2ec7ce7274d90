"""The rule book's view of the stored log: facts read inside the append transaction.

The queries go to the database driver as plain SQL, on the connection of the append's
transaction: an append runs them whenever it opens streams the rule state has not loaded, and
through SQLAlchemy's execution each cost several times the statement itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from ledger.events.view import views_of_stored
from ledger.rules import Fact
from ledger.timeutil import read_instant

CHUNK = 500
T = TypeVar("T")

MARKS = {"sqlite": "?", "postgresql": "%s"}
"""The positional parameter mark of each backend's driver (sqlite3, psycopg)."""

_FACTS = (
    "SELECT effective_at, seq, event_id, type, schema_version, payload, account_id, stream_id, "
    "stream_version FROM events WHERE "
)
# Positions in a facts row.
_EVENT_ID, _ACCOUNT, _STREAM, _VERSION = 2, 6, 7, 8
_RETRACTED_SQL = "SELECT payload FROM events WHERE type = 'event_retracted'"
_CONFIGURATIONS_SQL = _FACTS + "type = 'ledger_configured' ORDER BY seq"


def chunks(items: Collection[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Yield `items` in lists of at most `size` (for IN clauses of bounded length)."""
    seq: Sequence[T] = list(items)
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


def one_of(backend: str, column: str, values: list[str]) -> tuple[str, list[Any]]:
    """Return the condition that `column` is one of `values`, and its parameters.

    SQLite: an IN list of parameter marks. PostgreSQL: `= ANY(%s::text[])` with one parameter,
    so the statement's text does not depend on how many values there are: psycopg splits it
    once and the server plans it once, where an IN list of 500 marks cost about a millisecond
    each time to split and plan. The parameter is the array's literal text (`text_array`).
    """
    if backend == "postgresql":
        return f"{column} = ANY(%s::text[])", [text_array(values)]
    return f"{column} IN ({', '.join([MARKS[backend]] * len(values))})", list(values)


def text_array(values: Iterable[str]) -> str:
    """Return the PostgreSQL array literal of `values` (text): `{"a","b"}`, every element quoted,
    with its backslashes and double quotes escaped.

    Sent as one text parameter, it costs a fraction of what psycopg spends dumping a Python list
    element by element (a tenth of a PostgreSQL import's time went there).
    """
    items = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(items) + '"}' if items else "{}"


def _facts(rows: Sequence[Sequence[Any]]) -> list[Fact]:
    """Return the facts of facts rows (see `_FACTS`), their payloads read in one go."""
    views = views_of_stored([(r[3], r[4], r[5], r[_STREAM]) for r in rows])
    return [
        Fact(read_instant(r[0]), r[1], r[_EVENT_ID], view, r[_ACCOUNT])
        for r, view in zip(rows, views, strict=True)
    ]


class SqlFacts:
    """Implements `ledger.rules.FactSource` over a driver connection inside the write lock."""

    def __init__(
        self, dbapi: Any, backend: str, before_query: Callable[[], None] | None = None
    ) -> None:
        self._dbapi = dbapi
        self._backend = backend
        self._before_query = before_query
        self._retracted: set[str] | None = None
        # Versions of the streams whose every row a facts query read (0 for a new stream), so
        # `stream_versions` need not ask again for them: one query fewer per new deal.
        self._versions: dict[str, int] = {}

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Return the rows of one query (every statement of this class runs here), after
        `before_query` (which frees the connection, see `LedgerStore.append_chunks`)."""
        if self._before_query is not None:
            self._before_query()
        return self._dbapi.execute(sql, params).fetchall()  # type: ignore[no-any-return]

    def _in(self, column: str, values: list[str]) -> tuple[str, list[Any]]:
        return one_of(self._backend, column, values)

    def follow_retractions(self, retracted: set[str]) -> None:
        """Read which events are retracted from `retracted` (a rule book's own set, which grows
        as the book admits retractions) instead of from the log: the book already holds them,
        and the facts read for later events of the same transaction leave out the events it
        retracted."""
        self._retracted = retracted

    def retracted_ids(self) -> set[str]:
        if self._retracted is None:
            self._retracted = {json.loads(p)["retracts"] for (p,) in self._rows(_RETRACTED_SQL)}
        return set(self._retracted)

    def _live(
        self, rows: Sequence[Sequence[Any]], whole: Collection[str] = ()
    ) -> Iterator[tuple[Sequence[Any], Fact]]:
        """Yield the non-retracted rows with their facts, noting the versions of the streams
        in `whole` (streams all of whose rows are among `rows`)."""
        retracted = self.retracted_ids()
        versions = self._versions
        for stream in whole:
            versions.setdefault(stream, 0)
        for row in rows:
            stream = row[_STREAM]
            if stream in whole and row[_VERSION] > versions[stream]:
                versions[stream] = row[_VERSION]
        live = [row for row in rows if row[_EVENT_ID] not in retracted]
        yield from zip(live, _facts(live), strict=True)

    def facts_for_deals(self, deal_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for chunk in chunks(deal_ids):
            streams = [f"deal:{d}" for d in chunk]
            where, params = self._in("stream_id", streams)
            rows = self._rows(_FACTS + where, params)
            for row, fact in self._live(rows, set(streams)):
                out.setdefault(row[_STREAM][len("deal:") :], []).append(fact)
        return out

    def facts_for_accounts(self, account_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for chunk in chunks(account_ids):
            streams = [f"account:{a}" for a in chunk]
            in_streams, stream_params = self._in("stream_id", streams)
            in_accounts, account_params = self._in("account_id", chunk)
            rows = self._rows(
                _FACTS + f"{in_streams} OR (type = 'contract_signed' AND {in_accounts})",
                [*stream_params, *account_params],
            )
            for row, fact in self._live(rows, set(streams)):
                out.setdefault(row[_ACCOUNT], []).append(fact)
        return out

    def facts_by_event_id(self, event_ids: Collection[str]) -> dict[str, Fact]:
        out: dict[str, Fact] = {}
        for chunk in chunks(event_ids):
            where, params = self._in("event_id", chunk)
            rows = self._rows(_FACTS + where, params)
            out.update(zip([row[_EVENT_ID] for row in rows], _facts(rows), strict=True))
        return out

    def stream_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        out = {s: self._versions[s] for s in stream_ids if s in self._versions}
        for chunk in chunks([s for s in stream_ids if s not in out]):
            where, params = self._in("stream_id", chunk)
            rows = self._rows(
                f"SELECT stream_id, MAX(stream_version) FROM events WHERE {where} "
                "GROUP BY stream_id",
                params,
            )
            out.update({s: int(v) for s, v in rows})
        return out

    def configurations(self) -> list[Fact]:
        return [fact for _row, fact in self._live(self._rows(_CONFIGURATIONS_SQL))]

    def stage_names(self) -> set[str]:
        configs = (f.view.config for f in _facts(self._rows(_CONFIGURATIONS_SQL)))
        return {name for c in configs if c is not None for name in c.stage_names()}

    def deals_naming_stages(self, stages: Collection[str]) -> set[str]:
        # The canonical payload writes `"stage":"<name>"`; `_` in a name matches any character
        # in LIKE, which only adds candidates.
        likes = [f'%"stage":"{s}"%' for s in sorted(stages)]
        where = " OR ".join(["payload LIKE " + MARKS[self._backend]] * len(likes))
        rows = self._rows(
            "SELECT DISTINCT deal_id FROM events WHERE type IN ('deal_opened', "
            f"'stage_changed', 'deal_reopened') AND ({where})",
            likes,
        )
        return {r[0] for r in rows if r[0] is not None}
