"""A HubSpot deal property history imported again every night (see `test_crm_nights` for the
Salesforce property whose helpers this reuses): each night's export is a subset of one pool of
property changes (changes come late, are deleted, come back), imported into one ledger, with
a deals file on some nights, contracts going live by hand between nights, and `--backfill`
on some nights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.crm import CrmRequest
from ledger.crm.importer import BACKFILL_RETRACTS
from ledger.envelope import NewEvent
from ledger.errors import InputError
from ledger.events import GoLive, LedgerConfigured
from ledger.operations import import_crm, verify_ledger
from ledger.store import LedgerStore
from ledger.timeutil import read_instant
from projections.deals import replay_deals
from tests.test_crm_nights import (
    CLOSE_DATES,
    NIGHT_ONE,
    START,
    Reading,
    clocked,
    fresh_reading,
    new_ledger,
    reading,
    readings,
)

PIPELINE = Path(__file__).resolve().parent.parent / "fixtures/crm/hubspot/pipeline.csv"
HEADER = "dealId,property,value,timestamp\n"
STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "12345678",
    "contractsent",
    "closedwon",
    "closedlost",
)
OWNERS = ("", "301", "302")
STANDS_ON_OPENING = re.compile(
    r"retracting that deal_opened \(seq \d+\) would leave the later "
    r"(contract_signed|stage_changed|deal_lost|deal_reopened|deal_updated) \(seq"
)
"""The refusal of an export that takes back a deal_opened another event stands on."""


@dataclass(frozen=True, slots=True)
class Change:
    """One property change of the pool."""

    deal_id: str
    hour: int  # hours after START: its timestamp
    prop: str
    value: str

    @property
    def at(self) -> datetime:
        return START + timedelta(hours=self.hour)

    def line(self) -> str:
        ms = int(self.at.timestamp() * 1000)
        return f"{self.deal_id},{self.prop},{self.value},{ms}\n"


@st.composite
def deal_changes(draw: st.DrawFn, deal_id: str) -> list[Change]:
    """Changes at up to 4 instants, each of one to three properties (several at one instant)."""
    hours = draw(st.lists(st.integers(0, 200), min_size=1, max_size=4, unique=True))
    out: list[Change] = []
    for hour in sorted(hours):
        props = draw(
            st.lists(
                st.sampled_from(["dealstage", "amount", "closedate"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        for prop in props:
            if prop == "dealstage":
                value = draw(st.sampled_from((*STAGES, "closedwon", "closedwon")))
            elif prop == "amount":
                value = draw(st.sampled_from(["100", "150", "200"]))
            else:
                value = draw(st.sampled_from(CLOSE_DATES)).isoformat()
            out.append(Change(deal_id, hour, prop, value))
    return out


@st.composite
def pools(draw: st.DrawFn) -> list[Change]:
    deals = draw(st.integers(1, 2))
    return [c for d in range(deals) for c in draw(deal_changes(f"90{d}"))]


@dataclass(frozen=True, slots=True)
class Night:
    """One night: which changes of the pool the export gives, the deals file's owner of each
    deal (None: no deals file that night), and whether it is imported with --backfill."""

    present: tuple[bool, ...]
    owners: dict[str, str] | None
    backfill: bool


def export(folder: Path, n: int, pool: list[Change], night: Night) -> CrmRequest:
    """Write night `n`'s export (and its deals file) and return its import."""
    history = folder / f"night{n}.csv"
    lines = [c.line() for c, here in zip(pool, night.present, strict=True) if here]
    history.write_text(HEADER + "".join(lines), encoding="utf-8")
    deals_file = None
    if night.owners is not None:
        # Each deal is its own company, as an import without a deals file records it, so a
        # deals file may come and go between nights without changing any deal's account.
        deals_file = folder / f"deals{n}.csv"
        rows = "".join(f"{d},{d},{o}\n" for d, o in sorted(night.owners.items()))
        deals_file.write_text("dealId,companyId,hubspot_owner_id\n" + rows, encoding="utf-8")
    return CrmRequest("hubspot", history, deals_file, PIPELINE, night.backfill)


