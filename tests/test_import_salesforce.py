"""Salesforce history import: each export quirk, on a hand-made file, and the events it gives.

Most scenarios derive the batch without a database (`crm_batch`); those about what the ledger
accepts (retractions, idempotency, atomicity, backfill) append it on both backends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.crm import CrmRequest, crm_batch
from ledger.crm.importer import BACKFILL_RETRACTS, REDERIVED, RESIGNED
from ledger.crm.snapshots import EVENT_ID_NAMESPACE
from ledger.envelope import NewEvent
from ledger.errors import InputError
from ledger.events import (
    DEFAULT_STAGES,
    ContractSigned,
    EventRetracted,
    GoLive,
    LedgerConfigured,
)
from ledger.operations import export_events, import_crm, record_event
from ledger.store import LedgerStore
from ledger.timeutil import format_instant, parse_instant, read_instant
from projections.deals import replay_deals

SF = Path(__file__).resolve().parent.parent / "fixtures" / "crm" / "salesforce"
STAGE_MAP = SF / "stage-map.csv"


def sf(name: str, **options: Any) -> CrmRequest:
    """Return a Salesforce import of fixture `name` with the standard stage map."""
    options.setdefault("stage_map", STAGE_MAP)
    return CrmRequest("salesforce", SF / name, **options)


def derive(request: CrmRequest, config: LedgerConfigured | None = None) -> list[NewEvent]:
    """Return the events a CRM import would append (no database)."""
    return crm_batch(request, config or LedgerConfigured(), "test").news


def brief(n: NewEvent) -> tuple[str, str, dict[str, Any]]:
    """Return (effective instant, type, payload fields that differ from their defaults)."""
    payload = n.event.model_dump(mode="json", exclude_defaults=True)
    return (format_instant(n.effective_at)[:19], n.event.event_type, payload)


def briefs(news: list[NewEvent]) -> list[tuple[str, str, dict[str, Any]]]:
    return [brief(n) for n in news]


def retract_by_hand(store: LedgerStore, event_id: str, reason: str) -> None:
    """Record the retraction of `event_id` as a user does, with `revledger record`."""
    record_event(
        store,
        "event_retracted",
        {"retracts": event_id, "reason": reason},
        effective=None,
        actor="t",
    )


def open_store(db_url: str, since: str = "2020-01-01") -> LedgerStore:
    """Return a new ledger whose configuration was recorded at `since` (so backfills fit)."""
    store = LedgerStore.open(db_url, create=True)
    at = parse_instant(since)
    store.append(NewEvent(LedgerConfigured(), at, "test", "test", recorded_at=at))
    return store


# -- the rows of one opportunity become its events ---------------------------------------------
def test_each_change_between_consecutive_rows_becomes_an_event() -> None:
    news = derive(sf("OpportunityHistory.csv", deals_file=SF / "Opportunity.csv"))
    a, b = "006A", "006B"
    assert briefs(news) == [
        (
            "2024-01-10T09:00:00",
            "deal_opened",
            {
                "deal_id": a,
                "account_id": "001NORTH",
                "stage": "qualification",
                "amount": "100000",
                "expected_close": "2024-09-30",
                "owner": "005U1",
            },
        ),
        (
            "2024-01-10T09:00:00",
            "deal_updated",
            {"deal_id": a, "probability": "0.1", "forecast_category": "pipeline"},
        ),
        ("2024-02-15T14:30:00", "deal_updated", {"deal_id": a, "probability": "0.2"}),
        ("2024-02-15T14:30:00", "stage_changed", {"deal_id": a, "stage": "discovery"}),
        (
            "2024-03-01T08:00:00",
            "deal_opened",
            {
                "deal_id": b,
                "account_id": "001MERCY",
                "stage": "qualification",
                "amount": "50000",
                "expected_close": "2024-12-31",
                "owner": "005U2",
            },
        ),
        (
            "2024-03-01T08:00:00",
            "deal_updated",
            {"deal_id": b, "probability": "0.1", "forecast_category": "pipeline"},
        ),
        (
            "2024-04-01T10:00:00",
            "deal_updated",
            {
                "deal_id": a,
                "amount": "120000",
                "expected_close": "2024-10-31",
                "probability": "0.55",
                "forecast_category": "best_case",
            },
        ),
        ("2024-04-01T10:00:00", "stage_changed", {"deal_id": a, "stage": "security_review"}),
        ("2024-05-02T12:00:00", "deal_updated", {"deal_id": b, "expected_close": "2024-05-02"}),
        ("2024-05-02T12:00:00", "deal_lost", {"deal_id": b}),
        (
            "2024-06-20T16:45:00",
            "deal_updated",
            {"deal_id": a, "probability": "0.85", "forecast_category": "commit"},
        ),
        ("2024-06-20T16:45:00", "stage_changed", {"deal_id": a, "stage": "negotiation"}),
        (
            "2024-07-15T11:00:00",
            "deal_updated",
            {"deal_id": a, "amount": "125000", "expected_close": "2024-07-15"},
        ),
        ("2024-07-15T11:00:00", "contract_signed", {"deal_id": a, "arr": "125000"}),
        (
            "2024-08-01T09:30:00",
            "deal_updated",
            {"deal_id": b, "amount": "60000", "expected_close": "2025-03-31", "probability": "0.3"},
        ),
        ("2024-08-01T09:30:00", "deal_reopened", {"deal_id": b, "stage": "demo"}),
    ]
    assert all(n.recorded_at is None for n in news)
    assert news[0].source == "salesforce:OpportunityHistory.csv line 2"
    assert news[0].idempotency_key == "salesforce:006A:008A1:deal_opened"
    assert news[0].event_id == str(
        uuid.uuid5(EVENT_ID_NAMESPACE, "salesforce:006A:008A1:deal_opened")
    )


def test_without_an_opportunities_file_each_opportunity_is_its_own_account() -> None:
    opened = [
        n.event for n in derive(sf("OpportunityHistory.csv")) if n.event.event_type == "deal_opened"
    ]
    assert [(e.deal_id, e.account_id, e.owner) for e in opened] == [  # type: ignore[attr-defined]
        ("006A", "006A", None),
        ("006B", "006B", None),
    ]


def test_an_iso_8859_1_file_and_stage_map_are_read() -> None:
    news = derive(sf("latin1-OpportunityHistory.csv", stage_map=SF / "latin1-stage-map.csv"))
    assert [(t, p.get("stage"), p.get("arr")) for _, t, p in briefs(news)] == [
        ("deal_opened", "qualification", None),
        ("deal_updated", None, None),
        ("deal_updated", None, None),
        ("stage_changed", "negotiation", None),
        ("deal_updated", None, None),  # the close date became the day it was won
        ("contract_signed", None, "42000"),
    ]


def test_a_utf8_bom_unquoted_values_and_stages_mapped_by_their_own_name() -> None:
    news = derive(CrmRequest("salesforce", SF / "bom-OpportunityHistory.csv"))
    assert briefs(news) == [
        (
            "2024-05-06T07:08:09",
            "deal_opened",
            {
                "deal_id": "006M",
                "account_id": "006M",
                "stage": "discovery",
                "amount": "30000",
                "expected_close": "2024-12-20",
            },
        ),
        ("2024-06-07T08:09:10", "stage_changed", {"deal_id": "006M", "stage": "security_review"}),
    ]


def test_forecast_categories_as_api_names_and_closed_implied_by_the_outcome() -> None:
    news = derive(sf("forecast-api-names.csv"))
    got = [(t, p.get("forecast_category")) for _, t, p in briefs(news) if t != "stage_changed"]
    assert got == [
        ("deal_opened", None),
        ("deal_updated", "pipeline"),
        ("deal_updated", "best_case"),  # BestCase
        ("deal_updated", "commit"),  # Forecast is the API name of Commit
        ("deal_updated", "omitted"),
        ("deal_updated", None),  # the close date moved; Closed is not recorded
        ("contract_signed", None),
    ]


def test_close_dates_are_stripped_of_their_midnight_never_shifted() -> None:
    config = LedgerConfigured(timezone="America/Los_Angeles")
    news = derive(sf("forecast-api-names.csv"), config)
    assert brief(news[0])[2]["expected_close"] == "2024-12-31"
    # CreatedDate has no zone: it is UTC whatever the ledger's zone.
    assert news[0].effective_at == datetime(2024, 1, 8, 9, tzinfo=UTC)


def test_blank_amounts_open_at_zero_and_a_won_row_signs_the_last_known_amount() -> None:
    got = briefs(derive(sf("blank-amounts.csv")))
    assert got[0][2]["amount"] == "0"
    assert [
        (t, p.get("amount"), p.get("arr")) for _, t, p in got if "amount" in p or "arr" in p
    ] == [
        ("deal_opened", "0", None),
        ("deal_updated", "80000", None),
        ("contract_signed", None, "80000"),
    ]


def test_a_hand_aligned_stage_map_with_spaces_after_its_quotes_is_read(tmp_path: Path) -> None:
    """Only a quote left open to the end of the file is refused; spaces after a closing quote,
    as a hand-aligned file has them, are trimmed like any other."""
    aligned = tmp_path / "map.csv"
    lines = STAGE_MAP.read_text(encoding="utf-8").splitlines()
    aligned.write_text(
        "\n".join(f'"{crm}"   ,{ledger}' for crm, ledger in (line.split(",") for line in lines)),
        encoding="utf-8",
    )
    assert briefs(derive(sf("OpportunityHistory.csv", stage_map=aligned))) == briefs(
        derive(sf("OpportunityHistory.csv"))
    )


def test_amounts_in_the_api_s_exponent_form_are_read(tmp_path: Path) -> None:
    """Salesforce's API (so Data Loader and Bulk API exports) writes 8 digits or more with an
    exponent: `1.2345678E7` is 12,345,678."""
    (tmp_path / "h.csv").write_text(
        "OpportunityId,CreatedDate,StageName,CloseDate,Amount,Probability\n"
        "006A,2024-01-01,Prospecting,2024-12-01,1.2345678E7,1E1\n",
        encoding="utf-8",
    )
    opened, updated = derive(CrmRequest("salesforce", tmp_path / "h.csv", stage_map=STAGE_MAP))
    assert brief(opened)[2]["amount"] == "12345678"
    assert brief(updated)[2]["probability"] == "0.1"


def test_a_won_row_without_any_amount_is_an_error_naming_file_line_and_column() -> None:
    with pytest.raises(InputError) as err:
        derive(sf("won-without-amount.csv"))
    assert str(err.value) == (
        "won-without-amount.csv line 3 column Amount: deal 006W is won here but has no amount so "
        "far; the ledger records a signature with its ARR, so give the won row an amount (0 for "
        "a free pilot)."
    )


def test_a_free_pilot_won_at_zero_signs_a_contract_for_zero_and_a_later_price_signs_again(
    tmp_path: Path,
) -> None:
    (tmp_path / "h.csv").write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "p1,006P,2024-01-10 09:00:00,Prospecting,0,2024-03-31\n"
        "p2,006P,2024-03-15 09:00:00,Closed Won,0,2024-03-15\n"
        "p3,006P,2024-03-20 09:00:00,Closed Won,36000,2024-03-15\n",
        encoding="utf-8",
    )
    events = briefs(derive(CrmRequest("salesforce", tmp_path / "h.csv", stage_map=STAGE_MAP)))
    signed = [(at, p["arr"]) for at, t, p in events if t == "contract_signed"]
    assert signed == [("2024-03-15T09:00:00", "0"), ("2024-03-15T09:00:00", "36000")]
    assert [t for _, t, _ in events].count("event_retracted") == 1


def test_rows_with_the_same_created_date_are_ordered_by_their_id() -> None:
    stages = [
        p["stage"] for _, t, p in briefs(derive(sf("same-timestamp.csv"))) if t == "stage_changed"
    ]
    assert stages == ["demo", "security_review"]  # 008S2 before 008S3, whatever the file order


def test_without_an_id_column_same_instant_rows_keep_their_file_order() -> None:
    news = derive(sf("no-id-column.csv"))
    moves = [
        (n.idempotency_key, brief(n)[2]["stage"])
        for n in news
        if n.event.event_type == "stage_changed"
    ]
    assert moves == [
        ("salesforce:006J:2024-03-05T09:00:00.000000Z#0:stage_changed", "demo"),
        ("salesforce:006J:2024-03-05T09:00:00.000000Z#1:stage_changed", "discovery"),
    ]


def test_a_file_not_in_time_order_gives_events_in_time_order() -> None:
    got = [(at, t, p["deal_id"]) for at, t, p in briefs(derive(sf("unordered.csv")))]
    assert got == [
        ("2024-01-08T09:00:00", "deal_opened", "006U"),
        ("2024-01-08T09:00:00", "deal_updated", "006U"),
        ("2024-01-15T09:00:00", "deal_opened", "006V"),
        ("2024-01-15T09:00:00", "deal_updated", "006V"),
        ("2024-02-12T09:00:00", "deal_updated", "006U"),
        ("2024-02-12T09:00:00", "stage_changed", "006U"),
        ("2024-04-15T09:00:00", "deal_updated", "006V"),
        ("2024-04-15T09:00:00", "stage_changed", "006V"),
        ("2024-06-03T09:00:00", "deal_updated", "006U"),
        ("2024-06-03T09:00:00", "deal_lost", "006U"),
    ]


def test_deleted_rows_are_skipped_whether_written_1_or_true() -> None:
    batch = crm_batch(sf("deleted-rows.csv"), LedgerConfigured(), "test")
    assert (batch.history.rows, batch.history.skipped) == (4, 2)
    assert [p.get("stage") for _, t, p in briefs(batch.news) if "stage" in p] == [
        "qualification",
        "discovery",
    ]


def test_a_first_row_at_a_closing_stage_opens_at_the_first_stage_and_closes_at_once() -> None:
    assert briefs(derive(sf("first-row-closed.csv"))) == [
        (
            "2024-02-05T09:00:00",
            "deal_opened",
            {
                "deal_id": "006C",
                "account_id": "006C",
                "stage": "qualification",
                "amount": "33000",
                "expected_close": "2024-02-05",
            },
        ),
        ("2024-02-05T09:00:00", "contract_signed", {"deal_id": "006C", "arr": "33000"}),
        (
            "2024-02-06T09:00:00",
            "deal_opened",
            {
                "deal_id": "006E",
                "account_id": "006E",
                "stage": "qualification",
                "amount": "12000",
                "expected_close": "2024-02-06",
            },
        ),
        ("2024-02-06T09:00:00", "deal_lost", {"deal_id": "006E"}),
    ]


# -- stage maps ------------------------------------------------------------------------------------
def test_unmapped_stages_are_listed_together_with_their_first_place() -> None:
    with pytest.raises(InputError) as err:
        derive(sf("unmapped-stages.csv"))
    assert str(err.value) == (
        "2 stages of the CRM are not mapped to the ledger's pipeline: 'Discovery Call' "
        "(unmapped-stages.csv line 2 column StageName); 'Pilot' (unmapped-stages.csv line 3 "
        "column StageName). Map each in a --stage-map file, one `crm stage,ledger stage` a "
        "line, to one of: qualification, discovery, demo, clinical_validation, "
        "security_review, legal_review, negotiation, won, lost."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "salesforce stage,ledger stage\nPilot,pilot\n",
            "map.csv line 2 column 2: 'pilot' is not a stage of the configured pipeline nor won "
            "or lost (one of: qualification, discovery, demo, clinical_validation, "
            "security_review, legal_review, negotiation, won, lost).",
        ),
        (
            "Pilot,demo\nPILOT,discovery\n",
            "map.csv line 2: maps 'PILOT' to 'discovery', but an earlier line maps it to 'demo'.",
        ),
        # A header after comments is still the header; a second one is a mapping.
        (
            "# our stages\nsalesforce stage,ledger stage\nPilot,demo\nCRM,ledger stage\n",
            "map.csv line 4 column 2: 'ledger stage' is not a stage of the configured pipeline "
            "nor won or lost (one of: qualification, discovery, demo, clinical_validation, "
            "security_review, legal_review, negotiation, won, lost).",
        ),
        ("Pilot\n", "map.csv line 1: must be `crm stage,ledger stage` (e.g. `Closed Won,won`)."),
    ],
)
def test_a_bad_stage_map_line_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "map.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        derive(sf("OpportunityHistory.csv", stage_map=tmp_path / "map.csv"))
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '"OpportunityId","StageName"\n"006A","Prospecting"\n',
            "h.csv line 1: has no column CreatedDate (its columns are: OpportunityId, StageName).",
        ),
        (
            '"OpportunityId","CreatedDate","StageName","CloseDate"\n'
            '"006A","2024-01-01 10:00:00","Prospecting"\n',
            "h.csv line 2: has 3 values but the header has 4 columns.",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n006A,2024-01-01,Prospecting,2024-13-01\n",
            "h.csv line 2 column CloseDate: '2024-13-01' is not a real calendar date (month must "
            "be in 1..12).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n006A,2024-01-01,Prospecting,"
            "2024-12-01 08:00:00\n",
            "h.csv line 2 column CloseDate: '2024-12-01 08:00:00' is not a date (yyyy-MM-dd, "
            "optionally followed by 00:00:00).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n006A,01/02/2024 10:00,Prospecting,"
            "2024-12-01\n",
            "h.csv line 2 column CreatedDate: '01/02/2024 10:00' is not a timestamp (yyyy-MM-dd "
            "HH:mm:ss (UTC), an ISO 8601 instant or epoch milliseconds).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Probability\n"
            "006A,2024-01-01,Prospecting,2024-12-01,120\n",
            "h.csv line 2 column Probability: '120' must be a percentage between 0 and 100.",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Probability\n"
            "006A,2024-01-01,Prospecting,2024-12-01,12.345\n",
            "h.csv line 2 column Probability: '12.345' has more than 2 decimal places (a "
            "percentage).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,ForecastCategory\n"
            "006A,2024-01-01,Prospecting,2024-12-01,Maybe\n",
            "h.csv line 2 column ForecastCategory: 'Maybe' is not a forecast category (Pipeline, "
            "Best Case/BestCase, Commit/Forecast, Omitted, Closed).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n,2024-01-01,Prospecting,2024-12-01\n",
            "h.csv line 2 column OpportunityId: must not be blank.",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n006A,2024-01-01,Prospecting,\n",
            "h.csv line 2 column CloseDate: the first row of deal 006A has no close date; the "
            "ledger needs an expected close to open a deal.",
        ),
        # A quote left open would otherwise swallow every later record into one value, also
        # after a quirk the strict reader refuses (a space after a closing quote).
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Description\n"
            '006A,2024-01-01,Prospecting,2024-12-01,"said ""maybe\n'
            "006A,2024-02-01,Closed Won,2024-12-01,ok\n",
            "h.csv line 2: has a quoted value that is never closed (a missing '\"').",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Description\n"
            '006A,2024-01-01,Prospecting,2024-12-01,"aligned" \n'
            '006A,2024-01-02,Prospecting,2024-12-01,"see call\n'
            "006A,2024-02-01,Closed Won,2024-12-01,ok\n",
            "h.csv line 3: has a quoted value that is never closed (a missing '\"').",
        ),
        # Amounts and probabilities are ASCII digits, a point and an exponent, nothing else.
        *(
            (
                "OpportunityId,CreatedDate,StageName,CloseDate,Amount\n"
                f'006A,2024-01-01,Prospecting,2024-12-01,"{amount}"\n',
                f"h.csv line 2 column Amount: '{amount}' is not a decimal number (digits with an "
                "optional point and exponent, such as 120000.50 or 1.2E7).",
            )
            for amount in (
                "1_000",
                "+500",
                "\u0661\u0662\u0663",
                "25,000.00",
                "NaN",
                "$500",
                "1E9999999999999999999",  # beyond what exact decimal arithmetic holds
            )
        ),
        # A value that looks like a patient identifier is never quoted back.
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Amount\n"
            "006A,2024-01-01,Prospecting,2024-12-01,123-45-6789\n",
            "h.csv line 2 column Amount: the value (withheld: it looks like a social security "
            "number) is not a decimal number (digits with an optional point and exponent, such "
            "as 120000.50 or 1.2E7).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n"
            "SSN 123-45-6789,2024-01-01,Prospecting,2024-12-01\n",
            "h.csv line 2 column OpportunityId: the value looks like a social security number; "
            "ids must never hold patient identifiers (PHI).",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,Probability\n"
            "006A,2024-01-01,Prospecting,2024-12-01,+10\n",
            "h.csv line 2 column Probability: '+10' is not a decimal number (digits with an "
            "optional point and exponent, such as 120000.50 or 1.2E7).",
        ),
        *(
            (
                "OpportunityId,CreatedDate,StageName,CloseDate\n"
                f"006A,2024-01-10T09:00:00{offset},Prospecting,2024-12-01\n",
                f"h.csv line 2 column CreatedDate: '2024-01-10T09:00:00{offset}' has an impossible "
                f"UTC offset {offset} (at most ±23:59).",
            )
            for offset in ("+99:00", "+09:99", "-2400")
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate\n"
            "006A,\uff12\uff10\uff12\uff14-01-10 09:00:00,Prospecting,2024-12-01\n",
            "h.csv line 2 column CreatedDate: '\uff12\uff10\uff12\uff14-01-10 09:00:00' is not a "
            "timestamp (yyyy-MM-dd HH:mm:ss (UTC), an ISO 8601 instant or epoch milliseconds).",
        ),
        # A column named twice (as the names are compared) is refused, not read from either.
        (
            "OpportunityId,CreatedDate,StageName,Close Date,CloseDate\n"
            "006A,2024-01-01,Prospecting,2024-12-01,2024-11-01\n",
            "h.csv line 1: has the column CloseDate twice, as 'Close Date' (column 4) and "
            "'CloseDate' (column 5); names are compared ignoring case, spaces and punctuation, "
            "so keep one.",
        ),
        (
            "OpportunityId,CreatedDate,StageName,CloseDate,OpportunityId\n"
            "006A,2024-01-01,Prospecting,2024-12-01,006B\n",
            "h.csv line 1: has the column OpportunityId twice, as 'OpportunityId' (column 1) and "
            "'OpportunityId' (column 5); names are compared ignoring case, spaces and "
            "punctuation, so keep one.",
        ),
        # A row Id goes into the events' idempotency keys.
        (
            "Id,OpportunityId,CreatedDate,StageName,CloseDate\n"
            "h\x01,006A,2024-01-01,Prospecting,2024-12-01\n",
            "h.csv line 2 column Id: 'h\\x01' contains control characters.",
        ),
    ],
)
def test_a_bad_value_names_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "h.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        derive(CrmRequest("salesforce", tmp_path / "h.csv", stage_map=STAGE_MAP))
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("rows", "refusal"),
    [
        # The same Id on two rows of one deal that derive the same event type.
        (
            "A1,006A,2024-01-01,Prospecting,2024-12-01,\n"
            "A2,006A,2024-02-01,Needs Analysis,2024-12-01,\n"
            "A2,006A,2024-03-01,Value Proposition,2024-12-01,\n",
            "line 4 column Id: 'A2' repeats line 3",
        ),
        # ... that derive other event types.
        (
            "A1,006A,2024-01-01,Prospecting,2024-12-01,\n"
            "A2,006A,2024-02-01,Needs Analysis,2024-12-01,\n"
            "A2,006A,2024-03-01,Closed Lost,2024-12-01,\n",
            "line 4 column Id: 'A2' repeats line 3",
        ),
        # ... of two deals.
        (
            "A1,006A,2024-01-01,Prospecting,2024-12-01,\n"
            "A1,006B,2024-01-01,Prospecting,2024-12-01,\n",
            "line 3 column Id: 'A1' repeats line 2",
        ),
        # ... one of them deleted.
        (
            "A1,006A,2024-01-01,Prospecting,2024-12-01,true\n"
            "A1,006A,2024-02-01,Needs Analysis,2024-12-01,\n",
            "line 3 column Id: 'A1' repeats line 2",
        ),
    ],
    ids=["same deal and type", "same deal, other types", "two deals", "one row deleted"],
)
def test_a_history_row_id_on_two_rows_is_refused_naming_both_lines(
    tmp_path: Path, rows: str, refusal: str
) -> None:
    path = tmp_path / "h.csv"
    header = "Id,OpportunityId,CreatedDate,StageName,CloseDate,IsDeleted\n"
    path.write_text(header + rows, encoding="utf-8")
    with pytest.raises(InputError) as err:
        derive(CrmRequest("salesforce", path, stage_map=STAGE_MAP))
    assert str(err.value) == f"h.csv {refusal} with other values; a history row's Id is unique."


def test_rows_given_again_unchanged_as_where_two_exports_overlap_are_read_once(
    tmp_path: Path,
) -> None:
    """Two export windows joined into one file repeat the rows at their boundary verbatim:
    the file derives what the file without the repeats derives, and counts them as skipped."""
    header = "Id,OpportunityId,CreatedDate,StageName,CloseDate,Amount\n"
    rows = [
        "A1,006A,2024-01-01,Prospecting,2024-12-01,1000\n",
        "A2,006A,2024-02-01,Needs Analysis,2024-12-01,1200\n",
        "A3,006A,2024-03-01,Closed Won,2024-12-01,1500\n",
    ]
    clean, joined = tmp_path / "clean.csv", tmp_path / "joined.csv"
    clean.write_text(header + "".join(rows), encoding="utf-8")
    joined.write_text(header + "".join(rows[:2] + rows[1:]), encoding="utf-8")
    once = crm_batch(CrmRequest("salesforce", clean, stage_map=STAGE_MAP), LedgerConfigured(), "t")
    twice = crm_batch(
        CrmRequest("salesforce", joined, stage_map=STAGE_MAP), LedgerConfigured(), "t"
    )
    assert any(isinstance(n.event, ContractSigned) for n in once.news)
    assert [(n.event, n.idempotency_key) for n in twice.news] == [
        (n.event, n.idempotency_key) for n in once.news
    ]
    assert (twice.history.rows, twice.history.skipped) == (4, 1)


# -- what the ledger accepts -------------------------------------------------------------------
def test_a_won_deal_flipped_to_lost_retracts_its_signature_and_is_lost(db_url: str) -> None:
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, sf("won-then-lost.csv", backfill=True), actor="test")
        events = list(store.read())
    signed: dict[str, str] = {}
    for e in events:
        if e.type == "contract_signed":
            signed.setdefault(e.stream_id, e.event_id)  # each deal's first signature
    retractions = [
        e.payload.model_dump(mode="json", exclude_defaults=True)
        for e in events
        if e.type == "event_retracted"
    ]
    assert retractions == [
        {
            "retracts": signed["deal:006Y"],
            "reason": "the CRM history moved this deal from won back to an open stage",
        },
        {
            "retracts": signed["deal:006X"],
            "reason": "the CRM history moved this deal from won to lost",
        },
    ]
    book = replay_deals(events)
    x, y = book.deals["006X"], book.deals["006Y"]
    assert (x.status, x.contract) == ("lost", None)
    assert x.closed_at == datetime(2024, 7, 9, 10, tzinfo=UTC)
    assert y.status == "won" and y.contract is not None
    assert y.contract.arr == Decimal("70000")
    assert [(m.from_stage, m.to_stage) for m in y.moves] == [("legal_review", "negotiation")]
    # As known on 2024-07-05 (a backfill), X was still won and Y's signature already withdrawn.
    then = replay_deals(events, known_at=parse_instant("2024-07-05")).deals
    assert (then["006X"].status, then["006Y"].status, then["006Y"].stage) == (
        "won",
        "open",
        "negotiation",
    )


def test_a_won_deal_whose_amount_changes_is_signed_again_for_it_on_its_close_day(
    db_url: str, tmp_path: Path
) -> None:
    history = tmp_path / "amended.csv"
    history.write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "a1,006W,2024-01-10 09:00:00,Negotiation/Review,100000,2024-03-31\n"
        "a2,006W,2024-03-15 09:00:00,Closed Won,100000,2024-03-15\n"
        "a3,006W,2024-03-20 09:00:00,Closed Won,120000,2024-03-15\n",
        encoding="utf-8",
    )
    request = CrmRequest("salesforce", history, stage_map=STAGE_MAP, backfill=True)
    with open_store(db_url, since="2024-01-01") as store:
        first = import_crm(store, request, actor="test")
        events = list(store.read())
        assert import_crm(store, request, actor="test").appended == 0
    # The export's own retraction takes out no event an earlier import recorded: the summary
    # counts none as such ("appended 6", not "(1 retracting an imported event ...)").
    assert (first.appended, first.withdrawn) == (6, 0)
    retraction = next(e for e in events if e.type == "event_retracted")
    assert retraction.payload.model_dump(mode="json")["reason"] == (
        "the CRM history changed the amount of this won deal; it is signed again for it"
    )
    now = replay_deals(events).deals["006W"]
    assert now.contract is not None and now.contract.arr == Decimal("120000")
    assert now.closed_at == datetime(2024, 3, 15, 9, tzinfo=UTC)  # the day it closed
    # As known on 2024-03-17 (a backfill), it was signed for the first amount.
    then = replay_deals(events, known_at=parse_instant("2024-03-17")).deals["006W"]
    assert then.contract is not None and then.contract.arr == Decimal("100000")


def test_a_won_deal_live_in_the_ledger_or_whose_amount_goes_to_zero_keeps_its_contract(
    db_url: str, tmp_path: Path
) -> None:
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
    won = (
        "a1,006W,2024-01-10 09:00:00,Negotiation/Review,100000,2024-03-31\n"
        "a2,006W,2024-03-15 09:00:00,Closed Won,100000,2024-03-15\n"
        "z1,006Z,2024-01-10 09:00:00,Negotiation/Review,50000,2024-03-31\n"
        "z2,006Z,2024-03-15 09:00:00,Closed Won,50000,2024-03-15\n"
    )
    amended = "a3,006W,2024-03-20 09:00:00,Closed Won,120000,2024-03-15\n"
    zeroed = "z3,006Z,2024-03-20 09:00:00,Closed Won,0,2024-03-15\n"
    (tmp_path / "won.csv").write_text(header + won, encoding="utf-8")
    (tmp_path / "later.csv").write_text(header + won + amended + zeroed, encoding="utf-8")
    with open_store(db_url, since="2024-01-01") as store:
        first = CrmRequest("salesforce", tmp_path / "won.csv", stage_map=STAGE_MAP)
        import_crm(store, first, actor="t")
        live = NewEvent(
            GoLive(account_id="006W", deal_id="006W"), parse_instant("2024-04-01"), "t", "t"
        )
        store.append(live)
        again = CrmRequest("salesforce", tmp_path / "later.csv", stage_map=STAGE_MAP)
        later = import_crm(store, again, actor="t")
        events = list(store.read())
    assert later.appended == 2  # the two amounts; no contract signed again
    assert not any(e.type == "event_retracted" for e in events)
    deals = replay_deals(events).deals
    for deal_id, amount, arr in (("006W", 120000, 100000), ("006Z", 0, 50000)):
        contract = deals[deal_id].contract
        assert contract is not None
        assert (deals[deal_id].amount, contract.arr) == (Decimal(amount), Decimal(arr))


def test_an_owner_changed_and_changed_back_is_the_owner_of_the_last_export(
    db_url: str, tmp_path: Path
) -> None:
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
    rows = [
        "h1,006A,2024-01-10 09:00:00,Prospecting,100000,2024-09-30\n",
        "h2,006A,2024-02-10 09:00:00,Needs Analysis,100000,2024-09-30\n",
        "h3,006A,2024-03-10 09:00:00,Value Proposition,100000,2024-09-30\n",
    ]
    owners = []
    with open_store(db_url, since="2024-01-01") as store:
        for n, owner in enumerate(["005U1", "005U2", "005U1"], start=1):
            history, deals = tmp_path / f"h{n}.csv", tmp_path / f"o{n}.csv"
            history.write_text(header + "".join(rows[:n]), encoding="utf-8")
            deals.write_text(f"Id,AccountId,OwnerId\n006A,001A,{owner}\n", encoding="utf-8")
            request = CrmRequest("salesforce", history, deals_file=deals, stage_map=STAGE_MAP)
            import_crm(store, request, actor="t")
            owners.append(replay_deals(store.read()).deals["006A"].owner)
            assert import_crm(store, request, actor="t").appended == 0
    assert owners == ["005U1", "005U2", "005U1"]


@pytest.mark.parametrize("backfill", [True, False])
def test_an_owner_flipped_back_and_forth_between_imports_is_recorded_at_each_flip(
    db_url: str, tmp_path: Path, backfill: bool
) -> None:
    """The same export with the deals file of each week: the ledger's owner follows it."""
    history = tmp_path / "h.csv"
    history.write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "H1,O1,2025-01-06 10:00:00,Prospecting,1000,2025-06-30\n",
        encoding="utf-8",
    )
    owners: list[str | None] = []
    appended: list[int] = []
    with open_store(db_url, since="2025-01-01") as store:
        for owner in ["alice", "bob", "alice", "bob"]:
            deals = tmp_path / f"{owner}.csv"
            deals.write_text(f"Id,AccountId,OwnerId\nO1,ACC1,{owner}\n", encoding="utf-8")
            request = CrmRequest(
                "salesforce", history, deals_file=deals, stage_map=STAGE_MAP, backfill=backfill
            )
            appended.append(import_crm(store, request, actor="t").appended)
            owners.append(replay_deals(store.read()).deals["O1"].owner)
            assert import_crm(store, request, actor="t").appended == 0
    assert owners == ["alice", "bob", "alice", "bob"]
    assert appended == [1, 1, 1, 1]  # the deal, then an owner change each time


