"""A CRM import as one batch: read the export, derive the events, wrap them for the store.

Without `backfill`, every event is recorded at the import (the ledger's transaction time).
With it, each event's recorded_at is the source's own change time (the Salesforce row's
CreatedDate, the HubSpot change's timestamp) and the store marks it `backfill:`; the store
accepts that only into a ledger whose last recorded_at is not later, never in the future and
non-decreasing, which the time-ordered batch is.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, NamedTuple

from ledger.crm.history import CrmHistory, history_events, read_deals
from ledger.crm.hubspot import read_hubspot
from ledger.crm.salesforce import read_salesforce
from ledger.crm.snapshots import (
    RETRACTION_REASONS,
    Columns,
    Derived,
    derived,
    key_event_id,
    restated_base,
    restated_key,
    restatement_base,
)
from ledger.crm.stage_map import LOST, StageMap
from ledger.envelope import NewEvent, source_file_name
from ledger.errors import InputError
from ledger.events import (
    ContractSigned,
    DealLost,
    DealOpened,
    DealUpdated,
    EventModel,
    EventRetracted,
    LedgerConfigured,
)
from ledger.events.view import RuleView, view_of
from ledger.rules import DealState, Fact, RuleViolation
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
    if not recorded.current:
        return batch.news
    news: list[NewEvent] = []
    owners: list[tuple[str, str, str]] = []
    for n in batch.news:
        event, event_id = n.event, n.event_id
        if event_id is not None and event_id in recorded.opened and isinstance(event, DealOpened):
            first = recorded.opened[event_id]
            now, set_by = recorded.current.get(event.deal_id, (first, event_id))
        elif isinstance(event, DealOpened) and event.deal_id in recorded.current:
            # The deal is opened at another row than before (the rows that opened it are
            # deleted since): it is opened with its owner now, which is never retracted.
            first, set_by = recorded.current[event.deal_id]
            now = first
        else:
            news.append(n)
            continue
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
RESIGNED = (
    "rows changed in the CRM since an earlier import give this won deal's signature otherwise; "
    "it is signed again as the CRM says now"
)
"""The reason of the retraction of a contract an export signs otherwise than the ledger holds."""
REDERIVED = (
    "the CRM's rows no longer give this event as an earlier import recorded it (rows deleted, "
    "come late or changed since); the import records what they give now"
)
"""The reason of the retraction of any other event an export no longer gives."""


BACKFILL_RETRACTS = (
    "an earlier import recorded this deal's rows as the export no longer gives them (rows "
    "deleted, come late or changed in the CRM since), which a backfill cannot record at a time "
    "the CRM showed them: import this export without --backfill to record it now"
)
"""Why a backfill that would retract an imported event is refused: whatever its recorded_at,
it would rewrite what the ledger knew then."""


class StoredEvent(NamedTuple):
    """An event of a deal's stream as stored: its seq, event_id, idempotency key (empty when
    it has none) and content."""

    seq: int
    event_id: str
    key: str
    content: StoredContent


@dataclass(frozen=True, slots=True)
class StoredDeals:
    """What the ledger holds of the deals of a CRM export: every event of each deal's stream,
    retracted ones too, in seq order (`events`, by deal id), and the events retracted in the
    ledger, each with the idempotency key of its retraction, empty when it has none
    (`retracted`: retracted event_id -> key)."""

    events: Mapping[str, Sequence[StoredEvent]] = field(default_factory=dict)
    retracted: Mapping[str, str] = field(default_factory=dict)


def recorded_owners(batch: CrmBatch, stored: StoredDeals) -> RecordedOwners:
    """Return the owners the ledger holds of `batch`'s deals (see `RecordedOwners`), from
    their streams as stored: each `deal_opened` of the batch is found by its event_id, derived
    from the CRM's deal and row, so the same in every import."""
    opened = {n.event_id: n.event.deal_id for n in batch.news if isinstance(n.event, DealOpened)}
    first: dict[str, str | None] = {}
    now: dict[str, tuple[str | None, str]] = {}
    for deal in set(opened.values()):
        for e in stored.events.get(deal, ()):  # in seq order: the last owner set wins
            type_name, _, payload = e.content
            # The canonical payload encoding writes every key as `"name":`, so this is exact.
            if type_name == "deal_opened" or (
                type_name == "deal_updated" and '"owner":' in payload
            ):
                owner = json.loads(payload).get("owner")  # validated at append
                now[deal] = (owner, e.event_id)
                if e.event_id in opened:
                    first[e.event_id] = owner
    return RecordedOwners(first, now)


