"""The PHI guard on free text: patient identifiers are refused, ordinary sales notes are not."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli as main
from ledger.errors import InputError
from ledger.events import LedgerConfigured, build_event
from ledger.phi import DASHES, identifier_finding, phi_finding

SSN, MRN, DOB = "a social security number", "a medical record number", "a date of birth"
PHONE, EMAIL, DIGITS = "a phone number", "an e-mail address", "an identifier"

REFUSED = [
    ("patient 123-45-6789 called about pricing", SSN),
    ("pt 123 45 6789 called", SSN),
    ("id 123.45.6789", SSN),
    ("member SSN on file", SSN),
    ("social security number withheld", SSN),
    ("MRN 4471-A escalated", MRN),
    ("MR# 552341", MRN),
    ("patient ID 4471", MRN),
    ("Medicare ID 1EG4-TE5-MK73", MRN),
    ("1EG4TE5MK73 on the claim", MRN),
    ("DOB on file", DOB),
    ("D.O.B. 4-12-62", DOB),
    ("birthdate 12.04.1962", DOB),
    ("born 1962-04-12", DOB),
    ("b. 12 Apr 1962", DOB),
    ("pilot patient born 04/12/1961", DOB),
    ("seen 04/12/1961 at intake", DOB),
    ("April 12, 1962 intake", DOB),
    ("per jane.doe@example.org", EMAIL),
    ("call her back on 555-867-5309", PHONE),
    ("(555) 123-4567", PHONE),
    ("555.123.4567", PHONE),
    ("555 867 5309", PHONE),
    ("+44 20 7946 0958", PHONE),
    ("ph 555-1234", PHONE),
    ("id 12345678", DIGITS),
    ("Pt John 4/12/62 seen", DOB),
    ("seen 04-12-62", DOB),
    ("born: 4.12.62", DOB),
    ("April 12th, 1962", DOB),
    ("1st Jan 1962", DOB),
    ("mbi 1eg4-te5-mk73", MRN),
    # Written to pass a filter, or as a reader would not notice: what the reader sees counts.
    ("patient 123\u200b-45-6789 lost", SSN),
    ("123/45/6789", SSN),
    ("123_45_6789", SSN),
    ("123 - 45 - 6789", SSN),
    ("123\u201345\u20136789", SSN),
    ("\uff11\uff12\uff13-45-6789", SSN),
    ("D\u200bOB on file", DOB),
    ("\uff2d\uff32\uff2e 12345", MRN),
    ("M.R.N. 123456", MRN),
    ("pt id 123456", MRN),
    ("medical record #: 1234567", MRN),
    ("john\uff20example.com", EMAIL),
    ("jane\u200b@example.com", EMAIL),
    ("john(at)example.com", EMAIL),
    ("jane [at] example [dot] org", EMAIL),
    ("555\u2013123\u20134567", PHONE),
    ("123\u2e3a45\u2e3a6789", SSN),
    ("123\u301c45\u301c6789", SSN),
    ("123\u2796 45\u2796 6789", SSN),
    ("patient 123\n45\n6789", SSN),
    ("call 555\n867\n5309", PHONE),
    ("123\u168045\u16806789", SSN),
    ("123\u202845\u20286789", SSN),
    ("ref 4471233 at intake", DIGITS),
    ("MRN12345678", DIGITS),
    # Other spellings of the stated forms.
    ("123~45~6789", SSN),
    ("123:45:6789", SSN),
    ("123\u00b745\u00b76789", SSN),
    ("Medical Record No. 123456", MRN),
    ("MR No. 552341", MRN),
    ("member # 552341", MRN),
    ("member number 552341", MRN),
    ("date-of-birth on file", DOB),
    ("birth-date withheld", DOB),
    ("seen 1962/04/12", DOB),
    ("seen 1962.04.12", DOB),
    ("seen 12-Apr-1962", DOB),
    ("12th of April 1962 intake", DOB),
    ("Apr 12, '62 intake", DOB),
    ("born 2015/06/07", DOB),
    ("jane @ example.com", EMAIL),
    ("jane\n@example.com", EMAIL),
    ("(555).867.5309", PHONE),
    ("555 867-5309", PHONE),
]

ACCEPTED = [
    "Pushed to 9/30/2026 after budget review",
    "Go-live wave 1/2/26 planned",
    "HIPAA BAA signed 3/1/2026",
    "renewal on Oct 1, 2026",
    "signed 2019-03-01 MSA; customer since 1998",
    "Needs 24/7/365 support",
    "social security administration contract",
    "Patient number of beds 300",
    "medical record system integration",
    "newborn unit expansion",
    "Deal size 250 000 1000 seats",
    "ranges 300-1200 beds",
    "+20000 uplift in Q3",
    "call scheduled 10/15 at 2pm",
    "500 beds, 12 clinics, 3 states",
    "medical record v2 migration",
    "Patient ID v2 module in scope",
    "member ID 2.0 card redesign",
    "Medicare number 2 of 3 blockers",
    "Option B. 2026-04-01 go-live",
    "Tier b. Oct 1, 2026 renewal",
    "Pricing +3.5-4 %",
    "+1 2 3 stakeholders",
    "growth +10 20 30 percent",
    "v2.3.1 release, ICD-10 coding, Q3-2026 close, $1,200,000 deal",
    # Long numbers a business word or a currency explains.
    "waiting on PO 4500012345",
    "invoice INV-10023456 unpaid",
    "purchase order #: 4500012345",
    "ARR 1250000 at risk",
    "$1250000 budget approved",
    "1250000 USD over three years",
    "mRNA platform team",
    "priced (at) 12.5% discount",
    "demo [at] HIMSS.2026",
    "Mr.N. called back",
    "quote Q-1234567 sent",
    "contract C-20261234 countersigned",
    "SO 4500012345 booked",
    "renewal 1250000 ARR",
    "Budget gek\u00fcrzt \u2014 \u4e88\u7b97\u524a\u6e1b",
    "PO-4500012345 and INV-10023456 open",
    "contract 2026-0001234 countersigned",
    "invoice 2026-10023456 paid",
    "1000 seats @ 12.50 each, meet @ HIMSS.2026",
    "budget 100+20+3000",
    "kickoff 2026/03/01, QBR 12-Mar-2026, go-live Apr 12, '26",
    "12th of March 2026 renewal",
    "Medical Record ID v2, member number 12 of the board, MR no 2 of 3",
    "Tier 250/500/1000",
]


@pytest.mark.parametrize(("text", "kind"), REFUSED)
def test_patient_identifiers_are_refused(text: str, kind: str) -> None:
    finding = phi_finding(text)
    assert finding is not None and finding.startswith(kind), (text, finding)


@pytest.mark.parametrize("text", ACCEPTED)
def test_ordinary_sales_notes_are_accepted(text: str) -> None:
    assert phi_finding(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("acct 123-45-6789", SSN),
        ("x_ssn_1", SSN),
        ("John Smith DOB 01/02/1980", DOB),
        ("MRN-1", MRN),
        ("\uff2d\uff32\uff2e-1", MRN),
        ("chart 123\u200b-45-6789", SSN),
        ("MRN12345678", MRN),
        ("ssn:123", SSN),
        ("123-45-6789@vendor.example", SSN),
        ("acct 123\u2e3a45\u2e3a6789", SSN),
        ("date_of_birth_1962", DOB),
    ],
)
def test_ids_and_envelope_texts_naming_a_patient_identifier_are_refused(
    text: str, kind: str
) -> None:
    assert identifier_finding(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "D-17",
        "0065g00000AbCdEAAX",  # a Salesforce id
        "12345678901",  # a HubSpot deal id
        "jane@vendor.example",  # an owner or actor on the vendor's side
        "ssnyder",
        "acct-dobson-7",
        "import:history 1998-01-01.jsonl:12",
        "salesforce:006A:2024-05-01T10:00:00Z:stage_changed",
        "Social Security Administration",  # a public-sector customer
        "NYC DOB",
        "MRN Health",
        "Dob Ltd",
        "dob@vendor.example",
        "export_001_02_2026",
        "run 100 12 2026",
        "batch 123.45.6789",
    ],
)
def test_ordinary_ids_pass_the_identifier_check(text: str) -> None:
    assert identifier_finding(text) is None


def test_every_dash_of_this_unicode_database_reads_as_a_hyphen() -> None:
    dashes = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Pd"]
    assert len(dashes) > 20
    assert set(dashes) - {"-"} <= set(DASHES)


OPENED = {
    "deal_id": "D-1",
    "account_id": "A-1",
    "stage": "demo",
    "amount": "5",
    "expected_close": "2026-09-30",
}


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("segment", "mrn_12345678", MRN),
        ("personas", ["cmio", "ssn_123456789"], SSN),
        ("channel", "partner:dob_19620412", DOB),
        ("stage", "mrn_4471", MRN),
    ],
)
def test_names_naming_a_patient_identifier_are_refused(
    field: str, value: object, kind: str
) -> None:
    with pytest.raises(InputError, match=f"looks like {kind}; names must never hold"):
        build_event("deal_opened", OPENED | {field: value})
    stored = build_event("deal_opened", OPENED | {field: value}, stored=True)
    assert getattr(stored, field) == (tuple(value) if isinstance(value, list) else value)


def test_a_stage_name_naming_a_patient_identifier_is_refused() -> None:
    stages = [{"name": "dob_19620412", "probability": "0.1"}]
    with pytest.raises(InputError, match="looks like a date of birth"):
        build_event("ledger_configured", {"stages": stages})
    kept = build_event(
        "ledger_configured", {"stages": [{"name": "mrn_review", "probability": "1"}]}
    )
    assert isinstance(kept, LedgerConfigured) and kept.stage_names() == ("mrn_review",)


FILE_NAME_REFUSED = "the name of the file to import looks like a social security number"


def test_an_import_file_named_by_a_patient_identifier_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    line = json.dumps({"type": "deal_opened", "effective_at": "2026-01-05"} | OPENED)
    named = tmp_path / "jane 123-45-6789.jsonl"
    named.write_text(line + "\n")
    cli = CliRunner()
    assert cli.invoke(main, ["--db", db_url, "init"]).exit_code == 0
    result = cli.invoke(main, ["--db", db_url, "import", str(named)])
    assert result.exit_code == 3 and FILE_NAME_REFUSED in result.output
    assert "6789" not in result.output
    history = tmp_path / "pt 123-45-6789.csv"
    history.write_text(
        "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate\n"
        "008A1,006A,2024-01-10 09:00:00,Discovery,100000,2024-09-30\n"
    )
    result = cli.invoke(main, ["--db", db_url, "import", "--from", "salesforce", str(history)])
    assert result.exit_code == 3 and FILE_NAME_REFUSED in result.output
    assert "6789" not in result.output
    exported = cli.invoke(main, ["--db", db_url, "export"]).output
    assert "6789" not in exported and len(exported.splitlines()) == 1  # only init's event
    # Nor may a name carry control characters (a terminal's escape sequence, say) into it.
    escaping = tmp_path / "history\x1b[31m.jsonl"
    escaping.write_text(line + "\n")
    result = cli.invoke(main, ["--db", db_url, "import", str(escaping)])
    assert result.exit_code == 3 and "contains control characters" in result.output
    # The same lines from a file named otherwise go in; a date in the name is no birth date.
    named.rename(tmp_path / "history 1998-01-01.jsonl")
    assert (
        cli.invoke(
            main, ["--db", db_url, "import", str(tmp_path / "history 1998-01-01.jsonl")]
        ).exit_code
        == 0
    )
