"""Pipeline questions (time in stage, aging, regressions, conversion, win rate, velocity,
coverage, health-tech metrics), each answered from the deal book at the close of `--as-of` as
known at `--known-at`, with the provenance of the answer.

Windows are inclusive days `--from`..`--to` (ledger time zone), counted as the valid-time span
`[start of --from, close of --to)`. `--to` defaults to `--as-of` and may not lie after it;
`--from` defaults to the day after the date three months before `--to` (a month end going back
to a month end, as `projections.windows` reads `3m`): the three months ending on `--to`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from ledger.errors import InputError
from ledger.periods import parse_period, period_of
from ledger.store import LedgerStore
from ledger.timeutil import MAX_YEAR, MIN_YEAR
from projections import conversion as conversion_p
from projections import coverage as coverage_p
from projections import health as health_p
from projections import regressions as regressions_p
from projections import stages as stages_p
from projections import velocity as velocity_p
from projections import win_rate as win_rate_p
from projections.deals import DealBook
from projections.slices import By, Span
from projections.windows import parse_window
from queries.common import Provenance, TimeFrame, TimeQuery, parse_day, time_frame
from queries.deals import deal_book, period_frame

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Asked:
    """What a pipeline question stands on: its time frame, as-of day and deal book."""

    time: TimeFrame
    as_of: date
    book: DealBook

    @property
    def until(self) -> datetime:
        """Return the exclusive valid-time bound: the close of the as-of day."""
        return self.time.bound(self.as_of)


def ask(store: LedgerStore, when: TimeQuery) -> Asked:
    """Return the frame, as-of day and deal book of a question at (`as_of`, `known_at`)
    (`queries.deals.deal_book`: the deals without their events)."""
    answer = deal_book(store, when)
    return Asked(answer.time, answer.as_of, answer.book)


@dataclass(frozen=True, slots=True)
class Window:
    """The inclusive days of a window and the valid-time span they make."""

    first: date
    last: date
    span: Span

    def options(self) -> dict[str, str | None]:
        """Return the window as provenance options (`from`, `to`)."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def window(asked: Asked, start: str | None, end: str | None) -> Window:
    """Return the window `--from`..`--to` of a question (see the module docstring)."""
    last = parse_day(end, "--to", asked.as_of)
    if last > asked.as_of:
        raise InputError(
            f"must not be after --as-of ({asked.as_of.isoformat()})",
            field="--to",
            value=last.isoformat(),
            has_value=True,
        )
    default_first = parse_window("3m").before(last) + timedelta(days=1)
    first = parse_day(start, "--from", default_first)
    if first > last:
        raise InputError(
            f"must not be after --to ({last.isoformat()})",
            field="--from",
            value=first.isoformat(),
            has_value=True,
        )
    span = Span(asked.time.start_bound(first), asked.time.bound(last))
    return Window(first, last, span)


def _windowed(
    store: LedgerStore,
    when: TimeQuery,
    window_days: tuple[str | None, str | None],
    answer: Callable[[Asked, Span], T],
    provenance: tuple[str, str],
    **options: Any,
) -> tuple[T, Provenance]:
    """Return `answer` over the window `--from`..`--to` and its provenance (metric, definition)."""
    asked = ask(store, when)
    w = window(asked, *window_days)
    return answer(asked, w.span), _provenance(asked, provenance, {**w.options(), **options})


def _maybe_windowed(
    store: LedgerStore,
    when: TimeQuery,
    window_days: tuple[str | None, str | None],
    answer: Callable[[Asked, Span | None], T],
    provenance: tuple[str, str],
    **options: Any,
) -> tuple[T, Provenance]:
    """Like `_windowed`, but without `--from` and `--to` there is no window (span None)."""
    asked = ask(store, when)
    w = window(asked, *window_days) if window_days != (None, None) else None
    days = w.options() if w is not None else {"from": None, "to": None}
    return answer(asked, w.span if w else None), _provenance(asked, provenance, {**days, **options})


def _provenance(asked: Asked, what: tuple[str, str], options: dict[str, Any]) -> Provenance:
    metric, definition = what
    return asked.time.provenance(metric, definition, asked.as_of, **options)


def stages_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    start: str | None = None,
    end: str | None = None,
    by: By | None = None,
) -> tuple[list[stages_p.StageLine], Provenance]:
    """Return time in stage per group and stage at the close of `as_of`.

    With `--from`/`--to` only the visits that ended in that window count.
    """
    return _maybe_windowed(
        store,
        when,
        (start, end),
        lambda a, span: stages_p.time_in_stage(a.book, a.until, span=span, by=by),
        ("stages", stages_p.DEFINITION),
        by=by,
    )


def deal_stages_query(
    store: LedgerStore, when: TimeQuery, *, start: str | None = None, end: str | None = None
) -> tuple[list[stages_p.DealStage], Provenance]:
    """Return each deal's visits, cumulative and latest-visit days per stage at `as_of`."""
    return _maybe_windowed(
        store,
        when,
        (start, end),
        lambda a, span: stages_p.deal_stages(a.book, a.until, span),
        ("stages", stages_p.DEFINITION),
        view="deals",
    )


