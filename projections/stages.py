"""Time in stage and pipeline aging, from each deal's stage visits (valid time).

A deal's stage timeline is its visits as `projections.deals` replays them: `deal_opened` starts
the first visit, `stage_changed` ends the current visit and starts the next, `deal_reopened`
starts a visit of a lost deal, `contract_signed` and `deal_lost` end the open visit. A visit is
`[entered_at, left_at)`; its duration is `left_at − entered_at`. A visit still open at the
as-of bound (the close of `--as-of`) is *open*; its age is `bound − entered_at`. Durations are
exact and shown in days (see `projections.stats`). Deals signed without ever being opened have
no timeline.

`revledger.stages/1`, per group and stage:
- `deals`: deals with a counted visit to the stage; `visits`: counted visits (a deal that comes
  back to a stage has several); `completed`: visits that ended;
- median / mean / p90 days over completed visits;
- cumulative days of a deal in a stage = the sum of its counted visits (open ones to the bound);
  latest-visit days = its last counted visit; the lines give the mean of each over the deals;
- open visits and the median and maximum of their ages at the bound.
With a window (`--from`..`--to`, inclusive days) only the visits that *ended* in it count:
`left_at` in `[start of --from, close of --to)`, so no open visit counts.

`revledger.aging/1`: the open deals at the bound whose age (bound − first `deal_opened`, time
spent lost before a reopening included) is more than the threshold, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from projections.deals import Deal, DealBook, Pipeline, StageVisit
from projections.slices import By, Span, group_keys, ordered_groups
from projections.stats import Summary, mean, summarize, to_days

DEFINITION = "revledger.stages/1"
AGING_DEFINITION = "revledger.aging/1"


def duration(visit: StageVisit, until: datetime) -> timedelta:
    """Return how long `visit` lasted, or its age at `until` while it is open."""
    return visit.end(until) - visit.entered_at


def counted_visits(deal: Deal, span: Span | None) -> list[StageVisit]:
    """Return the deal's visits that count: all, or only those that ended within `span`."""
    if span is None:
        return list(deal.visits)
    return [v for v in deal.visits if v.left_at in span]


def stage_durations(deal: Deal, until: datetime) -> dict[str, timedelta]:
    """Return the deal's cumulative time in each stage it visited, open visits up to `until`."""
    out: dict[str, timedelta] = {}
    for v in deal.visits:
        out[v.stage] = out.get(v.stage, timedelta()) + duration(v, until)
    return out


def stage_order(pipeline: Pipeline, stages: Iterable[str]) -> list[str]:
    """Return `stages` in pipeline order; stages no longer configured follow, by name."""
    return sorted(set(stages), key=lambda s: (pipeline.position(s), s))


@dataclass(frozen=True, slots=True)
class DealStage:
    """One deal's time in one stage: visits, cumulative and latest-visit days.

    `open` says whether the latest visit is still open at the bound.
    """

    deal_id: str
    stage: str
    visits: int
    cumulative: Decimal
    latest: Decimal
    open: bool


def deal_stages(book: DealBook, until: datetime, span: Span | None = None) -> list[DealStage]:
    """Return each deal's time in each stage at `until`, by deal id and in pipeline order."""
    out: list[DealStage] = []
    for deal_id in sorted(book.deals):
        visits = counted_visits(book.deals[deal_id], span)
        for stage in stage_order(book.pipeline, (v.stage for v in visits)):
            mine = [v for v in visits if v.stage == stage]
            out.append(
                DealStage(
                    deal_id,
                    stage,
                    len(mine),
                    to_days(sum((duration(v, until) for v in mine), timedelta())),
                    to_days(duration(mine[-1], until)),
                    not mine[-1].completed,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class StageLine:
    """Time in one stage for one group of deals (see the module docstring)."""

    key: str
    stage: str
    deals: int
    visits: int
    completed: Summary
    mean_cumulative: Decimal | None
    mean_latest: Decimal | None
    open: Summary


@dataclass(slots=True)
class _Acc:
    completed: list[timedelta]
    open: list[timedelta]
    cumulative: list[timedelta]
    latest: list[timedelta]


def time_in_stage(
    book: DealBook, until: datetime, *, span: Span | None = None, by: By | None = None
) -> list[StageLine]:
    """Return time-in-stage lines per group and stage at the exclusive valid-time `until`.

    Groups come sorted by name (`(none)` last), stages in pipeline order; a stage appears in a
    group when some counted visit of the group's deals is to it.
    """
    acc: dict[tuple[str, str], _Acc] = {}
    for deal in book.deals.values():
        visits = counted_visits(deal, span)
        if not visits:
            continue
        keys = group_keys(deal, by)
        for stage in {v.stage for v in visits}:
            mine = [v for v in visits if v.stage == stage]
            for key in keys:
                a = acc.setdefault((key, stage), _Acc([], [], [], []))
                for v in mine:
                    (a.completed if v.completed else a.open).append(duration(v, until))
                a.cumulative.append(sum((duration(v, until) for v in mine), timedelta()))
                a.latest.append(duration(mine[-1], until))
    lines: list[StageLine] = []
    for key in ordered_groups({k for k, _ in acc}):
        for stage in stage_order(book.pipeline, (s for k, s in acc if k == key)):
            a = acc[(key, stage)]
            lines.append(
                StageLine(
                    key,
                    stage,
                    len(a.cumulative),
                    len(a.completed) + len(a.open),
                    summarize(a.completed),
                    to_days(mean(a.cumulative)),
                    to_days(mean(a.latest)),
                    summarize(a.open),
                )
            )
    return lines


@dataclass(frozen=True, slots=True)
class AgingLine:
    """An open deal older than the aging threshold, with its age and its time in its stage."""

    deal_id: str
    account_id: str | None
    stage: str | None
    owner: str | None
    segment: str | None
    channel: str | None
    amount: Decimal
    opened_at: datetime
    expected_close: date | None
    age: Decimal
    in_stage: Decimal


def aging(book: DealBook, until: datetime, older_than_days: int) -> list[AgingLine]:
    """Return the deals open at `until` opened more than `older_than_days` before it.

    Oldest first, then by deal id.
    """
    threshold = timedelta(days=older_than_days)
    found: list[tuple[timedelta, AgingLine]] = []
    for d in book.deals.values():
        if d.status != "open" or d.opened_at is None:  # an opened deal has a visit
            continue
        age = until - d.opened_at
        if age <= threshold:
            continue
        line = AgingLine(
            d.deal_id,
            d.account_id,
            d.stage,
            d.owner,
            d.segment,
            d.channel,
            d.amount,
            d.opened_at,
            d.expected_close,
            to_days(age),
            to_days(duration(d.visits[-1], until)),
        )
        found.append((age, line))
    found.sort(key=lambda x: (-x[0], x[1].deal_id))
    return [line for _, line in found]
