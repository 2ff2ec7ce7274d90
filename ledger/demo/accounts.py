"""Post-sale life of a customer: go-lives, expansions, price uplifts, contractions, churn and
win-backs, year by year from its first signature.

A signed contract goes live after an implementation lag of weeks to months. Each contract year
may bring a seat or module expansion, a cross-sell deal (a second contract, live on its own
go-live), and at the renewal a price uplift, a contraction or churn (given notice weeks ahead).
Half of the churned customers are won back by a new deal months later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from random import Random

from ledger.demo.catalogue import CUSTOMER_SUCCESS, Segment
from ledger.demo.deals import DealKind, DealStory, round_to
from ledger.demo.draft import Draft, RecordingKind, at_work
from ledger.events import Churn, Contraction, EventModel, Expansion, GoLive

OpenDeal = Callable[[DealKind, date], DealStory]
"""Opens a deal of a kind for this customer on a day and returns its whole story."""

CHURN_REASONS: tuple[str, ...] = (
    "moved to the EHR vendor's bundled module",
    "budget cut after a merger",
    "acquired by a health system with its own tooling",
    "program ended",
    "adoption stayed low after go-live",
)
WIN_BACK_SHARE = 0.5
UPSELL_SHARE = 0.22
EXPANSION_SHARE = 0.5
LARGE_CUSTOMER = Decimal(200_000)


def add_months(d: date, months: int) -> date:
    """Return the same day `months` later (the month's last day when it is shorter)."""
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class _Happening:
    day: date
    kind: str
    contract: DealStory | None = None
    share: float = 0.0


class _Account:
    """Writes one account's events in valid-time order, each depending on the one before."""

    def __init__(self, rng: Random, account_id: str) -> None:
        self.rng = rng
        self.account_id = account_id
        self.csm = rng.choice(CUSTOMER_SUCCESS)
        self.drafts: list[Draft] = []
        self.spine: Draft | None = None
        self.live = Decimal(0)

    def add(self, event: EventModel, day: date, recording: RecordingKind, *extra: Draft) -> Draft:
        when = at_work(self.rng, day)
        if self.spine is not None and when <= self.spine.effective_at:
            when = self.spine.effective_at + timedelta(minutes=self.rng.randint(5, 90))
        after = (*((self.spine,) if self.spine else ()), *extra)
        draft = Draft(event, when, self.csm, after=after, recording=recording)
        self.drafts.append(draft)
        self.spine = draft
        return draft

    def write(self, happenings: list[_Happening]) -> None:
        """Write happenings in the order of their days."""
        for h in sorted(happenings, key=lambda h: h.day):
            self.happen(h)

    def happen(self, h: _Happening) -> None:
        """Write one happening; amounts follow the live ARR at that point."""
        a = self.account_id
        if h.kind == "go_live" and h.contract is not None and h.contract.contract is not None:
            deal_id = h.contract.plan.deal_id
            self.add(
                GoLive(account_id=a, deal_id=deal_id), h.day, "may_be_late", h.contract.contract
            )
            self.live += h.contract.arr
        elif h.kind == "expansion" and self.live > 0:
            arr = round_to(float(self.live) * h.share, 500)
            self.add(Expansion(account_id=a, arr=arr), h.day, "may_be_late")
            self.live += arr
        elif h.kind == "contraction" and self.live > 1000:
            arr = min(round_to(float(self.live) * h.share, 500), self.live - 500)
            self.add(Contraction(account_id=a, arr=arr), h.day, "prompt")
            self.live -= arr
        elif h.kind == "churn":
            self.add(Churn(account_id=a, reason=self.rng.choice(CHURN_REASONS)), h.day, "notice")
            self.live = Decimal(0)


def _go_live_day(rng: Random, seg: Segment, signed: date, scale: float) -> date:
    low, high = seg.go_live_days
    lag = rng.triangular(low, high, low + (high - low) * 0.35) * scale
    return signed + timedelta(days=max(7, round(lag)))


def customer_life(
    rng: Random,
    account_id: str,
    segment: Segment,
    first: DealStory,
    until: date,
    open_deal: OpenDeal,
) -> list[Draft]:
    """Return the account events of a customer won by `first`, up to the day `until`."""
    account = _Account(rng, account_id)
    contract: DealStory | None = first
    while contract is not None and contract.signed_on is not None:
        contract = _contract_years(rng, account, segment, contract, until, open_deal)
    return account.drafts


def _contract_years(
    rng: Random,
    account: _Account,
    seg: Segment,
    contract: DealStory,
    until: date,
    open_deal: OpenDeal,
) -> DealStory | None:
    """Live out the years after `contract` is signed; return a win-back contract, if any."""
    signed = contract.signed_on
    assert signed is not None
    queue = [_Happening(_go_live_day(rng, seg, signed, 1.0), "go_live", contract)]
    year = 1
    while True:
        start, renewal = add_months(signed, 12 * (year - 1)), add_months(signed, 12 * year)
        if start >= until:
            account.write([h for h in queue if h.day < until])
            return None
        if rng.random() < EXPANSION_SHARE:
            day = start + timedelta(days=rng.randint(60, 300))
            queue.append(_Happening(day, "expansion", share=rng.uniform(0.08, 0.3)))
        busy = False
        if seg.name != "clinic" and rng.random() < UPSELL_SHARE:
            upsell = open_deal("upsell", start + timedelta(days=rng.randint(90, 200)))
            if upsell.signed_on is not None:
                live_on = _go_live_day(rng, seg, upsell.signed_on, 0.5)
                queue.append(_Happening(live_on, "go_live", upsell))
            busy = upsell.drafts[-1].effective_at.date() >= renewal - timedelta(days=30)
        busy = busy or any(
            h.kind == "go_live" and h.day >= renewal - timedelta(days=30) for h in queue
        )
        # Large customers rarely leave: their odds of churning are halved.
        odds = seg.churn / 2 if account.live > LARGE_CUSTOMER else seg.churn
        churns = not busy and rng.random() < odds
        if churns:
            queue.append(_Happening(renewal, "churn"))
        elif rng.random() < 0.08:
            queue.append(_Happening(renewal, "contraction", share=rng.uniform(0.1, 0.3)))
        elif rng.random() < 0.5:
            queue.append(_Happening(renewal, "expansion", share=rng.uniform(0.03, 0.07)))
        account.write([h for h in queue if h.day <= renewal])
        queue = [h for h in queue if h.day > renewal]
        if churns:
            if rng.random() >= WIN_BACK_SHARE:
                return None
            win_back = open_deal("win_back", renewal + timedelta(days=rng.randint(30, 150)))
            return win_back if win_back.signed_on is not None else None
        year += 1
