"""The persisted revenue read model: load the checkpoint, absorb only the new events, save.

Two checkpoints are kept, each pinned to the log prefix it covers (last seq and its hash):
`revenue` holds the `RevenueBook` (every revenue fact, enough to absorb more events, backdated
ones included: they land in business order inside the book), and `revenue-view` holds the
timelines of the whole log, ready to answer. A query whose head has not moved loads only the
view; otherwise it loads the book, reads just the events recorded after it, and saves the new
view (and the book, once its tail has grown long). Equality with a full replay follows from
`RevenueBook` absorbing any split of the log identically, and from the serialisation round
trips (all tested).

A large book is written by a child process (see `ASIDE_MIN_EVENTS`) while the query folds,
saves and answers from its view; the query waits for the child before it returns.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

from ledger.gc_pause import gc_paused
from ledger.store import Checkpoint, Head, LedgerStore
from projections.revenue_book import REVENUE_FACT_TYPES, RevenueBook, RevenueView

BOOK = "revenue"
VIEW = "revenue-view"
REVENUE_TYPES = ("deal_opened", *REVENUE_FACT_TYPES, "event_retracted")
SEGMENT_UPDATES = {"deal_updated": "segment"}
"""Of `deal_updated`, only the events that change a deal's segment matter to revenue."""

P = ParamSpec("P")
R = TypeVar("R")


