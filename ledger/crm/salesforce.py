"""Salesforce opportunity history: OpportunityHistory rows as snapshots of each opportunity.

Columns (API names, or report labels with the same letters): `OpportunityId`, `CreatedDate`
and `StageName` are required; `Amount`, `CloseDate`, `Probability` (a percentage),
`ForecastCategory` (a label such as `Best Case` or an API name such as `BestCase`), `Id` and
`IsDeleted` are used when present; any other column is ignored. Rows with `IsDeleted` 1/true
are skipped. A row given again with the same values (two exports that overlap) is read once;
an `Id` on two rows that differ (deleted or not) is refused, naming both lines. `CreatedDate`
is `yyyy-MM-dd HH:mm:ss` in UTC (or an ISO 8601 instant); `CloseDate` may carry a ` 00:00:00`
suffix, which is stripped. An opportunity's rows are put in order by (CreatedDate, Id) whatever
their order in the file; without an `Id` column, rows with the same CreatedDate keep their file
order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ledger.crm.csvfile import CsvTable, Row
from ledger.crm.history import CrmHistory
from ledger.crm.snapshots import Columns, DealSource, Snapshot
from ledger.crm.stage_map import StageMap
from ledger.crm.values import (
    calendar_date,
    flag,
    forecast_category,
    identifier,
    instant,
    money,
    percent,
)
from ledger.timeutil import format_instant

SOURCE = "salesforce"


def read_salesforce(
    path: Path, stage_map: StageMap, deals: dict[str, DealSource] | None = None
) -> CrmHistory:
    """Return the snapshots of every opportunity in an OpportunityHistory export.

    Raises InputError naming file, line and column for a bad value, and one InputError
    listing every unmapped stage.
    """
    t = CsvTable(path)
    opp = t.column("OpportunityId", "Opportunity ID")
    created = t.column("CreatedDate", "Created Date")
    stage = t.column("StageName", "Stage")
    amount = t.column("Amount", required=False)
    close = t.column("CloseDate", "Close Date", required=False)
    probability = t.column("Probability", "Probability (%)", required=False)
    category = t.column("ForecastCategory", "Forecast Category", required=False)
    row_id = t.column("Id", "Opportunity History ID", required=False)
    deleted = t.column("IsDeleted", "Deleted", required=False)
    columns = Columns(
        amount=amount or "Amount",
        close_date=close or "CloseDate",
        changed_at=created or "CreatedDate",
    )
    history = CrmHistory(SOURCE, t.name, columns, deals=deals or {})
    keyed: dict[str, list[tuple[tuple[datetime, str, int], Snapshot]]] = defaultdict(list)
    ids: dict[str, Row] = {}
    for row in t.rows:
        history.rows += 1
        if row_id is not None and row.values[row_id]:
            first = ids.setdefault(row.values[row_id], row)
            if first is not row:
                if first.values == row.values:  # the same row again: two exports that overlap
                    history.skipped += 1
                    continue
                raise t.refusal(
                    row,
                    row_id,
                    f"repeats line {first.line} with other values; a history row's Id is unique",
                )
        if t.cell(row, deleted, flag):
            history.skipped += 1
            continue
        deal_id = t.required(row, opp, identifier)
        at = t.required(row, created, instant)
        stage_name = t.required(row, stage, str)
        rid = t.cell(row, row_id, identifier) or ""
        snap = Snapshot(
            deal_id,
            at,
            rid,
            t.where(row),
            stage="",
            amount=t.cell(row, amount, money),
            close_date=t.cell(row, close, calendar_date),
            probability=t.cell(row, probability, percent),
            forecast_category=t.cell(row, category, forecast_category),
        )
        mapped = stage_map.resolve(stage_name, t.where(row, stage))
        if mapped is None:
            continue
        snap = replace(snap, stage=mapped)
        keyed[deal_id].append(((at, rid, row.line), snap))
    stage_map.check("--stage-map")
    for deal_id, pairs in keyed.items():
        pairs.sort(key=lambda p: p[0])
        history.snapshots[deal_id] = _with_refs([s for _, s in pairs])
    return history


def _with_refs(snaps: list[Snapshot]) -> list[Snapshot]:
    """Give rows without an Id a ref that stays the same when later rows are added to the file:
    their CreatedDate and their rank among the deal's rows of that same instant."""
    seen: Counter[str] = Counter()
    out: list[Snapshot] = []
    for s in snaps:
        if not s.ref:
            stamp = format_instant(s.at)
            s = replace(s, ref=f"{stamp}#{seen[stamp]}")
            seen[stamp] += 1
        out.append(s)
    return out
