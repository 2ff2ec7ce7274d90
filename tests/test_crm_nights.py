"""A CRM history imported again every night: each night's export is a subset of one pool of
history rows (rows come late, are deleted, come back), imported into one ledger.

The property: after each night the ledger reads each deal of that night's export as a new
ledger that imported only that export reads it, the same export again appends nothing,
`verify` passes, and what the ledger read at the end of each earlier night it still reads as
known then.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.crm import CrmRequest
from ledger.envelope import NewEvent
from ledger.errors import ConflictError, InputError
from ledger.events import LedgerConfigured
from ledger.operations import import_crm, verify_ledger
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant
from projections.deals import Deal, replay_deals

STAGE_MAP = Path(__file__).resolve().parent.parent / "fixtures/crm/salesforce/stage-map.csv"
HEADER = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
STAGES = (
    "Prospecting",
    "Needs Analysis",
    "Value Proposition",
    "Security Review",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
CLOSE_DATES = (date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31))
START = datetime(2024, 1, 1, tzinfo=UTC)
NIGHT_ONE = datetime(2025, 1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Row:
    """One OpportunityHistory row of the pool."""

    row_id: str
    deal_id: str
    day: int  # days after START: its CreatedDate
    stage: str
    amount: int | None
    close: date

    def line(self, deleted: bool) -> str:
        created = (START + timedelta(days=self.day)).strftime("%Y-%m-%d %H:%M:%S")
        amount = "" if self.amount is None else str(self.amount)
        flag = "1" if deleted else "0"
        return f"{self.row_id},{self.deal_id},{created},{self.stage},{amount},{self.close},{flag}\n"


Reading = tuple[str, str | None, Decimal, date | None, Decimal | None]
"""What the property compares of a deal: status, stage, amount, expected close and the ARR
of its contract in force (None without one)."""


def reading(deal: Deal) -> Reading:
    arr = deal.contract.arr if deal.contract is not None else None
    return (deal.status, deal.stage, deal.amount, deal.expected_close, arr)


def readings(store: LedgerStore, known_at: datetime | None = None) -> dict[str, Reading]:
    deals = replay_deals(store.read(), known_at=known_at).deals
    return {deal_id: reading(d) for deal_id, d in deals.items()}


@st.composite
def deal_rows(draw: st.DrawFn, deal_id: str) -> list[Row]:
    days = draw(st.lists(st.integers(0, 60), min_size=1, max_size=5))  # a day twice: one instant
    return [
        Row(
            f"{deal_id}h{i}",
            deal_id,
            day,
            draw(st.sampled_from(STAGES)),
            draw(st.one_of(st.none(), st.sampled_from([100, 150, 200]))),
            draw(st.sampled_from(CLOSE_DATES)),
        )
        for i, day in enumerate(days)
    ]


@st.composite
def pools(draw: st.DrawFn) -> list[Row]:
    deals = draw(st.integers(1, 3))
    return [row for d in range(deals) for row in draw(deal_rows(f"006D{d}"))]


PRESENT, DELETED, ABSENT = "present", "deleted", "absent"


def export(path: Path, pool: list[Row], night: list[str]) -> CrmRequest:
    """Write the night's export (each pool row present, marked deleted or absent)."""
    given = zip(pool, night, strict=True)
    lines = [row.line(state == DELETED) for row, state in given if state != ABSENT]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return CrmRequest("salesforce", path, stage_map=STAGE_MAP)


def new_ledger(path: Path) -> LedgerStore:
    store = LedgerStore.open(str(path), create=True)
    at = parse_instant("2020-01-01")
    store.append(NewEvent(LedgerConfigured(), at, "t", "t", recorded_at=at))
    return store


def fresh_reading(path: Path, request: CrmRequest) -> dict[str, Reading] | None:
    """Return the deals a new ledger reads that imported only `request` (None: it refuses)."""
    with new_ledger(path) as store:
        try:
            import_crm(store, request, actor="t")
        except (InputError, ConflictError):
            return None
        return readings(store)


def clocked(at: datetime) -> ExitStack:
    """Return a context in which the ledger records at `at`."""
    stack = ExitStack()
    stack.enter_context(mock.patch("ledger.store.batch.utc_now", lambda: at))
    return stack


