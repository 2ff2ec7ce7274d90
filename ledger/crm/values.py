"""Values as CRM exports spell them, parsed into the ledger's types.

Each parser takes the trimmed text of one cell and returns the value, or raises ValueError with
a sentence fragment (`is not a decimal number`) that the caller prefixes with the location.
Money and probabilities are checked by the same field types the events use, so a value that
passes here is a value the event accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from ledger.crm.csvfile import column_key
from ledger.events.deal import ForecastCategory
from ledger.events.fields import Identifier, Money, Probability
from ledger.timeutil import MAX_YEAR, MIN_YEAR, parse_date

# ASCII digits only: `\d` alone would take other scripts' digits, which `int` reads too.
_INSTANT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?$",
    re.ASCII,
)
_DATE_SUFFIX_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[Tt ]00:00(?::00(?:\.0{1,6})?)?(?:Z|\+00:?00)?)?$", re.ASCII
)
_EPOCH_MS_RE = re.compile(r"^\d{13}$", re.ASCII)  # epoch milliseconds from 2001 to 2286
T = TypeVar("T")
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
_PROBABILITY: TypeAdapter[Decimal] = TypeAdapter(Probability)
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)

CACHED = 4096
"""Parsed values kept per parser: exports repeat amounts, dates and ids on many rows."""

INSTANT_FORMS = "yyyy-MM-dd HH:mm:ss (UTC), an ISO 8601 instant or epoch milliseconds"

FORECAST_CATEGORIES: dict[str, ForecastCategory | None] = {
    "pipeline": "pipeline",
    "bestcase": "best_case",
    "commit": "commit",
    "forecast": "commit",
    "omitted": "omitted",
    "omit": "omitted",
    "closed": None,
}
"""Forecast categories by `column_key` of their label or API name. `Closed` (Salesforce's
`Closed`, HubSpot's `CLOSED`) is carried by the outcome event itself, so it maps to nothing."""


def _checked(adapter: TypeAdapter[T], value: object) -> T:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        msg = str(exc.errors(include_url=False)[0].get("msg", "is invalid"))
        raise ValueError(msg.removeprefix("Value error, ")) from None


_NUMBER_RE = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")
"""A number as CRM exports write one: ASCII digits, an optional point, and an exponent such as
Salesforce's API writes for 8 digits or more (`1.2345678E7`; at most three digits, far beyond
any amount, and within what exact decimal arithmetic holds); no sign `+`, digit separators or
thousands commas."""


def _decimal(text: str) -> Decimal:
    if not _NUMBER_RE.match(text):
        raise ValueError(
            "is not a decimal number (digits with an optional point and exponent, such as "
            "120000.50 or 1.2E7)"
        )
    return Decimal(text)


@lru_cache(maxsize=CACHED)
def money(text: str) -> Decimal:
    """Return an amount such as `120000`, `120000.50` or `1.2E7` (never negative, at most 2
    places)."""
    return _checked(_MONEY, _decimal(text))


@lru_cache(maxsize=CACHED)
def percent(text: str) -> Decimal:
    """Return a Salesforce probability, a percentage 0-100, as a fraction 0-1."""
    d = _decimal(text)
    if not 0 <= d <= 100:
        raise ValueError("must be a percentage between 0 and 100")
    if d != d.quantize(Decimal("0.01")):  # a fraction of at most 4 places
        raise ValueError("has more than 2 decimal places (a percentage)")
    return _checked(_PROBABILITY, d / 100)


@lru_cache(maxsize=CACHED)
def fraction(text: str) -> Decimal:
    """Return a HubSpot probability, already a fraction 0-1."""
    return _checked(_PROBABILITY, _decimal(text))


def _in_range(dt: datetime) -> datetime:
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise ValueError(f"has a year outside {MIN_YEAR}-{MAX_YEAR}")
    return dt


def instant(text: str) -> datetime:
    """Return the UTC instant of a CRM timestamp.

    Accepted: `yyyy-MM-dd HH:mm:ss` without a zone (UTC, as Salesforce exports it), an ISO 8601
    instant with `Z` or an offset (`+0000` too), and epoch milliseconds (HubSpot).
    """
    if _EPOCH_MS_RE.match(text):
        return _in_range(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text)))
    m = _INSTANT_RE.match(text)
    if not m:
        raise ValueError(f"is not a timestamp ({INSTANT_FORMS})")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        dt = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise ValueError(f"is not a real date and time ({exc})") from None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"has an impossible UTC offset {zone} (at most ±23:59)")
        dt -= sign * timedelta(hours=hours, minutes=minutes)
    return _in_range(dt)


@lru_cache(maxsize=CACHED)
def calendar_date(text: str) -> date:
    """Return a date written `yyyy-MM-dd`, with or without a midnight time (` 00:00:00`).

    The time suffix is stripped, never converted: `2026-06-30 00:00:00` is 30 June in any zone.
    """
    m = _DATE_SUFFIX_RE.match(text)
    if not m:
        raise ValueError("is not a date (yyyy-MM-dd, optionally followed by 00:00:00)")
    return parse_date(m.group(1))


@lru_cache(maxsize=CACHED)
def date_or_instant(text: str) -> date:
    """Return the date of a HubSpot date property: a date, or the UTC day of an instant."""
    if _DATE_SUFFIX_RE.match(text):
        return calendar_date(text)
    return instant(text).date()


def flag(text: str) -> bool:
    """Return a boolean written 0/1 or true/false (any case)."""
    key = text.casefold()
    if key in ("1", "true"):
        return True
    if key in ("0", "false"):
        return False
    raise ValueError("is not a boolean (0, 1, true or false)")


@lru_cache(maxsize=CACHED)
def forecast_category(text: str) -> ForecastCategory | None:
    """Return the ledger's forecast category for a label or API name (None for `Closed`)."""
    key = column_key(text)
    if key not in FORECAST_CATEGORIES:
        raise ValueError(
            "is not a forecast category (Pipeline, Best Case/BestCase, Commit/Forecast, "
            "Omitted, Closed)"
        )
    return FORECAST_CATEGORIES[key]


@lru_cache(maxsize=CACHED)
def identifier(text: str) -> str:
    """Return a record id (non-empty text of at most 100 characters)."""
    return _checked(_IDENTIFIER, text)
