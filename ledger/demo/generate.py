"""The demo ledger: three years of a health-tech company's revenue history from one seed.

`generate(seed, today)` is pure: the same seed and day give the same events, ids and times.
New-logo deals open at a growing pace across the three years; won customers live on in
`ledger.demo.accounts` (which opens cross-sell and win-back deals); the calendar adds quotas and
forecast calls; `ledger.demo.knowledge` decides when each event was recorded. Nothing is
effective or recorded at or after the start of `today` (company time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from random import Random

from ledger.demo.accounts import OpenDeal, add_months, customer_life
from ledger.demo.calendar import bookings, calendar_drafts
from ledger.demo.catalogue import (
    CURRENCY,
    FISCAL_YEAR_START_MONTH,
    REVOPS,
    SEGMENTS,
    TIMEZONE,
    Segment,
    account_id,
    account_name,
)
from ledger.demo.deals import DealKind, DealPlan, DealStory, deal_story
from ledger.demo.draft import Draft
from ledger.demo.knowledge import add_mistakes, assign_recording, event_id, known_before
from ledger.envelope import NewEvent
from ledger.events import ContractSigned, DealOpened, LedgerConfigured
from ledger.timeutil import start_of_day

YEARS = 3
NEW_LOGO_DEALS = (520, 580)
"""How many new-logo deals open over the three years (drawn in this range)."""
SOURCE = "demo"


@dataclass(frozen=True, slots=True)
class DemoHistory:
    """The events of a demo ledger in recording order, and the span of time they cover."""

    seed: int
    first_day: date
    today: date
    events: list[NewEvent]

    @property
    def deals(self) -> int:
        """Return how many deals the history holds."""
        return len({e.event.deal_id for e in self.events if isinstance(e.event, DealOpened)})

    @property
    def customers(self) -> int:
        """Return how many accounts signed at least one contract."""
        return len({e.event.account_id for e in self.events if isinstance(e.event, ContractSigned)})


class _Company:
    """Opens deals (numbered in opening order) and keeps every draft written so far."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.drafts: list[Draft] = []
        self.next_deal = 1001

    def opener(self, account: str, segment: Segment) -> OpenDeal:
        """Return how the customer's later deals (cross-sell, win-back) are opened."""
        return lambda kind, day: self.open_deal(account, segment, kind, day, "direct")

    def open_deal(
        self, account: str, segment: Segment, kind: DealKind, opened: date, channel: str
    ) -> DealStory:
        plan = DealPlan(
            deal_id=f"D-{self.next_deal}",
            account_id=account,
            segment=segment,
            kind=kind,
            opened=opened,
            channel=channel,
            owner=self.rng.choice(segment.owners),
        )
        self.next_deal += 1
        story = deal_story(self.rng, plan)
        self.drafts += story.drafts
        return story


def _channel(rng: Random, segment: Segment) -> str:
    if rng.random() < segment.partner_share:
        return "partner:" + rng.choice(segment.partners)
    return "direct"


def _opening_day(rng: Random, first_day: date, days: int) -> date:
    """Return a day in the three years, more likely later: the sales team grows."""
    offset = rng.uniform(0, days) if rng.random() < 0.5 else rng.triangular(0, days, days)
    return first_day + timedelta(days=min(days - 1, int(offset)))


def generate(seed: int, today: date) -> DemoHistory:
    """Return the demo history for `seed`, covering the three years before `today`."""
    rng = Random(seed)
    first_day = add_months(today, -12 * YEARS)
    begins = start_of_day(first_day, TIMEZONE) + timedelta(hours=8)
    cutoff = start_of_day(today, TIMEZONE)
    company = _Company(rng)
    config = Draft(
        LedgerConfigured(
            currency=CURRENCY, timezone=TIMEZONE, fiscal_year_start_month=FISCAL_YEAR_START_MONTH
        ),
        begins,
        REVOPS,
    )
    days = (today - first_day).days
    taken: set[str] = set()
    openings = sorted(
        _opening_day(rng, first_day + timedelta(days=3), days - 3)
        for _ in range(rng.randint(*NEW_LOGO_DEALS))
    )
    segments = list(SEGMENTS)
    for opened in openings:
        seg = rng.choices(segments, [s.weight for s in segments])[0]
        account = account_id(account_name(rng, seg.name, taken))
        story = company.open_deal(account, seg, "new_logo", opened, _channel(rng, seg))
        if story.signed_on is None:
            continue
        company.drafts += customer_life(
            rng, account, seg, story, today, company.opener(account, seg)
        )
    drafts = [config, *company.drafts]
    drafts += calendar_drafts(rng, first_day, today, bookings(company.drafts), begins)
    for d in drafts:
        d.event_id = event_id(rng)
    assign_recording(rng, drafts)
    config.recorded_at = begins
    drafts += add_mistakes(rng, drafts)
    kept = known_before(drafts, cutoff)
    return DemoHistory(seed, first_day, today, [_new_event(d) for d in kept])


def _new_event(d: Draft) -> NewEvent:
    recorded: datetime | None = d.recorded_at
    return NewEvent(
        d.event,
        d.effective_at,
        d.actor,
        SOURCE,
        event_id=d.event_id,
        recorded_at=recorded,
    )