def reconcile(
    news: list[NewEvent],
    stored: StoredDeals,
    live_deals: Collection[str] = (),
    *,
    backfill: bool = False,
) -> list[NewEvent]:
    """Return the events to append so that each deal of `news` (one export's events) that
    earlier imports of the same CRM recorded reads as the export says now.

    Each export is derived on its own, so a deal's rows compared with other rows than an
    earlier export had (a row come late, deleted since, changed, or restored) give other
    events. The events the export gives a deal that it does not take back itself (its
    `target`) are compared with the events earlier imports derived from the deal's rows that
    are in force in the ledger: one with the same key and content is that event (nothing to
    append); one in force that the export no longer gives is retracted (a contract signed
    otherwise: `RESIGNED`), and one the export gives that is not in force is appended, under
    its own key when that is free, else under a key of its own (`restated_key`, after the
    last event recorded under that key), effective at the same instant, so what comes back
    (X, then Y, then X) counts again. Retractions come first; when taking out only what
    differs would leave the deal's stream invalid on the way (a late row between events that
    stay, say), every event from the first that differs on is retracted and recorded again.

    Deals the ledger has no imported events of keep `news` as derived. A deal whose contract
    went live in the ledger (`live_deals`) keeps the contract in force: its ARR changes by
    expansions and contractions. Owners from the deals file (`keep_recorded_owners`) and
    events recorded by hand are neither compared nor retracted, and an imported event that was
    retracted otherwise than by an import from the same CRM (by hand) stays retracted: the
    export giving it as it was recorded records nothing.
    """
    if not news or not stored.events:
        return news
    # Each event is compared by its stored texts: encoded once here, and for the store too.
    news = [n if n.texts is not None else n._replace(texts=n.stored_texts()) for n in news]
    source = (news[0].idempotency_key or ":").split(":", 1)[0]
    deal_of = {n.event_id: n.event.deal_id for n in news if hasattr(n.event, "deal_id")}
    positions: dict[str, list[int]] = {}
    for i, n in enumerate(news):
        event = n.event
        if isinstance(event, DealUpdated) and event.owner is not None:
            continue  # an owner from the deals file
        deal = deal_of.get(event.retracts) if isinstance(event, EventRetracted) else None
        deal = deal or getattr(event, "deal_id", None)
        if deal is not None:
            positions.setdefault(deal, []).append(i)
    replaced: dict[int, NewEvent | None] = {}
    before: dict[int, list[NewEvent]] = {}
    for deal, where in positions.items():
        events = stored.events.get(deal, ())
        if not any(_from_rows(source, e) for e in events) or _regiven(
            [news[i] for i in where], events
        ):
            continue
        plan = _DealPlan(deal, [(i, news[i]) for i in where], events, stored.retracted, source)
        plan.make(live=deal in live_deals)
        if backfill and plan.retractions:
            raise InputError(BACKFILL_RETRACTS, where=plan.retractions[0].where)
        replaced.update(plan.replaced)
        if plan.retractions:
            at = plan.first_append if plan.first_append is not None else len(news)
            before.setdefault(at, []).extend(plan.retractions)
    out: list[NewEvent] = []
    for i in range(len(news) + 1):
        waiting = before.get(i, [])
        if waiting:  # (never in a backfill, which retracts nothing: refused above)
            place = news[i].where if i < len(news) else waiting[0].where
            out += [r._replace(where=place) for r in waiting]
        if i < len(news):
            kept = replaced.get(i, news[i])
            if kept is not None:
                out.append(kept)
    return out


_WAY_TO_WIN: Final = ("contract_signed", "stage_changed", "deal_lost", "deal_reopened")
"""The events of a deal whose contract went live in the ledger that an import leaves as they
are: its contract and how the deal came to it."""

MAPPED: Final = {"deal_opened": ("account_id", "stage"), "stage_changed": ("stage",)}
"""The fields of the events whose content the deals file and the stage map give a row."""


def _regiven(derived: list[NewEvent], events: Sequence[StoredEvent]) -> bool:
    """Return whether an event of `derived` gives a field of `MAPPED` otherwise than the
    ledger holds under its key: the deal's account or the stage map changed since, which the
    store refuses as a conflict (the deal is left as derived). Other fields may change under
    a key: a HubSpot change that comes late at (or before) the timestamp of the change that
    opened the deal gives that snapshot another amount or close date, which is reconciled."""
    held = {e.key: e.content for e in events if e.key}
    for n in derived:
        fields = MAPPED.get(n.event.event_type, ())
        content = held.get(n.idempotency_key or "")
        if fields and content is not None and content != _content(n):
            given, stored = json.loads(_content(n)[2]), json.loads(content[2])
            if any(given.get(f) != stored.get(f) for f in fields):
                return True
    return False


