"""A CRM history read from files, and the ledger events it comes to.

`CrmHistory` is what a source reader (Salesforce, HubSpot) returns: each deal's snapshots in
order and what is known of the deal (its account and owner). `history_events` derives every
deal's events and merges them into one batch in time order (stable, so a deal's own events
keep their order), which is also the non-decreasing recorded_at order a backfill needs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ledger.crm.csvfile import CsvTable
from ledger.crm.snapshots import Columns, DealSource, Derived, Snapshot, derive_deal
from ledger.crm.values import identifier
from ledger.errors import InputError


@dataclass
class CrmHistory:
    """The snapshots of every deal in one export, in order, and the deals' accounts."""

    source: str
    file: str
    columns: Columns
    rows: int = 0
    skipped: int = 0
    snapshots: dict[str, list[Snapshot]] = field(default_factory=dict)
    deals: dict[str, DealSource] = field(default_factory=dict)
    deals_file: str | None = None

    def deal(self, deal_id: str) -> DealSource:
        """Return what is known of `deal_id`; without a deals file its account is itself."""
        return self.deals.get(deal_id) or DealSource(account_id=deal_id)

    def own_accounts(self) -> list[str]:
        """Return the deals of the history recorded as their own account (none in the deals
        file, or a blank account there), in id order."""
        return sorted(d for d in self.snapshots if self.deal(d).account_id == d)


def history_events(
    history: CrmHistory, first_stage: str, live_deals: Collection[str] = ()
) -> list[Derived]:
    """Return the events of every deal of `history`, merged in time order (valid time);
    `live_deals` are the deals whose contract went live in the ledger (see `derive_deal`)."""
    out: list[Derived] = []
    for deal_id, snaps in history.snapshots.items():
        out += derive_deal(
            snaps,
            history.deal(deal_id),
            source=history.source,
            first_stage=first_stage,
            columns=history.columns,
            live=deal_id in live_deals,
        )
    out.sort(key=lambda d: d.at)
    return out


SALESFORCE_COLUMNS = (
    ("Id", "Opportunity ID"),
    ("AccountId", "Account ID"),
    ("OwnerId", "Owner ID"),
)
HUBSPOT_COLUMNS = (
    ("dealId", "Deal ID", "Record ID"),
    ("companyId", "Company ID", "associatedcompanyid", "Associated Company ID"),
    ("hubspot_owner_id", "Deal owner ID"),
)
DEALS_COLUMNS = {
    "salesforce": tuple(
        (*own, *other) for own, other in zip(SALESFORCE_COLUMNS, HUBSPOT_COLUMNS, strict=True)
    ),
    "hubspot": tuple(
        (*own, *other) for own, other in zip(HUBSPOT_COLUMNS, SALESFORCE_COLUMNS, strict=True)
    ),
}
"""The names of a deals file's id, account and owner columns, by source: the source's own
first (the one a message names when the column is missing), then the other source's."""


def read_deals(path: Path, source: str) -> dict[str, DealSource]:
    """Return each deal's account (and owner) from a deals file such as Opportunity.csv.

    Columns: `Id` (or `dealId`), `AccountId` (or `companyId`), optional `OwnerId` (or
    `hubspot_owner_id`); any others (Name, Type, LeadSource, …) are ignored. A deal with a
    blank account is its own account. A deal listed again must give the same account and
    owner.
    """
    table = CsvTable(path)
    id_names, account_names, owner_names = DEALS_COLUMNS[source]
    id_col = table.column(*id_names)
    account_col = table.column(*account_names)
    owner_col = table.column(*owner_names, required=False)
    deals: dict[str, DealSource] = {}
    lines: dict[str, int] = {}
    for row in table.rows:
        deal_id = table.cell(row, id_col, identifier)
        if deal_id is None:
            continue
        deal = DealSource(
            table.cell(row, account_col, identifier) or deal_id,
            table.cell(row, owner_col, identifier),
        )
        earlier = deals.get(deal_id)
        if earlier is not None and earlier.account_id != deal.account_id:
            raise InputError(
                f"lists deal {deal_id} again with account {deal.account_id} (line "
                f"{lines[deal_id]} gives {earlier.account_id}); a deal belongs to one account",
                where=table.where(row, account_col),
            )
        if earlier is not None and earlier.owner != deal.owner:
            raise InputError(
                f"lists deal {deal_id} again with {_owner(deal.owner)} (line {lines[deal_id]} "
                f"gives {_owner(earlier.owner)}); a deal has one owner",
                where=table.where(row, owner_col),
            )
        lines.setdefault(deal_id, row.line)
        deals[deal_id] = deal
    return deals


def _owner(owner: str | None) -> str:
    """Return how a message names a deal's owner in the deals file."""
    return f"owner {owner}" if owner is not None else "no owner"
