"""The period calendar of the valid-time axis: months, (fiscal) quarters and (fiscal) years.

Periods are half-open `[start, end)` in days. Quarters and years are fiscal when the ledger's
fiscal year starts in another month than January; a fiscal year is named by the calendar year in
which it ends (fiscal year start February: FY2027 = 2026-02-01 .. 2027-01-31, its Q1 is
`2027-Q1`). Months are always calendar months, labelled `YYYY-MM`. Period labels are written
`YYYY-Qn`, `YYYY-MM` or `YYYY`, with years 1900-2199 like every date the ledger takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from ledger.errors import InputError
from ledger.timeutil import MAX_YEAR, MIN_YEAR

Grain = Literal["month", "quarter", "year"]
_PERIOD_RE = re.compile(r"^([0-9]{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")  # ASCII digits only
PERIOD_EXAMPLE = "a period such as 2026-Q4, 2026-11 or 2026"


def _label(text: str) -> re.Match[str]:
    """Return the parts of the period label `text`; raise ValueError saying why it is none."""
    m = _PERIOD_RE.match(text.strip())
    if not m:
        raise ValueError(f"is not {PERIOD_EXAMPLE}")
    if not MIN_YEAR <= int(m[1]) <= MAX_YEAR:
        raise ValueError(f"has a year outside {MIN_YEAR}-{MAX_YEAR}")
    return m


def period_label_problem(text: str) -> str | None:
    """Return why `text` is not a period label (a sentence fragment), or None if it is one."""
    try:
        _label(text)
    except ValueError as exc:
        return str(exc)
    return None


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


def add_months(d: date, months: int) -> date:
    """Return the first day of the month `months` after (or before) the month of `d`."""
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
        return Period(f"{d.year:04d}-{d.month:02d}", start, add_months(start, 1), grain)
    fy = _fiscal_year_of(d, fiscal_start)
    fy_start = _fiscal_year_start(fy, fiscal_start)
    if grain == "year":
        return Period(f"{fy:04d}", fy_start, add_months(fy_start, 12), grain)
    q = ((d.month - fiscal_start) % 12) // 3
    start = add_months(fy_start, 3 * q)
    return Period(f"{fy:04d}-Q{q + 1}", start, add_months(start, 3), grain)


def next_period(p: Period, fiscal_start: int = 1) -> Period:
    """Return the period right after `p`, of the same grain."""
    return period_of(p.end, p.grain, fiscal_start)


def parse_period(text: str, fiscal_start: int = 1, *, field: str = "--period") -> Period:
    """Return the period written as `YYYY-Qn`, `YYYY-MM` or `YYYY` (fiscal-aware)."""
    try:
        m = _label(text)
    except ValueError as exc:
        raise InputError(str(exc), field=field, value=text, has_value=True) from None
    year = int(m[1])
    if m[3]:
        return period_of(date(year, int(m[3]), 1), "month", fiscal_start)
    fy_start = _fiscal_year_start(year, fiscal_start)
    if m[2]:
        return period_of(add_months(fy_start, 3 * (int(m[2]) - 1)), "quarter", fiscal_start)
    return period_of(fy_start, "year", fiscal_start)
