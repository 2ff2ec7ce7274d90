"""A CRM import as one batch: read the export, derive the events, wrap them for the store.

Without `backfill`, every event is recorded at the import (the ledger's transaction time).
With it, each event's recorded_at is the source's own change time (the Salesforce row's
CreatedDate, the HubSpot change's timestamp) and the store marks it `backfill:`; the store
accepts that only into a ledger whose last recorded_at is not later, never in the future and
non-decreasing, which the time-ordered batch is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, NamedTuple

from ledger.crm.history import CrmHistory, history_events, read_deals
from ledger.crm.hubspot import read_hubspot
from ledger.crm.salesforce import read_salesforce
from ledger.crm.snapshots import (
    Columns,
    Derived,
    derived,
    restated_key,
    restatement_base,
)
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
    """The history read and the events to append, in time order."""

    history: CrmHistory
    news: list[NewEvent]


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
    news = [
        _new_event(d, f"{history.source}:{d.where}", actor, backfill=request.backfill)
        for d in history_events(history, stages[0], live_deals)
    ]
    return CrmBatch(history, news)


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
RESIGNED = (
    "rows changed in the CRM since an earlier import give this won deal's signature otherwise; "
    "it is signed again as the CRM says now"
)
"""The reason of the retraction of a contract an export signs otherwise than the ledger holds."""


class StoredEvent(NamedTuple):
    """An event of an earlier import as stored: its event_id, idempotency key and content."""

    event_id: str
    key: str
    content: StoredContent


@dataclass(frozen=True, slots=True)
class StoredChains:
    """What the ledger holds of the events a CRM export derives that it may give otherwise
    now (`RESTATED`): by the `restatement_base` of a derived key, the event recorded under
    that key and those that restated it, in the order they were recorded (`chains`); and the
    events retracted in the ledger (`retracted`)."""

    chains: Mapping[str, Sequence[StoredEvent]] = field(default_factory=dict)
    retracted: Collection[str] = frozenset()


def restate_changed(
    news: list[NewEvent], stored: StoredChains, live_deals: Collection[str] = ()
) -> list[NewEvent]:
    """Return `news` with each event that earlier imports recorded with other content than
    the export gives it now keyed apart, so that it is appended after what they recorded.

    Each export is derived on its own, so a row compared with other rows before it than an
    earlier export had (a row that came late with an earlier change time, one deleted since, a
    stage map changed) gives its event other content under the same key. What the CRM says now
    is compared with the last content recorded for that key (the event under it, or the last
    restating it): the same content is that event (nothing to append); other content gets a
    key of its own (`restated_key`), effective at the same instant and recorded after, so a
    content that comes back (X, then Y, then X) counts again. A contract signed otherwise is
    signed again: the contract in force is retracted first (`RESIGNED`), as a won deal whose
    amount changes in one export is. A contract the export signs otherwise and retracts (a
    deal lost since), or of a deal live in the ledger (`live_deals`: its ARR changes by
    expansions then), is not signed again: the contract recorded stays what the export's
    retraction takes out, or in force. A retraction of an event keyed apart retracts the event
    in force, under its new key; one of an event retracted in the ledger already is not
    appended again.

    The other events keep their key: a deal is opened once, and a row that opens it or moves it
    to another stage than it did (another account, a stage map changed) is a conflict, said in
    the CRM's terms.
    """
    retracted_here = {n.event.retracts for n in news if isinstance(n.event, EventRetracted)}
    out: list[NewEvent] = []
    moved: dict[str, str] = {}  # derived event_id -> the event_id of the event in force
    for n in news:
        event, derived_id, key = n.event, n.event_id or "", n.idempotency_key or ""
        if isinstance(event, EventRetracted) and event.retracts in moved:
            event = event.model_copy(update={"retracts": moved[event.retracts]})
            n = n._replace(event=event, texts=None)
        chain = stored.chains.get(restatement_base(key)) if isinstance(event, RESTATED) else None
        latest = chain[-1] if chain else None
        if latest is not None:
            n = n._replace(texts=n.stored_texts())  # encoded once, for the store too
        if latest is not None and _content(n) == latest.content:
            n = n._replace(idempotency_key=latest.key, event_id=latest.event_id)
        elif isinstance(event, EventRetracted) and event.retracts in stored.retracted:
            continue  # what it retracts is out of the ledger already
        elif latest is not None:
            if isinstance(event, ContractSigned) and (
                derived_id in retracted_here or event.deal_id in live_deals
            ):
                moved[derived_id] = latest.event_id
                continue
            after = None if latest.key == key else latest.event_id
            new_key, event_id = restated_key(key, "\n".join(_content(n)), after)
            if isinstance(event, ContractSigned) and latest.event_id not in stored.retracted:
                out.append(_resigned(n, latest.event_id, new_key))
            n = n._replace(idempotency_key=new_key, event_id=event_id)
        if n.event_id != derived_id:
            moved[derived_id] = n.event_id or ""
        out.append(n)
    return out


def _content(n: NewEvent) -> StoredContent:
    """Return what the ledger would hold of `n`: its type, effective_at and payload texts."""
    payload, effective = n.stored_texts()
    return n.event.event_type, effective, payload


def _resigned(n: NewEvent, contract_id: str, key: str) -> NewEvent:
    """Return the retraction of the contract `contract_id` that `n`, the contract signed again
    under `key`, replaces: effective when `n` is, and keyed after it."""
    retraction_key, event_id = restated_key(key, f"retracts {contract_id}")
    return n._replace(
        event=EventRetracted(retracts=contract_id, reason=RESIGNED),
        idempotency_key=retraction_key,
        event_id=event_id,
        texts=None,
    )


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
