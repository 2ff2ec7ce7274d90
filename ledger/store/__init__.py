"""The append-only, hash-chained event store on SQLite or PostgreSQL."""

from ledger.store.checkpoints import Checkpoint
from ledger.store.creation import SQLITE_SIDE_FILES, new_ledger
from ledger.store.engine import (
    DEFAULT_DB,
    database_reason,
    resolve_url,
    same_ledger,
    shown,
    sqlite_path,
)
from ledger.store.schema import SCHEMA_VERSION
from ledger.store.store import Appended, BatchResult, Head, LedgerStore
from ledger.store.verify import VerifyReport, verify_rows

__all__ = [
    "DEFAULT_DB",
    "SCHEMA_VERSION",
    "SQLITE_SIDE_FILES",
    "Appended",
    "BatchResult",
    "Checkpoint",
    "Head",
    "LedgerStore",
    "VerifyReport",
    "database_reason",
    "new_ledger",
    "resolve_url",
    "same_ledger",
    "shown",
    "sqlite_path",
    "verify_rows",
]