@pytest.mark.parametrize("backfill", [True, False])
def test_a_later_export_whose_deal_changed_owner_appends_the_new_owner(
    db_url: str, tmp_path: Path, backfill: bool
) -> None:
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
    early = "h1,006A,2024-01-10 09:00:00,Prospecting,100000,2024-09-30\n"
    later = "h2,006A,2024-03-10 09:00:00,Closed Won,110000,2024-03-10\n"
    files = {
        "h1.csv": header + early,
        "h2.csv": header + early + later,
        "opp1.csv": "Id,AccountId,OwnerId\n006A,001A,005U1\n",
        "opp2.csv": "Id,AccountId,OwnerId\n006A,001A,005U9\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def request(history: str, deals: str) -> CrmRequest:
        return CrmRequest(
            "salesforce",
            tmp_path / history,
            deals_file=tmp_path / deals,
            stage_map=STAGE_MAP,
            backfill=backfill,
        )

    with open_store(db_url, since="2024-01-01") as store:
        first = import_crm(store, request("h1.csv", "opp1.csv"), actor="test")
        second = import_crm(store, request("h2.csv", "opp2.csv"), actor="test")
        third = import_crm(store, request("h2.csv", "opp2.csv"), actor="test")
        events = list(store.read())
    assert (first.appended, second.appended, third.appended) == (1, 3, 0)
    owner_change = events[-1]
    assert owner_change.type == "deal_updated"
    assert owner_change.payload.model_dump(mode="json", exclude_none=True) == {
        "type": "deal_updated",
        "deal_id": "006A",
        "owner": "005U9",
    }
    assert owner_change.effective_at == datetime(2024, 3, 10, 9, tzinfo=UTC)  # the last change
    assert replay_deals(events).deals["006A"].owner == "005U9"
    opened_as = replay_deals(events, parse_instant("2024-03-01")).deals["006A"]
    assert opened_as.owner == "005U1"


def test_an_import_is_idempotent_and_a_longer_export_appends_only_its_new_rows(
    db_url: str, tmp_path: Path
) -> None:
    rows = (SF / "OpportunityHistory.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    early = tmp_path / "early.csv"
    early.write_text("".join(rows[:5]), encoding="utf-8")
    with open_store(db_url) as store:
        part = import_crm(store, CrmRequest("salesforce", early, stage_map=STAGE_MAP), actor="t")
        full = import_crm(store, sf("OpportunityHistory.csv"), actor="test")
        dump = _export(store)
        again = import_crm(store, sf("OpportunityHistory.csv"), actor="test")
        assert _export(store) == dump
    assert (part.appended, full.appended, full.duplicates) == (8, 8, 8)
    assert (again.appended, again.duplicates) == (0, 16)


def _export(store: LedgerStore) -> str:
    import io

    out = io.StringIO()
    export_events(store, out)
    return out.getvalue()


def test_a_bad_row_writes_nothing(db_url: str) -> None:
    with open_store(db_url) as store:
        head = store.head()
        with pytest.raises(
            InputError,
            match=r"bad-amount.csv line 3 column Amount: '25,000.00' is not a decimal number "
            r"\(digits with an optional point and exponent, such as 120000\.50 or 1\.2E7\)\.",
        ):
            import_crm(store, sf("bad-amount.csv"), actor="test")
        with pytest.raises(InputError, match="not mapped"):
            import_crm(store, sf("unmapped-stages.csv"), actor="test")
        assert store.head() == head


def test_backfill_records_each_event_at_its_row_and_marks_it(db_url: str) -> None:
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, sf("OpportunityHistory.csv", backfill=True), actor="test")
        events = list(store.read())[1:]
    assert all(e.recorded_at == e.effective_at for e in events)
    assert events[0].source == "backfill:salesforce:OpportunityHistory.csv line 2"
    assert format_instant(events[-1].recorded_at) == "2024-08-01T09:30:00.000000Z"
    # What was known on 2024-05-01: deal B was still open, A in security review.
    book = replay_deals(events, known_at=parse_instant("2024-05-01"))
    assert (book.deals["006A"].stage, book.deals["006B"].status) == ("security_review", "open")


def test_without_backfill_everything_is_recorded_at_the_import(db_url: str) -> None:
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, sf("OpportunityHistory.csv"), actor="test")
        events = list(store.read())[1:]
    assert len({e.recorded_at for e in events}) == 1
    assert events[0].recorded_at > datetime(2025, 1, 1, tzinfo=UTC)
    assert not any(e.source.startswith("backfill:") for e in events)


