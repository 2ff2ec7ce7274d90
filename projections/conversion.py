"""Stage-to-stage conversion: of the deals that reached a stage, the share that reached the next.

`revledger.conversion/1`. A deal *reaches* a configured stage when it has a visit to that stage
or to any later one (a skipped stage counts as passed), or when it is won (a signature is past
every stage); it has reached it whatever happened after (regressions, losses). Conversion from
stage n to stage n+1 = deals that reached n+1 / deals that reached n; the last step is from the
last stage to `won`. Open deals still sitting in stage n count as reached n and not n+1.
Deals never opened (signed straight away) have no stages and do not count. With a window only
deals opened in it count (a cohort by `deal_opened`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from projections.deals import Deal, DealBook, Pipeline
from projections.slices import By, Span, group_keys, ordered_groups
from projections.stats import ratio

DEFINITION = "revledger.conversion/1"
WON = "won"


@dataclass(frozen=True, slots=True)
class ConversionLine:
    """One step of the funnel for one group: how many deals reached each end of it."""

    key: str
    from_stage: str
    to_stage: str
    reached: int
    advanced: int

    @property
    def rate(self) -> Decimal | None:
        """Return advanced / reached (None when no deal reached `from_stage`)."""
        return ratio(self.advanced, self.reached)


def furthest(deal: Deal, pipeline: Pipeline) -> int | None:
    """Return how far the deal got: one past the last stage when it is won (and was opened),
    else the position of its latest-in-order configured stage; None when it was never opened,
    or, not won, was never in a stage the pipeline still has."""
    if not deal.visits:
        return None
    if deal.status == "won":
        return len(pipeline.stages)
    positions = [p for v in deal.visits if (p := pipeline.position(v.stage)) < len(pipeline.stages)]
    return max(positions) if positions else None


def conversion(
    book: DealBook, span: Span | None = None, by: By | None = None
) -> list[ConversionLine]:
    """Return the funnel steps per group (sorted, `(none)` last), in pipeline order."""
    steps = [*book.pipeline.stages, WON]
    reached: dict[str, list[int]] = {}
    for deal in book.deals.values():
        if span is not None and deal.opened_at not in span:
            continue
        far = furthest(deal, book.pipeline)
        if far is None:
            continue
        for key in group_keys(deal, by):
            counts = reached.setdefault(key, [0] * len(steps))
            for i in range(far + 1):
                counts[i] += 1
    lines: list[ConversionLine] = []
    for key in ordered_groups(set(reached)):
        n = reached[key]
        lines += [
            ConversionLine(key, steps[i], steps[i + 1], n[i], n[i + 1])
            for i in range(len(steps) - 1)
        ]
    return lines
