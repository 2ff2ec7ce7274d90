"""HubSpot history import: property-history rows folded into snapshots, and the events they give."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ledger.crm import CrmRequest, crm_batch, hubspot
from ledger.errors import InputError
from ledger.events import LedgerConfigured
from ledger.operations import import_crm
from ledger.timeutil import format_instant, parse_instant
from projections.deals import replay_deals
from tests.test_import_salesforce import briefs, derive, open_store

HS = Path(__file__).resolve().parent.parent / "fixtures" / "crm" / "hubspot"
HISTORY = HS / "property-history.csv"


def hs(path: Path = HISTORY, deals_file: Path | None = None, backfill: bool = False) -> CrmRequest:
    """Return a HubSpot import of `path` with the fixture pipeline file."""
    return CrmRequest("hubspot", path, deals_file, HS / "pipeline.csv", backfill)


def test_property_changes_at_one_timestamp_make_one_snapshot() -> None:
    assert briefs(derive(hs(deals_file=HS / "deals.csv"))) == [
        (
            "2024-01-10T10:00:00",
            "deal_opened",
            {
                "deal_id": "9001",
                "account_id": "5001",
                "stage": "qualification",
                "amount": "90000",
                "expected_close": "2024-09-30",  # epoch milliseconds of its midnight
                "owner": "301",
            },
        ),
        ("2024-01-10T10:00:00", "deal_updated", {"deal_id": "9001", "probability": "0.2"}),
        (
            # The amount and close date came 250 ms before the stage: they open the deal with it.
            "2024-01-29T10:00:00",
            "deal_opened",
            {
                "deal_id": "9002",
                "account_id": "5002",
                "stage": "qualification",
                "amount": "40000",
                "expected_close": "2024-08-30",
                "owner": "302",
            },
        ),
        ("2024-02-20T15:30:00", "deal_updated", {"deal_id": "9001", "probability": "0.4"}),
        ("2024-02-20T15:30:00", "stage_changed", {"deal_id": "9001", "stage": "discovery"}),
        (
            "2024-03-01T00:00:00",
            "deal_updated",
            {"deal_id": "9002", "forecast_category": "best_case"},
        ),
        ("2024-03-05T09:00:00", "deal_updated", {"deal_id": "9001", "amount": "95000"}),
        ("2024-04-11T09:00:00", "stage_changed", {"deal_id": "9001", "stage": "security_review"}),
        ("2024-05-15T12:00:00", "deal_lost", {"deal_id": "9002"}),
        (
            # An instant as close date is its UTC day; the won stage implies the probability.
            "2024-06-28T17:00:00",
            "deal_updated",
            {"deal_id": "9001", "expected_close": "2024-06-28"},
        ),
        ("2024-06-28T17:00:00", "contract_signed", {"deal_id": "9001", "arr": "95000"}),
    ]


def test_keys_are_the_deal_the_change_timestamp_and_the_type() -> None:
    news = derive(hs())
    assert news[2].effective_at == parse_instant("2024-01-29T10:00:00.250Z")
    assert news[2].idempotency_key == "hubspot:9002:1706522400250:deal_opened"
    assert news[2].source == "hubspot:property-history.csv line 12"


def test_other_properties_are_counted_and_skipped() -> None:
    batch = crm_batch(hs(), LedgerConfigured(), "test")
    assert (batch.history.rows, batch.history.skipped) == (18, 2)  # dealname, pipeline
    assert len(batch.history.snapshots["9001"]) == 5


def test_changes_within_one_millisecond_are_two_snapshots_keyed_to_the_microsecond(
    tmp_path: Path,
) -> None:
    """Timestamps finer than HubSpot's milliseconds are two instants, so two snapshots with
    two keys (a whole millisecond keeps the plain epoch-milliseconds key)."""
    path = tmp_path / "hs.csv"
    path.write_text(
        "dealId,property,value,timestamp\n"
        "7001,dealstage,appointmentscheduled,2024-02-20T15:30:00Z\n"
        "7001,closedate,2024-09-30,2024-02-20T15:30:00Z\n"
        "7001,amount,200,2024-02-20T15:31:00.000100Z\n"
        "7001,amount,300,2024-02-20T15:31:00.000400Z\n",
        encoding="utf-8",
    )
    news = derive(hs(path))
    assert [(n.idempotency_key, n.event.model_dump().get("amount")) for n in news] == [
        ("hubspot:7001:1708443000000:deal_opened", 0),
        ("hubspot:7001:1708443060000.100:deal_updated", 200),
        ("hubspot:7001:1708443060000.400:deal_updated", 300),
    ]


def test_a_deal_without_any_stage_row_is_left_out_and_its_rows_counted_as_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hs.csv"
    path.write_text(
        "dealId,property,value,timestamp\n"
        "7002,amount,200,1704880800000\n"
        "7002,closedate,2024-09-30,1704880800000\n"
        "7003,dealstage,appointmentscheduled,1704880800000\n"
        "7003,closedate,2024-09-30,1704880800000\n",
        encoding="utf-8",
    )
    batch = crm_batch(hs(path), LedgerConfigured(), "test")
    assert (batch.history.rows, batch.history.skipped) == (4, 2)
    assert list(batch.history.snapshots) == ["7003"]


def test_stage_ids_without_a_pipeline_file_are_listed() -> None:
    with pytest.raises(InputError) as err:
        derive(CrmRequest("hubspot", HISTORY))
    assert str(err.value) == (
        "3 stages of the CRM are not mapped to the ledger's pipeline: 'appointmentscheduled' "
        "(property-history.csv line 3 column value); 'qualifiedtobuy' (property-history.csv "
        "line 8 column value); '12345678' (property-history.csv line 15 column value). Map each "
        "in a --pipeline file, one `crm stage,ledger stage` a line, to one of: qualification, "
        "discovery, demo, clinical_validation, security_review, legal_review, negotiation, won, "
        "lost."
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "9003,amount,lots,1704880800000",
            "column value: 'lots' is not a decimal number (digits with an optional point and "
            "exponent, such as 120000.50 or 1.2E7).",
        ),
        (
            "9003,dealstage,closedwon,1704880800",
            "column timestamp: '1704880800' is not a timestamp (yyyy-MM-dd HH:mm:ss (UTC), an "
            "ISO 8601 instant or epoch milliseconds).",
        ),
        (
            "9003,hs_deal_stage_probability,40,1704880800000",
            "column value: '40' must be between 0 and 1.",
        ),
        (",dealstage,closedwon,1704880800000", "column dealId: must not be blank."),
    ],
)
def test_a_bad_value_names_file_line_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "hs.csv"
    path.write_text(f"dealId,property,value,timestamp\n{row}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        derive(hs(path))
    assert str(err.value) == f"hs.csv line 2 {message}"


def test_a_won_deal_without_an_amount_points_at_the_value_column(tmp_path: Path) -> None:
    path = tmp_path / "hs.csv"
    path.write_text(
        "dealId,property,value,timestamp\n"
        "9004,dealstage,appointmentscheduled,1704880800000\n"
        "9004,closedate,2024-06-30,1704880800000\n"
        "9004,dealstage,closedwon,1714880800000\n",
        encoding="utf-8",
    )
    with pytest.raises(
        InputError, match=r"^hs.csv line 4 column value \(amount\): deal 9004 is won"
    ):
        derive(hs(path))


def test_a_hubspot_backfill_is_recorded_at_each_change_and_idempotent(db_url: str) -> None:
    with open_store(db_url, since="2024-01-01") as store:
        first = import_crm(store, hs(backfill=True), actor="test")
        again = import_crm(store, hs(backfill=True), actor="test")
        events = list(store.read())[1:]
    assert (first.appended, again.appended, again.duplicates) == (11, 0, 11)
    assert [format_instant(e.recorded_at) for e in events][:3] == [
        "2024-01-10T10:00:00.000000Z",
        "2024-01-10T10:00:00.000000Z",
        "2024-01-29T10:00:00.250000Z",
    ]
    assert all(e.source.startswith("backfill:hubspot:property-history.csv line ") for e in events)
    known_in_may = replay_deals(events, known_at=parse_instant("2024-05-01")).deals
    assert (known_in_may["9001"].stage, known_in_may["9002"].status) == ("security_review", "open")
    final = replay_deals(events).deals
    assert (final["9001"].status, final["9002"].status) == ("won", "lost")


def test_an_owner_flipped_back_and_forth_between_imports_is_recorded_at_each_flip(
    db_url: str, tmp_path: Path
) -> None:
    owners: list[str | None] = []
    appended: list[int] = []
    with open_store(db_url, since="2024-01-01") as store:
        for owner in ["301", "309", "301", "309"]:
            deals = tmp_path / f"deals-{owner}.csv"
            deals.write_text(
                f"dealId,companyId,hubspot_owner_id\n9001,5001,{owner}\n9002,5002,302\n",
                encoding="utf-8",
            )
            appended.append(import_crm(store, hs(deals_file=deals), actor="test").appended)
            owners.append(replay_deals(store.read()).deals["9001"].owner)
            assert import_crm(store, hs(deals_file=deals), actor="test").appended == 0
    assert owners == ["301", "309", "301", "309"]
    assert appended == [11, 1, 1, 1]


def test_a_change_synced_late_with_an_earlier_timestamp_is_recorded_by_the_next_import(
    db_url: str, tmp_path: Path
) -> None:
    """A connector that writes a change late (its timestamp before changes already imported):
    the next import records it, retracts the later change's event as recorded and records it as
    the export now gives it, and again nothing."""
    header = "dealId,property,value,timestamp\n"
    opened = (
        "9101,dealstage,appointmentscheduled,1704880800000\n"
        "9101,amount,50000,1704880800000\n"
        "9101,closedate,2024-06-28,1704880800000\n"
    )
    later = "9101,amount,70000,1707559200000\n9101,closedate,2024-06-28,1707559200000\n"
    late = "9101,closedate,2024-09-30,1706176800000\n"
    (tmp_path / "h1.csv").write_text(header + opened + later, encoding="utf-8")
    (tmp_path / "h2.csv").write_text(header + opened + late + later, encoding="utf-8")
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, hs(tmp_path / "h1.csv"), actor="test")
        assert import_crm(store, hs(tmp_path / "h2.csv"), actor="test").appended == 3
        assert import_crm(store, hs(tmp_path / "h2.csv"), actor="test").appended == 0
        deal = replay_deals(store.read()).deals["9101"]
    assert (str(deal.amount), str(deal.expected_close)) == ("70000", "2024-06-28")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "dealId,hubspot_owner_id",
            "deals.csv line 1: has no column companyId (its columns are: dealId, "
            "hubspot_owner_id).",
        ),
        (
            "companyId,hubspot_owner_id",
            "deals.csv line 1: has no column dealId (its columns are: companyId, "
            "hubspot_owner_id).",
        ),
        (
            "dealId,companyId,Company ID",
            "deals.csv line 1: has the column companyId twice, as 'companyId' (column 2) and "
            "'Company ID' (column 3); names are compared ignoring case, spaces and punctuation, "
            "so keep one.",
        ),
    ],
    ids=["no companyId", "no dealId", "companyId twice"],
)
def test_a_deals_file_s_missing_or_repeated_column_is_named_as_hubspot_names_it(
    tmp_path: Path, header: str, message: str
) -> None:
    deals = tmp_path / "deals.csv"
    deals.write_text(f"{header}\n9001{',1' * header.count(',')}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        derive(hs(deals_file=deals))
    assert str(err.value) == message


SUB_MS = (
    "dealId,property,value,timestamp\n"
    "7002,dealstage,appointmentscheduled,2024-02-20T15:30:00Z\n"
    "7002,closedate,2024-09-30,2024-02-20T15:30:00Z\n"
    "7002,amount,200,2024-02-20T15:31:00.000100Z\n"
    "7002,amount,300,2024-02-20T15:31:00.000400Z\n"
    "7002,dealstage,closedwon,2024-03-01T10:00:00.000600Z\n"
    "7002,dealstage,closedlost,2024-04-01T10:00:00.000700Z\n"
)
"""A deal changed twice within one millisecond, won and lost at instants finer than one."""


def test_changes_within_one_millisecond_are_both_recorded_by_an_import(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "hs.csv").write_text(SUB_MS, encoding="utf-8")
    with open_store(db_url, since="2024-01-01") as store:
        summary = import_crm(store, hs(tmp_path / "hs.csv"), actor="t")
        assert import_crm(store, hs(tmp_path / "hs.csv"), actor="t").appended == 0
        events = list(store.read())
    assert summary.appended == summary.events == 6
    assert [e.payload.model_dump().get("amount") for e in events if e.type == "deal_updated"] == [
        200,
        300,
    ]


def test_a_ledger_an_earlier_release_keyed_to_the_millisecond_imports_the_export_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releases before microsecond keys keyed a change by its epoch milliseconds rounded to the
    nearest: importing the same export into a ledger such a release made appends nothing, the
    retraction of the lost deal's contract included (it names the contract as recorded), and
    a later export's new changes within one millisecond are two events, as in a new ledger."""
    # (those releases refused the two changes within one millisecond: one key for both)
    history = SUB_MS.replace("7002,amount,200,2024-02-20T15:31:00.000100Z\n", "")
    (tmp_path / "hs.csv").write_text(history, encoding="utf-8")
    with open_store(db_url, since="2024-01-01") as store:
        with monkeypatch.context() as earlier:
            earlier.setattr(hubspot, "snapshot_ref", lambda at: str(round(at.timestamp() * 1000)))
            earlier.setattr(hubspot, "earlier_snapshot_ref", lambda at: None)
            first = import_crm(store, hs(tmp_path / "hs.csv"), actor="t")
        keys = {e.idempotency_key for e in store.read()}
        again = import_crm(store, hs(tmp_path / "hs.csv"), actor="t")
        (tmp_path / "later.csv").write_text(
            history
            + "7002,amount,400,2024-04-02T09:00:00.000100Z\n"
            + "7002,closedate,2024-10-31,2024-04-02T09:00:00.000300Z\n",
            encoding="utf-8",
        )
        later = import_crm(store, hs(tmp_path / "later.csv"), actor="t")
        deal = replay_deals(store.read()).deals["7002"]
    assert "hubspot:7002:1709287200001:contract_signed" in keys  # .000600 rounded up
    assert (first.appended, again.appended, again.duplicates) == (5, 0, again.events)
    assert later.appended == 2
    assert (deal.status, deal.contract) == ("lost", None)
    assert (deal.amount, str(deal.expected_close)) == (Decimal(400), "2024-10-31")
