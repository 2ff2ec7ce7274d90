"""Forecast questions: a period's forecast, how it changed between two views, and the calls
submitted for it, each with the provenance of the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ledger.errors import UsageError
from ledger.events import LedgerConfigured
from ledger.operations import parse_known_at
from ledger.periods import Period, parse_period
from ledger.store import LedgerStore
from ledger.timeutil import shown_instant
from projections import forecast as forecast_p
from projections import forecast_calls as calls_p
from projections import forecast_diff as diff_p
from projections.forecast import Calendar
from queries.common import (
    ConfigTimeline,
    Provenance,
    TimeFrame,
    TimeQuery,
    parse_day,
    time_frame,
)
from queries.deals import period_frame


def frame_period(frame: TimeFrame, text: str) -> Period:
    """Return the period typed for --period, read with the ledger's fiscal year start."""
    return parse_period(text, frame.config.fiscal_year_start_month)


def period_options(p: Period) -> dict[str, str]:
    """Return the options that name a period in an answer's provenance (first and last day)."""
    return {"period": p.label, "start": p.start.isoformat(), "end": p.last_day.isoformat()}


def parse_known_option(text: str, frame: TimeFrame, option: str) -> datetime:
    """Return the transaction time typed for `option` (a date: the end of that day; today:
    the frame's now)."""
    return parse_known_at(text, frame.config.timezone, option=option, now=frame.now)


def forecast_query(
    store: LedgerStore, when: TimeQuery, *, period: str
) -> tuple[forecast_p.Forecast, Provenance]:
    """Return the forecast of `period` at the close of `as_of`, as known at `known_at`."""
    deals = period_frame(store, time_frame(store, when.known_at), period)
    frame = deals.time
    p = frame_period(frame, period)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    result = forecast_p.forecast(deals.book(as_of), p, frame.day_of)
    return result, frame.provenance("forecast", forecast_p.DEFINITION, as_of, **period_options(p))


@dataclass(frozen=True, slots=True)
class AuditViews:
    """The two views of a forecast audit as typed; a missing `from_*` takes its `to_*` value,
    a missing `to_as_of` is today and a missing `to_known_at` is everything recorded."""

    from_as_of: str | None = None
    to_as_of: str | None = None
    from_known_at: str | None = None
    to_known_at: str | None = None


def _reads_days(config: LedgerConfigured) -> tuple[str, int]:
    """Return what of a configuration decides how days and periods are read."""
    return config.timezone, config.fiscal_year_start_month


def forecast_diff_query(
    store: LedgerStore, views: AuditViews, *, period: str
) -> tuple[diff_p.ForecastDiff, Provenance]:
    """Return how the forecast of `period` changed from view A (from) to view B (to)."""
    if all(v is None for v in (views.from_as_of, views.from_known_at)):
        raise UsageError(
            "give --from-as-of and/or --from-known-at: the view to compare with; the other "
            "view defaults to today, as known now"
        )
    deals = period_frame(store, time_frame(store, None), period)
    frame_b = (
        time_frame(store, views.to_known_at, option="--to-known-at")
        if views.to_known_at is not None
        else deals.time
    )
    p = frame_period(frame_b, period)
    to_as_of = parse_day(views.to_as_of, "--to-as-of", frame_b.today)
    from_as_of = parse_day(views.from_as_of, "--from-as-of", to_as_of)
    known_b = frame_b.known_at
    # Typed like every --known-at: in the ledger's current time zone (not B's past one).
    known_a = (
        parse_known_option(views.from_known_at, deals.time, "--from-known-at")
        if views.from_known_at is not None
        else known_b
    )
    # View A reads its day and the period in the configuration it knows, as `forecast` at
    # that known-at does (a time zone or fiscal year recorded later is not A's).
    config_a = (
        store.config(known_a) if views.from_known_at is not None else None
    ) or frame_b.config
    frame_a = replace(frame_b, config=config_a)
    a = diff_p.View(frame_a.bound(from_as_of), known_a)
    b = diff_p.View(frame_b.bound(to_as_of), known_b)
    if a == b:
        raise UsageError(
            "the two views are the same; give a different --from-as-of or --from-known-at"
        )
    a_calendar = None
    if _reads_days(config_a) != _reads_days(frame_b.config):
        a_calendar = Calendar(frame_period(frame_a, period), frame_a.day_of)
    result = diff_p.forecast_diff(
        deals.events,
        p,
        a,
        b,
        frame_b.day_of,
        a_calendar=a_calendar,
        a_bound_in_b=frame_b.bound(from_as_of),
    )
    return result, frame_b.provenance(
        "forecast-diff",
        diff_p.DEFINITION,
        to_as_of,
        period=p.label,
        from_as_of=from_as_of.isoformat(),
        from_known_at=shown_instant(known_a) if known_a else None,
    )


def forecast_history_query(
    store: LedgerStore, when: TimeQuery, *, period: str
) -> tuple[calls_p.CallHistory, Provenance]:
    """Return the calls submitted for `period` by the close of `as_of`, as known at
    `known_at`, each beside the pipeline forecast as known when it was recorded."""
    deals = period_frame(store, time_frame(store, when.known_at), period)
    frame = deals.time
    p = frame_period(frame, period)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    calendars: dict[tuple[str, int], calls_p.CallCalendar] = {}
    configs = ConfigTimeline(deals.events)  # they hold the configurations and retractions

    def calendar_at(recorded_at: datetime) -> calls_p.CallCalendar:
        # A call's pipeline is what `forecast --known-at <its recording>` answered: the
        # period's days, the call's day and its close in the configuration known then.
        config = configs.known_at(recorded_at) or frame.config
        key = _reads_days(config)
        if key not in calendars:
            then = replace(frame, config=config)
            calendars[key] = calls_p.CallCalendar(
                frame_period(then, period), then.day_of, then.bound
            )
        return calendars[key]

    result = calls_p.forecast_calls(
        deals.events,
        p,
        bound=frame.bound(as_of),
        known_at=frame.known_at,
        bound_of=frame.bound,
        day_of=frame.day_of,
        over=as_of >= p.last_day,
        calendar_at=calendar_at,
    )
    return result, frame.provenance(
        "forecast-calls", calls_p.DEFINITION, as_of, **period_options(p)
    )
