"""A CRM import as one batch: read the export, derive the events, wrap them for the store.

Without `backfill`, every event is recorded at the import (the ledger's transaction time).
With it, each event's recorded_at is the source's own change time (the Salesforce row's
CreatedDate, the HubSpot change's timestamp) and the store marks it `backfill:`; the store
accepts that only into a ledger whose last recorded_at is not later, never in the future and
non-decreasing, which the time-ordered batch is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from ledger.crm.history import CrmHistory, history_events, read_deals
from ledger.crm.hubspot import read_hubspot
from ledger.crm.salesforce import read_salesforce
from ledger.crm.snapshots import Columns, Derived, derived, key_event_id, restated_key
from ledger.crm.stage_map import StageMap
from ledger.envelope import NewEvent, source_file_name
from ledger.errors import InputError
from ledger.events import (
    ContractSigned,
    DealOpened,
    DealReopened,
    DealUpdated,
    EventRetracted,
    LedgerConfigured,
)
from ledger.timeutil import format_instant, read_instant, shown_instant, zone

SOURCES: Final = ("salesforce", "hubspot")
MAP_OPTION: Final = {"salesforce": "--stage-map", "hubspot": "--pipeline"}
"""The option that names each source's stage map file."""


@dataclass(frozen=True, slots=True)
class CrmRequest:
    """What to import: the source, its history file, the optional deals and stage map files."""

    source: str
    history: Path
    deals_file: Path | None = None
    stage_map: Path | None = None
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class CrmBatch:
    """The history read and the events to append, in time order; `earlier` gives, by
    event_id, the key an earlier release derived for an event where it was another."""

    history: CrmHistory
    news: list[NewEvent]
    earlier: Mapping[str, str] = field(default_factory=dict)


def crm_batch(
    request: CrmRequest,
    config: LedgerConfigured,
    actor: str,
    live_deals: Collection[str] = (),
) -> CrmBatch:
    """Return the batch of ledger events that `request`'s files come to (nothing is written);
    `live_deals` are the deals whose contract went live in the ledger."""
    source_file_name(request.history.name)  # each event's source names the file
    stages = config.stage_names()
    stage_map = StageMap.load(request.stage_map, stages) if request.stage_map else StageMap(stages)
    deals = read_deals(request.deals_file, request.source) if request.deals_file else {}
    read = read_salesforce if request.source == "salesforce" else read_hubspot
    history = read(request.history, stage_map, deals)
    history.deals_file = request.deals_file.name if request.deals_file else None
    events = history_events(history, stages[0], live_deals)
    news = [
        _new_event(d, f"{history.source}:{d.where}", actor, backfill=request.backfill)
        for d in events
    ]
    earlier = {d.event_id: d.earlier_key for d in events if d.earlier_key is not None}
    return CrmBatch(history, news, earlier)


def earlier_event_ids(batch: CrmBatch) -> list[str]:
    """Return the event_ids an earlier release gave the events of `batch` it keyed otherwise."""
    return [key_event_id(key) for key in batch.earlier.values()]


def keep_earlier_keys(batch: CrmBatch, held: Collection[str]) -> CrmBatch:
    """Return `batch` with each event that an earlier release recorded under another key (its
    event_id among `held`, the event_ids the ledger holds) under that key and event_id again,
    and retractions of such an event naming it by that event_id: importing a history an
    earlier release imported appends nothing, whichever release derived its keys."""
    if not held:
        return batch
    renamed: dict[str, str] = {}
    news: list[NewEvent] = []
    for n in batch.news:
        if isinstance(n.event, EventRetracted) and n.event.retracts in renamed:
            retraction = n.event.model_copy(update={"retracts": renamed[n.event.retracts]})
            n = n._replace(event=retraction, texts=None)
        key = batch.earlier.get(n.event_id or "")
        if key is not None and (event_id := key_event_id(key)) in held:
            renamed[n.event_id or ""] = event_id
            n = n._replace(idempotency_key=key, event_id=event_id)
        news.append(n)
    return CrmBatch(batch.history, news, batch.earlier)


def _new_event(d: Derived, source: str, actor: str, *, backfill: bool) -> NewEvent:
    """Return the event to append for `d`: effective when it says, and in a backfill recorded
    at its snapshot's instant (else when the import runs)."""
    return NewEvent(
        event=d.event,
        effective_at=d.effective or d.at,
        actor=actor,
        source=source,
        idempotency_key=d.key,
        event_id=d.event_id,
        where=d.where,
        recorded_at=d.at if backfill else None,
    )


@dataclass(frozen=True, slots=True)
class RecordedOwners:
    """What the ledger holds of the owners of a batch's deals: the owner each `deal_opened`
    of the batch was recorded with (by its event_id), and each deal's owner now with the
    event_id of the event that set it (by deal id, the last recorded)."""

    opened: Mapping[str, str | None]
    current: Mapping[str, tuple[str | None, str]]