@settings(max_examples=40)
@given(data=st.data())
def test_a_history_imported_every_night_reads_as_that_nights_export(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Each night's export is imported without --backfill into one ledger.

    Compared with a new ledger that imported only that night's export, for every deal the
    export has rows of: status, stage, amount, expected close and the ARR of the contract in
    force. Deals the export has no rows of (none, or only deleted ones) are not compared: the
    import leaves them as the ledger holds them (it names them). No contract goes live here,
    so no contract keeps its ARR for that reason. Nights whose export a new ledger refuses (a
    won row before any amount) are not generated.
    """
    pool = data.draw(pools(), label="pool")
    states = st.sampled_from([PRESENT, PRESENT, DELETED, ABSENT])
    nights = data.draw(
        st.lists(st.lists(states, min_size=len(pool), max_size=len(pool)), min_size=2, max_size=5),
        label="nights",
    )
    folder = tmp_path_factory.mktemp("nights")
    before: list[tuple[datetime, dict[str, Reading]]] = []
    with new_ledger(folder / "ledger.db") as store:
        for n, night in enumerate(nights):
            request = export(folder / f"night{n}.csv", pool, night)
            fresh = fresh_reading(folder / f"fresh{n}.db", request)
            assume(fresh is not None)
            assert fresh is not None
            at = NIGHT_ONE + timedelta(days=n)
            with clocked(at):
                import_crm(store, request, actor="t")
            with clocked(at + timedelta(hours=1)):
                assert import_crm(store, request, actor="t").appended == 0
            now = readings(store)
            for deal_id, expected in fresh.items():
                assert now[deal_id] == expected, f"night {n}, deal {deal_id}"
            assert verify_ledger(store).ok
            for known_at, then in before:
                assert readings(store, known_at) == then
            before.append((at + timedelta(hours=2), now))


SCENARIO_ROWS = {
    "a1": "a1,006A,2024-01-10 09:00:00,Prospecting,100,2024-06-30,0\n",
    "a2": "a2,006A,2024-01-20 09:00:00,Needs Analysis,100,2024-09-30,0\n",
    "a2-deleted": "a2,006A,2024-01-20 09:00:00,Needs Analysis,100,2024-09-30,1\n",
    # At a3's instant, and before it by its Id.
    "a2-with-a3": "a2,006A,2024-02-10 09:00:00,Value Proposition,100,2024-09-30,0\n",
    "a3": "a3,006A,2024-02-10 09:00:00,Needs Analysis,150,2024-06-30,0\n",
    "a4": "a4,006A,2024-03-10 09:00:00,Closed Won,,2024-03-10,0\n",
    "a5": "a5,006A,2024-04-10 09:00:00,Closed Lost,,2024-03-10,0\n",
    "b1": "b1,006B,2024-01-10 09:00:00,Prospecting,100,2024-06-30,0\n",
    "b2": "b2,006B,2024-01-20 09:00:00,Closed Lost,100,2024-06-30,0\n",
    "b3": "b3,006B,2024-02-10 09:00:00,Prospecting,100,2024-06-30,0\n",
    "b4": "b4,006B,2024-03-10 09:00:00,Needs Analysis,100,2024-06-30,0\n",
}


@pytest.mark.parametrize(
    "nights",
    [
        # A row comes late at the stage a later row imported already moved the deal to.
        [["a1", "a3"], ["a1", "a2", "a3"]],
        # A row comes late at the instant of a row imported already, ordered before it by its
        # Id: its move comes before that row's, as in a new ledger.
        [["a1", "a3"], ["a1", "a2-with-a3", "a3"]],
        # Rows come late that lose the deal and reopen it before a move imported already: that
        # move, given as it was recorded, is recorded again after them.
        [["b1", "b4"], ["b1", "b2", "b3", "b4"]],
        # A row is deleted since: its move and its close date no longer count.
        [["a1", "a2", "a3"], ["a1", "a2-deleted", "a3"]],
        # A won deal's late row comes, goes and comes back; then the deal is lost.
        [
            ["a1", "a3", "a4"],
            ["a1", "a2", "a3", "a4"],
            ["a1", "a3", "a4"],
            ["a1", "a3", "a4", "a5"],
        ],
        # The rows that opened the deal are deleted since: it is opened where it is now.
        [["a1", "a2", "a3"], ["a3", "a4"]],
    ],
    ids=[
        "late row at a stage",
        "late row at an imported row's instant",
        "late rows lose and reopen before a move",
        "row deleted",
        "won, late row back and forth, lost",
        "opened elsewhere",
    ],
)
def test_each_night_the_deal_reads_as_a_new_ledger_of_that_nights_export(
    db_url: str, tmp_path: Path, nights: list[list[str]]
) -> None:
    """Each night's import is accepted, the same export again appends nothing, and the deal
    reads as a new ledger that imported only that export reads it; as known at the end of
    each earlier night, it reads as it did then."""
    before: list[tuple[datetime, dict[str, Reading]]] = []
    store = LedgerStore.open(db_url, create=True)
    at = parse_instant("2020-01-01")
    store.append(NewEvent(LedgerConfigured(), at, "t", "t", recorded_at=at))
    with store:
        for n, rows in enumerate(nights):
            path = tmp_path / f"night{n}.csv"
            path.write_text(HEADER + "".join(SCENARIO_ROWS[r] for r in rows), encoding="utf-8")
            request = CrmRequest("salesforce", path, stage_map=STAGE_MAP)
            now = NIGHT_ONE + timedelta(days=n)
            with clocked(now):
                import_crm(store, request, actor="t")
            with clocked(now + timedelta(hours=1)):
                assert import_crm(store, request, actor="t").appended == 0
            assert readings(store) == fresh_reading(tmp_path / f"fresh{n}.db", request)
            assert verify_ledger(store).ok
            for known_at, then in before:
                assert readings(store, known_at) == then
            before.append((now + timedelta(hours=2), readings(store)))
