"""Parsing and formatting of the two time axes.

Instants are stored and hashed as fixed-width UTC strings, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which
sort lexicographically in time order on every backend. A bare date given by a user means the
start of that day in the ledger's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pendulum

# ASCII digits only: `\d` alone would take other scripts' digits, which `int` reads too.
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)
_INSTANT_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
MIN_YEAR = 1900
MAX_YEAR = 2199


class TimeParseError(ValueError):
    """A date or instant that cannot be read; the message is one user-facing sentence."""


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`; raises TimeParseError when it does not exist."""
    try:
        tz = pendulum.timezone(name)
    except Exception as exc:  # pendulum raises its own InvalidTimezone subclasses
        raise TimeParseError(f"'{name}' is not an IANA time zone name such as 'UTC'") from exc
    if not isinstance(tz, ZoneInfo):
        raise TimeParseError(f"'{name}' is a fixed offset, not an IANA time zone name")
    return tz


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    """Return the names of the IANA time zone database, as spelt there (the system's
    database and the `tzdata` package together)."""
    return frozenset(pendulum.timezones())


_MACHINE_ZONE = (
    "names the time zone of the machine that reads it, which another machine reads otherwise"
)
_NO_PLACE_ZONES = {
    "localtime": _MACHINE_ZONE,
    "posixrules": _MACHINE_ZONE,
    "Factory": "is the time zone database's mark of a machine whose zone was never set, no "
    "place's time zone",
}
"""Names in a system's zone folder that are no place's zone: copies of, or links to, whichever
zone that machine was set up with, and the placeholder of one set up with none."""


def iana_zone_name(name: str) -> str:
    """Return `name` when it names an IANA time zone, as a ledger's time zone must; raise
    TimeParseError otherwise.

    A ledger's days must be the same days on every machine that reads it, so the name must be
    one of the database's own (spelt as it spells them; `UTC` in any case, which every reader
    knows): not `localtime`, which is whatever zone the machine reading it is set to, nor
    `Factory`, nor a spelling that only a file system blind to case finds.
    """
    if name.upper() == "UTC" or (name in _iana_names() and name not in _NO_PLACE_ZONES):
        zone(name)
        return name
    if name in _NO_PLACE_ZONES:
        raise TimeParseError(
            f"'{name}' {_NO_PLACE_ZONES[name]}; give the IANA name of the zone, such as "
            "America/New_York"
        )
    # The system's copies under posix/ and right/ (leap seconds) are none of its names.
    plain = name.removeprefix("posix/").removeprefix("right/").lower()
    spelt = next((n for n in sorted(_iana_names()) if n.lower() == plain), None)
    hint = f"; its IANA name is '{spelt}'" if spelt is not None else ""
    raise TimeParseError(f"'{name}' is not an IANA time zone name such as 'UTC'{hint}")


def parse_date(text: str) -> date:
    """Return the calendar date written as `YYYY-MM-DD`."""
    m = _DATE_RE.match(text.strip())
    if not m:
        raise TimeParseError("is not a date in the form YYYY-MM-DD")
    try:
        d = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise TimeParseError(f"is not a real calendar date ({exc})") from exc
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise TimeParseError(f"has a year outside {MIN_YEAR}-{MAX_YEAR}")
    return d


def start_of_day(d: date, tz_name: str) -> datetime:
    """Return the UTC instant at which day `d` starts in time zone `tz_name`."""
    local = datetime(d.year, d.month, d.day, tzinfo=zone(tz_name))
    return local.astimezone(UTC)


def end_of_day(d: date, tz_name: str) -> datetime:
    """Return the UTC instant just after day `d` ends in `tz_name` (exclusive bound)."""
    return start_of_day(d + timedelta(days=1), tz_name)


def parse_instant(text: str, tz_name: str = "UTC") -> datetime:
    """Return the UTC instant for a bare date (start of day in `tz_name`) or an RFC 3339 time."""
    s = text.strip()
    if _DATE_RE.match(s):
        return _in_years(start_of_day(parse_date(s), tz_name))
    if not _INSTANT_RE.match(s):
        raise TimeParseError(_not_an_instant(s))
    offset = s[-6:]
    if offset[0] in "+-" and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        raise TimeParseError(
            f"has an impossible UTC offset ({offset}); offsets run from -23:59 to +23:59"
        )
    try:
        dt = datetime.fromisoformat(s.replace("z", "Z").replace("t", "T"))
    except ValueError as exc:
        raise TimeParseError(f"is not a real instant ({exc})") from exc
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise TimeParseError(f"has a year outside {MIN_YEAR}-{MAX_YEAR}")
    return _in_years(dt.astimezone(UTC))


_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", re.ASCII)
_OFFSET_RE = re.compile(r"^([Zz]|[+-]\d{2}:\d{2})$", re.ASCII)


def _not_an_instant(text: str) -> str:
    """Return why `text` (stripped) is not a bare date or an RFC 3339 instant, as a sentence's
    end: what follows its time when it begins like one."""
    m = _TIME_RE.match(text)
    if m is None:
        return "is not a date (YYYY-MM-DD) or an RFC 3339 instant"
    rest = text[m.end() :]
    if m[2] is not None and len(m[2]) > 7:
        return "has more than 6 digits of a second; the ledger keeps microseconds"
    if not rest:
        return (
            "has no UTC offset; write it as RFC 3339 (e.g. 2026-03-01T09:30:00Z) or give a "
            "bare date"
        )
    if re.match(r"^[+-]\d{4}$", rest, re.ASCII):
        return "writes its UTC offset without a colon; write it as in RFC 3339 (e.g. +05:30)"
    if rest[0] == "," and m[1] is not None:
        return (
            "writes its fraction of a second after a comma; RFC 3339 takes a point "
            "(e.g. 09:30:00.5Z)"
        )
    if rest[0].isspace() and _OFFSET_RE.match(rest.strip()):
        return (
            "has a space before its UTC offset; write it right after the time (e.g. 09:30:00-05:00)"
        )
    # What follows is not quoted: the value itself is quoted only where it does not look
    # like a patient identifier (see `ledger.errors.withheld`).
    return "has more after its time than one UTC offset (Z or +HH:MM / -HH:MM) as RFC 3339 has"


def _in_years(utc: datetime) -> datetime:
    """Return the UTC instant `utc`; raise TimeParseError when its year is outside the
    ledger's years (a day typed in a zone ahead of UTC can start in the year before)."""
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise TimeParseError(f"falls in UTC in a year outside {MIN_YEAR}-{MAX_YEAR}")
    return utc


def format_instant(dt: datetime) -> str:
    """Return the canonical fixed-width UTC text of an aware instant."""
    u = dt if dt.tzinfo is UTC else dt.astimezone(UTC)
    if type(u) is datetime and u.year >= 1000:
        # The same text as the strftime below (whose %Y pads to four digits only from year
        # 1000 on), at a fraction of the cost: a UTC isoformat ends in "+00:00" and writes the
        # microseconds only when there are some.
        text = u.isoformat()
        return (text[:26] if u.microsecond else text[:19] + ".000000") + "Z"
    return u.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shown_instant(t: datetime) -> str:
    """Return an instant as answers show it (JSON, CSV, meta data, titles): RFC 3339 UTC text
    ending in `Z`, with microseconds only when it has some. Stored and exported instants keep
    the fixed-width `format_instant` text the hash chain covers."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_instant(text: str) -> datetime:
    """Return the aware UTC datetime of a canonical stored instant."""
    return datetime.fromisoformat(text)


def utc_now() -> datetime:
    """Return the current instant, in UTC, truncated to microseconds."""
    return datetime.now(UTC)
