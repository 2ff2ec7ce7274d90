"""Loading the demo ledger: into a new ledger only, in one atomic batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.demo.catalogue import TIMEZONE
from ledger.demo.generate import DemoHistory, generate
from ledger.errors import ConflictError, InputError
from ledger.store import Head, new_ledger, shown
from ledger.timeutil import TimeParseError, parse_date, utc_now, zone


@dataclass(frozen=True, slots=True)
class DemoLoad:
    """What `load_demo` wrote: the generated history and the log head after it."""

    history: DemoHistory
    head: Head


def demo_today(text: str | None) -> date:
    """Return the day the demo history ends: `text` (YYYY-MM-DD) or today, company time.

    Raises InputError for a bad date or a day after today (a demo never records the future).
    """
    today = utc_now().astimezone(zone(TIMEZONE)).date()
    if text is None:
        return today
    try:
        day = parse_date(text)
    except TimeParseError as exc:
        raise InputError(str(exc), field="--today", value=text, has_value=True) from None
    if day > today:
        raise InputError(
            f"is after today ({today.isoformat()} in {TIMEZONE}); the demo history must end "
            "by today",
            field="--today",
            value=text,
            has_value=True,
        )
    if day.year < 1910:
        raise InputError("must be in 1910 or later", field="--today", value=text, has_value=True)
    return day


def load_demo(db: str, *, seed: int, today: date) -> DemoLoad:
    """Create the ledger at `db` (or open an empty one) and append the demo history for `seed`;
    a new ledger that fails part-way leaves no file behind (see `new_ledger`).

    Raises ConflictError when the ledger already holds events: the demo never mixes with data.
    """
    taken = (
        f"the demo needs a new ledger: {shown(db)} was made by another command while this one "
        "wrote the demo; give another --db"
    )
    with new_ledger(db, taken=taken) as store:
        head = store.head()
        if head.seq:
            raise ConflictError(
                f"{shown(db)} already holds {head.seq} event{'s' if head.seq > 1 else ''}; "
                "the demo needs a new ledger, so give "
                "another --db (or remove that file)"
            )
        history = generate(seed, today)
        result = store.append_batch(history.events)
    return DemoLoad(history, result.head)