def keep_recorded_owners(
    batch: CrmBatch, recorded: RecordedOwners, *, backfill: bool
) -> list[NewEvent]:
    """Return `batch`'s events with each `deal_opened` the ledger holds already as it was
    recorded, so that a deal whose owner changed in the deals file since is no conflict, and
    with a `deal_updated` of the owner for each such deal whose owner in the ledger now is
    another, at the export's last change (valid time; in a backfill its recorded_at too).

    Its key names the owner, that instant and the event that set the owner it replaces: the
    next import of the same files finds it, and an owner changed back and forth between
    imports is recorded at each change.
    """
    if not recorded.opened:
        return batch.news
    news: list[NewEvent] = []
    owners: list[tuple[str, str, str]] = []
    for n in batch.news:
        event, event_id = n.event, n.event_id
        if isinstance(event, DealOpened) and event_id is not None and event_id in recorded.opened:
            first = recorded.opened[event_id]
            now, set_by = recorded.current.get(event.deal_id, (first, event_id))
            if event.owner is not None and event.owner != now:
                owners.append((event.deal_id, event.owner, set_by))
            if event.owner != first:
                n = n._replace(event=event.model_copy(update={"owner": first}), texts=None)
        news.append(n)
    if not owners:
        return news
    last = max(n.effective_at if n.recorded_at is None else n.recorded_at for n in news)
    source, deals_file = batch.history.source, batch.history.deals_file or "the deals file"
    for deal_id, owner, set_by in owners:
        # The deals file gives the deal's owner as at the export's last change.
        d = derived(
            source,
            deal_id,
            f"owner={owner}@{format_instant(last)}/after={set_by}",
            DealUpdated(deal_id=deal_id, owner=owner),
            at=last,
            where=f"{deals_file}, the owner of deal {deal_id}",
        )
        news.append(_new_event(d, f"{source}:{deals_file}", news[0].actor, backfill=backfill))
    return news


StoredContent = tuple[str, str, str]
"""What the ledger holds of an event: its type, effective_at and payload, as stored texts."""
RESTATED = (DealUpdated, ContractSigned, DealReopened, EventRetracted)
"""The events whose content comes from the rows before their own (what changed since, the
amount last known, the stage last open, the contract in force); the others come from their
row alone (and the stage map)."""


def restate_changed(news: list[NewEvent], stored: Mapping[str, StoredContent]) -> list[NewEvent]:
    """Return `news` with each event that an earlier import recorded with other content
    (`stored`, by event_id) keyed apart, so that it is appended beside the earlier one.

    Each export is derived on its own, so a row compared with other rows before it than an
    earlier export had (a row that came late with an earlier change time, one deleted since, a
    stage map changed) gives its event other content under the same key. That event is what
    the CRM says now: it gets a key of its own (`restated_key`), effective at the same instant
    and recorded after the earlier one, which stays. The other events keep their key: a deal is
    opened once, and a row that opens it or moves it to another stage than it did (another
    account, a stage map changed) is a conflict, said in the CRM's terms. A retraction of an
    event keyed apart retracts the event under its new key, the one this export signs.
    """
    out: list[NewEvent] = []
    moved: dict[str, str] = {}  # event_id derived -> event_id of the event keyed apart
    for n in news:
        if isinstance(n.event, EventRetracted) and n.event.retracts in moved:
            retraction = n.event.model_copy(update={"retracts": moved[n.event.retracts]})
            n = n._replace(event=retraction, texts=None)
        was, key = stored.get(n.event_id or ""), n.idempotency_key
        if was is not None and key and isinstance(n.event, RESTATED):
            payload, effective = texts = n.stored_texts()
            n = n._replace(texts=texts)  # encoded once, for the store too
            content = (n.event.event_type, effective, payload)
            if content != was:
                key, event_id = restated_key(key, "\n".join(content))
                moved[n.event_id or ""] = event_id
                n = n._replace(idempotency_key=key, event_id=event_id)
        out.append(n)
    return out


def explain_backfill(
    exc: InputError,
    timezone: str,
    columns: Columns,
    first: datetime | None = None,
    *,
    row_imported: bool = False,
) -> InputError:
    """Return `exc` naming the column of the change time when a backfilled recorded_at was
    refused, with how to backfill into a new ledger when it came before the ledger's last, or,
    when an earlier import recorded the refused event's row (`row_imported`: the row gives
    another event now, see `restate_changed`), how to record it at all.

    The day it names is the day of the history's first change (`first`, else the refused
    instant) in the ledger's time zone `timezone`, as `init --backfill-from` reads a day: its
    start comes at or before every change.
    """
    if exc.field != "recorded_at":
        return exc
    reason = exc.reason
    if "is before" in reason and row_imported:
        # What the CRM says now of a row imported already was not known at the row's time.
        reason = (
            reason.rstrip(".") + "; an earlier import recorded this row, which now gives an "
            "event it did not (rows deleted or come late in the CRM since), one the CRM did not "
            "show at the row's time: import this export without --backfill to record it now"
        )
    elif "is before" in reason:
        refused = read_instant(str(exc.value))
        earliest = refused if first is None else min(first, refused)
        day = earliest.astimezone(zone(timezone)).date().isoformat()
        reason = (
            reason.rstrip(".") + "; to backfill this history into a new ledger, create it with "
            f"`revledger init --backfill-from {day}` (or any earlier day)"
        )
    where = exc.where
    if where is not None and where.rsplit(" ", 2)[-2:-1] == ["line"]:  # "FILE line N"
        where = f"{where} column {columns.changed_at}"
    return InputError(f"{shown_instant(read_instant(str(exc.value)))} {reason}", where=where)
