"""What every query shares: the two time coordinates as typed, the time frame of an answer,
and the provenance that says what an answer is."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ledger.errors import NOT_CONFIGURED, InputError, StorageError
from ledger.events import EventRetracted, LedgerConfigured
from ledger.operations import parse_known_at
from ledger.store import Head, LedgerStore
from ledger.timeutil import (
    MIN_YEAR,
    TimeParseError,
    end_of_day,
    parse_date,
    read_instant,
    shown_instant,
    utc_now,
    zone,
)
from projections.logged import LoggedEvent
from projections.windows import Window, parse_window


@dataclass(frozen=True, slots=True)
class Provenance:
    """What an answer is: the metric definition, the options, both time coordinates, the head."""

    metric: str
    definition: str
    options: dict[str, Any]
    as_of: date
    known_at: datetime | None
    head: Head
    currency: str

    def as_meta(self) -> dict[str, Any]:
        """Return the provenance as the `meta` block of a report (stable keys)."""
        return {
            "metric": self.metric,
            "definition": self.definition,
            "options": self.options,
            "as_of": self.as_of.isoformat(),
            "known_at": shown_instant(self.known_at) if self.known_at else None,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class TimeQuery:
    """The two time coordinates as the user typed them (None: today / everything recorded)."""

    as_of: str | None = None
    known_at: str | None = None


def parse_day(text: str | None, option: str, default: date) -> date:
    """Return the day the user typed for `option`, or `default` when none was given."""
    if text is None:
        return default
    try:
        return parse_date(text)
    except TimeParseError as exc:
        raise InputError(str(exc), field=option, value=text, has_value=True) from None


def window_start(window: str, as_of: date) -> tuple[Window, date]:
    """Return the parsed `--window` and the day it reaches back to from `as_of` (valid time);
    raise InputError when that day is before the earliest year a ledger holds."""
    w = parse_window(window)
    start = w.before(as_of)
    if start.year < MIN_YEAR:
        raise InputError(
            f"reaches back to {start.isoformat()}, before {MIN_YEAR}",
            field="--window",
            value=window,
            has_value=True,
        )
    return w, start


@dataclass(frozen=True, slots=True)
class TimeFrame:
    """The frame of one answer: configuration, the log head it reads, and its transaction time.

    `head` is the last event of the log prefix the answer reads (the head known at
    `--known-at`, else the log's head), so `head.seq` bounds every read of the answer;
    `upto_seq` is that seq only when a `--known-at` cut the log. `known_at` is the transaction
    time the answer stands at (the head's recorded_at when the user gave none); `today` is
    today's date in the ledger's time zone, and `now` the instant the frame was made, which
    every other transaction time typed for the same answer reads "today" as.
    """

    config: LedgerConfigured
    head: Head
    known_at: datetime | None
    upto_seq: int | None
    today: date
    now: datetime

    def bound(self, d: date) -> datetime:
        """Return the exclusive valid-time bound 'at the close of day d' (ledger time zone)."""
        return end_of_day(d, self.config.timezone)

    def start_bound(self, d: date) -> datetime:
        """Return the exclusive bound at the close of the day before `d` (its first instant)."""
        return self.bound(d - timedelta(days=1))

    def day_of(self, t: datetime) -> date:
        """Return the ledger-time-zone day of the instant `t`."""
        return t.astimezone(zone(self.config.timezone)).date()

    def provenance(self, metric: str, definition: str, as_of: date, **options: Any) -> Provenance:
        """Return the provenance of an answer computed in this frame."""
        return Provenance(
            metric, definition, options, as_of, self.known_at, self.head, self.config.currency
        )


def time_frame(
    store: LedgerStore, known_at_text: str | None, *, option: str = "--known-at"
) -> TimeFrame:
    """Return the frame of a query standing at `--known-at` (None: everything recorded);
    `option` is the name a mistake in the text is reported under.

    `upto_seq` is the last seq recorded by then (None when the whole log counts). The frame's
    configuration (time zone, fiscal year, currency, pipeline) is the one known at that
    transaction time: a past view reads days and periods as the ledger did then. The
    `--known-at` text itself is read in the ledger's current time zone, as every date typed.
    """
    config = store.config()
    if config is None:
        raise StorageError(NOT_CONFIGURED)
    now = utc_now()
    known_at = (
        parse_known_at(known_at_text, config.timezone, option=option, now=now)
        if known_at_text is not None
        else None
    )
    if known_at is not None:
        config = store.config(known_at) or config
        head = store.head_known_at(known_at)
        upto: int | None = head.seq
    else:
        head, upto = store.head(), None
        known_at = read_instant(head.recorded_at) if head.recorded_at else None
    today = now.astimezone(zone(config.timezone)).date()
    return TimeFrame(config, head, known_at, upto, today, now)


class ConfigTimeline:
    """The configuration in force along a log: on the prefix ending at a seq, or known at a
    transaction time — the last one recorded by then that no retraction recorded by then
    took out (None before the first). Built from the events in seq order; events of other
    types are passed over."""

    def __init__(self, events: Iterable[LoggedEvent]) -> None:
        live: list[tuple[str, LedgerConfigured]] = []  # (event_id, configuration) in force
        self._seqs: list[int] = []  # where the configuration in force may change, and it
        self._recorded: list[datetime] = []
        self._configs: list[LedgerConfigured | None] = []
        for e in events:
            p = e.payload
            if isinstance(p, LedgerConfigured):
                live.append((e.event_id, p))
            elif isinstance(p, EventRetracted):
                live = [c for c in live if c[0] != p.retracts]
            else:
                continue
            self._seqs.append(e.seq)
            self._recorded.append(e.recorded_at)
            self._configs.append(live[-1][1] if live else None)

    def at_seq(self, seq: int) -> LedgerConfigured | None:
        """Return the configuration in force on the log prefix ending at `seq`."""
        i = bisect_right(self._seqs, seq)
        return self._configs[i - 1] if i else None

    def known_at(self, t: datetime) -> LedgerConfigured | None:
        """Return the configuration known at transaction time `t` (recorded_at <= t)."""
        i = bisect_right(self._recorded, t)
        return self._configs[i - 1] if i else None
