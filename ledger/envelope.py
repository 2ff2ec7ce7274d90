"""Envelopes: an event on its way into the log (`NewEvent`; `StagedEvent` as the store takes it)
and one read back (`RecordedEvent`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ledger.canonical import payload_json
from ledger.errors import InputError
from ledger.events.base import EventModel
from ledger.events.fields import C1_CONTROLS, CONTROL_CHARS
from ledger.events.view import RuleView, view_of
from ledger.phi import identifier_finding
from ledger.timeutil import format_instant


class NewEvent(NamedTuple):
    """An event a caller asks to append.

    `effective_at` is valid time (aware). `expected_version` is the stream version the caller
    last saw, checked at append. `where` names the input location for error messages.
    `recorded_at` is None for a normal append (the ledger assigns transaction time); a backfill
    (history imported from another system) supplies it, see `LedgerStore.append_batch`.
    `texts` are this very event's `stored_texts()`, when the caller encoded it already (an
    import's parser does). `omitted` names the settings a `ledger_configured` import line left
    out (taking their defaults): the batch refuses the line when that would reset a setting in
    force (`ledger.rules.check_omitted_settings`). `alternates` are the keys an import line
    without an idempotency_key derives when its effective time is read in the other time zones
    the ledger has had: an event recorded under one of them is this line, imported before in
    that zone (`ledger.jsonl.ImportParser`).

    Immutable. A named tuple for the reason `RecordedEvent` is one: an import makes one per
    event, twice when a worker process parses (1.3 µs as a frozen dataclass, 0.25 µs so).
    """

    event: EventModel
    effective_at: datetime
    actor: str
    source: str
    idempotency_key: str | None = None
    event_id: str | None = None
    expected_version: int | None = None
    where: str | None = None
    recorded_at: datetime | None = None
    texts: tuple[str, str] | None = None
    omitted: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()

    def stored_texts(self) -> tuple[str, str]:
        """Return (canonical payload JSON, canonical effective_at text)."""
        if self.texts is None:
            return payload_json(self.event), format_instant(self.effective_at)
        return self.texts

    def staged(self) -> StagedEvent:
        """Return this event as the store's batch writer takes it (see `StagedEvent`)."""
        payload, effective = self.stored_texts()
        return StagedEvent(
            view_of(self.event),
            type(self.event).schema_version,
            payload,
            effective,
            self.effective_at,
            self.actor,
            self.source,
            self.idempotency_key,
            self.event_id,
            self.expected_version,
            self.where,
            self.recorded_at,
            self.omitted,
            self.alternates,
        )


class StagedEvent(NamedTuple):
    """An event as the store's batch writer takes it: what the rules read of it (`view`), the
    texts it is stored as (canonical payload JSON, effective_at text), and the rest of its
    `NewEvent`.

    `NewEvent.staged()` makes one from a typed event. An import's parsing process sends the
    parts of one instead (`ledger.import_worker`), so the importing process need not build
    the typed event again.
    """

    view: RuleView
    schema_version: int
    payload: str
    effective: str
    effective_at: datetime
    actor: str
    source: str
    idempotency_key: str | None = None
    event_id: str | None = None
    expected_version: int | None = None
    where: str | None = None
    recorded_at: datetime | None = None
    omitted: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()


class RecordedEvent(NamedTuple):
    """An event as stored: its payload, both times, its place in the log and in the chain.

    `effective_at` is valid time, `recorded_at` transaction time; both aware UTC datetimes.
    Immutable. A named tuple rather than a frozen dataclass: reading the log makes one per
    event, and a tuple is made in one step where a frozen dataclass sets its fields one by one
    (1.4 µs against 0.1 µs for these 14 fields).
    """

    seq: int
    event_id: str
    type: str
    schema_version: int
    stream_id: str
    stream_version: int
    effective_at: datetime
    recorded_at: datetime
    actor: str
    source: str
    idempotency_key: str | None
    payload: EventModel
    prev_hash: str
    hash: str

    @property
    def replay_key(self) -> tuple[datetime, int]:
        """Return the deterministic replay order key `(effective_at, seq)`."""
        return (self.effective_at, self.seq)


class LoggedRecord(NamedTuple):
    """An event as a projection reads it: its place in the log, both times, who recorded it
    and its payload (the fields of `projections.logged.LoggedEvent`), without the envelope's
    other columns. Reading the deal events of a large log this way fetches about half the
    bytes a `RecordedEvent` needs."""

    seq: int
    event_id: str
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    payload: EventModel

    @property
    def replay_key(self) -> tuple[datetime, int]:
        """Return the deterministic replay order key `(effective_at, seq)`."""
        return (self.effective_at, self.seq)


LOGGED_COLUMNS = (
    "seq", "event_id", "type", "schema_version", "effective_at", "recorded_at", "actor", "payload",
)  # fmt: skip
"""The columns a `LoggedRecord` is read from, in the order it is read (the schema version
decodes the payload)."""


StoredPayload = tuple[int, str, str, int, str, str]
"""A stored event left undecoded: seq, event_id, type, schema_version, effective_at (the stored
instant text, valid time) and payload (the canonical JSON text)."""

KeyedPayload = tuple[int, str, str | None, str, str, str, str | None]
"""A stored event left undecoded with its idempotency key and deal: seq, event_id,
idempotency_key, type, effective_at, payload (see `StoredPayload`) and the deal_id index
column."""

ENVELOPE_COLUMNS: tuple[str, ...] = (
    "seq",
    "event_id",
    "type",
    "schema_version",
    "stream_id",
    "stream_version",
    "effective_at",
    "recorded_at",
    "actor",
    "source",
    "idempotency_key",
    "payload",
    "prev_hash",
    "hash",
)
"""The envelope fields, in export order; `payload` is canonical JSON text."""

MAX_ENVELOPE_TEXT = 200
"""The longest actor, source or idempotency key the ledger takes (characters)."""


def envelope_text(value: Any, *, field: str, where: str | None = None) -> str:
    """Return an actor, source or idempotency key trimmed, or raise InputError naming `field`:
    it must be non-empty text of at most `MAX_ENVELOPE_TEXT` characters, without control
    characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_ENVELOPE_TEXT:
        raise InputError(
            f"must be non-empty text of at most {MAX_ENVELOPE_TEXT} characters",
            where=where,
            field=field,
            value=value,
            has_value=True,
        )
    if CONTROL_CHARS.search(value) or C1_CONTROLS.search(value):
        raise InputError(
            "contains control characters", where=where, field=field, value=value, has_value=True
        )
    finding = identifier_finding(value)
    if finding:
        raise InputError(
            f"looks like {finding}; the ledger must never hold patient identifiers (PHI)",
            where=where,
            field=field,
        )
    return value.strip()


def source_file_name(name: str) -> str:
    """Return `name`, the name of a file an import records in each of its events' `source`
    (`import:<name>:<line>`, `salesforce:<name> line <n>`), or raise InputError, without
    quoting it, when it holds control characters or looks like a patient identifier (as an
    import line's `source` would)."""
    if CONTROL_CHARS.search(name) or C1_CONTROLS.search(name):
        raise InputError(
            "the name of the file to import contains control characters; an import records it "
            "in each event's source, which takes none: rename the file"
        )
    finding = identifier_finding(name)
    if finding:
        raise InputError(
            f"the name of the file to import looks like {finding}; an import records it in "
            "each event's source, and the ledger must never hold patient identifiers (PHI): "
            "rename the file"
        )
    return name
