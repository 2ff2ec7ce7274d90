"""Deal events derived from CRM snapshots: what changed between consecutive states of a deal.

A CRM history is a series of snapshots per deal (a Salesforce OpportunityHistory row, or the
HubSpot properties after one timestamp): its stage, amount, close date, probability and
forecast category at that instant. Comparing each snapshot with the deal's state before it
gives the ledger events, all effective at the snapshot's instant (valid time):

- the first snapshot opens the deal (`deal_opened`, blank amount = 0; the close date is
  required), plus a `deal_updated` with its probability and forecast category when it has any;
  a first snapshot at a closing stage opens the deal at the pipeline's first stage and closes
  it at the same instant;
- a move between open stages -> `stage_changed` (two CRM stages mapped to one ledger stage are
  no move);
- a changed amount, close date, probability or forecast category -> one `deal_updated` with
  the changed values (a blank value changes nothing; on a closing snapshot, probability and
  forecast category are implied by the outcome and not recorded);
- open -> won: `contract_signed` with `arr` = the amount (a blank amount means the deal's last
  known amount; none at all is an error naming the amount column; zero, a free pilot, signs a
  contract that adds no ARR);
- open -> lost: `deal_lost`; lost -> an open stage: `deal_reopened` at that stage; lost -> won:
  `deal_reopened` at the deal's last open stage, then `contract_signed`;
- won -> lost: the ledger treats a signature as final, so the `contract_signed` is retracted
  (`event_retracted`) and the deal is lost; won -> an open stage: the contract is retracted and
  the deal continues (with a `stage_changed` if the stage differs from its last open one);
  won -> won with another positive amount: the contract is retracted and signed again for the
  new amount (after the `deal_updated` of the amount), effective when it was first signed, so
  the signed ARR is the CRM's last amount and the deal's close day stays; not once the contract
  went live in the ledger (a go_live recorded by hand): its ARR then changes by expansions and
  contractions.

In one snapshot the `deal_updated` comes first, then the stage or outcome event. Every event
has an idempotency key made of the source, the deal id, the snapshot's own id and the event
type, and an event_id derived from that key, so importing the same history twice appends
nothing, and a retraction names its contract in any run.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from ledger.crm.stage_map import CLOSING, LOST, WON
from ledger.errors import InputError
from ledger.events import (
    ContractSigned,
    DealLost,
    DealOpened,
    DealReopened,
    DealUpdated,
    EventModel,
    EventRetracted,
    StageChanged,
)
from ledger.events.deal import ForecastCategory

EVENT_ID_NAMESPACE = uuid.UUID("5b8a1c1e-3f5e-4d0c-9d8e-7c0e2a6f4b21")
RETRACTION_REASONS = {
    LOST: "the CRM history moved this deal from won to lost",
    "open": "the CRM history moved this deal from won back to an open stage",
    WON: "the CRM history changed the amount of this won deal; it is signed again for it",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of one deal in the CRM at instant `at` (UTC), as one source row gave it.

    `stage` is already a ledger stage or `won`/`lost`; `ref` identifies the snapshot within
    its deal for good (a row id, or the source timestamp); `where` is its place in the file;
    `earlier_ref`, when set, is the ref an earlier release gave the same snapshot.
    """

    deal_id: str
    at: datetime
    ref: str
    where: str
    stage: str
    amount: Decimal | None = None
    close_date: date | None = None
    probability: Decimal | None = None
    forecast_category: ForecastCategory | None = None
    earlier_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Derived:
    """A ledger event derived from a snapshot, with its idempotency key and event_id.

    `at` is the snapshot's instant: the event's place in the batch and, in a backfill, its
    recorded_at; `effective`, when set, is an earlier effective time (valid time);
    `earlier_key`, when set, is the idempotency key an earlier release derived for the event.
    """

    event: EventModel
    at: datetime
    key: str
    event_id: str
    where: str
    effective: datetime | None = None
    earlier_key: str | None = None


@dataclass(frozen=True, slots=True)
class DealSource:
    """What a history says about a deal besides its snapshots."""

    account_id: str
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Columns:
    """The source's names for the fields an error may point at."""

    amount: str
    close_date: str
    changed_at: str


@dataclass
class _Track:
    status: str = "open"
    stage: str = ""
    amount: Decimal | None = None
    close_date: date | None = None
    probability: Decimal | None = None
    forecast_category: str | None = None
    contract_id: str | None = None
    signed_arr: Decimal | None = None
    signed_at: datetime | None = None
    resign: bool = True
    out: list[Derived] = field(default_factory=list)


class Emit(Protocol):
    """Records one derived event of a snapshot (effective earlier when `effective` is given)
    and returns its event_id."""

    def __call__(
        self, snap: Snapshot, event: EventModel, effective: datetime | None = None
    ) -> str: ...


def event_key(source: str, deal_id: str, ref: str, type_name: str) -> str:
    """Return the idempotency key of the `type_name` event of snapshot `ref` of a deal."""
    key = f"{source}:{deal_id}:{ref}:{type_name}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{source}:{digest}"


