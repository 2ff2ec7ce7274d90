"""Making a new ledger whole or not at all: `init`, `demo` and a restore into a new SQLite file.

A new SQLite ledger is written under a hidden name of its own beside the file asked for, which
no other command opens, and takes that file's name only once what was to go into it is there.
A command that fails part-way (a full disk, a refused line, Ctrl-C) leaves no file behind, not
an empty one nor one holding only the tables, and one that finds the name taken meanwhile (a
second `init`, a restore) is refused and leaves that ledger alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ledger.errors import ConflictError
from ledger.store.engine import resolve_url, sqlite_path
from ledger.store.store import LedgerStore
from ledger.textfile import hidden_name

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database file (`ledger.db-wal`, …)."""


@contextmanager
def new_ledger(db: str, *, taken: str) -> Iterator[LedgerStore]:
    """Yield the ledger at `db` to write into, created if there is none.

    A SQLite file that does not exist yet is made under a hidden name beside it and put in
    place when the block ends without an exception; if the block raises, nothing is left. When
    another command made a file of that name meanwhile, ConflictError(`taken`) is raised and
    that file left as it is. A file that exists (an empty one, a ledger without events) and a
    PostgreSQL database are opened as they are.
    """
    file = sqlite_path(resolve_url(db))
    if file is not None and not os.path.exists(file):
        file = os.path.realpath(file)  # a link to a file yet to be made: made where it points
    if file is None or os.path.lexists(file):
        with LedgerStore.open(db, create=True) as store:
            yield store
        return
    room = max(map(len, SQLITE_SIDE_FILES))  # SQLite makes its side files beside it
    hidden = os.path.join(
        os.path.dirname(file), hidden_name(os.path.basename(file), "creating", room)
    )
    try:
        with LedgerStore.open(db, create=True, in_file=hidden) as store:
            yield store
            store.fold_write_ahead_log()
        _put_in_place(hidden, file, taken)
    finally:
        for leftover in (hidden, *(hidden + end for end in SQLITE_SIDE_FILES)):
            if os.path.lexists(leftover):  # (removing a missing file fails on a read-only disk)
                with suppress(FileNotFoundError):
                    os.remove(leftover)


def _put_in_place(made: str, file: str, taken: str) -> None:
    """Give the SQLite file `made` the name `file`, unless a file has taken that name meanwhile
    (ConflictError(`taken`))."""
    try:
        os.link(made, file)  # never replaces a file
    except FileExistsError:
        raise ConflictError(taken) from None
    except OSError:  # a file system without hard links
        if os.path.exists(file):
            raise ConflictError(taken) from None
        os.replace(made, file)
