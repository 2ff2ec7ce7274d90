"""revledger's ledger: event schemas, the append-only hash-chained store, import and export.

This package knows nothing of projections; it records facts and hands them back in order.
"""
