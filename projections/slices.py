"""How pipeline metrics slice deals, and the valid-time spans they count in.

A deal falls in the group of its segment or channel as replayed at the as-of bound, `(none)`
when it has none. By persona a deal falls in one group per persona of its buying committee
(`Deal.committee`: for a won or lost deal, the personas engaged by its close), so persona groups
overlap and do not add up to the total; by persona combination in exactly one group, those
personas sorted and joined with `+` (e.g. `cfo+cmio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from projections.deals import Deal

By = Literal["segment", "channel", "persona", "persona-combination"]
NONE = "(none)"
TOTAL = "total"


def group_keys(deal: Deal, by: By | None) -> tuple[str, ...]:
    """Return the groups `deal` counts in when sliced `by` (None: just `total`)."""
    if by is None:
        return (TOTAL,)
    if by == "segment":
        return (deal.segment or NONE,)
    if by == "channel":
        return (deal.channel or NONE,)
    committee = deal.committee()
    if by == "persona":
        return committee or (NONE,)
    return ("+".join(sorted(committee)) or NONE,)


def ordered_groups(keys: set[str]) -> list[str]:
    """Return group names sorted by name, with `(none)` last."""
    return sorted(keys, key=lambda k: (k == NONE, k))


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open valid-time span `[start, end)`: the days `--from`..`--to`, both inclusive."""

    start: datetime
    end: datetime

    def __contains__(self, t: datetime | None) -> bool:
        return t is not None and self.start <= t < self.end