def test_a_backfill_into_a_ledger_that_knows_later_things_says_how_to_start_one(
    db_url: str,
) -> None:
    with open_store(db_url, since="2024-03-01") as store:
        with pytest.raises(InputError) as err:
            import_crm(store, sf("OpportunityHistory.csv", backfill=True), actor="test")
        assert store.head().seq == 1
    assert str(err.value).startswith(
        "OpportunityHistory.csv line 2 column CreatedDate: 2024-01-10T09:00:00Z is before "
        "2024-03-01T00:00:00.000000Z, the ledger's last recorded_at;"
    )
    assert str(err.value).endswith(
        "create it with `revledger init --backfill-from 2024-01-10` (or any earlier day)."
    )


def test_a_backfill_of_an_export_whose_row_now_gives_another_event_says_to_import_it_now(
    db_url: str, tmp_path: Path
) -> None:
    """A row deleted since the backfill: its `deal_updated` would be retracted and the next row
    give one it did not, which the CRM did not show at the rows' times, so a backfill cannot
    record them there; an import without --backfill records them now."""
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
    rows = (
        "b1,006B,2024-01-10 09:00:00,Prospecting,100,2024-09-30,0\n"
        "b2,006B,2024-02-10 09:00:00,Prospecting,150,2024-10-31,{deleted}\n"
        "b3,006B,2024-03-10 09:00:00,Needs Analysis,150,2024-10-31,0\n"
        "b4,006B,2024-04-10 09:00:00,Value Proposition,150,2024-10-31,0\n"
    )
    (tmp_path / "h1.csv").write_text(header + rows.format(deleted=0), encoding="utf-8")
    (tmp_path / "h2.csv").write_text(header + rows.format(deleted=1), encoding="utf-8")

    def request(name: str, **options: Any) -> CrmRequest:
        return CrmRequest("salesforce", tmp_path / f"{name}.csv", stage_map=STAGE_MAP, **options)

    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, request("h1", backfill=True), actor="t")
        head = store.head().seq
        with pytest.raises(InputError) as err:
            import_crm(store, request("h2", backfill=True), actor="t")
        assert store.head().seq == head
        # The deleted row's deal_updated is retracted and b3's recorded.
        assert import_crm(store, request("h2"), actor="t").appended == 2
    assert str(err.value) == f"h2.csv, deal 006B: {BACKFILL_RETRACTS}."


