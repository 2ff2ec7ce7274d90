"""JSON Lines: the import format and the full-envelope export format.

Import: one object per line; reserved keys `type`, `effective_at`, `event_id`,
`idempotency_key`, `actor`, `source`; every other key is a payload field. A line without an
`idempotency_key` gets one derived from its content, so re-running an import appends nothing.

Export: one full envelope per line with the payload as a JSON object; `import
--restore` turns such a file back into an identical ledger (same seq, times and hashes).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from ledger.canonical import canonical_json, content_digest, payload_json
from ledger.envelope import NewEvent, StagedEvent, envelope_text, source_file_name
from ledger.errors import InputError
from ledger.events import EventModel, EventRetracted, LedgerConfigured, build_event
from ledger.json_input import decode_json
from ledger.timeutil import TimeParseError, format_instant, parse_instant

RESERVED = frozenset(("type", "effective_at", "event_id", "idempotency_key", "actor", "source"))
MAX_LINE = 64 * 1024


def derived_key(type_name: str, effective_at: str, payload: str) -> str:
    """Return the idempotency key derived from an event's content (type, time, payload)."""
    return "auto:" + content_digest(type_name, effective_at, payload)


def _object(text: str, where: str) -> dict[str, Any]:
    if len(text) > MAX_LINE:
        raise InputError(f"is longer than {MAX_LINE} characters", where=where)
    # A JSON float stays a float, so decimal fields reject it: money is never a float.
    obj = decode_json(text, where)
    if not isinstance(obj, dict):
        raise InputError("must be a JSON object", where=where)
    return obj