def key_event_id(key: str) -> str:
    """Return the event_id a CRM import gives the event it keys `key`."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


RESTATED_TAIL = 17
"""The characters a restated key adds to the key it restates: `/` and a 16-digit digest."""
HEX = frozenset("0123456789abcdef")


def restatement_base(key: str) -> str:
    """Return what the restated keys of the event keyed `key` start with: `key`, or for a key
    too long to take a digest within 200 characters, its source and a digest of it."""
    if len(key) <= 200 - RESTATED_TAIL:
        return key
    source = key.split(":", 1)[0]
    return f"{source}:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def restated_base(key: str) -> str | None:
    """Return the `restatement_base` a restated key extends, or None for any other key."""
    tail = key[-RESTATED_TAIL:]
    if len(key) > RESTATED_TAIL and tail[0] == "/" and all(c in HEX for c in tail[1:]):
        return key[:-RESTATED_TAIL]
    return None


def restated_key(key: str, content: str, after: str | None = None) -> tuple[str, str]:
    """Return the idempotency key and event_id of an event keyed `key` whose `content` (its
    type, effective time and payload) differs from what an earlier import recorded for it:
    `key` (see `restatement_base`) with a digest of the content and, when it follows an earlier
    restatement, of that restatement's event_id (`after`), so a content given again after
    another (X, then Y, then X) is recorded again; the same in every import."""
    told = content if after is None else f"{content}\nafter {after}"
    digest = hashlib.sha256(told.encode("utf-8")).hexdigest()[: RESTATED_TAIL - 1]
    restated = f"{restatement_base(key)}/{digest}"
    return restated, key_event_id(restated)


def derived(
    source: str,
    deal_id: str,
    ref: str,
    event: EventModel,
    *,
    at: datetime,
    where: str,
    effective: datetime | None = None,
    earlier_ref: str | None = None,
) -> Derived:
    """Return `event` of `deal_id` derived at `at` from what `ref` names in its source, with
    the idempotency key source, deal, ref and type make and the event_id that key gives (and
    the key `earlier_ref`, the ref an earlier release gave, made)."""
    key = event_key(source, deal_id, ref, event.event_type)
    event_id = key_event_id(key)
    earlier = (
        None if earlier_ref is None else event_key(source, deal_id, earlier_ref, event.event_type)
    )
    return Derived(event, at, key, event_id, where, effective, earlier)


def derive_deal(
    snapshots: list[Snapshot],
    deal: DealSource,
    *,
    source: str,
    first_stage: str,
    columns: Columns,
    live: bool = False,
) -> list[Derived]:
    """Return the events of one deal whose `snapshots` are in order (see the module rules);
    a `live` deal (one whose contract went live in the ledger) is not signed again when its
    amount changes after it was won."""
    t = _Track(resign=not live)

    def emit(snap: Snapshot, event: EventModel, effective: datetime | None = None) -> str:
        d = derived(
            source,
            snap.deal_id,
            snap.ref,
            event,
            at=snap.at,
            where=snap.where,
            effective=effective,
            earlier_ref=snap.earlier_ref,
        )
        t.out.append(d)
        return d.event_id

    first, rest = snapshots[0], snapshots[1:]
    if first.close_date is None:
        raise InputError(
            f"the first row of deal {first.deal_id} has no close date; the ledger needs an "
            "expected close to open a deal",
            where=f"{first.where} column {columns.close_date}",
        )
    opened_at = first_stage if first.stage in CLOSING else first.stage
    emit(
        first,
        DealOpened(
            deal_id=first.deal_id,
            account_id=deal.account_id,
            stage=opened_at,
            amount=first.amount or Decimal(0),
            expected_close=first.close_date,
            owner=deal.owner,
        ),
    )
    t.stage, t.amount, t.close_date = opened_at, first.amount, first.close_date
    _update(t, first, emit)
    _move(t, first, emit, columns)
    for snap in rest:
        _update(t, snap, emit)
        _move(t, snap, emit, columns)
    return t.out


def _update(t: _Track, snap: Snapshot, emit: Emit) -> None:
    changes: dict[str, Any] = {}
    if snap.amount is not None and snap.amount != t.amount:
        changes["amount"] = t.amount = snap.amount
    if snap.close_date is not None and snap.close_date != t.close_date:
        changes["expected_close"] = t.close_date = snap.close_date
    if snap.stage not in CLOSING:
        if snap.probability is not None and snap.probability != t.probability:
            changes["probability"] = t.probability = snap.probability
        fc = snap.forecast_category
        if fc is not None and fc != t.forecast_category:
            changes["forecast_category"] = t.forecast_category = fc
    if changes:
        emit(snap, DealUpdated(deal_id=snap.deal_id, **changes))


def _move(t: _Track, snap: Snapshot, emit: Emit, columns: Columns) -> None:
    d, to = snap.deal_id, snap.stage
    if t.status == WON and to != WON:
        assert t.contract_id is not None
        reason = RETRACTION_REASONS[LOST if to == LOST else "open"]
        emit(snap, EventRetracted(retracts=t.contract_id, reason=reason))
        t.status, t.contract_id = "open", None
    if to == WON:
        resign_at = None
        if t.status == WON:
            if not t.resign or not t.amount or t.amount == t.signed_arr:
                return
            # The amount of a won deal changed: the contract is signed again for it, effective
            # when it was signed (the deal closed then; its ARR is what the CRM says now).
            assert t.contract_id is not None
            emit(snap, EventRetracted(retracts=t.contract_id, reason=RETRACTION_REASONS[WON]))
            resign_at = t.signed_at
        if t.status == LOST:
            emit(snap, DealReopened(deal_id=d, stage=t.stage))
        if t.amount is None:
            raise InputError(
                f"deal {d} is won here but has no amount so far; the ledger records a "
                "signature with its ARR, so give the won row an amount (0 for a free pilot)",
                where=f"{snap.where} column {columns.amount}",
            )
        t.contract_id = emit(snap, ContractSigned(deal_id=d, arr=t.amount), resign_at)
        t.status, t.signed_arr, t.signed_at = WON, t.amount, resign_at or snap.at
    elif to == LOST:
        if t.status != LOST:
            emit(snap, DealLost(deal_id=d))
            t.status = LOST
    elif t.status == LOST:
        emit(snap, DealReopened(deal_id=d, stage=to))
        t.status, t.stage = "open", to
    elif to != t.stage:
        emit(snap, StageChanged(deal_id=d, stage=to))
        t.stage = to
