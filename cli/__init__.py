"""The `revledger` command line: thin click commands over the ledger and projections."""
