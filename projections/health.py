"""Health-tech pipeline metrics: security reviews, BAAs and terms, time to value, partners.

`revledger.health/1`, at the as-of bound; with a window `[start of --from, close of --to)` the
finished things count only when they finished in it (questionnaires completed, contracts
signed, go-lives), while what is still open is measured at the bound. Days as in
`projections.stats` (median, p90 nearest rank, max).
- `security_questionnaire` per framework and `all`: started → completed days of completed
  security reviews (`security_review_started` → `security_questionnaire_completed`);
- `security_review_open`: reviews not completed on deals still open, aged at the bound;
- `won_cycle` with / without a security review: sales cycle (open → signed days) of won deals
  that had at least one review started by their signature, or none;
- `baa_rate` and `standard_terms_rate`: the share of signed contracts with `baa_signed`, with
  `standard_terms`;
- `time_to_value`: signed → go-live days of contracts that went live; `awaiting_go_live`:
  contracts signed and not live at the bound (nor cancelled by a churn), aged since signing,
  with their ARR (backlog aging);
- `partner_share_pipeline` per partner channel (`partner:<name>`) and `all partners`: open
  deals, their amount and its share of the whole open pipeline amount;
- `partner_share_won_arr`: won deals and contract ARR of partner deals and its share of all won
  ARR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from projections.deals import Deal, DealBook
from projections.slices import Span
from projections.stats import Summary, ratio, summarize, to_days
from projections.win_rate import sales_cycle

DEFINITION = "revledger.health/1"
ALL = "all"
ALL_PARTNERS = "all partners"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HealthLine:
    """One health-tech figure: a metric, its key (a framework, a channel…), how many things it
    counts, and the days, rate or amount that apply to it."""

    metric: str
    key: str
    count: int
    days: Summary | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AwaitingGoLive:
    """A signed contract not live at the bound, and how long it has been waiting."""

    deal_id: str
    account_id: str | None
    signed_at: datetime
    arr: Decimal
    age: Decimal


def _within(span: Span | None, t: datetime | None) -> bool:
    return t is not None and (span is None or t in span)


def _signed(book: DealBook) -> list[Deal]:
    return [book.deals[k] for k in sorted(book.deals) if book.deals[k].contract is not None]


def _per_key(
    metric: str, items: list[tuple[str, timedelta]], total_key: str = ALL
) -> list[HealthLine]:
    keys = sorted({k for k, _ in items})
    lines = [HealthLine(metric, k, *_summary(d for kk, d in items if kk == k)) for k in keys]
    return [*lines, HealthLine(metric, total_key, *_summary(d for _, d in items))]


def _summary(durations: Iterable[timedelta]) -> tuple[int, Summary]:
    s = summarize(durations)
    return s.count, s


def security_lines(book: DealBook, until: datetime, span: Span | None) -> list[HealthLine]:
    """Return questionnaire cycles and open reviews per framework, and won cycles with and
    without a security review."""
    done = [
        (r.framework, r.completed_at - r.started_at)
        for d in book.deals.values()
        for r in d.reviews
        if r.completed_at is not None and _within(span, r.completed_at)
    ]
    waiting = [
        (r.framework, until - r.started_at)
        for d in book.deals.values()
        if d.status == "open"
        for r in d.reviews
        if r.completed_at is None
    ]
    won = [d for d in book.deals.values() if _within(span, d.closed_at)]
    cycles = [(_reviewed(d), c) for d in won if (c := sales_cycle(d)) is not None]
    return [
        *_per_key("security_questionnaire", done),
        *_per_key("security_review_open", waiting),
        HealthLine("won_cycle", "with security review", *_summary(c for r, c in cycles if r)),
        HealthLine(
            "won_cycle", "without security review", *_summary(c for r, c in cycles if not r)
        ),
    ]


def _reviewed(deal: Deal) -> bool:
    """True when a security review of the deal started no later than its close (one started
    after the signature, such as a yearly reassessment, was no part of its sales cycle)."""
    closed_at = deal.closed_at
    return closed_at is not None and any(r.started_at <= closed_at for r in deal.reviews)


def contract_lines(book: DealBook, until: datetime, span: Span | None) -> list[HealthLine]:
    """Return BAA and standard-terms rates, time to value and contracts awaiting go-live."""
    signed = [d for d in _signed(book) if _within(span, d.closed_at)]
    baa = sum(1 for d in signed if d.contract is not None and d.contract.baa_signed)
    standard = sum(1 for d in signed if d.contract is not None and d.contract.standard_terms)
    live = [
        d.live_at - d.closed_at
        for d in _signed(book)
        if d.closed_at is not None and d.live_at is not None and _within(span, d.live_at)
    ]
    waiting = awaiting_go_live(book, until)
    return [
        HealthLine("baa_rate", "signed contracts", len(signed), rate=ratio(baa, len(signed))),
        HealthLine(
            "standard_terms_rate",
            "signed contracts",
            len(signed),
            rate=ratio(standard, len(signed)),
        ),
        HealthLine("time_to_value", "live", *_summary(live)),
        HealthLine(
            "awaiting_go_live",
            "signed, not live",
            *_summary(until - w.signed_at for w in waiting),
            amount=sum((w.arr for w in waiting), ZERO),
        ),
    ]


def partner_lines(book: DealBook, span: Span | None) -> list[HealthLine]:
    """Return each partner channel's share of open pipeline amount and of won contract ARR."""
    deals = list(book.deals.values())
    open_deals = [d for d in deals if d.status == "open"]
    won = [d for d in _signed(book) if _within(span, d.closed_at)]
    return [
        *_shares("partner_share_pipeline", open_deals, lambda d: d.amount),
        *_shares("partner_share_won_arr", won, lambda d: d.contract.arr if d.contract else ZERO),
    ]


def _shares(metric: str, deals: list[Deal], value: Callable[[Deal], Decimal]) -> list[HealthLine]:
    whole = sum((value(d) for d in deals), ZERO)
    partners = [d for d in deals if (d.channel or "").startswith("partner:")]
    lines = []
    for channel in [*sorted({d.channel or "" for d in partners}), ALL_PARTNERS]:
        mine = [d for d in partners if channel in (ALL_PARTNERS, d.channel)]
        amount = sum((value(d) for d in mine), ZERO)
        lines.append(
            HealthLine(metric, channel, len(mine), rate=ratio(amount, whole), amount=amount)
        )
    return lines


def health(book: DealBook, until: datetime, span: Span | None = None) -> list[HealthLine]:
    """Return every health-tech line at the exclusive valid-time bound `until`."""
    return [
        *security_lines(book, until, span),
        *contract_lines(book, until, span),
        *partner_lines(book, span),
    ]


def awaiting_go_live(book: DealBook, until: datetime) -> list[AwaitingGoLive]:
    """Return the contracts signed before `until` and neither live nor cancelled by a churn of
    their account by then, longest waiting first."""
    out = [
        AwaitingGoLive(
            d.deal_id, d.account_id, d.closed_at, d.contract.arr, to_days(until - d.closed_at)
        )
        for d in _signed(book)
        if d.contract is not None
        and d.closed_at is not None
        and d.live_at is None
        and d.cancelled_at is None
    ]
    return sorted(out, key=lambda w: (w.signed_at, w.deal_id))
