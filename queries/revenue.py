"""Revenue questions (ARR, movements, NRR/GRR, cohorts) with the provenance of each answer."""

from __future__ import annotations

from ledger.errors import InputError
from ledger.periods import Grain
from ledger.store import LedgerStore
from projections import arr as arr_p
from projections import cohorts as cohorts_p
from projections import movements as movements_p
from projections import retention as retention_p
from projections.arr import By
from projections.retention import Basis
from projections.revenue_book import RevenueView
from projections.windows import parse_window
from queries.common import (
    Provenance,
    TimeFrame,
    TimeQuery,
    parse_day,
    time_frame,
    window_start,
)
from queries.readmodel import revenue_view


def _frame(store: LedgerStore, known_at_text: str | None) -> tuple[TimeFrame, RevenueView]:
    """Return the query's frame and the revenue view of the log prefix it stands at."""
    frame = time_frame(store, known_at_text)
    # The view of the frame's own head, whose configuration the frame read: an append landing
    # after that (a new time zone, say) is not in this answer, which stands where it began.
    view, _ = revenue_view(store, frame.head.seq)
    return frame, view


def arr_query(
    store: LedgerStore, when: TimeQuery, *, by: By | None = None
) -> tuple[arr_p.ArrSnapshot, Provenance]:
    """Return ARR, backlog, projected churn and CARR at the close of `as_of`, as known at."""
    frame, view = _frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    snap = arr_p.arr_snapshot(view, frame.bound(as_of), by)
    return snap, frame.provenance("arr", arr_p.DEFINITION, as_of, by=by)


def movements_query(
    store: LedgerStore, when: TimeQuery, *, start: str | None, by: By | None = None
) -> tuple[movements_p.Movements, Provenance]:
    """Return the ARR bridge from the close of `start` to the close of `as_of`."""
    frame, view = _frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--to", frame.today)
    default_start = parse_window("3m").before(as_of)
    first = parse_day(start, "--from", default_start)
    if first > as_of:
        raise InputError(
            f"must not be after --to ({as_of.isoformat()})",
            field="--from",
            value=first.isoformat(),
            has_value=True,
        )
    result = movements_p.movements(view, frame.bound(first), frame.bound(as_of), by)
    return result, frame.provenance(
        "movements", movements_p.DEFINITION, as_of, start=first.isoformat(), by=by
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
    parse_window(window)  # a malformed window is refused before the ledger is read
    frame, view = _frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    w, start = window_start(window, as_of)
    result = retention_p.retention(view, frame.bound(start), frame.bound(as_of), basis, by)
    return result, frame.provenance(
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
    frame, view = _frame(store, when.known_at)
    as_of = parse_day(when.as_of, "--as-of", frame.today)
    rows = cohorts_p.cohorts(
        view,
        frame.bound(as_of),
        grain=grain,
        fiscal_start=frame.config.fiscal_year_start_month,
        day_of=frame.day_of,
        bound_of=frame.start_bound,
    )
    return rows, frame.provenance("cohorts", cohorts_p.DEFINITION, as_of, grain=grain)
