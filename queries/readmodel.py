"""The persisted revenue read model: load the checkpoint, absorb only the new events, save.

A checkpoint is the `RevenueBook` of a log prefix plus that prefix's last seq and hash. A query
loads it, reads just the events recorded after it (backdated ones included: they land in
business order inside the book), and saves the extended book when it has grown. Equality with a
full replay follows from `RevenueBook` absorbing any split of the log identically (tested).
"""

from __future__ import annotations

from ledger.store import Checkpoint, Head, LedgerStore
from projections.revenue_book import RevenueBook

NAME = "revenue"
REVENUE_TYPES = (
    "deal_opened",
    "deal_updated",
    "contract_signed",
    "go_live",
    "expansion",
    "contraction",
    "churn",
    "event_retracted",
)
SAVE_AFTER = 1
"""Save the extended book once it absorbed at least this many new log positions."""


def _absorb_to(store: LedgerStore, book: RevenueBook, head: Head) -> RevenueBook:
    book.absorb(store.read(after_seq=book.absorbed_seq, upto_seq=head.seq, types=REVENUE_TYPES))
    book.absorbed_seq = head.seq
    return book


def current_book(store: LedgerStore, *, persist: bool = True) -> tuple[RevenueBook, Head]:
    """Return the revenue book covering the whole log now, and the head it covers.

    Starts from the saved checkpoint when it still matches the log; saves the extended book.
    """
    head = store.head()
    saved = store.load_checkpoint(NAME)
    book = RevenueBook()
    if saved is not None and saved.absorbed_seq <= head.seq:
        try:
            book = RevenueBook.from_json(saved.state)
        except (ValueError, KeyError, TypeError):
            book = RevenueBook()
    start = book.absorbed_seq
    _absorb_to(store, book, head)
    if persist and head.seq - start >= SAVE_AFTER:
        store.save_checkpoint(Checkpoint(NAME, head.seq, head.hash, book.to_json()))
    return book, head


def rebuild(store: LedgerStore) -> Head:
    """Drop every checkpoint and rebuild the revenue read model from the whole log."""
    store.drop_checkpoints()
    head = store.head()
    book = _absorb_to(store, RevenueBook(), head)
    store.save_checkpoint(Checkpoint(NAME, head.seq, head.hash, book.to_json()))
    return head