# -- any history of one deal is accepted and ends where its last row says -----------------------
OPEN_STAGES = [s.name for s in DEFAULT_STAGES]
SF_NAME = {s: s.replace("_", " ").title() for s in OPEN_STAGES} | {
    "won": "Closed Won",
    "lost": "Closed Lost",
}
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from([*OPEN_STAGES, "won", "lost"]),
        st.one_of(st.none(), st.integers(1, 500).map(lambda k: k * 1000)),
        st.integers(0, 3),  # hours after the previous row (0: the same instant)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25)
@given(rows=rows_strategy)
def test_any_row_sequence_is_accepted_and_ends_in_the_last_rows_state(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int | None, int]]
) -> None:
    path = tmp_path_factory.mktemp("h") / "h.csv"
    lines = ["Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate"]
    at = datetime(2024, 1, 1, tzinfo=UTC)
    for i, (stage, amount, gap) in enumerate(rows):
        at += timedelta(hours=gap)
        created = format_instant(at)
        lines.append(f"R{i:03d},006P,{created},{SF_NAME[stage]},{amount or ''},2024-12-31")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    amounts = [a for _, a, _ in rows if a]
    first_amount = next((i for i, (_, a, _) in enumerate(rows) if a), len(rows))
    # A signature before any amount is refused (tested above).
    assume(all(stage != "won" for stage, _, _ in rows[:first_amount]))
    request = CrmRequest("salesforce", path)
    with open_store(str(path.parent / "l.db")) as store:
        summary = import_crm(store, request, actor="test")
        assert import_crm(store, request, actor="test").appended == 0
        deal = replay_deals(store.read()).deals["006P"]
    assert summary.appended == summary.events
    last = rows[-1][0]
    assert deal.status == (last if last in ("won", "lost") else "open")
    if last not in ("won", "lost"):
        assert deal.stage == last
    if amounts:
        assert deal.amount == Decimal(amounts[-1])
    if last == "won":  # signed for the last amount, whenever it changed
        assert deal.contract is not None and deal.contract.arr == Decimal(amounts[-1])