def _from_rows(source: str, e: StoredEvent) -> bool:
    """Return whether `e`, an event of a deal's stream (retractions are on the ledger's), is
    one an import from `source` derived from a history row: not an owner from the deals file,
    nor an event recorded by hand (with a key of its own or none)."""
    type_name, _, payload = e.content
    if not e.key.startswith(f"{source}:"):
        return False
    # The canonical payload encoding writes every key as `"name":`, so this is exact.
    return not (type_name == "deal_updated" and '"owner":' in payload)


def key_base(key: str) -> str:
    """Return the `restatement_base` a stored key belongs to: a restated key's, else its own."""
    return restated_base(key) or restatement_base(key)


class _DealPlan:
    """How one deal the ledger holds imported events of comes to read as the export says."""

    def __init__(
        self,
        deal: str,
        derived: list[tuple[int, NewEvent]],
        events: Sequence[StoredEvent],
        retracted: Mapping[str, str],
        source: str,
    ) -> None:
        self.deal, self.events, self.gone = deal, events, set(retracted)
        taken_back = {n.event.retracts for _, n in derived if isinstance(n.event, EventRetracted)}
        target = [
            (i, n)
            for i, n in derived
            if not isinstance(n.event, EventRetracted) and n.event_id not in taken_back
        ]
        imported = sorted(
            (e for e in events if _from_rows(source, e)), key=lambda e: (e.content[1], e.seq)
        )
        self.in_force = [e for e in imported if e.event_id not in self.gone]
        self.template = derived[0][1]
        self.replaced: dict[int, NewEvent | None] = {i: None for i, _ in derived}
        # An event the export gives as an imported event retracted by hand was: that
        # retraction stands (the event is given under its key again, which records nothing).
        by_hand = [
            e
            for e in imported
            if e.event_id in retracted and not retracted[e.event_id].startswith(f"{source}:")
        ]
        in_force = _matched(target, self.in_force)
        withdrawn = _matched([p for p in target if p[0] not in in_force], by_hand)
        held = {e.event_id: e for e in by_hand}
        for i, n in target:
            if i in withdrawn:
                e = held[withdrawn[i]]
                self.replaced[i] = n._replace(idempotency_key=e.key, event_id=e.event_id)
        self.target = [p for p in target if p[0] not in withdrawn]
        self.retractions: list[NewEvent] = []
        self.first_append: int | None = None

    def make(self, *, live: bool) -> None:
        """Plan the retractions and appends (`retractions`, `replaced`, `first_append`)."""
        target, in_force = self.target, self.in_force
        if live and any(e.content[0] == "contract_signed" for e in in_force):
            # The contract in force stays, whatever the export signs, and so does the way the
            # deal came to it (its moves, a loss and a reopening before it, which the contract
            # stands on): a deal won stays won, and only its amount and close date follow.
            target = [(i, n) for i, n in target if n.event.event_type not in _WAY_TO_WIN]
            in_force = [e for e in in_force if e.content[0] not in _WAY_TO_WIN]
        matched = _matched(target, in_force)
        if not _in_order(target, in_force, matched) or not self._valid(target, in_force, matched):
            ordered = sorted(target, key=lambda p: (_content(p[1])[1], p[0]))
            same = 0
            while same < min(len(ordered), len(in_force)) and _matched(
                [ordered[same]], [in_force[same]]
            ):
                same += 1
            matched = _matched(ordered[:same], in_force[:same])
        kept = set(matched.values())
        dropped = [e for e in in_force if e.event_id not in kept]
        signs = any(isinstance(n.event, ContractSigned) for _, n in target)
        last = target[-1][1].event if target else None
        for e in reversed(dropped):
            self.retractions.append(self._retraction(e, signs, last))
        by_id = {e.event_id: e for e in in_force}
        for i, n in target:
            found = matched.get(i)
            if found is not None:
                e = by_id[found]
                self.replaced[i] = n._replace(idempotency_key=e.key, event_id=e.event_id)
                continue
            key, event_id = self._key(n)
            self.replaced[i] = n._replace(idempotency_key=key, event_id=event_id)
            if self.first_append is None:
                self.first_append = i

    def _valid(
        self,
        target: list[tuple[int, NewEvent]],
        in_force: list[StoredEvent],
        matched: dict[int, str],
    ) -> bool:
        """Return whether retracting what `matched` leaves out of `in_force`, then appending
        the rest of `target`, keeps the deal's stream valid at each step."""
        kept = set(matched.values())
        later = [e for e in reversed(in_force) if e.event_id not in kept]
        if not later and len(matched) == len(target):
            return True  # the deal reads as the export says already: nothing to check
        facts = [_fact(e) for e in self.events if e.event_id not in self.gone]
        seq = max((e.seq for e in self.events), default=0)
        steps: list[str | Fact] = [e.event_id for e in later]  # a retraction, then appends
        for i, n in target:
            if i not in matched:
                seq += 1
                steps.append(Fact(n.effective_at, seq, n.event_id or "", view_of(n.event)))
        for step in steps:
            if isinstance(step, str):
                facts = [f for f in facts if f.event_id != step]
            else:
                facts = [*facts, step]
            state = DealState(self.deal)
            try:
                for f in sorted(facts, key=lambda f: f.key):
                    state.apply(f)
            except RuleViolation:
                return False
        return True

    def _key(self, n: NewEvent) -> tuple[str, str]:
        """Return the key and event_id to append `n` under: its own when no event was recorded
        under it, else a restated key after the last recorded under it."""
        key = n.idempotency_key or ""
        base = restatement_base(key)
        chain = [e for e in self.events if e.key and key_base(e.key) == base]
        if not chain:
            return key, n.event_id or ""
        latest, content = chain[-1], _content(n)
        after = None if latest.key == key and latest.content != content else latest.event_id
        return restated_key(key, "\n".join(content), after)

    def _retraction(self, e: StoredEvent, signs: bool, last: EventModel | None) -> NewEvent:
        """Return the retraction of `e`, which the export no longer gives."""
        reason = REDERIVED
        if e.content[0] == "contract_signed":
            if signs:
                reason = RESIGNED
            elif isinstance(last, DealLost):
                reason = RETRACTION_REASONS[LOST]
            else:
                reason = RETRACTION_REASONS["open"]
        key, event_id = restated_key(e.key, f"retracts {e.event_id}")
        where = self.template.where or ""
        file = where.rsplit(" line ", 1)[0]
        source = self.template.source.split(":", 1)[0]
        return NewEvent(
            event=EventRetracted(retracts=e.event_id, reason=reason),
            effective_at=read_instant(e.content[1]),
            actor=self.template.actor,
            source=f"{source}:{file}",
            idempotency_key=key,
            event_id=event_id,
            where=f"{file}, deal {self.deal}",
        )