def owners(store: LedgerStore) -> dict[str, str | None]:
    return {d: deal.owner for d, deal in replay_deals(store.read()).deals.items()}


def go_live(store: LedgerStore, deal_id: str, at: datetime) -> None:
    """Record by hand that `deal_id`'s contract went live at `at` (recorded then too)."""
    event = GoLive(account_id=deal_id, deal_id=deal_id)
    store.append(NewEvent(event, at, "t", "t", recorded_at=at))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_hubspot_history_imported_every_night_reads_as_that_nights_export(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Each night's HubSpot export is imported into one ledger, some nights with a deals
    file, some with --backfill; between nights a won deal's contract may go live by hand.

    Compared with a new ledger that imported only that night's export (its deals file too),
    for every deal the export has a `dealstage` change of: status, stage, amount, expected
    close and the ARR of the contract in force, except that a deal whose contract went live in
    the ledger keeps that contract in force, so it stays won at the stage it was won from with
    the ARR it had then, whatever the export says of it (signed otherwise, lost, open again);
    its amount and close date follow the export. An export that no longer opens a live deal
    at the change that opened it is refused (the contract, which the hand-recorded go-live
    stands on, stands on that deal_opened, as do the moves that led to it, which a live deal
    keeps) and writes nothing: that is the documented refusal
    of an export whose taken-back events a hand-recorded event stands on. So is (and does)
    an export that opens a deal at the timestamp that opened it but otherwise (a change come
    late or gone there) or at another, once a deals file recorded an owner update of it
    effective after its opening: owner updates are never retracted, and one stands on the
    deal_opened to be retracted. Owners: owners
    from a deals file are never retracted, so a deal's owner is the last one a deals file gave
    it on a night the export had the deal (a blank owner, a night without a deals file, or a
    night the export lacks the deal leave it as it was; none at all: None). Every import is
    accepted, except a --backfill one that gives an event recorded before the ledger's last
    recorded_at or would retract an imported event (either would rewrite what the ledger knew
    at an instant), which is refused saying so and writes nothing. The same import again
    appends nothing, `verify` passes, and what the ledger read at the end of each earlier
    night it still reads as known then: at its last recorded_at, or after a backfill night
    just before it, as a later backfill may record what the CRM showed at that very instant
    (another deal changed at the same timestamp).
    """
    pool = data.draw(pools(), label="pool")
    deal_ids = sorted({c.deal_id for c in pool})
    folder = tmp_path_factory.mktemp("hsnights")
    before: list[tuple[datetime, dict[str, Reading]]] = []
    live: dict[str, Reading] = {}
    owner_of: dict[str, str | None] = {}
    owned = False  # whether a deals file gave a deal imported before another owner
    n_nights = data.draw(st.integers(2, 4), label="nights")
    with new_ledger(folder / "ledger.db") as store:
        for n in range(n_nights):
            night = Night(
                tuple(data.draw(st.lists(st.booleans(), min_size=len(pool), max_size=len(pool)))),
                data.draw(
                    st.none()
                    | st.fixed_dictionaries({d: st.sampled_from(OWNERS) for d in deal_ids})
                ),
                data.draw(st.booleans()),
            )
            request = export(folder, n, pool, night)
            fresh = fresh_reading(folder / f"fresh{n}.db", request)
            assume(fresh is not None)
            assert fresh is not None
            at = NIGHT_ONE + timedelta(days=n)
            head = store.head()
            with clocked(at):
                try:
                    import_crm(store, request, actor="t")
                except InputError as exc:
                    # Only a backfill is refused, and it writes nothing: when the ledger
                    # recorded something later than a change the export gives, or when it
                    # would retract an imported event.
                    assert store.head() == head
                    stands = STANDS_ON_OPENING.search(exc.reason)
                    if stands and (owned if stands[1] == "deal_updated" else live):
                        continue  # an event not retracted stands on the deal_opened: docstring
                    assert night.backfill, exc
                    if exc.reason == BACKFILL_RETRACTS:
                        continue
                    assert head.recorded_at is not None
                    last = read_instant(head.recorded_at)
                    assert any(
                        c.at < last for c, here in zip(pool, night.present, strict=True) if here
                    )
                    assert "the ledger's last recorded_at; a backfill only goes" in str(exc)
                    continue
            with clocked(at + timedelta(hours=1)):
                assert import_crm(store, request, actor="t").appended == 0
            now = readings(store)
            for deal_id, expected in fresh.items():
                if deal_id in live:  # won, its contract kept: amount and close date follow
                    expected = (*live[deal_id][:2], *expected[2:4], live[deal_id][4])
                assert now[deal_id] == expected, f"night {n}, deal {deal_id}"
                if night.owners is not None and night.owners[deal_id]:
                    owned = (
                        owned
                        or owner_of.get(deal_id, night.owners[deal_id]) != night.owners[deal_id]
                    )
                    owner_of[deal_id] = night.owners[deal_id]
                owner_of.setdefault(deal_id, None)
            assert owners(store) == owner_of, f"night {n}"
            assert verify_ledger(store).ok
            for known_at, then in before:
                assert readings(store, known_at) == then
            recorded = store.head().recorded_at
            assert recorded is not None
            # What the ledger read as known at its last recorded_at (a backfill records at
            # the CRM's change times; a later backfill may record after it, but not before).
            known = read_instant(recorded)
            if night.backfill:  # a later backfill may record at that very instant too
                known -= timedelta(microseconds=1)
            before.append((known, readings(store, known)))
            # A won deal may go live between nights (recorded by hand after the night).
            won = [d for d, r in now.items() if r[0] == "won" and d not in live]
            goes: bool = data.draw(st.booleans(), label="go live")
            if won and goes:
                going = data.draw(st.sampled_from(won), label="live deal")
                go_live(store, going, known + timedelta(minutes=1))
                live[going] = reading(replay_deals(store.read()).deals[going])


def import_night(
    store: LedgerStore, folder: Path, n: int, changes: str, deals: str | None = None, **kw: bool
) -> None:
    """Import night `n`'s HubSpot changes (and a deals file of `deals` rows) into `store`."""
    history = folder / f"night{n}.csv"
    history.write_text(HEADER + changes, encoding="utf-8")
    deals_file = None
    if deals is not None:
        deals_file = folder / f"deals{n}.csv"
        deals_file.write_text("dealId,companyId,hubspot_owner_id\n" + deals, encoding="utf-8")
    request = CrmRequest("hubspot", history, deals_file, PIPELINE, kw.get("backfill", False))
    with clocked(NIGHT_ONE + timedelta(days=n)):
        import_crm(store, request, actor="t")


def configured(db_url: str) -> LedgerStore:
    store = LedgerStore.open(db_url, create=True)
    at = read_instant("2020-01-01T00:00:00Z")
    store.append(NewEvent(LedgerConfigured(), at, "t", "t", recorded_at=at))
    return store


OPEN = "900,dealstage,qualifiedtobuy,1704103200000\n900,closedate,2024-09-30,1704103200000\n"
"""Deal 900 opened on 2024-01-01 10:00 UTC, without an amount."""


def test_a_change_come_late_at_the_instant_that_opened_the_deal_opens_it_with_that_value(
    db_url: str, tmp_path: Path
) -> None:
    """The amount set at the same timestamp as the deal's first stage arrives a night late:
    the deal is opened again with it, not refused as if its stage map or account changed."""
    with configured(db_url) as store:
        import_night(store, tmp_path, 0, OPEN)
        import_night(store, tmp_path, 1, OPEN + "900,amount,150,1704103200000\n")
        deal = replay_deals(store.read()).deals["900"]
        assert (deal.stage, deal.amount) == ("discovery", Decimal("150"))
        assert verify_ledger(store).ok


def test_a_deal_opened_anew_at_another_change_keeps_its_owner_from_the_deals_file(
    db_url: str, tmp_path: Path
) -> None:
    """Owners from the deals file are never retracted: when the change that opened the deal is
    deleted since and a night without a deals file opens it at a later one, its owner stays."""
    later = "900,dealstage,contractsent,1704189600000\n900,closedate,2024-12-31,1704189600000\n"
    with configured(db_url) as store:
        import_night(store, tmp_path, 0, OPEN + later, "900,900,301\n")
        import_night(store, tmp_path, 1, later)
        deal = replay_deals(store.read()).deals["900"]
        assert (deal.stage, deal.owner) == ("negotiation", "301")


def test_a_backfill_that_would_retract_an_imported_event_is_refused_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """The close date set with the deal's last change is deleted since and an earlier one come
    late: a backfill would record the deal otherwise at the instant the ledger last recorded,
    rewriting what it knew then, so it is refused, whatever that instant."""
    last = "900,dealstage,contractsent,1704189600000\n"
    with configured(db_url) as store:
        import_night(
            store,
            tmp_path,
            0,
            OPEN + last + "900,closedate,2024-12-31,1704189600000\n",
            backfill=True,
        )
        head = store.head()
        with pytest.raises(InputError) as err:
            import_night(store, tmp_path, 1, OPEN + last, backfill=True)
        assert store.head() == head
        import_night(store, tmp_path, 2, OPEN + last)  # without --backfill: recorded now
        assert replay_deals(store.read()).deals["900"].expected_close == date(2024, 9, 30)
    assert str(err.value) == f"night1.csv, deal 900: {BACKFILL_RETRACTS}."


WON_901 = (
    "901,dealstage,appointmentscheduled,1704103200000\n"
    "901,closedate,2024-06-30,1704103200000\n"
    "901,dealstage,closedwon,1704110400000\n"
    "901,amount,100,1704110400000\n"
)
"""Deal 901 opened on 2024-01-01 10:00 UTC and won at 12:00 for 100."""
LOST_901 = "901,dealstage,closedlost,1704106800000\n"
"""Deal 901 lost at 11:00, between its opening and its win (which then reopens it)."""


@pytest.mark.parametrize(
    ("first", "then", "amount"),
    [
        # The win and its amount are deleted in the CRM since, and the deal moved on to another
        # open stage: no amount is given any more.
        (WON_901, WON_901.split("901,dealstage,closedwon")[0] + "901,dealstage,qualifiedtobuy,"
         "1704114000000\n", "0"),
        # The loss before the win is deleted since: the deal_lost and the deal_reopened that
        # the live contract stands on are no longer given; the amount is 150 now.
        (WON_901 + LOST_901, WON_901.replace("amount,100", "amount,150"), "150"),
        # A loss before the win comes late: the export now loses and reopens the deal first.
        (WON_901, WON_901 + LOST_901, "100"),
    ],
    ids=["win deleted, moved on", "loss before the win deleted", "loss before the win late"],
)  # fmt: skip
def test_a_deal_whose_contract_went_live_stays_won_as_it_came_to_it(
    db_url: str, tmp_path: Path, first: str, then: str, amount: str
) -> None:
    """Once its contract went live in the ledger, a deal stays won at the stage it was won from,
    by the way it came to it (its moves, a loss and a reopening), whatever the export says of
    that later: the import neither refuses it nor changes its stages; its amount follows."""
    with configured(db_url) as store:
        import_night(store, tmp_path, 0, first)
        won = replay_deals(store.read()).deals["901"]
        go_live(store, "901", NIGHT_ONE + timedelta(minutes=1))
        import_night(store, tmp_path, 1, then)
        deal = replay_deals(store.read()).deals["901"]
        assert (deal.status, deal.stage, deal.visits, deal.moves, deal.reopened_at) == (
            "won",
            won.stage,
            won.visits,
            won.moves,
            won.reopened_at,
        )
        assert deal.contract is not None and deal.contract.arr == Decimal("100")
        assert deal.amount == Decimal(amount)
        assert verify_ledger(store).ok