@pytest.mark.parametrize(
    "later_rows",
    [
        # A row that reached the export late, with a CreatedDate before one imported already.
        ["a1", "a2", "a3"],
        # A row imported earlier, marked deleted since (or gone from the export).
        ["a1", "a3", "a2-deleted"],
    ],
    ids=["row that came late", "row deleted since"],
)
def test_a_later_export_whose_row_now_gives_other_changes_records_them(
    db_url: str, tmp_path: Path, later_rows: list[str]
) -> None:
    """The same row compared with other rows before it gives another `deal_updated`: the next
    night's import records it as the export gives it now, and running it again records
    nothing; the deal reads what a ledger made from that export alone reads."""
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
    rows = {
        "a1": "a1,006A,2024-01-10 09:00:00,Prospecting,100000,2024-04-30,0\n",
        "a2": "a2,006A,2024-01-20 09:00:00,Prospecting,100000,2024-05-31,0\n",
        "a2-deleted": "a2,006A,2024-01-20 09:00:00,Prospecting,100000,2024-05-31,1\n",
        "a3": "a3,006A,2024-02-10 09:00:00,Needs Analysis,150000,2024-04-30,0\n",
    }
    earlier_rows = ["a1", "a3"] if "a2" in later_rows else ["a1", "a2", "a3"]
    (tmp_path / "h1.csv").write_text(header + "".join(rows[r] for r in earlier_rows))
    (tmp_path / "h2.csv").write_text(header + "".join(rows[r] for r in later_rows))
    first = CrmRequest("salesforce", tmp_path / "h1.csv", stage_map=STAGE_MAP)
    again = CrmRequest("salesforce", tmp_path / "h2.csv", stage_map=STAGE_MAP)
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, first, actor="t")
        assert import_crm(store, again, actor="t").appended >= 1
        assert import_crm(store, again, actor="t").appended == 0
        deal = replay_deals(store.read()).deals["006A"]
    assert (deal.stage, deal.amount, str(deal.expected_close)) == (
        "discovery",
        Decimal(150000),
        "2024-04-30",  # a3's close date, as the CRM says now
    )