def _text_key(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    return None if value is None else envelope_text(value, field=key, where=where)


ConfigZones = tuple[tuple[str | None, str], ...]
"""The configurations in force, oldest first: (event_id, time zone) of each (no id for a line
that gives none, which no later line can name)."""


class ImportParser:
    """Turns import lines into `NewEvent`s, resolving bare dates in the ledger's time zone.

    A `ledger_configured` line is a whole configuration: it changes the time zone for the
    lines after it, and the settings it leaves out are handed on with it (`NewEvent.omitted`),
    so that the batch refuses it where that would reset a setting in force. An
    `event_retracted` line that takes out a configuration in force (`configs`: those stored,
    then those of earlier lines) gives the lines after it the time zone of the one in force
    again, as a `record` after that retraction reads its dates.
    """

    def __init__(
        self,
        *,
        timezone: str,
        actor: str,
        source_name: str,
        configs: ConfigZones = (),
        zones: Collection[str] = (),
    ) -> None:
        self.timezone = timezone
        self.actor = actor
        self.source_name = source_file_name(source_name)
        # Every time zone the ledger has had: a line without an idempotency_key whose time reads
        # otherwise in one of them gets the key it derives there as an alternate (see NewEvent).
        self.zones = tuple(sorted(set(zones)))
        # Without the stored configurations, the time zone given stands for the one in force.
        self.configs = configs or ((None, timezone),)

    @property
    def state(self) -> tuple[str, ConfigZones]:
        """Return what the lines still to come are read with: the time zone and the
        configurations in force."""
        return self.timezone, self.configs

    def parse(self, text: str, line_no: int) -> NewEvent:
        """Return the event on one import line; raise InputError naming line, field and value."""
        where = f"line {line_no}"
        obj = _object(text, where)
        if "type" not in obj:
            raise InputError("is required", where=where, field="type")
        payload = {k: v for k, v in obj.items() if k not in RESERVED}
        try:
            event = build_event(obj["type"], payload, where=where, other_keys=RESERVED)
        except InputError:
            if "prev_hash" in obj and "hash" in obj:
                raise InputError(
                    "is a full envelope from `revledger export`, not an import line; restore an "
                    "export into a new ledger with `revledger import --restore`",
                    where=where,
                ) from None
            raise
        raw_eff = obj.get("effective_at")
        if raw_eff is None:
            raise InputError("is required", where=where, field="effective_at")
        if not isinstance(raw_eff, str):
            raise InputError(
                "must be a date or an RFC 3339 instant in quotes",
                where=where,
                field="effective_at",
                value=raw_eff,
                has_value=True,
            )
        try:
            effective = parse_instant(raw_eff, self.timezone)
        except TimeParseError as exc:
            raise InputError(
                str(exc), where=where, field="effective_at", value=raw_eff, has_value=True
            ) from None
        event_id = _text_key(obj, "event_id", where)
        if event_id is not None:
            try:
                event_id = str(uuid.UUID(event_id))
            except ValueError:
                raise InputError(
                    "must be a UUID", where=where, field="event_id", value=event_id, has_value=True
                ) from None
        texts = (payload_json(event), format_instant(effective))
        given_key = _text_key(obj, "idempotency_key", where)
        key = given_key or derived_key(event.event_type, texts[1], texts[0])
        alternates = () if given_key or not self.zones else self._alternates(event, raw_eff, texts)
        omitted: tuple[str, ...] = ()
        if isinstance(event, LedgerConfigured):
            self._configured(event_id, event.timezone)
            omitted = tuple(name for name in SETTINGS if name not in payload)
        elif isinstance(event, EventRetracted) and self._in_force(event.retracts):
            self._retract(event.retracts)
        return NewEvent(
            event=event,
            effective_at=effective,
            actor=_text_key(obj, "actor", where) or self.actor,
            source=_text_key(obj, "source", where) or f"import:{self.source_name}:{line_no}",
            idempotency_key=key,
            event_id=event_id,
            where=where,
            texts=texts,
            omitted=omitted,
            alternates=alternates,
        )

    def _alternates(
        self, event: EventModel, raw_eff: str, texts: tuple[str, str]
    ) -> tuple[str, ...]:
        """Return the keys a line derives when its effective time `raw_eff` is read in the
        ledger's other time zones, where that gives another instant (a bare date: a time
        must give its offset): an import run again after the time zone changed (by hand, or by a
        configuration line of the file itself) finds the lines it recorded before."""
        keys: list[str] = []
        for other in self.zones:
            if other == self.timezone:
                continue
            try:
                instant = format_instant(parse_instant(raw_eff, other))
            except TimeParseError:
                continue  # a time that does not occur there
            if instant != texts[1]:
                keys.append(derived_key(event.event_type, instant, texts[0]))
        return tuple(keys)

    def follow(self, event: StagedEvent) -> bool:
        """Take in what an event another parser read (a worker) changes for the lines after
        it, and return True; return False, changing nothing, for the retraction of a
        configuration in force, after which that parser may have read the lines in another
        time zone (it may not have known every configuration in force)."""
        view = event.view
        if view.config is not None:
            self._configured(event.event_id, view.config.timezone)
        elif view.retracts is not None and self._in_force(view.retracts):
            return False
        return True

    def _configured(self, event_id: str | None, timezone: str) -> None:
        self.timezone = timezone
        self.configs = (*self.configs, (event_id, timezone))

    def _retract(self, event_id: str) -> None:
        self.configs = tuple(c for c in self.configs if c[0] != event_id)
        if self.configs:
            self.timezone = self.configs[-1][1]

    def _in_force(self, event_id: str) -> bool:
        return any(c[0] == event_id for c in self.configs)

    def parse_lines(self, lines: Iterable[str]) -> Iterator[NewEvent]:
        """Yield the events of every non-blank line, numbering lines from 1."""
        for n, line in enumerate(lines, start=1):
            if line.strip():
                yield self.parse(line, n)


SETTINGS = tuple(name for name in LedgerConfigured.model_fields if name != "type")
"""The settings a `ledger_configured` event holds."""


def export_line(row: dict[str, Any]) -> str:
    """Return one stored envelope as a JSON line (payload embedded as an object)."""
    env = dict(row)
    env["payload"] = json.loads(row["payload"])
    return canonical_json(env)


def read_export(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, envelope) pairs of an export file's numbered lines as they are read;
    raise InputError on a line that is not a JSON object when it is reached."""
    for n, line in lines:
        if line.strip():
            where = f"line {n}"
            obj = decode_json(line, where)
            if not isinstance(obj, dict):
                raise InputError("must be a JSON object", where=where)
            yield where, obj
