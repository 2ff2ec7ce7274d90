"""A demo event before it is appended: the payload, its valid time, who records it, and what
must be recorded before it (so that every event is valid when the ledger learns of it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Literal

from ledger.demo.catalogue import TIMEZONE
from ledger.events import EventModel
from ledger.timeutil import zone

RecordingKind = Literal["prompt", "may_be_late", "notice"]
"""How the ledger learns of an event: "prompt" (soon after it happened), "may_be_late" (a fact
nothing else depends on, sometimes entered weeks later) or "notice" (known before it happens)."""


@dataclass(slots=True, eq=False)
class Draft:
    """One event of the demo history.

    `effective_at` is valid time; `recorded_at` (transaction time) is set by
    `ledger.demo.knowledge`; `after` lists the drafts the ledger must know first.
    """

    event: EventModel
    effective_at: datetime
    actor: str
    after: tuple[Draft, ...] = ()
    recording: RecordingKind = "prompt"
    recorded_at: datetime | None = None
    event_id: str = ""


def workday(d: date) -> date:
    """Return `d`, or the Monday after it when it falls on a weekend."""
    return d + timedelta(days=(7 - d.weekday()) % 7 if d.weekday() >= 5 else 0)


def at_work(rng: Random, d: date) -> datetime:
    """Return an aware UTC instant during office hours (08:30-18:00, company time) on `d`."""
    minutes = rng.randint(8 * 60 + 30, 18 * 60)
    local = datetime.combine(workday(d), time(minutes // 60, minutes % 60), zone(TIMEZONE))
    return local.astimezone(zone("UTC"))


def after_instant(rng: Random, d: date, previous: datetime | None) -> datetime:
    """Return an office-hours instant on (or after) day `d`, strictly after `previous`."""
    when = at_work(rng, d)
    if previous is not None and when <= previous:
        when = previous + timedelta(minutes=rng.randint(5, 90))
    return when
