"""The ledger's use cases, one function each; the CLI parses, calls one of these, and renders."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, TextIO, TypeVar

from ledger.canonical import payload_json
from ledger.crm import (
    CrmRequest,
    StoredDeals,
    StoredEvent,
    crm_batch,
    earlier_event_ids,
    explain_backfill,
    keep_earlier_keys,
    keep_recorded_owners,
    reconcile,
    recorded_owners,
)
from ledger.envelope import (
    MAX_ENVELOPE_TEXT,
    NewEvent,
    RecordedEvent,
    StagedEvent,
    envelope_text,
)
from ledger.errors import NOT_CONFIGURED, ConflictError, InputError, StorageError
from ledger.events import (
    DEAL_TYPES,
    DealOpened,
    EventRetracted,
    LedgerConfigured,
    StageChanged,
    StageSpec,
    build_event,
)
from ledger.events.fields import lookalike_finding
from ledger.import_worker import (
    WORKER_MIN_BYTES,
    Block,
    parsed_blocks,
    worker_possible,
)
from ledger.json_input import decode_json
from ledger.jsonl import ImportParser, export_line, read_export
from ledger.store import (
    SQLITE_SIDE_FILES,
    Head,
    LedgerStore,
    VerifyReport,
    new_ledger,
    shown,
    sqlite_path,
    verify_rows,
)
from ledger.store.facts import chunks
from ledger.store.store import Appended
from ledger.textfile import numbered_lines, read_text, write_whole
from ledger.timeutil import (
    TimeParseError,
    end_of_day,
    format_instant,
    parse_date,
    parse_instant,
    start_of_day,
    utc_now,
    zone,
)


def default_actor(given: str | None = None) -> str:
    """Return the actor for appends: `given` (an `--actor` option, checked where it is
    appended, so an empty one is refused there), else $REVLEDGER_ACTOR, else the
    operating-system user."""
    if given is not None:
        return given
    actor = os.environ.get("REVLEDGER_ACTOR")
    if actor and actor.strip():
        return envelope_text(actor, field="$REVLEDGER_ACTOR")
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def ledger_timezone(store: LedgerStore) -> str:
    """Return the configured time zone, or raise if the ledger was never initialised."""
    config = store.config()
    if config is None:
        raise StorageError(NOT_CONFIGURED)
    return config.timezone


# -- time options -------------------------------------------------------------------------------
def parse_when(text: str, tz: str, *, option: str, end_of_day_if_date: bool) -> datetime:
    """Return the instant a user meant by a date or RFC 3339 `text` given for `option`.

    A bare date means its start in `tz`, or (with `end_of_day_if_date`) the last microsecond
    of that day: "as known at 2026-10-05" includes everything recorded that day.
    """
    try:
        if end_of_day_if_date and len(text.strip()) == 10:
            return end_of_day(parse_date(text), tz) - timedelta(microseconds=1)
        return parse_instant(text, tz)
    except TimeParseError as exc:
        raise InputError(str(exc), field=option, value=text, has_value=True) from None


def parse_known_at(
    text: str, tz: str, *, option: str = "--known-at", now: datetime | None = None
) -> datetime:
    """Return the transaction-time instant typed for `option` (a date: the end of that day;
    today: now).

    A later day than today (in `tz`), or a later instant than now, is refused: an answer "as
    known at" a time still to come could change before that time, so it would not be one.
    Today stands for now (`now`, default the clock's: one answer reads all its times against
    one), the end of what is known today so far, so the instant an answer names gives the same
    answer later the same day.
    """
    when = parse_when(text, tz, option=option, end_of_day_if_date=True)
    now = utc_now() if now is None else now
    if when <= now:
        return when
    day = text.strip()
    if len(day) == 10 and parse_date(day) == now.astimezone(zone(tz)).date():
        return now
    # `--reported-at` is required: only the options that may be left out say so.
    instead = (
        "" if option == "--reported-at" else ", or leave the option out for everything recorded"
    )
    raise InputError(
        "is in the future; what will be known then is not known yet (give a time up to "
        f"now{instead})",
        field=option,
        value=text,
        has_value=True,
    )


# -- init -----------------------------------------------------------------------------------------
def load_stages(path: Path) -> tuple[StageSpec, ...]:
    """Return the pipeline stages listed in a JSON file (a list of {name, probability, …})."""
    where = str(path)
    data = decode_json(
        read_text(path), where, decimals=True, position=lambda e: f"on line {e.lineno}"
    )
    if isinstance(data, dict) and "stages" in data:
        data = data["stages"]
    if not isinstance(data, list):
        raise InputError("must hold a JSON list of stages", where=where)
    config = build_event("ledger_configured", {"stages": data}, where=where)
    assert isinstance(config, LedgerConfigured)
    return config.stages


def init_ledger(
    db: str,
    *,
    currency: str,
    timezone: str,
    fiscal_year_start_month: int,
    stages: tuple[StageSpec, ...] | None,
    actor: str,
    backfill_from: str | None = None,
) -> Appended:
    """Create the ledger at `db` and record its first `ledger_configured`; return that event.

    With `backfill_from` (a date, or an instant), the configuration is effective and recorded
    at the start of that day in the ledger's time zone instead of now, so that a history
    imported with its own recorded_at (a CRM backfill) can follow it.
    """
    actor = envelope_text(actor, field="--actor")
    fields: dict[str, Any] = {
        "currency": currency,
        "timezone": timezone,
        "fiscal_year_start_month": fiscal_year_start_month,
    }
    if stages is not None:
        fields["stages"] = stages
    config = build_event("ledger_configured", fields)
    now = utc_now()
    # Expecting an empty ledger stream, checked under the write lock: of two inits at once (or
    # an init beside a restore), one finds the other's configuration.
    new = NewEvent(config, now, actor, "cli:init", expected_version=0)
    if backfill_from is not None:
        when = parse_when(
            backfill_from, timezone, option="--backfill-from", end_of_day_if_date=False
        )
        if when > now:
            raise InputError(
                "is in the future; a backfill starts on a past day",
                field="--backfill-from",
                value=backfill_from,
                has_value=True,
            )
        new = new._replace(effective_at=when, recorded_at=when)
    initialised = (
        f"{shown(db)} is already initialised; change its configuration with "
        "`revledger record ledger_configured`"
    )
    with new_ledger(db, taken=initialised) as store:
        try:
            return store.append(new)
        except ConflictError:
            raise ConflictError(initialised) from None


# -- record ---------------------------------------------------------------------------------------
def _retraction_by_seq(store: LedgerStore, fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the fields of an `event_retracted` with `retracts` given as a seq (as `log`
    shows it) replaced by that event's id; other fields are returned as they are."""
    target = fields.get("retracts")
    if not isinstance(target, str):
        return fields
    if not re.fullmatch(r"[0-9]{1,30}", target.strip()):
        try:
            uuid.UUID(target.strip())
        except ValueError:
            raise InputError(
                "must be an event's seq, as `log` shows it, or its event_id (a UUID)",
                field="retracts",
                value=target,
                has_value=True,
            ) from None
        return fields
    seq, last = int(target), store.head().seq
    found = (
        next(iter(store.read(after_seq=seq - 1, upto_seq=seq)), None) if 0 < seq <= last else None
    )
    if found is None:
        raise InputError(
            f"names seq {seq}, which the ledger does not hold (its last is seq "
            f"{last}); give an event's seq or event_id",
            field="retracts",
            value=target,
            has_value=True,
        )
    return {**fields, "retracts": found.event_id}


