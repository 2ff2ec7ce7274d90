"""Deals sliding backwards: regressions and the regression rate over a window (valid time).

`revledger.regressions/1`. A *transition* is a `stage_changed` that moves a deal to another
stage, counted once, at its effective time; `deal_opened` and `deal_reopened` place a deal in a
stage but are not transitions. A transition is a *regression* (backward) when its target comes
earlier in the configured pipeline than the stage the deal was in (stages no longer configured
sort last). Over a window `[start of --from, close of --to)`:
- deals moved = deals with at least one transition in the window; deals regressed = deals with
  at least one backward transition in it; regression rate = regressed / moved;
- backward share = backward transitions / all transitions in the window;
- by stage pair: transitions and deals per (from, to); and each backward move with its deal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from projections.deals import DealBook, Move, Pipeline
from projections.slices import TOTAL, By, Span, group_keys, ordered_groups
from projections.stats import ratio

DEFINITION = "revledger.regressions/1"


@dataclass(slots=True)
class RegressionLine:
    """Transitions and regressions of one group of deals in the window."""

    key: str
    deals_moved: int = 0
    deals_regressed: int = 0
    transitions: int = 0
    backward: int = 0

    @property
    def regression_rate(self) -> Decimal | None:
        """Return deals regressed / deals moved (None when no deal moved)."""
        return ratio(self.deals_regressed, self.deals_moved)

    @property
    def backward_share(self) -> Decimal | None:
        """Return backward transitions / all transitions (None when there were none)."""
        return ratio(self.backward, self.transitions)


@dataclass(slots=True)
class PairLine:
    """The transitions from one stage to another in the window, and how many deals made them."""

    from_stage: str
    to_stage: str
    backward: bool
    forward: bool
    """Neither when the move is from or to a stage the pipeline no longer has."""
    transitions: int = 0
    deals: int = 0


@dataclass(frozen=True, slots=True)
class DealMove:
    """One transition of one deal (its `move`: from, to, effective time, event seq)."""

    deal_id: str
    account_id: str | None
    move: Move


@dataclass(frozen=True, slots=True)
class Regressions:
    """The window's totals, per-group lines (when sliced), stage pairs and backward moves."""

    total: RegressionLine
    lines: list[RegressionLine]
    pairs: list[PairLine]
    regressions: list[DealMove]


def moves_in(book: DealBook, span: Span) -> list[DealMove]:
    """Return every transition effective within `span`, in replay order (time, then seq)."""
    out = [
        DealMove(d.deal_id, d.account_id, m)
        for d in book.deals.values()
        for m in d.moves
        if m.at in span
    ]
    out.sort(key=lambda m: (m.move.at, m.move.seq))
    return out


def regressions(book: DealBook, span: Span, by: By | None = None) -> Regressions:
    """Return transitions and regressions in `span` in total, per group, and per stage pair."""
    moves = moves_in(book, span)
    total = RegressionLine(TOTAL)
    groups: dict[str, RegressionLine] = {}
    pairs: dict[tuple[str, str], PairLine] = {}
    pair_deals: dict[tuple[str, str], set[str]] = {}
    by_deal: dict[str, list[DealMove]] = {}  # each deal's moves, in replay order
    for dm in moves:
        by_deal.setdefault(dm.deal_id, []).append(dm)
    for deal_id in sorted(by_deal):
        mine = by_deal[deal_id]
        back = sum(m.move.backward for m in mine)
        lines = [total]
        if by is not None:
            keys = group_keys(book.deals[deal_id], by)
            lines += [groups.setdefault(k, RegressionLine(k)) for k in keys]
        for line in lines:
            line.deals_moved += 1
            line.deals_regressed += back > 0
            line.transitions += len(mine)
            line.backward += back
        for m in (x.move for x in mine):
            pair = (m.from_stage, m.to_stage)
            p = pairs.setdefault(
                pair,
                PairLine(
                    m.from_stage,
                    m.to_stage,
                    m.backward,
                    book.pipeline.is_forward(m.from_stage, m.to_stage),
                ),
            )
            p.transitions += 1
            pair_deals.setdefault(pair, set()).add(deal_id)
    for pair, p in pairs.items():
        p.deals = len(pair_deals[pair])
    return Regressions(
        total,
        [groups[k] for k in ordered_groups(set(groups))],
        sorted(pairs.values(), key=lambda p: _pair_order(book.pipeline, p)),
        [m for m in moves if m.move.backward],
    )


def _pair_order(pipeline: Pipeline, p: PairLine) -> tuple[int, str, int, str]:
    return (
        pipeline.position(p.from_stage),
        p.from_stage,
        pipeline.position(p.to_stage),
        p.to_stage,
    )