def test_an_imported_event_retracted_by_hand_stays_retracted_when_the_export_gives_it_again(
    db_url: str, tmp_path: Path
) -> None:
    """The same export imported again records nothing, also when a user retracted one of the
    events an earlier import derived from it: that retraction is not undone by the import."""
    (tmp_path / "h.csv").write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "r1,006R,2024-01-10 09:00:00,Prospecting,100,2024-09-30\n"
        "r2,006R,2024-02-10 09:00:00,Prospecting,150,2024-09-30\n",
        encoding="utf-8",
    )
    request = CrmRequest("salesforce", tmp_path / "h.csv", stage_map=STAGE_MAP)
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, request, actor="t")
        update = next(e for e in store.read() if e.type == "deal_updated")
        retract_by_hand(store, update.event_id, "the amount was never raised")
        again = import_crm(store, request, actor="t")
        deal = replay_deals(store.read()).deals["006R"]
    assert (again.appended, again.withdrawn) == (0, 0)
    assert deal.amount == Decimal(100)


def test_a_deal_lost_after_its_contract_was_signed_again_retracts_that_contract(
    db_url: str, tmp_path: Path
) -> None:
    """A late row changed the amount a won deal was signed for: once the first contract is
    retracted by hand, the next import signs it again; a later Closed Lost row then retracts
    the contract in force, not the one retracted already."""
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
    opened = "q1,006Q,2024-01-10 09:00:00,Prospecting,100,2024-09-30\n"
    late = "q2,006Q,2024-02-10 09:00:00,Prospecting,150,2024-09-30\n"
    won = "q3,006Q,2024-03-10 09:00:00,Closed Won,,2024-03-10\n"
    lost = "q4,006Q,2024-05-10 09:00:00,Closed Lost,,2024-03-10\n"
    exports = {"h1": opened + won, "h2": opened + late + won, "h3": opened + late + won + lost}
    for name, rows in exports.items():
        (tmp_path / f"{name}.csv").write_text(header + rows, encoding="utf-8")

    def request(name: str) -> CrmRequest:
        return CrmRequest("salesforce", tmp_path / f"{name}.csv", stage_map=STAGE_MAP)

    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, request("h1"), actor="t")
        first = next(e for e in store.read() if e.type == "contract_signed")
        retract_by_hand(store, first.event_id, "signed for 150")
        import_crm(store, request("h2"), actor="t")
        import_crm(store, request("h3"), actor="t")
        assert import_crm(store, request("h3"), actor="t").appended == 0
        deal = replay_deals(store.read()).deals["006Q"]
    assert (deal.status, deal.contract) == ("lost", None)


