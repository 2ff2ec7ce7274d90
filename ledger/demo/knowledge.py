"""When the ledger learns of each demo event (transaction time), and the mistakes it corrects.

Most events are recorded within hours of happening. Some facts nothing else depends on are
entered days or weeks late (backdated: a rep logging a stage change after the fact, a go-live
confirmed late), churn is recorded as a notice before it takes effect, and an event is never
recorded before the events it depends on. A few entries are mistakes (an amount typed with an
extra zero, an expansion entered twice) that revenue operations retract days later.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from random import Random

from ledger.demo.catalogue import REVOPS
from ledger.demo.draft import Draft
from ledger.events import DealUpdated, EventRetracted, Expansion

LATE_SHARE = 0.12
"""Share of the events that may be late that are entered days to weeks after the fact."""
MISTAKE_SHARE = 0.03
"""Share of amount updates and expansions entered wrongly, then retracted."""


def event_id(rng: Random) -> str:
    """Return a random (version 4) UUID drawn from `rng`, so ids repeat with the seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _recorded(rng: Random, d: Draft) -> datetime:
    if d.recording == "notice":
        return d.effective_at - timedelta(days=rng.randint(30, 90), minutes=rng.randint(0, 600))
    if d.recording == "may_be_late" and rng.random() < LATE_SHARE:
        return d.effective_at + timedelta(days=rng.randint(3, 45), minutes=rng.randint(0, 600))
    if rng.random() < 0.1:
        return d.effective_at + timedelta(days=1, minutes=rng.randint(0, 600))
    return d.effective_at + timedelta(minutes=rng.randint(2, 240))


def assign_recording(rng: Random, drafts: list[Draft]) -> None:
    """Set every draft's recorded_at: soon, late or ahead, never before what it depends on."""
    for d in sorted(drafts, key=lambda d: d.effective_at):
        when = _recorded(rng, d)
        for before in d.after:
            assert before.recorded_at is not None, "a draft depends on a later one"
            when = max(when, before.recorded_at + timedelta(minutes=1))
        d.recorded_at = when


def add_mistakes(rng: Random, drafts: list[Draft]) -> list[Draft]:
    """Return mistaken entries and their retractions, for a few amount updates and expansions.

    Each mistake is recorded right after the entry it garbles; the retraction days later.
    """
    out: list[Draft] = []
    for d in drafts:
        e = d.event
        if not isinstance(e, DealUpdated | Expansion) or rng.random() >= MISTAKE_SHARE:
            continue
        assert d.recorded_at is not None
        entered = d.recorded_at + timedelta(minutes=1)
        if isinstance(e, DealUpdated):
            if e.amount is None:
                continue
            wrong = Draft(
                DealUpdated(deal_id=e.deal_id, amount=e.amount * 10),
                d.effective_at + timedelta(minutes=1),
                d.actor,
                recorded_at=entered,
            )
            reason = "amount typed with an extra zero"
        else:
            wrong = Draft(
                Expansion(account_id=e.account_id, arr=e.arr),
                d.effective_at + timedelta(minutes=1),
                d.actor,
                recorded_at=entered,
            )
            reason = "the same expansion was entered twice"
        wrong.event_id = event_id(rng)
        retraction = Draft(
            EventRetracted(retracts=wrong.event_id, reason=reason),
            entered + timedelta(days=rng.randint(1, 12), minutes=rng.randint(0, 300)),
            REVOPS,
            after=(wrong,),
        )
        retraction.recorded_at = retraction.effective_at
        retraction.event_id = event_id(rng)
        out += [wrong, retraction]
    return out


def known_before(drafts: list[Draft], cutoff: datetime) -> list[Draft]:
    """Return the drafts effective and recorded before `cutoff`, in recording order.

    A draft whose dependencies are left out is left out too (it is always recorded later).
    """
    kept = [
        d
        for d in drafts
        if d.effective_at < cutoff and d.recorded_at is not None and d.recorded_at < cutoff
    ]
    kept_ids = {id(d) for d in kept}
    kept = [d for d in kept if all(id(b) in kept_ids for b in d.after)]
    kept.sort(key=lambda d: (d.recorded_at, d.effective_at))
    return kept
