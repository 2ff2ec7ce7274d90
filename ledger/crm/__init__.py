"""CRM history imports: Salesforce OpportunityHistory and HubSpot deal property history.

`crm_batch` reads an export (`csvfile`, `values`), maps its stages (`stage_map`), turns each
deal's rows into snapshots (`salesforce`, `hubspot`) and the snapshots into ledger events
(`snapshots`); `ledger.operations.import_crm` appends them as one atomic batch.
"""

from ledger.crm.importer import (
    MAP_OPTION,
    SOURCES,
    CrmBatch,
    CrmRequest,
    RecordedOwners,
    StoredDeals,
    StoredEvent,
    crm_batch,
    earlier_event_ids,
    explain_backfill,
    keep_earlier_keys,
    keep_recorded_owners,
    reconcile,
    recorded_owners,
)

__all__ = [
    "MAP_OPTION",
    "SOURCES",
    "CrmBatch",
    "CrmRequest",
    "RecordedOwners",
    "StoredDeals",
    "StoredEvent",
    "crm_batch",
    "earlier_event_ids",
    "explain_backfill",
    "keep_earlier_keys",
    "keep_recorded_owners",
    "reconcile",
    "recorded_owners",
]
