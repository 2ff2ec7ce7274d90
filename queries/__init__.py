"""Questions answered from a ledger: the layer that joins the store and the pure projections.

It keeps the checkpointed read model up to date, picks the log prefix a `known_at` asks for,
runs the projection, and says exactly what the answer was computed from (`Provenance`).
"""
