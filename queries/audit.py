"""Audit questions: how a reported metric was restated since, and the history of one stream."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger.errors import InputError, UsageError
from ledger.operations import filter_id, unknown_id_hint
from ledger.store import LedgerStore
from ledger.timeutil import end_of_day, shown_instant
from projections import restatements as restate_p
from projections import stream_history as history_p
from projections.deals import replay_deals
from projections.forecast import Calendar, forecast
from projections.revenue_book import REVENUE_FACT_TYPES, RevenueView
from queries.common import (
    ConfigTimeline,
    Provenance,
    TimeFrame,
    TimeQuery,
    parse_day,
    time_frame,
    window_start,
)
from queries.deals import period_frame
from queries.forecast import frame_period, parse_known_option, period_options
from queries.readmodel import current_book

METRICS = ("arr", "carr", "nrr", "grr", "forecast")


@dataclass(frozen=True, slots=True)
class RestatementAnswer:
    """A restatement and the two log prefixes it compares (reported, and known now)."""

    result: restate_p.Restatement
    reported_at: datetime
    reported_seq: int
    now_seq: int


def _reported(
    store: LedgerStore, frame: TimeFrame, text: str, known_at: str | None
) -> tuple[datetime, int]:
    """Return the --reported-at instant and the last seq recorded by then. Typed like every
    --known-at: in the ledger's current time zone, not the one known at `frame`'s known-at.

    It must not be after a `--known-at` given (`known_at`, the text typed). Without one the
    comparison stands at now, so any time up to now (or today, as a date) counts: one after
    the last recording compares the log with itself, no change."""
    now = replace(frame, config=store.config() or frame.config)
    reported = parse_known_option(text, now, "--reported-at")
    if known_at is not None and frame.known_at is not None and reported > frame.known_at:
        raise InputError(
            f"must not be after the time the comparison stands at "
            f"({shown_instant(frame.known_at)})",
            field="--reported-at",
            value=text,
            has_value=True,
        )
    return reported, store.head_known_at(reported).seq


def restatement_query(
    store: LedgerStore,
    when: TimeQuery,
    *,
    metric: str,
    reported_at: str,
    period: str | None = None,
    window: str | None = None,
) -> tuple[RestatementAnswer, Provenance]:
    """Return `metric` at the close of `as_of` as known at `reported_at` and as known at
    `known_at` (default: now), with every event recorded in between that moved it. `window`
    is the look-back of nrr and grr (default 12m) and is refused for the other metrics."""
    if metric not in METRICS:
        raise InputError(f"must be one of {', '.join(METRICS)}", field="--metric", value=metric)
    if metric == "forecast" and period is None:
        raise UsageError("--metric forecast needs --period (e.g. --period 2026-Q4)")
    if metric != "forecast" and period is not None:
        raise UsageError(f"--period is for --metric forecast; --metric {metric} takes --as-of")
    if window is not None and metric not in ("nrr", "grr"):
        raise UsageError(f"--window is for --metric nrr or grr; --metric {metric} has none")
    if metric == "forecast":
        return _forecast_restatement(store, when, reported_at, period or "")
    frame = time_frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    reported, reported_seq = _reported(store, frame, reported_at, when.known_at)
    now_seq = frame.head.seq
    book, _ = current_book(store)
    # Only nrr and grr look back over a window; arr and carr read the as-of day alone.
    w, start = window_start(window or "12m", as_of) if metric in ("nrr", "grr") else (None, as_of)
    configs = ConfigTimeline(
        store.read(upto_seq=now_seq, types=["ledger_configured", "event_retracted"])
    ).at_seq

    def bounds_at(seq: int) -> tuple[datetime, datetime]:
        # The close of a day in the time zone known with the log prefix ending at `seq`, so a
        # change of time zone recorded in between is one of the events that moved it.
        tz = (configs(seq) or frame.config).timezone
        return end_of_day(as_of, tz), end_of_day(start, tz)

    def value_of(view: RevenueView) -> restate_p.Values:
        return restate_p.revenue_values(metric, view, *bounds_at(view.upto_seq))

    types = (*REVENUE_FACT_TYPES, "event_retracted", "ledger_configured")
    candidates = list(store.read(after_seq=reported_seq, upto_seq=now_seq, types=types))
    targets = {}
    if any(e.type == "event_retracted" for e in candidates):
        targets = {
            e.event_id: e
            for e in store.read(upto_seq=now_seq, types=[*REVENUE_FACT_TYPES, "ledger_configured"])
        }
    result = restate_p.restate(
        restate_p.REVENUE_FIGURES[metric],
        value_of(book.view(reported_seq)),
        value_of(book.view(now_seq)),
        restate_p.revenue_steps(book, candidates, metric, bounds_at),
        targets,
    )
    options: dict[str, Any] = {"reported_at": shown_instant(reported)}
    if w is not None:
        options.update(window=w.label, start=start.isoformat())
    prov = frame.provenance(metric, restate_p.DEFINITION, as_of, **options)
    return RestatementAnswer(result, reported, reported_seq, now_seq), prov


def _forecast_restatement(
    store: LedgerStore, when: TimeQuery, reported_at: str, period: str
) -> tuple[RestatementAnswer, Provenance]:
    deals = period_frame(store, time_frame(store, when.known_at), period)
    frame = deals.time
    p = frame_period(frame, period)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    reported, reported_seq = _reported(store, frame, reported_at, when.known_at)
    now_seq = frame.head.seq
    configs = ConfigTimeline(
        store.read(upto_seq=now_seq, types=["ledger_configured", "event_retracted"])
    ).at_seq

    def calendar_at(seq: int) -> tuple[Calendar, datetime]:
        # The period's days, the day of an instant and the close of the as-of day as the log
        # prefix ending at `seq` configured them: what `forecast --known-at` then answered. A
        # change of time zone or fiscal year recorded in between is an event that moved it.
        f = replace(frame, config=configs(seq) or frame.config)
        return Calendar(frame_period(f, period), f.day_of), f.bound(as_of)

    def value_at(seq: int) -> restate_p.Values:
        calendar, bound = calendar_at(seq)
        book = replay_deals([e for e in deals.events if e.seq <= seq], bound)
        return restate_p.forecast_values(forecast(book, calendar.period, calendar.day_of).total)

    result = restate_p.restate(
        restate_p.FORECAST_FIGURES,
        value_at(reported_seq),
        value_at(now_seq),
        restate_p.forecast_steps(deals.events, reported_seq, calendar_at),
        {e.event_id: e for e in deals.events},
    )
    prov = frame.provenance(
        "forecast",
        restate_p.DEFINITION,
        as_of,
        reported_at=shown_instant(reported),
        **period_options(p),
    )
    return RestatementAnswer(result, reported, reported_seq, now_seq), prov


def history_query(
    store: LedgerStore, *, deal: str | None, account: str | None, known_at: str | None
) -> tuple[list[history_p.HistoryLine], Provenance]:
    """Return the events of one deal (with its go-live) or one account (with its deals), as
    known at `known_at`, with the retractions that name them."""
    if (deal is None) == (account is None):
        raise UsageError("give exactly one of --deal and --account")
    deal, account = filter_id(deal, "--deal"), filter_id(account, "--account")
    frame = time_frame(store, known_at)
    upto = frame.head.seq
    stream = list(store.read(upto_seq=upto, deal_id=deal, account_id=account))
    if not stream:
        option, value = ("--deal", deal) if deal is not None else ("--account", account)
        column = "deal_id" if deal is not None else "account_id"
        raise InputError(
            "names no events in the ledger (as known then)"
            + unknown_id_hint(store, column, value or "", upto_seq=upto),
            field=option,
            value=value,
            has_value=True,
        )
    ids = {e.event_id for e in stream}
    retractions = [
        e
        for e in store.read(upto_seq=upto, types=["event_retracted"])
        if getattr(e.payload, "retracts", None) in ids
    ]
    events = sorted([*stream, *retractions], key=lambda e: e.seq)
    lines = history_p.stream_history(events, frame.known_at)
    return lines, frame.provenance(
        "history", history_p.DEFINITION, frame.today, deal=deal, account=account
    )
