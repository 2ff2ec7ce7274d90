"""Text a user enters that would deceive a reader: ids that show as other ids, free text that
reorders itself, currency codes that are none, and spreadsheet cells that run as formulas."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from decimal import Decimal

import pytest

from cli.render import Column, Report, render
from ledger.envelope import NewEvent
from ledger.errors import InputError
from ledger.events import build_event, decode_payload
from ledger.events.fields import INVISIBLE_CHARS
from ledger.operations import record_event
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant


def test_every_invisible_character_of_this_unicode_database_is_known() -> None:
    invisible = [
        chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp")
    ]
    assert len(invisible) > 150
    assert all(INVISIBLE_CHARS.fullmatch(ch) for ch in invisible)
    assert not INVISIBLE_CHARS.search("D-17 acct-Ørsted 株式会社 ① ﬁ")


@pytest.mark.parametrize("ch", ["\u202e", "\u200b", "\u2066", "\ufeff", "\u00ad", "\u2028"])
def test_an_id_with_an_invisible_character_is_refused(ch: str) -> None:
    with pytest.raises(InputError, match=f"U\\+{ord(ch):04X}"):
        build_event("deal_lost", {"deal_id": f"D-1{ch}7"})


@pytest.mark.parametrize(
    ("deal_id", "culprit", "written"),
    [
        ("Zu\u0308rich-1", "decomposed form", "Z\u00fcrich-1"),
        ("\uff24\uff25\uff21\uff2c\uff0d\uff11", "U\\+FF24 \\(FULLWIDTH LATIN", "DEAL-1"),
        ("D\u20101", "U\\+2010 \\(HYPHEN\\)", "D-1"),
        ("D\u22121", "U\\+2212 \\(MINUS SIGN\\)", "D-1"),
        ("D\u00a01", "U\\+00A0 \\(NO-BREAK SPACE\\)", "D 1"),
        ("D\u20091", "U\\+2009 \\(THIN SPACE\\)", "D 1"),
        ("D\u30001", "U\\+3000 \\(IDEOGRAPHIC SPACE\\)", "D 1"),
        ("D-\u2460", "U\\+2460 \\(CIRCLED DIGIT ONE\\)", "D-1"),
    ],
)
def test_an_id_that_reads_as_another_id_is_refused_saying_how_to_write_it(
    deal_id: str, culprit: str, written: str
) -> None:
    # Each of these shows as (or means) an id written otherwise, which would be another deal.
    with pytest.raises(InputError, match=f"{culprit}.*write it .*'{written}'"):
        build_event("deal_lost", {"deal_id": deal_id})


def test_ids_in_any_script_written_as_they_read_are_taken() -> None:
    for text in (
        "Z\u00fcrich-1",
        "acct-\u00d8rsted",
        "\u682a\u5f0f\u4f1a\u793e-ABC",
        "\u5317\u6751 \u5065",
        "H\u00f4pital \u2013 Nord",  # an en dash is drawn longer than a hyphen
    ):
        assert build_event("deal_lost", {"deal_id": text}).deal_id == text  # type: ignore[attr-defined]
    # An id an earlier release stored that way still reads back as it is.
    event = decode_payload("deal_lost", 1, json.dumps({"deal_id": "D\u00a01"}))
    assert event.deal_id == "D\u00a01"  # type: ignore[attr-defined]


def test_free_text_may_not_reorder_itself_but_may_hold_any_script() -> None:
    with pytest.raises(InputError, match="U\\+202E, a control that reorders"):
        build_event("deal_lost", {"deal_id": "D-1", "reason": "budget \u202ecut"})
    kept = build_event("deal_lost", {"deal_id": "D-1", "reason": "Budget gekürzt — 予算削減"})
    assert kept.reason == "Budget gekürzt — 予算削減"  # type: ignore[attr-defined]


def test_what_the_log_already_holds_is_read_back_as_it_is() -> None:
    # A ledger written before these checks may hold such an id, or a currency code outside
    # ISO 4217: reading it back never fails.
    event = decode_payload("deal_lost", 1, json.dumps({"deal_id": "D-1\u202e"}))
    assert event.deal_id == "D-1\u202e"  # type: ignore[attr-defined]
    config = decode_payload("ledger_configured", 1, json.dumps({"currency": "XYZ"}))
    assert config.currency == "XYZ"  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="not an ISO 4217 currency code"):
        build_event("ledger_configured", {"currency": "XYZ"})


def test_a_persona_listed_twice_is_refused() -> None:
    fields = {
        "deal_id": "D-1",
        "account_id": "A-1",
        "stage": "demo",
        "amount": "5",
        "expected_close": "2026-09-30",
        "personas": ["cmio", "cmio"],
    }
    with pytest.raises(InputError, match="lists the persona 'cmio' twice"):
        build_event("deal_opened", fields)


FORMULAS = ['=HYPERLINK("http://x","y")', "+A1", "@SUM(1)", "-2+3", "\tx"]


def test_csv_cells_that_a_spreadsheet_would_run_are_shown_as_text() -> None:
    report = Report(
        "",
        [Column("who", "who"), Column("change", "change", "money"), Column("n", "n", "int")],
        [{"who": f, "change": Decimal("-200000"), "n": -3} for f in FORMULAS]
        + [{"who": "A-1 = fine", "change": Decimal(5), "n": 1}],
    )
    rows = list(csv.reader(io.StringIO(render(report, "csv"), newline="")))[1:]
    assert [r[0] for r in rows] == [f"'{f}" for f in FORMULAS] + ["A-1 = fine"]
    assert {r[1] for r in rows[:-1]} == {"-200000"} and rows[0][2] == "-3"  # numbers stay
    # JSON is for programs, not spreadsheets: the text stays as it is there.
    doc = json.loads(render(report, "json"))
    assert [r["who"] for r in doc["rows"][:-1]] == FORMULAS


def test_a_currency_an_earlier_release_stored_does_not_block_other_settings(db_url: str) -> None:
    store = LedgerStore.open(db_url, create=True)
    try:
        old = build_event("ledger_configured", {"currency": "XYZ"}, stored=True)
        store.append(NewEvent(old, parse_instant("2020-01-01"), "test", "test"))
        record_event(store, "ledger_configured", {"timezone": "Europe/Berlin"}, effective=None,
                     actor="test")  # fmt: skip
        config = store.config()
        assert config is not None and (config.currency, config.timezone) == (
            "XYZ",
            "Europe/Berlin",
        )
        with pytest.raises(InputError, match="not an ISO 4217 currency code"):
            record_event(store, "ledger_configured", {"currency": "ABC"}, effective=None,
                         actor="test")  # fmt: skip
    finally:
        store.close()