# -- a won deal whose signature a later export gives otherwise -----------------------------------
SIGNED_HEADER = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
SIGNED_ROWS = {
    "opened": "s1,006S,2024-01-10 09:00:00,Prospecting,100,2024-09-30\n",
    # A row that reaches the export late (or is deleted from it again): the amount it sets is
    # the one the won row signs.
    "late": "s2,006S,2024-02-10 09:00:00,Prospecting,150,2024-09-30\n",
    "won": "s3,006S,2024-03-10 09:00:00,Closed Won,,2024-03-10\n",
    "lost": "s4,006S,2024-05-10 09:00:00,Closed Lost,,2024-03-10\n",
}


def signed_export(tmp_path: Path, *rows: str) -> CrmRequest:
    """Return an import of the export holding `rows` of `SIGNED_ROWS`, in that order."""
    path = tmp_path / ("-".join(rows) + ".csv")
    path.write_text(SIGNED_HEADER + "".join(SIGNED_ROWS[r] for r in rows), encoding="utf-8")
    return CrmRequest("salesforce", path, stage_map=STAGE_MAP)


def signed_arr(store: LedgerStore, known_at: datetime | None = None) -> Decimal | None:
    """Return the ARR deal 006S's contract in force is signed for (as known at `known_at`)."""
    contract = replay_deals(store.read(), known_at=known_at).deals["006S"].contract
    return None if contract is None else contract.arr


@pytest.mark.parametrize(
    "nights",
    [
        [("opened", "won"), ("opened", "late", "won")],
        [("opened", "late", "won"), ("opened", "won")],
        # The late row comes, goes and comes again: each night's amount counts.
        [("opened", "won"), ("opened", "late", "won"), ("opened", "won")],
        [
            ("opened", "won"),
            ("opened", "late", "won"),
            ("opened", "won"),
            ("opened", "late", "won"),
        ],
    ],
    ids=["late row", "row deleted", "late then deleted", "late, deleted, late again"],
)
def test_a_won_deal_an_export_signs_for_another_amount_is_signed_again_each_night(
    db_url: str, tmp_path: Path, nights: list[tuple[str, ...]]
) -> None:
    """Each night's export is imported without a hand retraction: the contract in force is
    retracted and the deal signed again for the amount the export gives, effective when it
    was signed; as known before that night, the earlier amount; the same export again records
    nothing."""
    with open_store(db_url, since="2024-01-01") as store:
        for rows in nights:
            before = store.head()
            import_crm(store, signed_export(tmp_path, *rows), actor="t")
            assert import_crm(store, signed_export(tmp_path, *rows), actor="t").appended == 0
            amount = Decimal(150 if "late" in rows else 100)
            assert signed_arr(store) == amount
            deal = replay_deals(store.read()).deals["006S"]
            assert deal.closed_at == datetime(2024, 3, 10, 9, tzinfo=UTC)
            if before.seq > 1:  # an earlier night signed the deal
                assert before.recorded_at is not None
                was = signed_arr(store, known_at=read_instant(before.recorded_at))
                assert was is not None and was != amount
        contracts = {e.event_id for e in store.read() if e.type == "contract_signed"}
        retracted = {
            getattr(e.payload, "retracts", "") for e in store.read() if e.type == "event_retracted"
        }
    assert len(contracts) == len(nights)  # one signature a night, each night another amount
    assert len(contracts & retracted) == len(nights) - 1  # all but the last are retracted


def test_a_deal_lost_since_whose_signature_an_export_gives_otherwise_stays_lost(
    db_url: str, tmp_path: Path
) -> None:
    """A won then lost deal: a late row changes the amount the retracted contract was signed
    for; the next import records the amount and signs nothing (the deal is still lost)."""
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, signed_export(tmp_path, "opened", "won", "lost"), actor="t")
        later = signed_export(tmp_path, "opened", "late", "won", "lost")
        summary = import_crm(store, later, actor="t")
        assert import_crm(store, later, actor="t").appended == 0
        events = list(store.read())
    assert summary.appended == 1
    assert events[-1].type == "deal_updated"
    deal = replay_deals(events).deals["006S"]
    assert (deal.status, deal.contract, deal.amount) == ("lost", None, Decimal(150))


def test_a_live_deal_whose_signature_an_export_gives_otherwise_keeps_its_contract(
    db_url: str, tmp_path: Path
) -> None:
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, signed_export(tmp_path, "opened", "won"), actor="t")
        store.append(
            NewEvent(
                GoLive(account_id="006S", deal_id="006S"), parse_instant("2024-04-01"), "t", "t"
            )
        )
        later = signed_export(tmp_path, "opened", "late", "won")
        assert import_crm(store, later, actor="t").appended == 1  # the amount
        assert import_crm(store, later, actor="t").appended == 0
        assert signed_arr(store) == Decimal(100)
        events = list(store.read())
    assert not any(e.type == "event_retracted" for e in events)


