"""Durations in days and their summaries (median, mean, p90), exact until the last step; shares.

Durations stay `timedelta` (exact to the microsecond) while they are added, sorted and averaged;
only the result becomes days: elapsed time / 24 h as a `Decimal`, rounded half-even to 6
decimals (well under a second), trailing zeros dropped. Whole days and half days are exact.
- median: the middle value, or the mean of the two middle values of an even count;
- mean: the sum divided by the count (to the microsecond);
- p90: nearest rank, the smallest value that at least 90 % of the values do not exceed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)
_SIX_PLACES = Decimal("0.000001")


def exact_days(duration: timedelta) -> Decimal:
    """Return `duration` in days, not rounded (for a figure computed from it)."""
    micros = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
    return Decimal(micros) / _MICROSECONDS_PER_DAY


def to_days(duration: timedelta) -> Decimal:
    """Return `duration` in days, rounded half-even to 6 decimals, without trailing zeros."""
    days = exact_days(duration).quantize(_SIX_PLACES, ROUND_HALF_EVEN)
    return days.normalize() if days else Decimal(0)


_CENT = Decimal("0.01")


def in_cents(amount: Decimal) -> Decimal:
    """Return a money amount rounded half-even to cents (a product or mean of amounts)."""
    return amount.quantize(_CENT, ROUND_HALF_EVEN)


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """Return part / whole as a Decimal (None when the whole is zero); rounded only at output."""
    return Decimal(part) / Decimal(whole) if whole else None


def median(durations: list[timedelta]) -> timedelta:
    """Return the median of a non-empty list of durations."""
    ordered = sorted(durations)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def p90(durations: list[timedelta]) -> timedelta:
    """Return the nearest-rank 90th percentile of a non-empty list of durations."""
    ordered = sorted(durations)
    rank = -(-9 * len(ordered) // 10)
    return ordered[rank - 1]


def mean(durations: list[timedelta]) -> timedelta:
    """Return the mean of a non-empty list of durations (to the microsecond)."""
    return sum(durations, timedelta()) / len(durations)


@dataclass(frozen=True, slots=True)
class Summary:
    """How many durations there are and their total, median, mean, p90 and maximum in days.

    The day figures are None when there are no durations.
    """

    count: int
    total: Decimal
    median: Decimal | None
    mean: Decimal | None
    p90: Decimal | None
    max: Decimal | None


def summarize(durations: Iterable[timedelta]) -> Summary:
    """Return the summary of `durations` (count 0 and no figures when there are none)."""
    values = list(durations)
    if not values:
        return Summary(0, Decimal(0), None, None, None, None)
    return Summary(
        len(values),
        to_days(sum(values, timedelta())),
        to_days(median(values)),
        to_days(mean(values)),
        to_days(p90(values)),
        to_days(max(values)),
    )