MAX_AGING_DAYS = (date(MAX_YEAR + 1, 1, 1) - date(MIN_YEAR, 1, 1)).days
"""No deal is older than the span of the years a ledger's dates may have."""


def aging_query(
    store: LedgerStore, when: TimeQuery, *, older_than_days: int = 180
) -> tuple[list[stages_p.AgingLine], Provenance]:
    """Return the deals open at the close of `as_of` and older than the threshold."""
    if not 0 <= older_than_days <= MAX_AGING_DAYS:
        raise InputError(
            f"must be a number of days from 0 to {MAX_AGING_DAYS} (the span of the years "
            f"{MIN_YEAR}-{MAX_YEAR})",
            field="--days",
            value=older_than_days,
            has_value=True,
        )
    asked = ask(store, when)
    rows = stages_p.aging(asked.book, asked.until, older_than_days)
    return rows, asked.time.provenance(
        "aging", stages_p.AGING_DEFINITION, asked.as_of, older_than_days=older_than_days
    )


def regressions_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    start: str | None = None,
    end: str | None = None,
    by: By | None = None,
) -> tuple[regressions_p.Regressions, Provenance]:
    """Return transitions and regressions effective in the window `--from`..`--to`."""
    return _windowed(
        store,
        when,
        (start, end),
        lambda a, span: regressions_p.regressions(a.book, span, by),
        ("regressions", regressions_p.DEFINITION),
        by=by,
    )


def conversion_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    start: str | None = None,
    end: str | None = None,
    by: By | None = None,
) -> tuple[list[conversion_p.ConversionLine], Provenance]:
    """Return stage-to-stage conversion at the close of `as_of` (a window: deals opened in it)."""
    return _maybe_windowed(
        store,
        when,
        (start, end),
        lambda a, span: conversion_p.conversion(a.book, span, by),
        ("conversion", conversion_p.DEFINITION),
        by=by,
    )


def win_rate_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    start: str | None = None,
    end: str | None = None,
    by: By | None = None,
) -> tuple[win_rate_p.WinRates, Provenance]:
    """Return win rates and sales cycles of the deals closed in the window `--from`..`--to`."""
    return _windowed(
        store,
        when,
        (start, end),
        lambda a, span: win_rate_p.win_rates(a.book, span, by),
        ("win-rate", win_rate_p.DEFINITION),
        by=by,
    )


def velocity_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    start: str | None = None,
    end: str | None = None,
    by: By | None = None,
) -> tuple[list[velocity_p.VelocityLine], Provenance]:
    """Return sales velocity: deals open at `as_of`, rates of the deals closed in the window."""
    return _windowed(
        store,
        when,
        (start, end),
        lambda a, span: velocity_p.velocity(a.book, span, by),
        ("velocity", velocity_p.DEFINITION),
        by=by,
    )


def coverage_query(
    store: LedgerStore, when: TimeQuery, *, period: str | None = None
) -> tuple[coverage_p.Coverage, Provenance]:
    """Return the pipeline coverage of `--period` (default: the quarter of `as_of`), from the
    deals that can be in the period (as a forecast reads them, `queries.deals.period_frame`)."""
    frame = time_frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    fiscal_start = frame.config.fiscal_year_start_month
    p = (
        parse_period(period, fiscal_start)
        if period is not None
        else period_of(as_of, "quarter", fiscal_start)
    )
    if period is None and int(p.label[:4]) > MAX_YEAR:
        # A fiscal year is named by the year it ends in: a late day of the last year a
        # ledger holds may lie in a quarter whose name has a year no period label may have.
        raise InputError(
            f"lies in the fiscal quarter {p.label}, whose name has a year after {MAX_YEAR}; "
            "give a --period",
            field="--as-of",
            value=as_of.isoformat(),
            has_value=True,
        )
    book = period_frame(store, frame, p.label).book(as_of)
    result = coverage_p.coverage(book, p, frame.day_of)
    return result, frame.provenance("coverage", coverage_p.DEFINITION, as_of, period=p.label)


def health_query(
    store: LedgerStore, when: TimeQuery, *, start: str | None = None, end: str | None = None
) -> tuple[list[health_p.HealthLine], Provenance]:
    """Return the health-tech metrics at the close of `as_of` (finished in the window if any)."""
    return _maybe_windowed(
        store,
        when,
        (start, end),
        lambda a, span: health_p.health(a.book, a.until, span),
        ("health", health_p.DEFINITION),
    )


def awaiting_go_live_query(
    store: LedgerStore, when: TimeQuery
) -> tuple[list[health_p.AwaitingGoLive], Provenance]:
    """Return the contracts signed and not live at the close of `as_of`, with their age."""
    asked = ask(store, when)
    rows = health_p.awaiting_go_live(asked.book, asked.until)
    return rows, asked.time.provenance(
        "health", health_p.DEFINITION, asked.as_of, view="awaiting-go-live"
    )