def test_an_event_recorded_by_hand_with_an_idempotency_key_is_neither_compared_nor_retracted(
    db_url: str, tmp_path: Path
) -> None:
    """An event recorded by hand on an imported deal with a key of its own (`record
    --idempotency-key`, or an `import` line, keyed `auto:` without one) is not one of the
    CRM's: the same export again records nothing, and one whose rows changed since records
    them and leaves it in force."""
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
    rows = (
        "k1,006K,2024-01-10 09:00:00,Prospecting,100,2024-09-30,0\n"
        "k2,006K,2024-02-10 09:00:00,Prospecting,150,2024-09-30,{deleted}\n"
        "k3,006K,2024-03-10 09:00:00,Needs Analysis,150,2024-09-30,0\n"
    )
    (tmp_path / "h1.csv").write_text(header + rows.format(deleted=0), encoding="utf-8")
    (tmp_path / "h2.csv").write_text(header + rows.format(deleted=1), encoding="utf-8")

    def request(name: str) -> CrmRequest:
        return CrmRequest("salesforce", tmp_path / f"{name}.csv", stage_map=STAGE_MAP)

    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, request("h1"), actor="t")
        record_event(
            store,
            "persona_engaged",
            {"deal_id": "006K", "persona": "cfo"},
            effective="2024-03-01",
            actor="t",
            idempotency_key="kickoff-006K-cfo",
        )
        again = import_crm(store, request("h1"), actor="t")
        changed = import_crm(store, request("h2"), actor="t")
        deal = replay_deals(store.read()).deals["006K"]
    assert (again.appended, again.withdrawn) == (0, 0)
    assert changed.withdrawn >= 1  # the deleted row's update is retracted, the persona is not
    assert deal.personas == ("cfo",)
    assert (deal.stage, deal.amount) == ("discovery", Decimal(150))


def test_a_deal_whose_go_live_was_retracted_is_signed_again_when_its_amount_changes(
    db_url: str, tmp_path: Path
) -> None:
    """Only a go-live in force keeps a contract's ARR: once the go-live recorded by mistake is
    retracted, a later export that signs the deal for another amount signs it again, as for a
    deal that never went live."""
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, signed_export(tmp_path, "opened", "won"), actor="t")
        live = store.append(
            NewEvent(
                GoLive(account_id="006S", deal_id="006S"), parse_instant("2024-04-01"), "t", "t"
            )
        )
        retract_by_hand(store, live.event_id, "went live on another deal")
        later = signed_export(tmp_path, "opened", "late", "won")
        summary = import_crm(store, later, actor="t")
        assert import_crm(store, later, actor="t").appended == 0
        assert signed_arr(store) == Decimal(150)
    assert summary.withdrawn == 1  # the contract signed for 100


@pytest.mark.parametrize(
    ("later", "reason"),
    [
        (("opened", "late", "won"), RESIGNED),
        (("opened", "lost"), "the CRM history moved this deal from won to lost"),
        (("opened",), "the CRM history moved this deal from won back to an open stage"),
    ],
    ids=["signed for another amount", "won row deleted, lost since", "won row deleted"],
)
def test_the_retraction_of_a_contract_an_export_no_longer_gives_says_why(
    db_url: str, tmp_path: Path, later: tuple[str, ...], reason: str
) -> None:
    """`log` shows why an imported contract was retracted: signed again otherwise, or the deal
    now lost, or open again, as the export's rows end; any other imported event the export no
    longer gives (the won row's close date) is retracted as no longer given."""
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, signed_export(tmp_path, "opened", "won"), actor="t")
        contract = next(e for e in store.read() if e.type == "contract_signed")
        import_crm(store, signed_export(tmp_path, *later), actor="t")
        retractions = [e.payload for e in store.read() if isinstance(e.payload, EventRetracted)]
    reasons = {r.retracts: r.reason for r in retractions}
    assert reasons.pop(contract.event_id) == reason
    assert set(reasons.values()) <= {REDERIVED}


def test_rows_deleted_since_retract_only_their_events_in_an_order_the_rules_take(
    db_url: str, tmp_path: Path
) -> None:
    """A deal lost and reopened, whose lost and reopening rows are deleted since: the next
    import retracts just those two events, the reopening first (a reopening of a deal that is
    not lost would break the rules), and leaves the later row's update as recorded."""
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
    rows = (
        "l1,006L,2024-01-10 09:00:00,Prospecting,100,2024-09-30,0\n"
        "l2,006L,2024-02-10 09:00:00,Closed Lost,100,2024-09-30,{deleted}\n"
        "l3,006L,2024-03-10 09:00:00,Prospecting,100,2024-09-30,{deleted}\n"
        "l4,006L,2024-04-10 09:00:00,Prospecting,150,2024-09-30,0\n"
    )
    (tmp_path / "h1.csv").write_text(header + rows.format(deleted=0), encoding="utf-8")
    (tmp_path / "h2.csv").write_text(header + rows.format(deleted=1), encoding="utf-8")

    def request(name: str) -> CrmRequest:
        return CrmRequest("salesforce", tmp_path / f"{name}.csv", stage_map=STAGE_MAP)

    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, request("h1"), actor="t")
        recorded = {e.type: e.event_id for e in store.read()}
        summary = import_crm(store, request("h2"), actor="t")
        events = list(store.read())
    retracted = [e.payload.retracts for e in events if isinstance(e.payload, EventRetracted)]
    assert retracted == [recorded["deal_reopened"], recorded["deal_lost"]]
    assert (summary.appended, summary.withdrawn) == (2, 2)
    deal = replay_deals(events).deals["006L"]
    assert (deal.status, deal.stage, deal.amount) == ("open", "qualification", Decimal(150))


def test_a_deal_whose_keys_are_long_is_imported_again_with_restated_keys_within_the_limit(
    db_url: str, tmp_path: Path
) -> None:
    """An opportunity and row ids long enough that their events' keys come near the 200
    characters a key may have: a late row's events are recorded under restated keys that stay
    within them, and the same export again records nothing."""
    deal, row = "006" + "L" * 97, "R" * 58  # the longest id is 100 characters
    header = "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
    rows = {
        "r1": f"{row}1,{deal},2024-01-10 09:00:00,Prospecting,100,2024-09-30\n",
        "r2": f"{row}2,{deal},2024-01-20 09:00:00,Prospecting,100,2024-12-31\n",
        "r3": f"{row}3,{deal},2024-02-10 09:00:00,Needs Analysis,150,2024-09-30\n",
    }
    (tmp_path / "h1.csv").write_text(header + rows["r1"] + rows["r3"], encoding="utf-8")
    (tmp_path / "h2.csv").write_text(header + "".join(rows.values()), encoding="utf-8")
    first = CrmRequest("salesforce", tmp_path / "h1.csv", stage_map=STAGE_MAP)
    again = CrmRequest("salesforce", tmp_path / "h2.csv", stage_map=STAGE_MAP)
    with open_store(db_url, since="2024-01-01") as store:
        import_crm(store, first, actor="t")
        assert import_crm(store, again, actor="t").withdrawn == 1  # r3's update: a close date too
        assert import_crm(store, again, actor="t").appended == 0
        keys = [e.idempotency_key or "" for e in store.read()]
        found = replay_deals(store.read()).deals[deal]
    assert max(len(k) for k in keys) > 183, keys  # near the limit: a restated key is hashed
    assert max(len(k) for k in keys) <= 200, keys
    assert (found.stage, found.amount) == ("discovery", Decimal(150))


def test_a_row_id_with_a_slash_is_its_own_key_when_the_export_is_imported_again(
    db_url: str, tmp_path: Path
) -> None:
    """A key the import restates ends in `/` and 16 hex digits; a row id with a slash that ends
    a key in `/` and 16 other characters (`q/1234:deal_opened`) is no such key: the same export
    again records nothing."""
    (tmp_path / "h.csv").write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "q/1234,006Q,2024-01-10 09:00:00,Prospecting,100,2024-09-30\n"
        "q/1235,006Q,2024-02-10 09:00:00,Needs Analysis,150,2024-09-30\n",
        encoding="utf-8",
    )
    request = CrmRequest("salesforce", tmp_path / "h.csv", stage_map=STAGE_MAP)
    with open_store(db_url, since="2024-01-01") as store:
        assert import_crm(store, request, actor="t").appended == 3
        again = import_crm(store, request, actor="t")
    assert (again.appended, again.duplicates) == (0, 3)