def _in_order(
    target: list[tuple[int, NewEvent]], in_force: list[StoredEvent], matched: dict[int, str]
) -> bool:
    """Return whether the events of `target` that stay (`matched`) and the rest, appended after
    every stored event, replay in the order a new ledger gives them: by effective time, and at
    one instant in the export's order (a row come late at the instant of a row imported already
    and ordered before it by its id would otherwise replay after it). At one instant, the order
    of a `deal_updated` and an event of another type is free: they set other fields."""
    seq_of = {e.event_id: e.seq for e in in_force}
    after = max(seq_of.values(), default=0) + 1
    given: list[tuple[str, bool, int, int]] = []
    for i, n in target:
        found = matched.get(i)
        seq = seq_of[found] if found is not None else after + i
        given.append((_content(n)[1], isinstance(n.event, DealUpdated), i, seq))
    given.sort()
    return given == sorted(given, key=lambda p: (p[0], p[1], p[3]))


def _matched(target: list[tuple[int, NewEvent]], in_force: list[StoredEvent]) -> dict[int, str]:
    """Return which event in force (its event_id) each event of `target` (by its place) is:
    the same key and content (the first such in `in_force` not matched already)."""
    free: dict[tuple[str, StoredContent], list[str]] = {}
    for e in in_force:
        free.setdefault((key_base(e.key), e.content), []).append(e.event_id)
    out: dict[int, str] = {}
    for i, n in target:
        ids = free.get((restatement_base(n.idempotency_key or ""), _content(n)))
        if ids:
            out[i] = ids.pop(0)
    return out


def _fact(e: StoredEvent) -> Fact:
    """Return the stored event `e` as the rules read it."""
    type_name, effective, payload = e.content
    fields = json.loads(payload)
    arr = fields.get("arr")
    view = RuleView(
        type_name,
        "deal",
        f"deal:{fields.get('deal_id')}",
        fields.get("deal_id"),
        fields.get("account_id"),
        fields.get("stage"),
        None if arr is None else Decimal(arr),
    )
    return Fact(read_instant(effective), e.seq, e.event_id, view)


def _content(n: NewEvent) -> StoredContent:
    """Return what the ledger would hold of `n`: its type, effective_at and payload texts."""
    payload, effective = n.stored_texts()
    return n.event.event_type, effective, payload


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
    another event now, see `reconcile`), how to record it at all.

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
