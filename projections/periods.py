"""Periods and windows on the valid-time axis.

Periods are half-open `[start, end)` in days. Quarters and years are fiscal when the ledger's
fiscal year starts in another month than January; a fiscal year is named by the calendar year in
which it ends (fiscal year start February: FY2027 = 2026-02-01 .. 2027-01-31, its Q1 is
`2027-Q1`). Months are always calendar months, labelled `YYYY-MM`.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from ledger.errors import InputError
from ledger.timeutil import MAX_YEAR, MIN_YEAR

Grain = Literal["month", "quarter", "year"]
_WINDOW_RE = re.compile(r"^\s*(\d{1,3})\s*([dwmqy])\s*$", re.I)
_PERIOD_RE = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


@dataclass(frozen=True, slots=True)
class Window:
    """A look-back window such as 12 months (`12m`), one quarter (`1q`) or 90 days (`90d`)."""

    count: int
    unit: str

    @property
    def label(self) -> str:
        return f"{self.count}{self.unit}"

    def before(self, d: date) -> date:
        """Return the date this window before `d`.

        Months, quarters and years keep month ends: the last day of a month goes to the last
        day of the month the window lands in (Jun 30 - 1q = Mar 31, Mar 31 - 1m = Feb 28), so a
        quarter-end question compares with the previous quarter's end.
        """
        if self.unit in ("d", "w"):
            return d - timedelta(days=self.count * (7 if self.unit == "w" else 1))
        first = _add_months(d, -self.count * {"m": 1, "q": 3, "y": 12}[self.unit])
        last = monthrange(first.year, first.month)[1]
        month_end = d.day == monthrange(d.year, d.month)[1]
        return first.replace(day=last if month_end else min(d.day, last))


def parse_window(text: str) -> Window:
    """Return the window written as `<n><unit>` with unit d, w, m, q or y (e.g. `12m`)."""
    m = _WINDOW_RE.match(text)
    if not m or int(m[1]) == 0:
        raise InputError(
            "is not a window such as 12m, 3m, 1q, 1y or 90d",
            field="--window",
            value=text,
            has_value=True,
        )
    return Window(int(m[1]), m[2].lower())


@dataclass(frozen=True, slots=True)
class Period:
    """A labelled period of days, `[start, end)`."""

    label: str
    start: date
    end: date
    grain: Grain

    @property
    def last_day(self) -> date:
        """Return the period's last day (inclusive)."""
        return date.fromordinal(self.end.toordinal() - 1)


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    return date(total // 12, total % 12 + 1, 1)


def _fiscal_year_of(d: date, fiscal_start: int) -> int:
    if fiscal_start == 1:
        return d.year
    return d.year + 1 if d.month >= fiscal_start else d.year


def _fiscal_year_start(fy: int, fiscal_start: int) -> date:
    return date(fy if fiscal_start == 1 else fy - 1, fiscal_start, 1)


def period_of(d: date, grain: Grain, fiscal_start: int = 1) -> Period:
    """Return the month, (fiscal) quarter or (fiscal) year containing day `d`."""
    if grain == "month":
        start = date(d.year, d.month, 1)
        return Period(f"{d.year:04d}-{d.month:02d}", start, _add_months(start, 1), grain)
    fy = _fiscal_year_of(d, fiscal_start)
    fy_start = _fiscal_year_start(fy, fiscal_start)
    if grain == "year":
        return Period(f"{fy:04d}", fy_start, _add_months(fy_start, 12), grain)
    q = ((d.month - fiscal_start) % 12) // 3
    start = _add_months(fy_start, 3 * q)
    return Period(f"{fy:04d}-Q{q + 1}", start, _add_months(start, 3), grain)


def next_period(p: Period, fiscal_start: int = 1) -> Period:
    """Return the period right after `p`, of the same grain."""
    return period_of(p.end, p.grain, fiscal_start)


def parse_period(text: str, fiscal_start: int = 1, *, field: str = "--period") -> Period:
    """Return the period written as `YYYY-Qn`, `YYYY-MM` or `YYYY` (fiscal-aware)."""
    m = _PERIOD_RE.match(text.strip())
    if not m:
        raise InputError(
            "is not a period such as 2026-Q4, 2026-11 or 2026",
            field=field,
            value=text,
            has_value=True,
        )
    year = int(m[1])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InputError(
            f"has a year outside {MIN_YEAR}-{MAX_YEAR}", field=field, value=text, has_value=True
        )
    if m[3]:
        return period_of(date(year, int(m[3]), 1), "month", fiscal_start)
    fy_start = _fiscal_year_start(year, fiscal_start)
    if m[2]:
        return period_of(_add_months(fy_start, 3 * (int(m[2]) - 1)), "quarter", fiscal_start)
    return period_of(fy_start, "year", fiscal_start)
