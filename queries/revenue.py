"""Revenue questions (ARR, movements, NRR/GRR, cohorts) with the provenance of each answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ledger.errors import InputError, StorageError
from ledger.events import LedgerConfigured
from ledger.store import Head, LedgerStore
from ledger.timeutil import (
    TimeParseError,
    end_of_day,
    format_instant,
    parse_date,
    parse_instant,
    read_instant,
    utc_now,
    zone,
)
from projections import arr as arr_p
from projections import cohorts as cohorts_p
from projections import movements as movements_p
from projections import retention as retention_p
from projections.arr import By
from projections.periods import Grain, parse_window
from projections.retention import Basis
from projections.revenue_book import RevenueView
from queries.readmodel import revenue_view


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
            "known_at": format_instant(self.known_at) if self.known_at else None,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class TimeQuery:
    """The two time coordinates as the user typed them (None: today / everything recorded)."""

    as_of: str | None = None
    known_at: str | None = None


@dataclass(frozen=True, slots=True)
class _Frame:
    config: LedgerConfigured
    view: RevenueView
    head: Head
    known_at: datetime | None
    today: date = field(default_factory=date.today)

    def bound(self, d: date) -> datetime:
        """Return the exclusive valid-time bound 'at the close of day d' (ledger time zone)."""
        return end_of_day(d, self.config.timezone)

    def day_of(self, t: datetime) -> date:
        return t.astimezone(zone(self.config.timezone)).date()

    def start_bound(self, d: date) -> datetime:
        return self.bound(d - timedelta(days=1))


def _day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return parse_date(text)
    except TimeParseError as exc:
        raise InputError(str(exc), field=option, value=text, has_value=True) from None


def _known_at(text: str, tz: str) -> datetime:
    try:
        if len(text.strip()) == 10:
            return end_of_day(parse_date(text), tz) - timedelta(microseconds=1)
        return parse_instant(text, tz)
    except TimeParseError as exc:
        raise InputError(str(exc), field="--known-at", value=text, has_value=True) from None


def _frame(store: LedgerStore, known_at_text: str | None) -> _Frame:
    config = store.config()
    if config is None:
        raise StorageError("the ledger has no configuration yet; run `revledger init` first")
    known_at = _known_at(known_at_text, config.timezone) if known_at_text else None
    known_head = store.head_known_at(known_at) if known_at is not None else None
    view, head = revenue_view(store, known_head.seq if known_head else None)
    if known_head is not None:
        head = known_head
    elif head.recorded_at:
        known_at = read_instant(head.recorded_at)
    today = utc_now().astimezone(zone(config.timezone)).date()
    return _Frame(config, view, head, known_at, today)


def _provenance(
    frame: _Frame, metric: str, definition: str, as_of: date, **options: Any
) -> Provenance:
    return Provenance(
        metric, definition, options, as_of, frame.known_at, frame.head, frame.config.currency
    )


def arr_query(
    store: LedgerStore, when: TimeQuery, *, by: By | None = None
) -> tuple[arr_p.ArrSnapshot, Provenance]:
    """Return ARR, backlog, projected churn and CARR at the close of `as_of`, as known at."""
    frame = _frame(store, when.known_at)
    as_of = _day(when.as_of, "--as-of", frame.today)
    snap = arr_p.arr_snapshot(frame.view, frame.bound(as_of), by)
    return snap, _provenance(frame, "arr", arr_p.DEFINITION, as_of, by=by)


def movements_query(
    store: LedgerStore, when: TimeQuery, *, start: str | None, by: By | None = None
) -> tuple[movements_p.Movements, Provenance]:
    """Return the ARR bridge from the close of `start` to the close of `as_of`."""
    frame = _frame(store, when.known_at)
    as_of = _day(when.as_of, "--to", frame.today)
    default_start = parse_window("3m").before(as_of)
    first = _day(start, "--from", default_start)
    if first > as_of:
        raise InputError(
            f"must not be after --to ({as_of.isoformat()})",
            field="--from",
            value=first.isoformat(),
            has_value=True,
        )
    result = movements_p.movements(frame.view, frame.bound(first), frame.bound(as_of), by)
    return result, _provenance(
        frame, "movements", movements_p.DEFINITION, as_of, start=first.isoformat(), by=by
    )


def retention_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    window: str = "12m",
    basis: Basis = "arr",
    by: By | None = None,
) -> tuple[retention_p.Retention, Provenance]:
    """Return NRR and GRR as of the close of `as_of` over `window` on `basis`."""
    w = parse_window(window)
    frame = _frame(store, when.known_at)
    as_of = _day(when.as_of, "--as-of", frame.today)
    start = w.before(as_of)
    result = retention_p.retention(frame.view, frame.bound(start), frame.bound(as_of), basis, by)
    return result, _provenance(
        frame,
        "nrr",
        retention_p.DEFINITION,
        as_of,
        window=w.label,
        basis=basis,
        start=start.isoformat(),
        by=by,
    )


def cohorts_query(
    store: LedgerStore, when: TimeQuery, *, grain: Grain = "quarter"
) -> tuple[list[cohorts_p.CohortRow], Provenance]:
    """Return revenue and logo retention per cohort of first go-live, up to `as_of`."""
    frame = _frame(store, when.known_at)
    as_of = _day(when.as_of, "--as-of", frame.today)
    rows = cohorts_p.cohorts(
        frame.view,
        frame.bound(as_of),
        grain=grain,
        fiscal_start=frame.config.fiscal_year_start_month,
        day_of=frame.day_of,
        bound_of=frame.start_bound,
    )
    return rows, _provenance(frame, "cohorts", cohorts_p.DEFINITION, as_of, grain=grain)