def record_event(
    store: LedgerStore,
    type_name: str,
    fields: Mapping[str, Any],
    *,
    effective: str | None,
    actor: str,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> Appended:
    """Validate and append one event given as field values; return where it landed.

    A retry with the same `idempotency_key`, type and fields but no `effective` returns the
    original: its effective time defaulted to the moment of the first attempt, not a new one.
    A duplicate names the retraction that took its original out since, if one did (it still
    does not count). A `ledger_configured` keeps every setting it does not give from the
    configuration in force (a new time zone alone leaves currency, fiscal year and pipeline
    as they are).
    """
    done = _record(store, type_name, fields, effective, actor, expected_version, idempotency_key)
    if not done.duplicate:
        return done
    return done._replace(retracted_by=store.retractions().get(done.event_id))


def _record(
    store: LedgerStore,
    type_name: str,
    fields: Mapping[str, Any],
    effective: str | None,
    actor: str,
    expected_version: int | None,
    idempotency_key: str | None,
) -> Appended:
    """Return where the event of `record_event` landed (without its `retracted_by`)."""
    actor = envelope_text(actor, field="--actor")
    if idempotency_key is not None:
        idempotency_key = envelope_text(idempotency_key, field="--idempotency-key")
    if type_name == "event_retracted":
        fields = _retraction_by_seq(store, fields)
    current = store.config()
    if type_name == "ledger_configured" and current is not None:
        if not fields:
            raise InputError(
                "ledger_configured needs at least one setting to change (--currency, "
                "--timezone, --fiscal-year-start or --stages-file); the others keep their "
                "current values"
            )
        # The settings given are checked as entered; those kept come from the log, where an
        # earlier release may have stored what is refused now (a currency outside ISO 4217).
        build_event(type_name, fields)
        event = build_event(
            type_name, {**current.model_dump(exclude={"type"}), **fields}, stored=True
        )
    else:
        event = build_event(type_name, fields)
    if idempotency_key is not None and effective is None:
        original = store.event_with_key(idempotency_key)
        if (
            original is not None
            and original.type == event.event_type
            and payload_json(original.payload) == payload_json(event)
        ):
            return Appended.duplicate_of(original)
    # A bare --effective date is a day in the time zone in force, as on an import line (a new
    # configuration's own zone applies from it on).
    if current is not None:
        tz = current.timezone
    elif isinstance(event, LedgerConfigured):
        tz = event.timezone
    else:
        raise StorageError(NOT_CONFIGURED)
    when = (
        parse_when(effective, tz, option="--effective", end_of_day_if_date=False)
        if effective is not None
        else utc_now()
    )
    return store.append(
        NewEvent(
            event,
            when,
            actor,
            "cli",
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )
    )


# -- import, restore, export ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (or, for a dry run, would do)."""

    lines: int
    appended: int
    duplicates: int
    head: Head
    dry_run: bool
    retracted_duplicates: int = 0
    """Of the lines already recorded, those whose event a retraction has taken out since: they
    do not count (the same line again records nothing)."""
    first_retracted: str | None = None
    """The first of those lines ("line 3")."""
    repeated: int = 0
    """Of the lines already recorded, those that are the same event as an earlier line of the
    file, which this import recorded (or, in a dry run, would record)."""
    first_repeated: str | None = None
    """The first of those lines ("line 4")."""


IMPORT_CHUNK = 10_000
"""Events checked and written at a time within an import's one transaction: small enough that
checking and writing start soon while a worker parses the rest of the file, and that the rows
of a large import are never all in memory at once."""


def import_parser(store: LedgerStore, path: Path, actor: str) -> ImportParser:
    """Return the parser of the JSON Lines file at `path` for `store`: in the time zone and
    configurations in force now, with every other zone the ledger has had (a line keyed by
    its content is also looked up under the key it derives there)."""
    configs = tuple((event_id, c.timezone) for event_id, c in store.configs_in_force())
    zones = store.time_zones()
    return ImportParser(
        timezone=configs[-1][1] if configs else "UTC",
        actor=actor,
        source_name=path.name,
        configs=configs,
        zones=zones if len(zones) > 1 else (),
    )


def import_file(
    store: LedgerStore,
    path: Path,
    *,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import a JSON Lines file atomically: every event is appended, or none is.

    Lines already in the ledger (same idempotency key and content) are skipped, so an import
    can be re-run safely. The file is checked and written `IMPORT_CHUNK` events at a time
    inside the one transaction, so the file's rows are never all in memory at once; a
    large file is parsed by a worker process while this one checks and writes
    (`ledger.import_worker`).
    `progress` is called with the number of lines handled since its last call (parsing counts
    for one half, appending for the other).
    """
    actor = envelope_text(actor, field="--actor")
    parser = import_parser(store, path, actor)
    read = 0
    again = keys_again(store)

    def chunks(blocks: Iterator[Block]) -> Iterator[list[NewEvent | StagedEvent]]:
        nonlocal read
        chunk: list[NewEvent | StagedEvent] = []
        for lines, events in blocks:
            if progress is not None:
                progress(lines)
            if again:  # lines whose events `import --retract` took out are recorded again
                events = [_again(e, again) for e in events]
            chunk += events
            read += len(events)
            if len(chunk) >= IMPORT_CHUNK:
                yield chunk
                chunk = []
        yield chunk

    # A ledger that has had several time zones is parsed here, where each line's keys in the
    # other zones are derived too (see `ImportParser`); the worker derives none.
    worker = path.stat().st_size >= WORKER_MIN_BYTES and worker_possible() and not parser.zones
    with parsed_blocks(path, parser, worker=worker) as blocks:
        result = store.append_chunks(
            chunks(blocks), dry_run=dry_run, progress=progress, counts_only=True
        )
    return ImportSummary(
        read,
        result.appended,
        result.duplicates,
        result.head,
        dry_run,
        result.retracted_duplicates,
        result.first_retracted,
        result.repeated,
        result.first_repeated,
    )


def _again(event: NewEvent | StagedEvent, again: Mapping[str, str]) -> NewEvent | StagedEvent:
    """Return `event` under the key its line is recorded again with (see `keys_again`), and
    without the event_id it may give, which its first event holds. The keys the line derives
    in the ledger's other time zones (`alternates`) are taken the same way: a line imported
    and taken out in one zone and given again in another is recorded anew too, and one
    recorded anew in the first zone is found in the second."""
    key = event.idempotency_key
    alternates = tuple(again.get(k, k) for k in event.alternates)
    if key is not None and key in again:
        return event._replace(idempotency_key=again[key], event_id=None, alternates=alternates)
    if alternates != event.alternates:
        return event._replace(event_id=None, alternates=alternates)
    return event


@dataclass(frozen=True, slots=True)
class RetractSummary:
    """What retracting an import's events did (or, for a dry run, would do)."""

    lines: int
    retracted: int
    already: int
    """Lines whose event a retraction had taken out before."""
    missing: int
    """Lines the ledger holds no event of (never imported, or imported with other content)."""
    head: Head
    dry_run: bool
    kept: int = 0
    """Lines whose event is a retraction, which no retraction takes out: it stands."""
    repeated: int = 0
    """Lines that are the same event as an earlier line of the file, which retracts it."""
    first_repeated: str | None = None
    """The first of those lines ("line 4")."""


RETRACT_KEY = "retract:"
"""The idempotency key of a retraction `import --retract` records is this followed by the key
of the event it retracts (see `retract_key`)."""
RETRACT_SOURCE = "retract:"
"""The source of a retraction `import --retract` records is this followed by the source of the
line whose event it retracts."""
AGAIN = "~again:"
"""A line whose event `import --retract` took out is recorded again under its key followed by
this and the seq of that retraction (see `again_key`)."""
_LONG = "sha256:"
"""How a key too long to be followed by more begins, instead of itself, in the keys above."""


def _fit(head: str, key: str, tail: str) -> str:
    """Return `head + key + tail`, or, when that is longer than an idempotency key may be,
    `head + sha256:<the key's digest> + tail`."""
    whole = f"{head}{key}{tail}"
    if len(whole) <= MAX_ENVELOPE_TEXT:
        return whole
    return f"{head}{_LONG}{hashlib.sha256(key.encode('utf-8')).hexdigest()}{tail}"


def retract_key(key: str) -> str:
    """Return the idempotency key of the retraction `import --retract` records of the event
    keyed `key`: `retract:` and that key (its digest, for a key too long to follow)."""
    return _fit(RETRACT_KEY, key, "")


def again_key(key: str, seq: int) -> str:
    """Return the key a line keyed `key` is recorded again under, after the retraction at
    `seq` that `import --retract` recorded: the key, `~again:` and the seq (the key's digest
    for a key too long to be followed so)."""
    return _fit("", key, f"{AGAIN}{seq}")


def keys_again(store: LedgerStore) -> dict[str, str]:
    """Return, for each idempotency key whose event `import --retract` took out, the key under
    which an import records that line again (`again_key` of it and the seq of the latest such
    retraction of the line's events), so a run again finds what it recorded, and a line taken
    out again by `import --retract` is recorded anew once more. Empty when no import was
    retracted so.

    A retraction counts as one `import --retract` recorded only when its source says so and
    its key is `retract_key` of the very event it retracts: one a user keyed `retract:…` by
    hand (of that event, or of another) leaves the line retracted, or standing, as any other
    retraction."""
    found = [
        (seq, key, str(json.loads(payload).get("retracts")), keyed)
        for seq, key, source, payload, keyed in store.retractions_keyed(RETRACT_KEY)
        if source.startswith(RETRACT_SOURCE)
    ]
    if not found:
        return {}
    # The event a retraction names, with its key: found by the rest of the retraction's key,
    # else (a key too long, replaced by its digest) by the event_id it names.
    keys = store.keys_of_ids({target for _, _, target, keyed in found if keyed != target})
    again: dict[str, str] = {}
    line_of: dict[str, str] = {}  # a key recorded again -> the line's own key
    for seq, key, target, keyed in found:  # in seq order: a line's events follow one another
        target_key = key[len(RETRACT_KEY) :] if keyed == target else keys.get(target)
        if target_key is None or key != retract_key(target_key):
            continue
        line = line_of.get(target_key, target_key)
        again[line] = again_key(line, seq)
        line_of[again[line]] = line
    return again


def _recorded_lines(
    store: LedgerStore, news: list[NewEvent], again: Mapping[str, str]
) -> list[RecordedEvent | None]:
    """Return the event an import of each line of `news` recorded, as a run of it again finds
    it (by its idempotency key, with the same type, effective time and payload, or a key it
    derives in another time zone the ledger has had, which holds the time read there, with the
    same type and payload), or None where there is none; `again` as `keys_again` returns it."""

    def keys(n: NewEvent) -> list[tuple[str, bool]]:
        # Each key the line recorded again after an `import --retract` first: its latest event;
        # True for the line's own key, whose event has the line's effective time.
        return [
            (k, own)
            for key, own in ((n.idempotency_key, True), *((a, False) for a in n.alternates))
            for k in (again.get(key or ""), key)
            if k
        ]

    stored = store.events_with_keys({k for n in news for k, _ in keys(n)})
    out: list[RecordedEvent | None] = []
    for n in news:
        payload, effective = n.stored_texts()
        found = ((stored.get(k), own) for k, own in keys(n))
        out.append(
            next(
                (
                    e
                    for e, own in found
                    if e is not None
                    and e.type == n.event.event_type
                    and payload_json(e.payload) == payload
                    and (not own or format_instant(e.effective_at) == effective)
                ),
                None,
            )
        )
    return out


def retract_import(
    store: LedgerStore,
    path: Path,
    *,
    reason: str,
    actor: str,
    dry_run: bool = False,
) -> RetractSummary:
    """Retract every event that importing the JSON Lines file at `path` recorded and that
    still counts, in one transaction: all of them or none.

    Each line is read as `import_file` reads it and its event found as a run of the import
    again would find it. The retractions are recorded now, latest first in business order (a
    go-live before its contract), each named by its line; one that an event recorded otherwise
    stands on (an expansion entered by hand on an imported go-live) is refused, naming it.
    """
    actor = envelope_text(actor, field="--actor")
    build_event("event_retracted", {"retracts": str(uuid.UUID(int=0)), "reason": reason})
    parser = import_parser(store, path, actor)
    retracted = store.retractions()
    again = keys_again(store)
    lines = already = missing = kept = repeated = 0
    first_repeated: str | None = None
    targets: dict[str, tuple[RecordedEvent, NewEvent]] = {}
    parsed = parser.parse_lines(text for _, text in numbered_lines(path))
    while block := list(islice(parsed, IMPORT_CHUNK)):
        lines += len(block)
        for n, found in zip(block, _recorded_lines(store, block, again), strict=True):
            if found is None:
                missing += 1
            elif found.event_id in retracted:
                already += 1
            elif found.type == "event_retracted":
                kept += 1  # a retraction is never retracted (what it took out stays out)
            elif found.event_id in targets:  # the same event as an earlier line
                repeated += 1
                first_repeated = first_repeated or n.where
            else:
                targets[found.event_id] = (found, n)
    now = utc_now()
    news = [
        NewEvent(
            build_event("event_retracted", {"retracts": e.event_id, "reason": reason}),
            now,
            actor,
            f"{RETRACT_SOURCE}{line.source}",
            idempotency_key=retract_key(e.idempotency_key) if e.idempotency_key else None,
            where=line.where,
        )
        for e, line in sorted(targets.values(), key=lambda t: t[0].replay_key, reverse=True)
    ]
    head = store.append_batch(news, dry_run=dry_run).head if news else store.head()
    return RetractSummary(
        lines, len(news), already, missing, head, dry_run, kept, repeated, first_repeated
    )


@dataclass(frozen=True, slots=True)
class CrmSummary:
    """What a CRM import did (or, for a dry run, would do)."""

    rows: int
    skipped: int
    deals: int
    events: int
    appended: int
    duplicates: int
    head: Head
    dry_run: bool
    accounts_given: bool
    own_accounts: tuple[str, ...] = ()
    """With a deals file: the deals it gives no account (absent, or blank), each recorded as
    its own account."""
    missing: tuple[str, ...] = ()
    """Deals an earlier import from the same CRM recorded that this export has no rows of (or
    only deleted ones): their events stay in the ledger."""
    withdrawn: int = 0
    """Of the events appended, the retractions of imported events the export no longer gives
    (see `reconcile`)."""


def _held(store: LedgerStore, event_ids: list[str]) -> set[str]:
    """Return those of `event_ids` the ledger holds."""
    return {row[1] for some in chunks(event_ids) for row in store.read_stored(event_ids=some)}


def _live_deals(store: LedgerStore) -> set[str]:
    """Return the deals whose contract went live in the ledger: a `go_live` naming the deal
    that is in force (one retracted since, recorded by mistake, keeps no contract's ARR)."""
    live = {
        (deal_id, event_id)
        for _, event_id, _, _, _, _, deal_id in store.read_keyed(types=["go_live"])
        if deal_id is not None
    }
    if not live:
        return set()
    retracted = {
        json.loads(payload)["retracts"]
        for *_, payload, _ in store.read_keyed(types=["event_retracted"])
    }
    return {deal_id for deal_id, event_id in live if event_id not in retracted}


def _stored_deals(store: LedgerStore, deals: Collection[str]) -> StoredDeals:
    """Return every event of the streams of `deals` and the events retracted in the ledger
    (see `StoredDeals`); a first import of the deals reads no events."""
    found: dict[str, list[StoredEvent]] = {}
    for some in chunks(sorted(deals)):
        for seq, event_id, key, type_name, effective, payload, deal_id in store.read_keyed(
            types=DEAL_TYPES, deal_ids=some
        ):
            stored = StoredEvent(seq, event_id, key or "", (type_name, effective, payload))
            found.setdefault(deal_id or "", []).append(stored)
    if not found:
        return StoredDeals()
    retracted = {
        json.loads(payload)["retracts"]: key or ""
        for _, _, key, _, _, payload, _ in store.read_keyed(types=["event_retracted"])
    }
    return StoredDeals(found, retracted)


def _imported_rows(
    store: LedgerStore, news: list[NewEvent], deals: Collection[str]
) -> set[str | None]:
    """Return where the events of `news` come from (`where`) that the ledger holds under their
    own event_id: the rows an earlier import recorded. Only `deals` (those the ledger has
    opened) and retractions (which name no deal) are looked up."""
    held = {None, *deals}
    ids = {n.event_id: n.where for n in news if getattr(n.event, "deal_id", None) in held}
    found: set[str | None] = set()
    for some in chunks([i for i in ids if i is not None]):
        found.update(ids[row[1]] for row in store.read_stored(event_ids=some))
    return found


def _explain_refusal(exc: InputError, news: list[NewEvent], imported: set[str]) -> InputError:
    """Return `exc` with a hint when the event refused is of a deal an earlier import of the
    same CRM recorded (`imported`): each export is derived on its own, so rows deleted or
    changed in the CRM since then, or left out of an export cut short, can derive events that
    no longer follow what the ledger holds."""
    if exc.field is not None or exc.where is None:
        return exc
    # A retraction the import places before a deal's events is named by the row they follow.
    refused = next((n for n in news if n.where == exc.where and hasattr(n.event, "deal_id")), None)
    deal_id = getattr(refused.event, "deal_id", None) if refused is not None else None
    if deal_id is None or deal_id not in imported:
        return exc
    return InputError(
        exc.reason.rstrip(".") + f"; an earlier import recorded deal {deal_id} from rows that "
        "this export no longer has as they were (deleted or changed in the CRM since, or an "
        "export cut short?): export again if it is incomplete, else retract what should no "
        "longer count with `revledger record event_retracted`",
        where=exc.where,
    )


def _explain_conflict(
    exc: ConflictError, store: LedgerStore, news: list[NewEvent]
) -> ConflictError:
    """Return `exc` said in the CRM's terms when an earlier import opened the deal for
    another account (a deals file given, left out or changed since), or recorded the row at
    another stage (a stage map changed since), else `exc`."""
    new = next((n for n in news if exc.key and n.idempotency_key == exc.key), None)
    old = store.event_with_key(exc.key) if exc.key else None
    if new is None or old is None:
        return exc
    was, now = old.payload, new.event
    if (
        isinstance(was, DealOpened)
        and isinstance(now, DealOpened)
        and was.account_id != now.account_id
    ):
        return ConflictError(
            f"deal {now.deal_id} was opened for account {was.account_id} by an earlier import "
            f"(seq {old.seq}), and this export gives it account {now.account_id} (a deals file "
            "given, left out or changed since?); a deal's account is part of its recorded "
            "history: import with the deals file as the earlier import had it",
            where=exc.where,
        )
    staged = (DealOpened, StageChanged)
    if isinstance(was, staged) and isinstance(now, staged) and was.stage != now.stage:
        return ConflictError(
            f"an earlier import recorded deal {now.deal_id} at stage {was.stage} from this row "
            f"(seq {old.seq}), and this export's stage map gives {now.stage}; the stage map is "
            "part of the recorded history: map each CRM stage to the ledger stage it had (a "
            "CRM stage renamed: map the new name to it as well)",
            where=exc.where,
        )
    return exc


def import_crm(
    store: LedgerStore, request: CrmRequest, *, actor: str, dry_run: bool = False
) -> CrmSummary:
    """Import a CRM history export atomically (see `ledger.crm`): every event, or none.

    Re-running it appends nothing: each event's idempotency key comes from the deal, the
    source row and the event type.
    """
    actor = envelope_text(actor, field="--actor")
    config = store.config()
    if config is None:
        raise StorageError(NOT_CONFIGURED)
    live = _live_deals(store)
    batch = crm_batch(request, config, actor, live)
    batch = keep_earlier_keys(batch, _held(store, earlier_event_ids(batch)))
    stored = _stored_deals(store, batch.history.snapshots.keys())
    owners = recorded_owners(batch, stored)
    derived = keep_recorded_owners(batch, owners, backfill=request.backfill)
    news = reconcile(derived, stored, live, backfill=request.backfill)
    try:
        result = store.append_batch(news, dry_run=dry_run)
    except InputError as exc:
        imported = store.deals_keyed("deal_opened", f"{batch.history.source}:")
        first = min((n.recorded_at for n in news if n.recorded_at is not None), default=None)
        rows_imported = _imported_rows(store, derived, owners.current.keys())
        explained = explain_backfill(
            exc,
            config.timezone,
            batch.history.columns,
            first,
            row_imported=exc.where in rows_imported,
        )
        raise _explain_refusal(explained, news, imported) from None
    except ConflictError as exc:
        raise _explain_conflict(exc, store, news) from None
    h = batch.history
    return CrmSummary(
        h.rows,
        h.skipped,
        len(h.snapshots),
        len(news),
        result.appended,
        result.duplicates,
        result.head,
        dry_run,
        request.deals_file is not None,
        tuple(h.own_accounts()) if request.deals_file is not None else (),
        tuple(sorted(store.deals_keyed("deal_opened", f"{h.source}:") - set(h.snapshots))),
        _withdrawn(derived, news),
    )


def _withdrawn(derived: list[NewEvent], news: list[NewEvent]) -> int:
    """Return how many retractions `reconcile` added to the `derived` events of an export: each
    is new to the ledger (it takes out an event in force), so each is appended."""
    given = {n.event_id for n in derived}
    return sum(1 for n in news if isinstance(n.event, EventRetracted) and n.event_id not in given)


def restore_file(store: LedgerStore, path: Path) -> Head:
    """Restore an export into an empty ledger: identical seq, times and hashes. An export
    without events is refused: every export holds at least the ledger's configuration."""
    head = store.restore(read_export(numbered_lines(path)))
    if head.seq == 0:
        raise InputError(
            "holds no events; an export of a ledger holds at least its configuration",
            where=str(path),
        )
    return head


def restore_ledger(db: str, path: Path) -> Head:
    """Restore the export at `path` into the ledger at `db`, created if there is none; return
    its head.

    A new SQLite file takes its name only once the restore is complete (see `new_ledger`): a
    refused or interrupted restore leaves nothing behind, and when another command made a
    ledger there meanwhile (a second restore, an init), this one is refused and that ledger
    left alone.
    """
    taken = (
        f"restore needs a new ledger: {shown(db)} was made by another command while this one "
        "restored; restore into another new --db"
    )
    with new_ledger(db, taken=taken) as store:
        return restore_file(store, path)


def export_lines(store: LedgerStore) -> Iterator[str]:
    """Yield every envelope as a JSON line (with its line end), in seq order."""
    for row in store.raw_rows():
        yield export_line(row) + "\n"


def export_events(store: LedgerStore, out: TextIO) -> int:
    """Write every envelope as a JSON line to `out`; return how many were written."""
    n = 0
    for line in export_lines(store):
        out.write(line)
        n += 1
    return n


T = TypeVar("T")


def write_output(store: LedgerStore, path: Path, write: Callable[[TextIO], T]) -> T:
    """Return what `write` returns after it wrote the file `path` whole (see `write_whole`).

    A path that is the ledger's own SQLite file, or one of its journal files, is refused with
    a StorageError before anything is written: the output would replace the ledger.
    """
    database = sqlite_path(store.url)
    if database is not None:  # a journal file that is not there yet is the ledger's too
        ledger = Path(database).resolve()
        kept = {ledger, *(ledger.with_name(ledger.name + end) for end in SQLITE_SIDE_FILES)}
        if path.resolve() in kept:
            raise StorageError(
                f"cannot write {path}: it is the ledger's own database file; choose another file"
            )
    return write_whole(path, write)


def export_file(store: LedgerStore, path: Path) -> int:
    """Write every envelope as a JSON line to the file `path`; return how many were written.

    The file is written whole or not at all (see `write_output`), so a failed or interrupted
    export never leaves a shortened export behind, which would restore as a shorter ledger.
    """
    return write_output(store, path, lambda out: export_events(store, out))


# -- inspect --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of `revledger log`; dates are inclusive days in the ledger's time zone."""

    deal_id: str | None = None
    account_id: str | None = None
    types: Sequence[str] = ()
    effective_from: str | None = None
    effective_to: str | None = None
    known_at: str | None = None

    def __post_init__(self) -> None:
        # Ids as stored (trimmed); an empty one is refused (InputError).
        object.__setattr__(self, "deal_id", filter_id(self.deal_id, "--deal"))
        object.__setattr__(self, "account_id", filter_id(self.account_id, "--account"))


def filter_id(value: str | None, option: str) -> str | None:
    """Return a deal or account id given to select events by (`--deal`, `--account`) trimmed,
    as ids are stored; raise InputError when it is empty (a script's unset variable, say), as
    no event has such an id."""
    if value is None:
        return None
    if not value.strip():
        raise InputError(
            "must not be empty (no event has an empty id)",
            field=option,
            value=value,
            has_value=True,
        )
    return value.strip()


def unknown_id_hint(store: LedgerStore, column: str, value: str, *, upto_seq: int) -> str:
    """Return why an id (in `column`, `deal_id` or `account_id`) that names no event of the log
    prefix ending at `upto_seq` may have been mistyped: the look-alike character it holds, and
    the ids the ledger has that differ from it only in case (ids are compared exactly); each
    part starts with "; ", and the text is empty when neither applies."""
    lookalike = lookalike_finding(value)
    other = store.ids_differing_in_case(column, value, upto_seq=upto_seq)
    named = ", ".join(repr(o) for o in other[:3]) + (
        f" and {len(other) - 3} more" if len(other) > 3 else ""
    )
    return (f"; it {lookalike}" if lookalike else "") + (
        f"; the ledger has {named} (ids are compared exactly, case included)" if other else ""
    )


class LogAnswer(NamedTuple):
    """The events a `LogQuery` found, with the log head it stands at and the retractions
    recorded by then (retracted event id -> seq of its retraction).

    `events` reads them from the store each time it is iterated (the same events each time:
    the read stops at `head`), so that an answer may go over them twice without holding them
    (an aligned table measures its rows before writing them)."""

    head: Head
    events: Iterable[RecordedEvent]
    retracted_by: dict[str, int]


class Rereadable:
    """Events read afresh by `read` each time they are iterated."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], Iterator[RecordedEvent]]) -> None:
        self._read = read

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self._read()


def list_events(store: LedgerStore, query: LogQuery) -> LogAnswer:
    """Return the head of the log prefix `query` stands at (the whole log, or what was
    recorded by `query.known_at`), its events matching `query` in seq order, and which of
    the events were retracted by then. A query by deal or account also finds the retractions
    (recorded by then) of that deal's or account's events, which live on the ledger's stream.

    The `--from` / `--to` days are read in the time zone known at `query.known_at`, as every
    question reads its days; the `--known-at` text itself in the current one.
    """
    tz = ledger_timezone(store)
    types = [t.strip().replace("-", "_") for t in query.types]  # as `record` takes them
    for t in types:
        build_type_check(t)
    known = parse_known_at(query.known_at, tz) if query.known_at is not None else None
    if known is not None:
        config = store.config(known)
        tz = config.timezone if config is not None else tz
    head = store.head() if known is None else store.head_known_at(known)

    def day(text: str, option: str, *, end: bool) -> datetime:
        try:
            d = parse_date(text)
        except TimeParseError as exc:
            raise InputError(str(exc), field=option, value=text, has_value=True) from None
        return end_of_day(d, tz) if end else start_of_day(d, tz)

    start = (
        day(query.effective_from, "--from", end=False) if query.effective_from is not None else None
    )
    stop = day(query.effective_to, "--to", end=True) if query.effective_to is not None else None
    if start is not None and stop is not None and start >= stop:
        raise InputError(
            f"must not be after --to ({query.effective_to})",
            field="--from",
            value=query.effective_from,
            has_value=True,
        )
    retracted = store.retractions(head.seq)
    return LogAnswer(
        head,
        Rereadable(
            lambda: store.read_with_retractions(
                upto_seq=head.seq,
                deal_id=query.deal_id,
                account_id=query.account_id,
                types=types or None,
                effective_from=start,
                effective_before=stop,
                retracted=retracted,
            )
        ),
        retracted,
    )


def build_type_check(type_name: str) -> None:
    """Raise InputError unless `type_name` is an event type of the catalog."""
    from ledger.events import event_class

    try:
        event_class(type_name)
    except InputError as exc:
        raise InputError(exc.reason, field="--type", value=type_name, has_value=True) from None


_ANCHOR = re.compile(r"([0-9]{1,18}):([0-9a-fA-F]{64})")


def parse_anchors(texts: Sequence[str]) -> dict[int, str]:
    """Return the `SEQ:HASH` anchors typed for `verify --anchor` as seq -> lower-case hash."""
    anchors: dict[int, str] = {}
    for text in texts:
        found = _ANCHOR.fullmatch(text.strip())
        if found is None or int(found[1]) < 1:
            raise InputError(
                "must be SEQ:HASH, a seq from 1 and the 64 hex digits of its hash as `verify` "
                "printed them (e.g. 4862:458d7350…)",
                field="--anchor",
                value=text,
                has_value=True,
            )
        seq, digest = int(found[1]), found[2].lower()
        if anchors.get(seq, digest) != digest:
            raise InputError(
                f"gives seq {seq} two different hashes",
                field="--anchor",
                value=text,
                has_value=True,
            )
        anchors[seq] = digest
    return anchors


def verify_ledger(store: LedgerStore, anchors: Sequence[str] = ()) -> VerifyReport:
    """Walk the whole chain and the index columns, check the `SEQ:HASH` anchors kept from an
    earlier verify and, on SQLite, the database file's own structure (`storage_damage`: a
    damaged index page leaves the chain readable but a question's answer wrong); return the
    report (its problem, and the first bad seq when there is one)."""
    # Two reads at once, each on a connection of its own: when one fails (a role allowed a
    # single connection, say), the other is closed here, not left to the garbage collector,
    # which may run in its read-ahead thread while that thread holds the connection.
    with closing(store.raw_rows()) as rows, closing(store.index_rows()) as index:
        report = verify_rows(rows, index, parse_anchors(anchors))
    damage = store.storage_damage() if report.ok else None
    if damage is None:
        return report
    problem = (
        f"the hash chain is intact, but SQLite finds the database file damaged ({damage}); "
        "the events read whole, so export them (`revledger export -o FILE`) and restore the "
        "export into a new ledger (`revledger import --restore FILE`), which builds every "
        "index anew, then use that ledger"
    )
    return replace(report, problem=problem)