def _bulk(fn: Callable[P, R]) -> Callable[P, R]:
    """Return `fn` run with the cyclic garbage collector paused (see `gc_paused`)."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with gc_paused():
            return fn(*args, **kwargs)

    return run


DEAL_ATTRIBUTE_TYPES = ("deal_opened", "deal_updated")
HISTORY_BATCH = 500


def _absorb_to(store: LedgerStore, book: RevenueBook, upto_seq: int) -> RevenueBook:
    """Absorb the log up to `upto_seq` into `book`: all of it into a new book, else its tail.

    A new book reads deal attributes only of the deals signed by then (`partial_through`);
    before a tail is absorbed, the deals it signs that the book lacks get their earlier
    attributes (`add_histories`).
    """
    if book.absorbed_seq == 0:
        book.partial_through = upto_seq
        rows = store.read_stored(
            upto_seq=upto_seq,
            types=REVENUE_TYPES,
            types_with_field=SEGMENT_UPDATES,
            deals_with=("contract_signed", DEAL_ATTRIBUTE_TYPES),
        )
    else:
        signed = store.deals_with("contract_signed", after_seq=book.absorbed_seq, upto_seq=upto_seq)
        missing = book.needs_histories(signed)
        for i in range(0, len(missing), HISTORY_BATCH):
            deals = missing[i : i + HISTORY_BATCH]
            history = store.read_stored(
                upto_seq=book.partial_through,
                types=("deal_opened",),
                types_with_field=SEGMENT_UPDATES,
                deal_ids=deals,
            )
            book.add_histories(deals, history)
        rows = store.read_stored(
            after_seq=book.absorbed_seq,
            upto_seq=upto_seq,
            types=REVENUE_TYPES,
            types_with_field=SEGMENT_UPDATES,
        )
    book.absorb_stored(rows)
    book.absorbed_seq = upto_seq
    return book


def _save_view(store: LedgerStore, view: RevenueView, head: Head) -> None:
    store.save_checkpoint(Checkpoint(VIEW, head.seq, head.hash, view.to_json()))


BOOK_RESAVE_MIN_TAIL = 2_000
"""A book checkpoint is written again once the events after it reach this many, or a
twentieth of the events it covers if that is more. Until then each query reads that tail again
(about as cheap per event as absorbing it), which saves writing the whole book (seconds for a
million-event log) after every small append."""


def _resave(saved_seq: int, head_seq: int) -> bool:
    return head_seq - saved_seq >= max(BOOK_RESAVE_MIN_TAIL, saved_seq // 20)


ASIDE_MIN_EVENTS = 50_000
"""A book checkpoint covering at least this many events is written by a forked child process
(where the platform forks) while the query goes on with its own work, and the query waits for
it only at its end: serialising and saving the book of a million-event log takes about half a
second. The child opens its own connection; if it fails, the checkpoint is simply not there and
the next query builds it again. Smaller books are saved in line, and so is every book when the
process runs other threads (a child forked from a threaded process may find locks held by
threads it does not have)."""


Waiter = Callable[[], None]


def _nothing() -> None:
    return None


def _save_book(store: LedgerStore, book: RevenueBook, head: Head, *, aside: bool) -> Waiter:
    """Save `book` as the checkpoint of the log up to `head`; return what to call to wait for
    the save (it may run in a child process when `aside`)."""
    if not (
        aside
        and book.absorbed_seq >= ASIDE_MIN_EVENTS
        and hasattr(os, "fork")
        and threading.active_count() == 1
    ):
        store.save_checkpoint(Checkpoint(BOOK, head.seq, head.hash, book.to_json()))
        return _nothing
    pid = os.fork()
    if pid == 0:  # the child: never the parent's connections, and no exit handlers
        code = 1
        try:
            with LedgerStore.open(store.url) as own:
                own.save_checkpoint(Checkpoint(BOOK, head.seq, head.hash, book.to_json()))
            code = 0
        finally:
            os._exit(code)

    def wait() -> None:
        os.waitpid(pid, 0)

    return wait


T = TypeVar("T")


def _readable(read: Callable[[str], T], state: str) -> T | None:
    """Return the read model `read` makes of a saved `state`, or None when it cannot make one
    (another format, or a state damaged or edited by hand): a checkpoint is derived data, so
    one that does not read is built again from the log, never a failed query."""
    try:
        return read(state)
    except Exception:
        return None


def _current_book(
    store: LedgerStore, *, aside: bool, seed: RevenueView | None = None
) -> tuple[RevenueBook, Head, Waiter]:
    """Return the book covering the log now, its head, and what to call to wait for its save.

    `seed` is a whole-log view saved at an earlier head: once the book has absorbed up to it,
    it adopts its timelines, so that only the accounts changed since are folded again.
    """
    head = store.head()
    saved = store.load_checkpoint(BOOK)
    loaded: RevenueBook | None = None
    if saved is not None and saved.absorbed_seq <= head.seq:
        loaded = _readable(RevenueBook.from_json, saved.state)
        if loaded is not None and loaded.absorbed_seq != saved.absorbed_seq:
            loaded = None  # a state that is not the one its row says it is
    book = loaded if loaded is not None else RevenueBook()
    start = book.absorbed_seq
    if seed is not None and start <= seed.upto_seq < head.seq:
        _absorb_to(store, book, seed.upto_seq)
        book.adopt(seed)
    _absorb_to(store, book, head.seq)
    if loaded is None or _resave(start, head.seq):
        return book, head, _save_book(store, book, head, aside=aside)
    return book, head, _nothing


@_bulk
def current_book(store: LedgerStore) -> tuple[RevenueBook, Head]:
    """Return the revenue book covering the whole log now, and the head it covers.

    Starts from the saved checkpoint when it still matches the log, and saves the book when
    there was none or the tail it absorbed is long (see `BOOK_RESAVE_MIN_TAIL`).
    """
    book, head, _ = _current_book(store, aside=False)
    return book, head


@_bulk
def revenue_view(store: LedgerStore, upto_seq: int | None = None) -> tuple[RevenueView, Head]:
    """Return the revenue timelines as of the log prefix ending at `upto_seq` (None: now).

    The whole-log view comes straight from its checkpoint when the log has not moved;
    otherwise it is folded from the current book and saved for the next query.
    """
    head = store.head()
    whole = upto_seq is None or upto_seq >= head.seq
    earlier: RevenueView | None = None
    if whole:
        saved = store.load_checkpoint(VIEW)
        if saved is not None:
            earlier = _readable(RevenueView.from_json, saved.state)
            if earlier is not None and earlier.upto_seq != saved.absorbed_seq:
                earlier = None  # a state that is not the one its row says it is
            if earlier is not None and saved.absorbed_seq == head.seq:
                return earlier, head
    book, now, wait = _current_book(store, aside=True, seed=earlier)
    try:
        if not whole:
            return book.view(upto_seq), head
        view = book.view()
        _save_view(store, view, now)
        if upto_seq is not None and upto_seq < now.seq:  # an append landed since `head`
            return book.view(upto_seq), head
        return view, now
    finally:
        wait()


@_bulk
def rebuild(store: LedgerStore) -> Head:
    """Drop every checkpoint and rebuild the revenue read model from the whole log."""
    store.drop_checkpoints()
    head = store.head()
    book = _absorb_to(store, RevenueBook(), head.seq)
    _save_book(store, book, head, aside=False)
    _save_view(store, book.view(), head)
    return head


@dataclass(frozen=True, slots=True)
class ReadModelCheck:
    """A saved read model held against the log: `status` is `agrees` (it gives the timelines a
    replay of the log prefix it covers gives), `differs` (it does not: edited, or a bug),
    `unreadable` (it cannot be read: queries build it again from the log) or `none` (none
    saved that matches the log: queries compute from the log)."""

    name: str
    seq: int | None
    status: str


def _book_agrees(book: RevenueBook, replayed: RevenueBook) -> bool:
    """Return whether a saved `book` holds what the log prefix it covers gives (`replayed`:
    a book of every event of that prefix): the same revenue facts by account (retracted ones
    with their retraction), and for each deal it keeps the same account and attribute
    history. (A book extended from an earlier one keeps the attributes of other deals than a
    book of every event, so the two are not compared whole.)"""
    return (
        book.accounts == replayed.accounts
        and all(replayed.deal_accounts.get(d) == a for d, a in book.deal_accounts.items())
        and all(replayed.deal_facts.get(d) == facts for d, facts in book.deal_facts.items())
    )


@_bulk
def check(store: LedgerStore) -> tuple[list[ReadModelCheck], Head]:
    """Return each saved read model (book, then view) held against the log prefix it covers,
    and the log head; writes nothing. A view must be what a replay of that prefix gives; a
    book, hold the facts and attributes a replay gives (see `_book_agrees`). Each prefix is
    replayed once."""
    head = store.head()
    replays: dict[int, RevenueBook] = {}

    def replayed(seq: int) -> RevenueBook:
        if seq not in replays:
            replays[seq] = RevenueBook().absorb(store.read(upto_seq=seq))
        return replays[seq]

    checks = []
    for name in (BOOK, VIEW):
        saved = store.load_checkpoint(name, strict=True)
        if saved is None:
            checks.append(ReadModelCheck(name, None, "none"))
            continue
        seq = saved.absorbed_seq
        if name == BOOK:
            book = _readable(RevenueBook.from_json, saved.state)
            agrees = (
                None
                if book is None or book.absorbed_seq != seq
                else (_book_agrees(book, replayed(seq)))
            )
        else:
            view = _readable(RevenueView.from_json, saved.state)
            agrees = (
                None
                if view is None or view.upto_seq != seq
                else (view.to_json() == replayed(seq).view().to_json())
            )
        status = "unreadable" if agrees is None else "agrees" if agrees else "differs"
        checks.append(ReadModelCheck(name, seq, status))
    return checks, head
