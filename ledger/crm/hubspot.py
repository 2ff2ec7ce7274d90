"""HubSpot deal property history: one row per property change, folded into snapshots.

Columns, as connectors export property history: `dealId`, `property`, `value`, `timestamp`
(required; `sourceType`, `sourceId` and any other column are ignored). Properties used:
`dealstage` (a stage id, mapped by the `--pipeline` file), `amount`, `closedate` (a date, epoch
milliseconds or an instant: its UTC day), `hs_deal_stage_probability` (0-1) and
`hs_manual_forecast_category` or `hs_forecast_category` (`PIPELINE`, `BEST_CASE`, `COMMIT`,
`OMIT`, `CLOSED`); rows of other properties are counted and skipped. `timestamp` is epoch
milliseconds or an ISO 8601 instant (UTC when it has no zone).

A deal's rows are put in time order (file order breaks ties); all changes with the same
timestamp make one snapshot, identified by that timestamp. Values set before the deal's first
`dealstage` are carried into the snapshot that opens it; a deal without any `dealstage` row is
left out, and its rows are counted as skipped.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.crm.csvfile import CsvTable, Row
from ledger.crm.history import CrmHistory
from ledger.crm.snapshots import Columns, DealSource, Snapshot
from ledger.crm.stage_map import StageMap
from ledger.crm.values import (
    date_or_instant,
    forecast_category,
    fraction,
    identifier,
    instant,
    money,
)

SOURCE = "hubspot"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PARSERS: dict[str, tuple[str, Any]] = {
    "amount": ("amount", money),
    "closedate": ("close_date", date_or_instant),
    "hs_deal_stage_probability": ("probability", fraction),
    "hs_manual_forecast_category": ("forecast_category", forecast_category),
    "hs_forecast_category": ("forecast_category", forecast_category),
}
"""HubSpot property -> (snapshot field, parser of its value); `dealstage` is mapped apart."""

Change = tuple[datetime, int, Row, str, Any]
"""One property change: when, its line, its row, the snapshot field it sets, the value."""


def read_hubspot(
    path: Path, stage_map: StageMap, deals: dict[str, DealSource] | None = None
) -> CrmHistory:
    """Return the snapshots of every deal in a HubSpot property-history export.

    Raises InputError naming file, line and column for a bad value, and one InputError
    listing every unmapped stage id.
    """
    t = CsvTable(path)
    deal_col = t.column("dealId", "Deal ID", "objectId")
    prop_col = t.column("property", "propertyName", "name")
    value_col = t.column("value")
    time_col = t.column("timestamp", "updatedAt")
    columns = Columns(
        amount=f"{value_col} (amount)",
        close_date=f"{value_col} (closedate)",
        changed_at=time_col or "timestamp",
    )
    history = CrmHistory(SOURCE, t.name, columns, deals=deals or {})
    changes: dict[str, list[Change]] = defaultdict(list)
    for row in t.rows:
        history.rows += 1
        name = t.required(row, prop_col, str).casefold()
        if name == "dealstage":
            text = t.cell(row, value_col, str)
            value: Any = stage_map.resolve(text, t.where(row, value_col)) if text else None
            target = "stage"
        elif name in PARSERS:
            target, parse = PARSERS[name]
            value = t.cell(row, value_col, parse)
        else:
            history.skipped += 1
            continue
        deal_id = t.required(row, deal_col, identifier)
        at = t.required(row, time_col, instant)
        changes[deal_id].append((at, row.line, row, target, value))
    stage_map.check("--pipeline")
    for deal_id, rows in changes.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        snaps = _fold(t, deal_id, rows)
        if snaps:
            history.snapshots[deal_id] = snaps
        else:  # never given a stage: nothing to open the deal at
            history.skipped += len(rows)
    return history


def snapshot_ref(at: datetime) -> str:
    """Return the ref of the snapshot at `at`: its epoch milliseconds, as HubSpot writes its
    timestamps, followed by `.` and the microseconds past them when there are some (so two
    changes within one millisecond are two snapshots, as their timestamps differ)."""
    us = (at - EPOCH) // timedelta(microseconds=1)
    ms, rest = divmod(us, 1000)
    return f"{ms}.{rest:03d}" if rest else str(ms)


def earlier_snapshot_ref(at: datetime) -> str | None:
    """Return the ref that releases before microsecond refs gave the snapshot at `at` (its
    epoch milliseconds rounded to the nearest), or None when that is `snapshot_ref(at)`: a
    change those releases imported is then found under the key they gave it."""
    ref = str(round(at.timestamp() * 1000))
    return None if ref == snapshot_ref(at) else ref


def _fold(t: CsvTable, deal_id: str, rows: list[Change]) -> list[Snapshot]:
    """Return one snapshot per distinct timestamp, from the deal's first known stage on.

    Each snapshot carries every value known so far, like a Salesforce history row.
    """
    state: dict[str, Any] = {}
    out: list[Snapshot] = []
    for i, (at, _, row, target, value) in enumerate(rows):
        if value is not None:
            state[target] = value
        last_of_instant = i + 1 == len(rows) or rows[i + 1][0] != at
        if last_of_instant and "stage" in state:
            out.append(
                Snapshot(
                    deal_id=deal_id,
                    at=at,
                    ref=snapshot_ref(at),
                    where=t.where(row),
                    earlier_ref=earlier_snapshot_ref(at),
                    **state,
                )
            )
    return out
