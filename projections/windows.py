"""Look-back windows on the valid-time axis (`12m`, `1q`, `90d`); the periods they compare
are the ledger's period calendar (`ledger.periods`)."""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.errors import InputError
from ledger.periods import add_months

_WINDOW_RE = re.compile(r"^\s*(\d{1,9})\s*([dwmqy])\s*$", re.I | re.ASCII)
_LONGEST = {"d": 300 * 366, "w": 300 * 53, "m": 300 * 12, "q": 300 * 4, "y": 300}
"""No window is longer than the 300 years a ledger's dates may span (1900-2199)."""


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
        first = add_months(d, -self.count * {"m": 1, "q": 3, "y": 12}[self.unit])
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
    count, unit = int(m[1]), m[2].lower()
    if count > _LONGEST[unit]:
        raise InputError(
            "is longer than the 300 years a ledger's dates may span (1900-2199)",
            field="--window",
            value=text,
            has_value=True,
        )
    return Window(count, unit)
