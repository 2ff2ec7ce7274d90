"""Errors are part of the product: every malformed input, run through the real command line.

Each case is given to `revledger` (click's test runner on the real `cli` group) against an
initialised ledger that already holds a few events, on SQLite and on PostgreSQL. Every case must
end in exactly one line on stderr that starts with `revledger: ` and names the line, field and
value where there is one; the documented exit code; no traceback; and nothing written: the head
seq and hash are unchanged. Import cases put the bad line between two good ones, so the good
lines must not be written either.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from ledger.errors import EXIT_CONFLICT, EXIT_STORAGE, EXIT_USAGE, EXIT_VALIDATION
from ledger.store import LedgerStore
from tests.conftest import pg_schema_url

# -- the ledger every case starts from ------------------------------------------------------------
E_SIGNED_D2 = "00000000-0000-4000-8000-000000000005"
E_OPENED_D5 = "00000000-0000-4000-8000-000000000011"
E_RETRACTION = "00000000-0000-4000-8000-000000000012"
E_UNKNOWN = "00000000-0000-4000-8000-000000000099"

SEED: list[dict[str, Any]] = [
    # seq 2-3: D-1 is open (A-1, no contract), moved to demo on 2026-02-01.
    {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "deal_id": "D-1",
        "account_id": "A-1",
        "stage": "discovery",
        "amount": "100000",
        "expected_close": "2026-06-30",
    },
    {"type": "stage_changed", "effective_at": "2026-02-01", "deal_id": "D-1", "stage": "demo"},
    # seq 4-6: D-2 is won and live: A-2 is a customer with 50,000 live ARR.
    {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "deal_id": "D-2",
        "account_id": "A-2",
        "stage": "demo",
        "amount": "50000",
        "expected_close": "2026-03-31",
    },
    {
        "type": "contract_signed",
        "effective_at": "2026-02-01",
        "event_id": E_SIGNED_D2,
        "idempotency_key": "sig-D-2",
        "deal_id": "D-2",
        "arr": "50000",
        "baa_signed": True,
    },
    {"type": "go_live", "effective_at": "2026-03-01", "account_id": "A-2", "deal_id": "D-2"},
    # seq 7-8: D-3 is lost.
    {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "deal_id": "D-3",
        "account_id": "A-3",
        "stage": "demo",
        "amount": "20000",
        "expected_close": "2026-03-31",
    },
    {"type": "deal_lost", "effective_at": "2026-02-01", "deal_id": "D-3"},
    # seq 9-10: D-4 is signed for A-4 but not live.
    {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "deal_id": "D-4",
        "account_id": "A-4",
        "stage": "negotiation",
        "amount": "30000",
        "expected_close": "2026-03-31",
    },
    {"type": "contract_signed", "effective_at": "2026-02-15", "deal_id": "D-4", "arr": "30000"},
    # seq 11-12: D-5 was opened, and that opening retracted.
    {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "event_id": E_OPENED_D5,
        "deal_id": "D-5",
        "account_id": "A-5",
        "stage": "demo",
        "amount": "10000",
        "expected_close": "2026-03-31",
    },
    {
        "type": "event_retracted",
        "effective_at": "2026-03-05",
        "event_id": E_RETRACTION,
        "retracts": E_OPENED_D5,
        "reason": "opened on the wrong account",
    },
]

GOOD_BEFORE = {
    "type": "deal_opened",
    "effective_at": "2026-03-01",
    "deal_id": "D-90",
    "account_id": "A-90",
    "stage": "qualification",
    "amount": "75000",
    "expected_close": "2026-12-31",
}
GOOD_AFTER = {**GOOD_BEFORE, "deal_id": "D-91", "account_id": "A-91"}

PIPELINE = (
    "qualification, discovery, demo, clinical_validation, security_review, legal_review, "
    "negotiation"
)


# -- the table -------------------------------------------------------------------------------------
Line = dict[str, Any] | str


@dataclass(frozen=True)
class Case:
    """One malformed input and what the user must see.

    `line` is an import line placed at line 2 between two good lines; `raw` is a whole import
    file as bytes; `argv` is any other command line (after `--db`). `message` pins the whole
    stderr line; `expect` lists fragments it must contain; `secret` must not appear at all.
    `db` picks the --db: the seeded ledger, a missing SQLite file, or a place with no ledger.
    """

    id: str
    code: int
    line: Line | None = None
    raw: bytes | None = None
    argv: tuple[str, ...] = ()
    message: str | None = None
    expect: tuple[str, ...] = ()
    secret: str | None = None
    db: str = "ledger"


def imp(id: str, line: Line, code: int = EXIT_VALIDATION, **kw: Any) -> Case:
    """An `import FILE` case whose file is GOOD_BEFORE, `line`, GOOD_AFTER."""
    return Case(id, code, line=line, **kw)


def rec(id: str, command_line: str, code: int = EXIT_VALIDATION, **kw: Any) -> Case:
    """A `record <type> --field …` case, written as a shell would split it."""
    return Case(id, code, argv=("record", *shlex.split(command_line)), **kw)


def cmd(id: str, command_line: str, code: int, **kw: Any) -> Case:
    """Any other command line, written as a shell would split it."""
    return Case(id, code, argv=tuple(shlex.split(command_line)), **kw)


def at(type_name: str, effective_at: str = "2026-04-01", **fields: Any) -> dict[str, Any]:
    """An import line of `type_name` effective on `effective_at`."""
    return {"type": type_name, "effective_at": effective_at, **fields}


CASES: list[Case] = [
    # -- the shape of a line ----------------------------------------------------------------------
    imp(
        "bad-json",
        '{"type": "deal_lost", "deal_id": "D-1",}',
        message="revledger: line 2: is not valid JSON "
        "(Expecting property name enclosed in double quotes at column 40).",
    ),
    imp(
        "control-character-in-json",
        '{"type": "deal_lost", "effective_at": "2026-04-01", "deal_id": "D-1\x00"}',
        message="revledger: line 2: is not valid JSON (Invalid control character at column 68).",
    ),
    imp("not-an-object", "[1, 2]", message="revledger: line 2: must be a JSON object."),
    imp(
        "half-a-surrogate-pair-in-a-text",
        '{"type": "deal_lost", "effective_at": "2026-04-01", "deal_id": "D-1", '
        '"reason": "budget \\ud83d"}',
        message="revledger: line 2: field 'reason' = 'budget \\ud83d': holds \\ud83d, half of a "
        "UTF-16 surrogate pair without its other half (text cut in the middle of an emoji, "
        "perhaps), which is no character.",
    ),
    imp(
        "half-a-surrogate-pair-in-a-key",
        '{"type": "deal_lost", "effective_at": "2026-04-01", "deal_id": "D-1", "re\\uDC00": "x"}',
        message='revledger: line 2: is not valid here: the key "re\\udc00" holds \\udc00, half of '
        "a UTF-16 surrogate pair without its other half.",
    ),
    imp(
        "a-number-of-5000-digits",
        '{"type": "contract_signed", "effective_at": "2026-04-01", "deal_id": "D-1", '
        f'"arr": "1000", "term_months": {"9" * 5000}}}',
        message="revledger: line 2: is not valid here: a number has more than 4300 digits.",
    ),
    imp("json-string", '"deal_lost D-1"', message="revledger: line 2: must be a JSON object."),
    imp(
        "missing-type",
        {"effective_at": "2026-04-01", "deal_id": "D-1"},
        message="revledger: line 2: field 'type': is required.",
    ),
    imp(
        "unknown-type",
        at("deal_won", deal_id="D-1"),
        expect=("line 2: field 'type' = 'deal_won': is not an event type; known types: churn,",),
    ),
    imp(
        "type-not-text",
        at("x") | {"type": 7},
        expect=("line 2: field 'type' = 7: is not an event type",),
    ),
    imp(
        "unknown-field",
        at("stage_changed", deal_id="D-1", stage="negotiation", colour="red"),
        message="revledger: line 2: field 'colour': is not a field of this event.",
    ),
    imp(
        "envelope-key-misspelt",
        {k: v for k, v in at("deal_lost", deal_id="D-1").items() if k != "effective_at"}
        | {"effective": "2026-04-01"},
        message="revledger: line 2: field 'effective': is not a field of this event (the "
        "nearest is 'effective_at').",
    ),
    imp(
        "field-named-as-its-option",
        at("ledger_configured") | {"fiscal_year_start": 2},
        message="revledger: line 2: field 'fiscal_year_start': is not a field of this event "
        "(the nearest is 'fiscal_year_start_month').",
    ),
    imp(
        "required-field-misspelt",
        at("stage_changed", deal_id="D-1", stge="negotiation"),
        message="revledger: line 2: field 'stge': is not a field of this event (the nearest is "
        "'stage').",
    ),
    imp(
        "stage-key-misspelt",
        at("ledger_configured", stages=[{"name": "demo", "probabilty": "0.3"}]),
        message="revledger: line 2: field 'stages.0.probabilty': is not a field of a stage (the "
        "nearest is 'probability').",
    ),
    imp(
        "missing-required-field",
        at("stage_changed", deal_id="D-1"),
        message="revledger: line 2: field 'stage': is required.",
    ),
    imp(
        "missing-effective-at",
        {"type": "stage_changed", "deal_id": "D-1", "stage": "negotiation"},
        message="revledger: line 2: field 'effective_at': is required.",
    ),
    imp(
        "empty-id",
        at("stage_changed", deal_id="", stage="negotiation"),
        message="revledger: line 2: field 'deal_id' = '': must not be empty.",
    ),
    imp(
        "id-of-101-characters",
        at("stage_changed", deal_id="D-" + "7" * 99, stage="negotiation"),
        expect=("line 2: field 'deal_id' = ", "is longer than 100 characters."),
    ),
    imp(
        "id-with-a-delete-character",
        at("stage_changed", deal_id="D-\x7f1", stage="negotiation"),
        expect=("line 2: field 'deal_id' = ", "contains control characters."),
    ),
    imp(
        "id-with-an-escaped-control-character",
        '{"type": "deal_lost", "effective_at": "2026-04-01", "deal_id": "D-1\\u0007"}',
        expect=("line 2: field 'deal_id' = ", "contains control characters."),
    ),
    imp(
        "id-with-a-c1-control-character",
        at("stage_changed", deal_id="D-\x851", stage="negotiation"),
        expect=("line 2: field 'deal_id' = ", "contains control characters."),
    ),
    imp(
        "list-given-as-text",
        {**GOOD_BEFORE, "deal_id": "D-92", "account_id": "A-92", "personas": "cmio"},
        message="revledger: line 2: field 'personas' = 'cmio': must be a list.",
    ),
    imp(
        "reserved-event-id-not-uuid",
        at("stage_changed", deal_id="D-1", stage="negotiation", event_id="evt-1"),
        message="revledger: line 2: field 'event_id' = 'evt-1': must be a UUID.",
    ),
    # -- money ------------------------------------------------------------------------------------
    imp(
        "money-too-many-decimals",
        at("expansion", account_id="A-2", arr="1200.125"),
        message="revledger: line 2: field 'arr' = '1200.125': has more than 2 decimal places.",
    ),
    imp(
        "money-negative",
        at("expansion", account_id="A-2", arr="-5"),
        message="revledger: line 2: field 'arr' = '-5': must not be negative.",
    ),
    imp(
        "money-not-a-number",
        at("expansion", account_id="A-2", arr="twelve hundred"),
        message="revledger: line 2: field 'arr' = 'twelve hundred': is not a decimal number "
        'such as "1200.50".',
    ),
    imp(
        "money-json-float",
        '{"type": "expansion", "effective_at": "2026-04-01", "account_id": "A-2", "arr": 1200.5}',
        message="revledger: line 2: field 'arr' = 1200.5: must be a decimal string such as "
        '"1200.50", not a floating-point number.',
    ),
    imp(
        "money-json-float-too-many-decimals",
        '{"type": "expansion", "effective_at": "2026-04-01", "account_id": "A-2", "arr": 1200.125}',
        expect=("line 2: field 'arr' = 1200.125: ", "not a floating-point number"),
    ),
    imp(
        "money-json-number-with-an-exponent-quoted-as-written",
        '{"type": "deal_updated", "effective_at": "2026-04-01", "deal_id": "D-1", "amount": 1e3}',
        message="revledger: line 2: field 'amount' = 1e3: must be a decimal string such as "
        '"1200.50", not a floating-point number.',
    ),
    imp(
        "probability-json-float",
        '{"type": "deal_updated", "effective_at": "2026-04-01", "deal_id": "D-1", '
        '"probability": 0.5}',
        message="revledger: line 2: field 'probability' = 0.5: must be a decimal string such as "
        '"0.25", not a floating-point number.',
    ),
    imp(
        "fiscal-year-month-13",
        at("ledger_configured", fiscal_year_start_month=13),
        message="revledger: line 2: field 'fiscal_year_start_month' = 13: must be a month from 1 "
        "to 12.",
    ),
    imp(
        "source-posing-as-a-backfill",
        at("deal_lost", deal_id="D-1", source="backfill:crm"),
        message="revledger: line 2: field 'source' = 'backfill:crm': starts with 'backfill:', "
        "which marks an event whose recorded_at came from another system; this one is recorded "
        "now.",
    ),
    cmd(
        "arr-empty-known-at",
        "arr --known-at ''",
        code=EXIT_VALIDATION,
        message="revledger: option '--known-at' = '': is not a date (YYYY-MM-DD) or an RFC 3339 "
        "instant.",
    ),
    cmd(
        "log-empty-from",
        "log --from ''",
        code=EXIT_VALIDATION,
        message="revledger: option '--from' = '': is not a date in the form YYYY-MM-DD.",
    ),
    cmd(
        "forecast-diff-empty-from-known-at",
        "forecast-diff --period 2026-Q4 --from-known-at ''",
        code=EXIT_VALIDATION,
        message="revledger: option '--from-known-at' = '': is not a date (YYYY-MM-DD) or an RFC "
        "3339 instant.",
    ),
    cmd(
        "restatements-nrr-window-before-1900",
        "restatements --metric nrr --as-of 1900-12-31 --reported-at 2026-04-01",
        code=EXIT_VALIDATION,
        message="revledger: option '--window' = '12m': reaches back to 1899-12-31, before 1900.",
    ),
    imp(
        "money-boolean",
        at("expansion", account_id="A-2", arr=True),
        message="revledger: line 2: field 'arr' = true: must be a decimal string such as "
        '"1200.50", not true or false.',
    ),
    imp(
        "money-not-finite",
        at("expansion", account_id="A-2", arr="NaN"),
        message="revledger: line 2: field 'arr' = 'NaN': is not a decimal number such as "
        '"1200.50".',
    ),
    imp(
        "money-with-an-exponent",
        at("expansion", account_id="A-2", arr="1e3"),
        message="revledger: line 2: field 'arr' = '1e3': is not a decimal number such as "
        '"1200.50".',
    ),
    imp(
        "money-with-digit-separators",
        at("expansion", account_id="A-2", arr="1_000"),
        message="revledger: line 2: field 'arr' = '1_000': is not a decimal number such as "
        '"1200.50".',
    ),
    imp(
        "contract-negative-arr",
        at("contract_signed", deal_id="D-1", arr="-1200"),
        message="revledger: line 2: field 'arr' = '-1200': must not be negative.",
    ),
    imp(
        "money-negative-zero",
        at("expansion", account_id="A-2", arr="-0.00"),
        message="revledger: line 2: field 'arr' = '-0.00': must not be negative.",
    ),
    imp(
        "money-at-the-ledger-limit",
        at("contract_signed", deal_id="D-1", arr="1000000000000"),
        message="revledger: line 2: field 'arr' = '1000000000000': is beyond the ledger's "
        "limit of 1,000,000,000,000.",
    ),
    imp(
        "contraction-of-zero",
        at("contraction", account_id="A-2", arr="0"),
        message="revledger: line 2: field 'arr' = '0': must be greater than zero.",
    ),
    imp(
        "contract-term-out-of-range",
        at("contract_signed", deal_id="D-1", arr="1000", term_months=0),
        message="revledger: line 2: field 'term_months' = 0: must be between 1 and 120.",
    ),
    imp(
        "contract-term-with-a-point",
        at("contract_signed", deal_id="D-1", arr="1000", term_months=12.0),
        message="revledger: line 2: field 'term_months' = 12.0: must be a whole number written "
        "without a point or an exponent, such as 12.",
    ),
    imp(
        "probability-above-one",
        at("deal_updated", deal_id="D-1", probability="1.5"),
        message="revledger: line 2: field 'probability' = '1.5': must be between 0 and 1.",
    ),
    imp(
        "probability-five-decimal-places",
        at("deal_updated", deal_id="D-1", probability="0.12345"),
        message="revledger: line 2: field 'probability' = '0.12345': has more than 4 decimal "
        "places.",
    ),
    imp(
        "name-of-41-characters",
        at("deal_updated", deal_id="D-1", segment="s" * 41),
        message=f"revledger: line 2: field 'segment' = '{'s' * 41}': is longer than 40 characters.",
    ),
    imp(
        "name-starting-with-a-digit",
        at("deal_updated", deal_id="D-1", segment="1st_tier"),
        message="revledger: line 2: field 'segment' = '1st_tier': must be a lower-case name of "
        "letters, digits and underscores (e.g. 'health_system').",
    ),
    imp(
        "flag-not-boolean",
        at("contract_signed", deal_id="D-1", arr="1000", baa_signed="yes"),
        message="revledger: line 2: field 'baa_signed' = 'yes': must be true or false.",
    ),
    imp(
        "flag-given-as-a-number",
        at("contract_signed", deal_id="D-1", arr="1000", baa_signed=1),
        message="revledger: line 2: field 'baa_signed' = 1: must be true or false.",
    ),
    imp(
        "whole-number-given-as-true",
        at("contract_signed", deal_id="D-1", arr="1000", term_months=True),
        message="revledger: line 2: field 'term_months' = true: must be a whole number.",
    ),
    imp(
        "forecast-best-case-below-commit",
        at("forecast_submitted", period="2026-Q2", commit="100", best_case="50"),
        message="revledger: line 2: field 'best_case' = '50': must not be below commit (100).",
    ),
    imp(
        "deal-updated-without-fields",
        at("deal_updated", deal_id="D-1"),
        message="revledger: line 2: deal_updated needs at least one of amount, expected_close, "
        "forecast_category, probability, owner, segment.",
    ),
    # -- dates ------------------------------------------------------------------------------------
    imp(
        "date-february-30",
        at("deal_updated", deal_id="D-1", expected_close="2026-02-30"),
        message="revledger: line 2: field 'expected_close' = '2026-02-30': is not a real "
        "calendar date (day is out of range for month).",
    ),
    imp(
        "date-month-13",
        at("stage_changed", "2026-13-01", deal_id="D-1", stage="negotiation"),
        message="revledger: line 2: field 'effective_at' = '2026-13-01': is not a real "
        "calendar date (month must be in 1..12).",
    ),
    imp(
        "date-in-arabic-indic-digits",
        at(
            "stage_changed",
            "\u0662\u0660\u0662\u0666-\u0660\u0664-\u0660\u0661",
            deal_id="D-1",
            stage="negotiation",
        ),
        expect=(
            "line 2: field 'effective_at' = ",
            "is not a date (YYYY-MM-DD) or an RFC 3339 instant.",
        ),
    ),
    imp(
        "date-in-the-year-2200",
        at("deal_updated", deal_id="D-1", expected_close="2200-01-01"),
        message="revledger: line 2: field 'expected_close' = '2200-01-01': has a year outside "
        "1900-2199.",
    ),
    imp(
        "date-us-format",
        at("stage_changed", "03/01/2026", deal_id="D-1", stage="negotiation"),
        message="revledger: line 2: field 'effective_at' = '03/01/2026': is not a date "
        "(YYYY-MM-DD) or an RFC 3339 instant.",
    ),
    imp(
        "instant-without-offset",
        at("stage_changed", "2026-03-01T09:30:00", deal_id="D-1", stage="negotiation"),
        message="revledger: line 2: field 'effective_at' = '2026-03-01T09:30:00': has no UTC "
        "offset; write it as RFC 3339 (e.g. 2026-03-01T09:30:00Z) or give a bare date.",
    ),
    imp(
        "effective-at-not-text",
        at("stage_changed", deal_id="D-1", stage="negotiation") | {"effective_at": 20260401},
        message="revledger: line 2: field 'effective_at' = 20260401: must be a date or an "
        "RFC 3339 instant in quotes.",
    ),
    # -- the pipeline and a deal's life ----------------------------------------------------------
    imp(
        "stage-outside-pipeline",
        at("stage_changed", deal_id="D-1", stage="closed_won"),
        message="revledger: line 2: field 'stage' = 'closed_won': is not a stage of the "
        f"configured pipeline ({PIPELINE}).",
    ),
    imp(
        "stage-not-a-name",
        at("stage_changed", deal_id="D-1", stage="Negotiation"),
        expect=("line 2: field 'stage' = 'Negotiation': must be a lower-case name",),
    ),
    imp(
        "stage-change-on-lost-deal",
        at("stage_changed", deal_id="D-3", stage="negotiation"),
        message="revledger: line 2: deal D-3 is lost; record deal_reopened before you change "
        "its stage.",
    ),
    imp(
        "stage-change-on-won-deal",
        at("stage_changed", deal_id="D-2", stage="negotiation"),
        message="revledger: line 2: deal D-2 is already won, so you cannot change its stage; "
        "retract its contract_signed first if the signature was recorded in error.",
    ),
    imp(
        "deal-opened-twice",
        {**GOOD_BEFORE, "deal_id": "D-1", "account_id": "A-1"},
        message="revledger: line 2: deal D-1 already exists; a deal is opened once.",
    ),
    imp(
        "reopen-an-open-deal",
        at("deal_reopened", deal_id="D-1", stage="demo"),
        message="revledger: line 2: deal D-1 is open; only a lost deal can reopen.",
    ),
    imp(
        "event-on-unknown-deal",
        at("persona_engaged", deal_id="D-404", persona="cmio"),
        message="revledger: line 2: deal D-404 does not exist on 2026-04-01; record "
        "deal_opened first.",
    ),
    imp(
        "backdated-loss-before-stage-change",
        at("deal_lost", "2026-01-20", deal_id="D-1"),
        message="revledger: line 2: this deal_lost would make the later stage_changed (seq 3, "
        "effective 2026-02-01) invalid: deal D-1 is lost; record deal_reopened before you "
        "change its stage.",
    ),
    # -- accounts ---------------------------------------------------------------------------------
    imp(
        "go-live-without-contract",
        at("go_live", account_id="A-1", deal_id="D-1"),
        message="revledger: line 2: deal D-1 has no contract signed for account A-1 on or "
        "before 2026-04-01; go-live needs a signed contract.",
    ),
    imp(
        "go-live-for-another-accounts-deal",
        at("go_live", account_id="A-2", deal_id="D-4"),
        message="revledger: line 2: deal D-4 belongs to account A-4, not A-2.",
    ),
    imp(
        "go-live-twice",
        at("go_live", account_id="A-2", deal_id="D-2"),
        message="revledger: line 2: deal D-2 is already live for account A-2.",
    ),
    imp(
        "expansion-of-non-customer",
        at("expansion", account_id="A-1", arr="5000"),
        message="revledger: line 2: account A-1 has no live ARR on 2026-04-01; an expansion "
        "needs a live customer.",
    ),
    imp(
        "contraction-of-signed-but-not-live",
        at("contraction", account_id="A-4", arr="5000"),
        message="revledger: line 2: account A-4 has no live ARR on 2026-04-01; a contraction "
        "needs a live customer.",
    ),
    imp(
        "churn-of-non-customer",
        at("churn", account_id="A-1"),
        message="revledger: line 2: account A-1 has no ARR on 2026-04-01 (none live, and no "
        "contract awaiting go-live); only a customer can churn.",
    ),
    imp(
        "contraction-beyond-live-arr",
        at("contraction", account_id="A-2", arr="50000.01"),
        message="revledger: line 2: the contraction of 50000.01 exceeds account A-2's live ARR "
        "of 50000 on 2026-04-01.",
    ),
    # -- free text and PHI -----------------------------------------------------------------------
    imp(
        "phi-ssn-in-reason",
        at("deal_lost", deal_id="D-1", reason="patient 123-45-6789 called about pricing"),
        message="revledger: line 2: field 'reason': looks like a social security number; free "
        "text must never contain patient identifiers (PHI).",
        secret="123-45-6789",
    ),
    imp(
        "phi-mrn-in-reason",
        at("deal_lost", deal_id="D-1", reason="MRN 4471-A escalated"),
        expect=("line 2: field 'reason': looks like a medical record number",),
        secret="4471-A",
    ),
    imp(
        "phi-date-of-birth-in-reason",
        at("churn", account_id="A-2", reason="pilot patient born 04/12/1961"),
        expect=("line 2: field 'reason': looks like a date of birth",),
        secret="04/12/1961",
    ),
    imp(
        "phi-email-in-note",
        at("forecast_submitted", period="2026-Q2", commit="100", best_case="200")
        | {"note": "per jane.doe@example.org"},
        expect=("line 2: field 'note': looks like an e-mail address",),
        secret="jane.doe@example.org",
    ),
    imp(
        "phi-phone-in-reason",
        at("deal_lost", deal_id="D-1", reason="call her back on 555-867-5309"),
        expect=("line 2: field 'reason': looks like a phone number",),
        secret="555-867-5309",
    ),
    imp(
        "phi-ssn-hidden-by-a-zero-width-space",
        at("deal_lost", deal_id="D-1", reason="patient 123\u200b-45-6789 lost"),
        expect=("line 2: field 'reason': looks like a social security number",),
        secret="6789",
    ),
    imp(
        "phi-ssn-as-an-account-id",
        at("churn", account_id="acct 123-45-6789"),
        message="revledger: line 2: field 'account_id': looks like a social security number; "
        "ids must never hold patient identifiers (PHI).",
        secret="6789",
    ),
    imp(
        "phi-mrn-in-an-import-lines-source",
        at("deal_lost", deal_id="D-1") | {"source": "chart MRN 4471233"},
        message="revledger: line 2: field 'source': looks like a medical record number; the "
        "ledger must never hold patient identifiers (PHI).",
        secret="4471233",
    ),
    imp(
        "phi-long-note-is-not-quoted",
        at("forecast_submitted", period="2026-Q2", commit="100", best_case="200")
        | {"note": "SSN 123-45-6789 " + "x" * 500},
        message="revledger: line 2: field 'note': is longer than 500 characters.",
        secret="6789",
    ),
    imp(
        "phi-in-a-bad-period-is-withheld",
        at("quota_set", period="SSN 123-45-6789", amount="100"),
        expect=("line 2: field 'period' (value withheld: it looks like a social security number)",),
        secret="6789",
    ),
    imp(
        "reason-too-long",
        at("deal_lost", deal_id="D-1", reason="budget " * 80),
        # Free text is never quoted: refused for its length, it may hold PHI as well.
        message="revledger: line 2: field 'reason': is longer than 500 characters.",
        secret="budget " * 80,
    ),
    # -- idempotency and retractions ------------------------------------------------------------
    imp(
        "idempotency-key-reused-with-other-content",
        at("contract_signed", "2026-02-01", deal_id="D-2", arr="60000", baa_signed=True)
        | {"idempotency_key": "sig-D-2"},
        code=EXIT_CONFLICT,
        message="revledger: line 2: idempotency key 'sig-D-2' was already used by event seq 5 "
        "with different content.",
    ),
    imp(
        "idempotency-key-with-a-control-character",
        at("expansion", account_id="A-2", arr="1200") | {"idempotency_key": "exp\u0000A-2"},
        message="revledger: line 2: field 'idempotency_key' = 'exp\\x00A-2': contains control "
        "characters.",
    ),
    imp(
        "retraction-of-unknown-event",
        at("event_retracted", retracts=E_UNKNOWN, reason="typo"),
        message=f"revledger: line 2: there is no event {E_UNKNOWN} in this ledger.",
    ),
    imp(
        "retraction-target-not-a-uuid",
        at("event_retracted", retracts="seq-5", reason="typo"),
        message="revledger: line 2: field 'retracts' = 'seq-5': must be the event_id (a UUID) "
        "of an event in this ledger.",
    ),
    imp(
        "retraction-target-a-seq-in-an-import-line",
        at("event_retracted", retracts="5", reason="typo"),
        message="revledger: line 2: field 'retracts' = '5': is a seq; an import line names the "
        "event it retracts by its event_id (a UUID), which `revledger log --format csv` gives "
        "beside each seq.",
    ),
    imp(
        "retraction-of-a-retraction",
        at("event_retracted", retracts=E_RETRACTION, reason="undo"),
        message="revledger: line 2: seq 12 is itself a retraction, and a retraction cannot be "
        "retracted; to make the deal_opened (seq 11) count again, record it again.",
    ),
    imp(
        "retraction-of-retracted-event",
        at("event_retracted", retracts=E_OPENED_D5, reason="typo"),
        message="revledger: line 2: the deal_opened (seq 11) is already retracted, so it no "
        "longer counts and there is nothing left to retract (`log` names its retraction).",
    ),
    imp(
        "retraction-leaving-later-event-invalid",
        at("event_retracted", retracts=E_SIGNED_D2, reason="signed in error"),
        message="revledger: line 2: retracting that contract_signed (seq 5) would leave the "
        "later go_live (seq 6) invalid: deal D-2 has no contract signed for account A-2 on or "
        "before 2026-03-01; go-live needs a signed contract; retract what stands on it first, "
        "latest first: the go_live (seq 6).",
    ),
    # -- the file itself ------------------------------------------------------------------------
    Case(
        "file-not-utf8",
        EXIT_VALIDATION,
        raw=json.dumps(GOOD_BEFORE).encode()
        + b'\n{"type": "deal_lost", "effective_at": "2026-04-01", "deal_id": "D-1", '
        b'"reason": "caf\xe9 budget"}\n' + json.dumps(GOOD_AFTER).encode() + b"\n",
        expect=("input.jsonl: line 2 is not UTF-8 text (byte ", "cannot be decoded)."),
    ),
    imp(
        "json-key-twice",
        '{"type": "expansion", "effective_at": "2026-04-01", "account_id": "A-2", "arr": "5", '
        '"arr": "6"}',
        message='revledger: line 2: is not valid JSON here: the key "arr" appears twice in one '
        "object.",
    ),
    imp(
        "json-nested-too-deeply",
        '{"type": "quota_set", "effective_at": "2026-01-01", "period": "2027", "amount": '
        + "[" * 20_000
        + "]" * 20_000
        + "}",
        message="revledger: line 2: is not valid JSON here: it nests too deeply.",
    ),
    imp(
        "id-with-a-right-to-left-override",
        at("deal_lost", deal_id="D-1\u202e"),
        message="revledger: line 2: field 'deal_id' = 'D-1\\u202e': contains the invisible "
        "character U+202E, which would make it show as another id.",
    ),
    imp(
        "id-with-a-no-break-space",
        at("deal_lost", deal_id="D\u00a01"),
        message="revledger: line 2: field 'deal_id' = 'D\\xa01': holds U+00A0 (NO-BREAK SPACE), "
        "which reads as ' ', so the id would show as another; write it as 'D 1'.",
    ),
    imp(
        "id-written-decomposed",
        at("expansion", account_id="Zu\u0308rich-1", arr="5"),
        expect=(
            "field 'account_id'",
            "holds a letter and its accent as two characters (Unicode's decomposed form), so "
            "the id would show as another; write it composed (NFC) as 'Z\u00fcrich-1'.",
        ),
    ),
    imp(
        "reason-with-a-tab",
        at("deal_lost", deal_id="D-1", reason="budget\tcut"),
        message="revledger: line 2: field 'reason': contains control characters.",
    ),
    imp(
        "reason-with-a-delete-character",
        at("deal_lost", deal_id="D-1", reason="budget\x7fcut"),
        message="revledger: line 2: field 'reason': contains control characters.",
    ),
    imp(
        "reason-with-a-bidi-isolate",
        at("deal_lost", deal_id="D-1", reason="budget \u2067cut"),
        expect=("field 'reason'", "contains U+2067, a control that reorders the text around it."),
    ),
    imp(
        "persona-listed-twice",
        at(
            "deal_opened",
            deal_id="D-9",
            account_id="A-9",
            stage="demo",
            amount="100",
            expected_close="2026-09-30",
            personas=["cmio", "cfo", "cmio"],
        ),
        expect=("field 'personas'", "lists the persona 'cmio' twice."),
    ),
    # -- record <type> --field value ------------------------------------------------------------
    rec(
        "record-effective-impossible-offset",
        "deal_lost --deal-id D-1 --effective 2026-04-01T10:00:00+25:00",
        message="revledger: option '--effective' = '2026-04-01T10:00:00+25:00': has an "
        "impossible UTC offset (+25:00); offsets run from -23:59 to +23:59.",
    ),
    rec(
        "record-effective-after-2199-in-utc",
        "deal_lost --deal-id D-1 --effective 2199-12-31T23:59:59-05:00",
        message="revledger: option '--effective' = '2199-12-31T23:59:59-05:00': falls in UTC "
        "in a year outside 1900-2199.",
    ),
    rec(
        "record-effective-in-2200-where-it-is-written",
        "deal_lost --deal-id D-1 --effective 2200-01-01T01:00:00+05:00",
        message="revledger: option '--effective' = '2200-01-01T01:00:00+05:00': has a year "
        "outside 1900-2199.",
    ),
    rec(
        "record-configuration-without-a-setting",
        "ledger_configured",
        message="revledger: ledger_configured needs at least one setting to change (--currency, "
        "--timezone, --fiscal-year-start or --stages-file); the others keep their current values.",
    ),
    rec(
        "record-currency-not-in-iso-4217",
        "ledger_configured --currency XYZ",
        message="revledger: field 'currency' = 'XYZ': is not an ISO 4217 currency code (such as "
        "USD, EUR or GBP).",
    ),
    rec(
        "record-negative-money",
        "expansion --account-id A-2 --arr -5 --effective 2026-04-01",
        message="revledger: field 'arr' = '-5': must not be negative.",
    ),
    rec(
        "record-money-too-many-decimals",
        "expansion --account-id A-2 --arr 1200.125",
        message="revledger: field 'arr' = '1200.125': has more than 2 decimal places.",
    ),
    rec(
        "record-bad-effective-date",
        "deal_lost --deal-id D-1 --effective 2026-02-30",
        message="revledger: option '--effective' = '2026-02-30': is not a real calendar date "
        "(day is out of range for month).",
    ),
    rec(
        "record-effective-us-format",
        "deal_lost --deal-id D-1 --effective 03/01/2026",
        message="revledger: option '--effective' = '03/01/2026': is not a date (YYYY-MM-DD) or "
        "an RFC 3339 instant.",
    ),
    rec(
        "record-effective-without-offset",
        "deal_lost --deal-id D-1 --effective '2026-04-01 09:30'",
        expect=("option '--effective' = '2026-04-01 09:30': has no UTC offset",),
    ),
    rec(
        "record-stale-expect-version",
        "stage_changed --deal-id D-1 --stage negotiation --effective 2026-04-01 --expect-version 1",
        code=EXIT_CONFLICT,
        message="revledger: stream deal:D-1 is at version 2, not the expected 1; another append "
        "got there first, so re-read it and retry.",
    ),
    rec(
        "record-idempotency-key-reused",
        "contract_signed --deal-id D-4 --arr 1000 --idempotency-key sig-D-2",
        code=EXIT_CONFLICT,
        message="revledger: idempotency key 'sig-D-2' was already used by event seq 5 with "
        "different content.",
    ),
    rec(
        "record-stage-change-on-lost-deal",
        "stage_changed --deal-id D-3 --stage negotiation --effective 2026-04-01",
        message="revledger: deal D-3 is lost; record deal_reopened before you change its stage.",
    ),
    rec(
        "record-stage-outside-pipeline",
        "stage_changed --deal-id D-1 --stage won",
        message=f"revledger: field 'stage' = 'won': is not a stage of the configured pipeline "
        f"({PIPELINE}).",
    ),
    rec(
        "record-deal-updated-without-fields",
        "deal_updated --deal-id D-1",
        message="revledger: deal_updated needs at least one of amount, expected_close, "
        "forecast_category, probability, owner, segment.",
    ),
    rec(
        "record-probability-above-one",
        "deal_updated --deal-id D-1 --probability 1.01",
        message="revledger: field 'probability' = '1.01': must be between 0 and 1.",
    ),
    rec(
        "record-forecast-best-case-below-commit",
        "forecast_submitted --period 2026-Q3 --commit 250000 --best-case 200000",
        message="revledger: field 'best_case' = '200000': must not be below commit (250000).",
    ),
    rec(
        "record-phi-email-in-reason",
        "deal_lost --deal-id D-1 --reason 'champion left, ask j.smith@hospital.org'",
        expect=("revledger: field 'reason': looks like an e-mail address",),
        secret="j.smith@hospital.org",
    ),
    rec(
        "record-phi-ssn-in-reason",
        "churn --account-id A-2 --reason 'member SSN on file'",
        expect=("revledger: field 'reason': looks like a social security number",),
        secret="member SSN",
    ),
    rec(
        "record-go-live-twice",
        "go_live --account-id A-2 --deal-id D-2 --effective 2026-04-01",
        message="revledger: deal D-2 is already live for account A-2.",
    ),
    rec(
        "record-retraction-of-neither-a-seq-nor-an-event-id",
        "event_retracted --retracts 5.0 --reason typo",
        message="revledger: field 'retracts' = '5.0': must be an event's seq, as `log` shows it, "
        "or its event_id (a UUID).",
    ),
    rec(
        "record-retraction-leaving-later-event-invalid",
        f"event_retracted --retracts {E_SIGNED_D2} --reason 'signed in error'",
        expect=("retracting that contract_signed (seq 5) would leave the later go_live (seq 6)",),
    ),
    rec(
        "record-unknown-type",
        "deal_won",
        code=EXIT_USAGE,
        message="revledger: No such command 'deal_won'. (Did you mean one of: 'deal_lost', "
        "'deal_opened', 'deal_reopened'?) (see `revledger record --help`)",
    ),
    rec(
        "record-unknown-option",
        "deal_lost --deal-id D-1 --colour red",
        code=EXIT_USAGE,
        expect=(
            "revledger: No such option '--colour'",
            "? (see `revledger record deal_lost --help`)",
        ),
    ),
    rec(
        "record-missing-required-option",
        "deal_opened --deal-id D-9",
        code=EXIT_USAGE,
        expect=("revledger: Missing option '--account-id'.",),
    ),
    rec(
        "record-choice-outside-list",
        "security_review_started --deal-id D-1 --framework iso27001",
        expect=("revledger: field 'framework' = 'iso27001': must be one of ",),
    ),
    # -- other commands -------------------------------------------------------------------------
    cmd(
        "restatements-window-for-arr",
        "restatements --metric arr --as-of 2026-03-31 --reported-at 2026-04-01 --window 3m",
        EXIT_USAGE,
        message="revledger: --window is for --metric nrr or grr; --metric arr has none.",
    ),
    cmd(
        "log-unknown-type",
        "log --type nope",
        code=EXIT_VALIDATION,
        expect=("revledger: option '--type' = 'nope': is not an event type; known types: churn,",),
    ),
    cmd(
        "log-bad-from-date",
        "log --from 2026-13-01",
        code=EXIT_VALIDATION,
        message="revledger: option '--from' = '2026-13-01': is not a real calendar date "
        "(month must be in 1..12).",
    ),
    cmd(
        "log-window-backwards",
        "log --from 2026-12-01 --to 2026-01-01",
        code=EXIT_VALIDATION,
        message="revledger: option '--from' = '2026-12-01': must not be after --to (2026-01-01).",
    ),
    cmd(
        "log-known-at-in-nanoseconds",
        "log --known-at 2026-03-01T09:30:00.123456789Z",
        code=EXIT_VALIDATION,
        message="revledger: option '--known-at' = '2026-03-01T09:30:00.123456789Z': has more "
        "than 6 digits of a second; the ledger keeps microseconds.",
    ),
    cmd(
        "log-bad-known-at",
        "log --known-at yesterday",
        code=EXIT_VALIDATION,
        message="revledger: option '--known-at' = 'yesterday': is not a date (YYYY-MM-DD) or an "
        "RFC 3339 instant.",
    ),
    rec(
        "record-a-choice-outside-the-schema",
        "deal_updated --deal-id D-1 --forecast-category maybe",
        message="revledger: field 'forecast_category' = 'maybe': must be one of 'pipeline', "
        "'best_case', 'commit' or 'omitted'.",
    ),
    rec(
        "record-an-option-given-twice",
        "quota_set --period 2026-Q2 --amount 5 --amount 7",
        code=EXIT_USAGE,
        expect=("'--amount': is given 2 times ('5', '7'); give it once",),
    ),
    rec(
        "record-a-flag-given-both-ways",
        "contract_signed --deal-id D-1 --arr 5 --baa-signed --no-baa-signed",
        code=EXIT_USAGE,
        expect=("'--baa-signed': is given 2 times (--baa-signed, --no-baa-signed); give it once",),
    ),
    rec(
        "record-format-given-twice",
        "quota_set --period 2026-Q2 --amount 5 --format json --format csv",
        code=EXIT_USAGE,
        expect=("'--format': is given 2 times (--format, --format); give it once",),
    ),
    cmd(
        "a-question-with-format-given-twice",
        "arr --format json --format=csv",
        code=EXIT_USAGE,
        message="revledger: Invalid value for '--format': is given 2 times (--format, "
        "--format=csv); give it once. (see `revledger arr --help`)",
    ),
    cmd(
        "db-given-twice",
        "--db other.db arr",
        code=EXIT_USAGE,
        expect=("'--db': is given 2 times (--db, --db); give it once",),
    ),
    cmd(
        "a-forecast-with-as-of-given-twice",
        "forecast --period 2026-Q2 --as-of 2026-05-01 --as-of 2026-06-01",
        code=EXIT_USAGE,
        expect=("'--as-of': is given 2 times (--as-of, --as-of); give it once",),
    ),
    rec(
        "record-an-empty-actor",
        "quota_set --period 2026-Q2 --amount 5 --actor ''",
        message="revledger: option '--actor' = '': must be non-empty text of at most 200 "
        "characters.",
    ),
    cmd(
        "report-quarters-of-5000-digits",
        f"report --quarters {'9' * 5000} -o -",
        code=EXIT_USAGE,
        expect=("'--quarters': a whole number of 5000 digits is not from 1 to 40.",),
    ),
    rec(
        "expected-version-beyond-64-bits",
        "quota_set --period 2026-Q2 --amount 5 --expect-version 99999999999999999999",
        code=EXIT_USAGE,
        expect=("'--expect-version': 99999999999999999999 is too large.",),
    ),
    cmd(
        "init-fiscal-month-13",
        "init --fiscal-year-start 13",
        code=EXIT_USAGE,
        expect=("revledger: Invalid value for '--fiscal-year-start': 13 is not from 1 to 12.",),
    ),
    rec(
        "record-expect-version-with-an-underscore",
        "quota_set --period 2027-Q1 --amount 5 --expect-version 1_0",
        code=EXIT_USAGE,
        expect=("revledger: Invalid value for '--expect-version': '1_0' is not a whole number.",),
    ),
    rec(
        "record-term-months-in-other-digits",
        "contract_signed --deal-id D-1 --arr 5 --term-months \u0661\u0662",
        expect=("field 'term_months' = ", "must be a whole number."),
    ),
    rec(
        "record-term-months-negative",
        "contract_signed --deal-id D-1 --arr 5 --term-months -3",
        message="revledger: field 'term_months' = '-3': must be between 1 and 120.",
    ),
    rec(
        "record-term-months-of-seven-digits",
        "contract_signed --deal-id D-1 --arr 5 --term-months 1000000",
        message="revledger: field 'term_months' = '1000000': must be a whole number of at most 6 "
        "digits.",
    ),
    rec(
        "record-effective-empty",
        "quota_set --period 2027-Q1 --amount 5 --effective ''",
        message="revledger: option '--effective' = '': is not a date (YYYY-MM-DD) or an RFC 3339 "
        "instant.",
    ),
    rec(
        "record-effective-offset-without-colon",
        "quota_set --period 2027-Q1 --amount 5 --effective 2026-03-08T10:00:00+0530",
        message="revledger: option '--effective' = '2026-03-08T10:00:00+0530': writes its UTC "
        "offset without a colon; write it as in RFC 3339 (e.g. +05:30).",
    ),
    rec(
        "record-effective-comma-before-fraction",
        "quota_set --period 2027-Q1 --amount 5 --effective 2026-01-05T10:00:00,5Z",
        message="revledger: option '--effective' = '2026-01-05T10:00:00,5Z': writes its fraction "
        "of a second after a comma; RFC 3339 takes a point (e.g. 09:30:00.5Z).",
    ),
    rec(
        "record-effective-space-before-offset",
        "quota_set --period 2027-Q1 --amount 5 --effective '2026-12-07T04:00:00 -05:00'",
        message="revledger: option '--effective' = '2026-12-07T04:00:00 -05:00': has a space "
        "before its UTC offset; write it right after the time (e.g. 09:30:00-05:00).",
    ),
    rec(
        "record-effective-two-offsets",
        "quota_set --period 2027-Q1 --amount 5 --effective 2026-12-07T04:00:00+00:00Z",
        message="revledger: option '--effective' = '2026-12-07T04:00:00+00:00Z': has more after "
        "its time than one UTC offset (Z or +HH:MM / -HH:MM) as RFC 3339 has.",
    ),
    rec(
        "record-effective-identifier-after-the-time",
        "quota_set --period 2027-Q1 --amount 5 --effective '2026-03-01T09:30:00 123-45-6789'",
        message="revledger: option '--effective' (value withheld: it looks like a social security "
        "number): has more after its time than one UTC offset (Z or +HH:MM / -HH:MM) as RFC "
        "3339 has.",
    ),
    rec(
        "record-second-deal-lost",
        "deal_lost --deal-id D-3 --effective 2026-03-01",
        message="revledger: deal D-3 is already lost.",
    ),
    rec(
        "record-expect-version-not-a-number",
        "quota_set --period 2027-Q1 --amount 5 --expect-version abc",
        code=EXIT_USAGE,
        expect=("revledger: Invalid value for '--expect-version': 'abc' is not a whole number.",),
    ),
    cmd(
        "nrr-window-before-1900",
        "nrr --as-of 2026-06-30 --window 200y",
        code=EXIT_VALIDATION,
        message="revledger: option '--window' = '200y': reaches back to 1826-06-30, before 1900.",
    ),
    cmd(
        "nrr-window-longer-than-the-ledgers-years",
        "nrr --as-of 2026-06-30 --window 3000y",
        code=EXIT_VALIDATION,
        message="revledger: option '--window' = '3000y': is longer than the 300 years a "
        "ledger's dates may span (1900-2199).",
    ),
    cmd(
        "forecast-period-year-9999",
        "forecast --period 9999-Q4",
        code=EXIT_VALIDATION,
        message="revledger: option '--period' = '9999-Q4': has a year outside 1900-2199.",
    ),
    rec(
        "record-empty-idempotency-key",
        "quota_set --period 2027-Q1 --amount 5 --idempotency-key ''",
        message="revledger: option '--idempotency-key' = '': must be non-empty text of at most "
        "200 characters.",
    ),
    rec(
        "record-actor-too-long",
        f"quota_set --period 2027-Q1 --amount 5 --actor {'a' * 201}",
        expect=("option '--actor' = 'aaa", "must be non-empty text of at most 200 characters."),
    ),
    rec(
        "record-actor-with-a-tab",
        "quota_set --period 2027-Q1 --amount 5 --actor 'ana\tb'",
        expect=("option '--actor' = ", "contains control characters."),
    ),
    rec(
        "record-quota-period-in-full-width-digits",
        "quota_set --period \uff12\uff10\uff12\uff17-Q1 --amount 5",
        message="revledger: field 'period' = '\uff12\uff10\uff12\uff17-Q1': is not a period "
        "such as 2026-Q4, 2026-11 or 2026.",
    ),
    cmd(
        "aging-days-with-an-underscore",
        "aging --days 1_0",
        code=EXIT_USAGE,
        expect=("revledger: Invalid value for '--days': '1_0' is not a whole number.",),
    ),
    rec(
        "record-quota-period-year-0500",
        "quota_set --period 0500-Q1 --amount 5",
        message="revledger: field 'period' = '0500-Q1': has a year outside 1900-2199.",
    ),
    cmd("init-twice", "init", code=EXIT_CONFLICT, expect=("is already initialised",)),
    cmd(
        "restore-into-non-empty-ledger",
        "import --restore {export}",
        code=EXIT_CONFLICT,
        message="revledger: restore needs an empty ledger: this one already has events "
        "(restore into a new --db without running init).",
    ),
    cmd(
        "restore-with-dry-run",
        "import --restore --dry-run {export}",
        code=EXIT_USAGE,
        message="revledger: --restore and --dry-run cannot be combined.",
    ),
    cmd(
        "restore-with-an-actor-it-would-not-use",
        "import --restore {export} --actor bob",
        code=EXIT_USAGE,
        db="missing_sqlite",
        message="revledger: --restore and --actor cannot be combined: a restore keeps each "
        "event's actor.",
    ),
    cmd(
        "init-an-empty-actor",
        "init --actor ''",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        message="revledger: option '--actor' = '': must be non-empty text of at most 200 "
        "characters.",
    ),
    cmd(
        "init-an-actor-that-looks-like-a-record-number",
        "init --actor 'MRN 4471'",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        message="revledger: option '--actor': looks like a medical record number; the ledger "
        "must never hold patient identifiers (PHI).",
        secret="4471",
    ),
    cmd(
        "import-an-empty-actor",
        "import {good_file} --actor ''",
        code=EXIT_VALIDATION,
        message="revledger: option '--actor' = '': must be non-empty text of at most 200 "
        "characters.",
    ),
    cmd(
        "log-an-empty-deal",
        "log --deal ''",
        code=EXIT_VALIDATION,
        message="revledger: option '--deal' = '': must not be empty (no event has an empty id).",
    ),
    cmd(
        "history-a-blank-account",
        "history --account ' '",
        code=EXIT_VALIDATION,
        message="revledger: option '--account' = ' ': must not be empty (no event has an empty "
        "id).",
    ),
    cmd(
        "demo-an-empty-db",
        "demo --db ''",
        code=EXIT_STORAGE,
        message="revledger: no database given: --db (or REVLEDGER_DB) is empty; give a SQLite "
        "file path or an SQLAlchemy URL.",
    ),
    cmd(
        "sqlite-url-with-a-parameter-the-driver-ignores",
        "log",
        code=EXIT_STORAGE,
        db="sqlite_url_with_mode",
        expect=(
            "the SQLite driver does not take the URL parameter(s) 'mode' (SQLite's own URI "
            "parameters need the database written as a URI and uri=true, such as "
            "sqlite:///file:ledger.db?mode=ro&uri=true)",
        ),
    ),
    cmd(
        "restore-into-a-new-file-by-a-url-with-a-parameter-the-driver-ignores",
        "import --restore {export}",
        code=EXIT_STORAGE,
        db="new_sqlite_url_with_mode",
        expect=("/restored.db?mode=ro: the SQLite driver does not take the URL parameter(s)",),
    ),
    cmd(
        "init-an-in-memory-database",
        "init",
        code=EXIT_STORAGE,
        db="in_memory",
        message="revledger: sqlite:///:memory: is an in-memory SQLite database, gone when the "
        "command ends; give the path of the ledger's file.",
    ),
    cmd(
        "restatements-reported-at-in-the-future",
        "restatements --metric arr --as-of 2026-03-31 --reported-at 2199-01-01",
        code=EXIT_VALIDATION,
        message="revledger: option '--reported-at' = '2199-01-01': is in the future; what will "
        "be known then is not known yet (give a time up to now).",
    ),
    rec(
        "record-a-time-zone-that-does-not-exist",
        "ledger_configured --timezone Mars/Olympus",
        message="revledger: field 'timezone' = 'Mars/Olympus': is not an IANA time zone name "
        "such as 'UTC'.",
    ),
    rec(
        "record-the-machines-own-time-zone",
        "ledger_configured --timezone localtime",
        message="revledger: field 'timezone' = 'localtime': names the time zone of the machine "
        "that reads it, which another machine reads otherwise; give the IANA name of the zone, "
        "such as America/New_York.",
    ),
    rec(
        "record-a-time-zone-spelt-in-another-case",
        "ledger_configured --timezone america/new_york",
        message="revledger: field 'timezone' = 'america/new_york': is not an IANA time zone name "
        "such as 'UTC'; its IANA name is 'America/New_York'.",
    ),
    cmd(
        "init-in-the-machines-own-time-zone",
        "init --timezone localtime",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        expect=("field 'timezone' = 'localtime': names the time zone of the machine",),
    ),
    imp(
        "import-a-time-zone-of-the-systems-posix-folder",
        at("ledger_configured", timezone="posix/Europe/Paris"),
        expect=(
            "field 'timezone' = 'posix/Europe/Paris': is not an IANA time zone name such as "
            "'UTC'; its IANA name is 'Europe/Paris'.",
        ),
    ),
    cmd(
        "init-stages-file-not-utf8",
        "init --stages-file {latin1_file}",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        expect=("latin1.json: line 1 is not UTF-8 text (byte 12 of the file cannot be decoded).",),
    ),
    rec(
        "record-stages-file-not-utf8",
        "ledger_configured --stages-file {latin1_file}",
        expect=("latin1.json: line 1 is not UTF-8 text (byte 12 of the file cannot be decoded).",),
    ),
    cmd(
        "restore-file-not-utf8",
        "import --restore {latin1_export}",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        expect=("latin1.jsonl: line 2 is not UTF-8 text (byte ",),
    ),
    cmd(
        "restore-an-empty-file",
        "import --restore {empty_file}",
        code=EXIT_VALIDATION,
        db="missing_sqlite",
        expect=("empty.jsonl: holds no events; an export of a ledger holds at least its",),
    ),
    cmd(
        "import-missing-file",
        "import {missing_file}",
        code=EXIT_USAGE,
        expect=("revledger: Invalid value for 'FILE':", "does not exist."),
    ),
    cmd(
        "db-is-a-missing-sqlite-file",
        "log",
        code=EXIT_STORAGE,
        db="missing_sqlite",
        expect=("revledger: there is no ledger at ", "missing.db; run `revledger init` or point"),
    ),
    cmd(
        "db-without-a-ledger",
        "import {good_file}",
        code=EXIT_STORAGE,
        db="no_ledger",
        expect=(" is not a ",),
    ),
]


# -- running ---------------------------------------------------------------------------------------
def invoke(db: str, *argv: str) -> Result:
    """Run `revledger --db DB argv…` through click's runner (stderr kept apart)."""
    return CliRunner().invoke(cli, ["--db", db, *argv], prog_name="revledger")


def head_of(db: str) -> tuple[int, str]:
    """Return the ledger's head (seq, hash)."""
    with LedgerStore.open(db) as store:
        head = store.head()
    return head.seq, head.hash


def write_lines(path: Path, lines: list[Line]) -> Path:
    """Write import lines (dicts as JSON, strings verbatim) to `path`."""
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def assert_one_clear_line(result: Result, code: int) -> str:
    """Assert the documented failure shape; return the message line (without its newline)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith("revledger: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err.rstrip("\n")
    assert line.endswith((".", "?", ")")), line
    assert "?." not in line and "?)." not in line, line
    return line


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An initialised ledger with the SEED events: open, won-and-live, lost, signed, retracted."""
    assert_ok(invoke(db_url, "init"))
    assert_ok(invoke(db_url, "import", str(write_lines(tmp_path / "seed.jsonl", list(SEED)))))
    assert head_of(db_url)[0] == 1 + len(SEED)
    yield db_url


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, (result.exit_code, result.output)


def _resolve_db(case: Case, ledger: str, db_url: str, tmp_path: Path) -> str:
    if case.db == "missing_sqlite":
        return str(tmp_path / "missing.db")
    if case.db == "sqlite_url_with_mode":  # `mode` needs `uri=true`, or the driver drops it
        path = tmp_path / "read-only-meant.db"
        assert_ok(invoke(str(path), "init"))
        return f"sqlite:///{path}?mode=ro"
    if case.db == "new_sqlite_url_with_mode":
        return f"sqlite:///{tmp_path / 'restored.db'}?mode=ro"
    if case.db == "in_memory":
        return "sqlite:///:memory:"
    if case.db == "no_ledger":
        if db_url.startswith("postgresql"):
            return pg_schema_url(f"rl_absent_{uuid.uuid4().hex[:12]}")
        notes = tmp_path / "notes.txt"
        notes.write_text("not a database\n", encoding="utf-8")
        return str(notes)
    return ledger


def _resolve_argv(case: Case, db: str, tmp_path: Path) -> list[str]:
    if case.line is not None:
        path = write_lines(tmp_path / "input.jsonl", [GOOD_BEFORE, case.line, GOOD_AFTER])
        return ["import", str(path)]
    if case.raw is not None:
        path = tmp_path / "input.jsonl"
        path.write_bytes(case.raw)
        return ["import", str(path)]
    argv = list(case.argv)
    for i, arg in enumerate(argv):
        if arg == "{export}":
            export = tmp_path / "export.jsonl"
            assert_ok(invoke(db, "export", "--output", str(export)))
            argv[i] = str(export)
        elif arg == "{latin1_file}":  # a stages file written in ISO-8859-1: "démo"
            argv[i] = str(tmp_path / "latin1.json")
            Path(argv[i]).write_bytes('[{"name": "démo", "probability": 0.3}]'.encode("latin-1"))
        elif arg == "{latin1_export}":  # an export whose second line was re-encoded
            export = tmp_path / "export.jsonl"
            assert_ok(invoke(db, "export", "--output", str(export)))
            first, second, *rest = export.read_text(encoding="utf-8").split("\n")
            second = second.replace('"stage":"discovery"', '"stage":"d\u00e9couverte"')
            argv[i] = str(tmp_path / "latin1.jsonl")
            Path(argv[i]).write_bytes(
                "\n".join([first, second, *rest]).encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
            )
        elif arg == "{empty_file}":
            argv[i] = str(tmp_path / "empty.jsonl")
            Path(argv[i]).write_bytes(b"")
        elif arg == "{missing_file}":
            argv[i] = str(tmp_path / "no-such-file.jsonl")
        elif arg == "{good_file}":
            argv[i] = str(write_lines(tmp_path / "good.jsonl", [GOOD_BEFORE]))
    return argv


# -- the tests -------------------------------------------------------------------------------------
def test_the_table_is_large_and_has_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 30
    assert sum(1 for c in CASES if c.line is not None) >= 30
    assert sum(1 for c in CASES if c.argv[:1] == ("record",)) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(
    case: Case, ledger: str, db_url: str, tmp_path: Path
) -> None:
    before = head_of(ledger)
    db = _resolve_db(case, ledger, db_url, tmp_path)
    argv = _resolve_argv(case, ledger, tmp_path)

    line = assert_one_clear_line(invoke(db, *argv), case.code)

    if case.message is not None:
        assert line == case.message
    for fragment in case.expect:
        assert fragment in line, (fragment, line)
    if case.secret is not None:
        assert case.secret not in line
        assert case.secret.strip() not in line
    assert head_of(ledger) == before, "a rejected input must write nothing"
    if case.db == "missing_sqlite":
        assert not Path(db).exists(), "opening a missing ledger must not create one"


def test_a_bad_line_after_many_good_ones_writes_none_of_them(ledger: str, tmp_path: Path) -> None:
    good = [{**GOOD_BEFORE, "deal_id": f"D-{n}", "account_id": f"A-{n}"} for n in range(100, 140)]
    bad = at("contract_signed", deal_id="D-139", arr="-1")
    path = write_lines(tmp_path / "batch.jsonl", [*good, bad])
    before = head_of(ledger)

    line = assert_one_clear_line(invoke(ledger, "import", str(path)), EXIT_VALIDATION)

    assert line == "revledger: line 41: field 'arr' = '-1': must not be negative."
    assert head_of(ledger) == before
    result = invoke(ledger, "log", "--deal", "D-100", "--format", "json")
    assert_ok(result)
    assert json.loads(result.stdout)["rows"] == []


def test_the_good_lines_and_options_alone_are_accepted(ledger: str, tmp_path: Path) -> None:
    """The harness can fail: the lines around each bad one, and a plain record, do append."""
    seq, _ = head_of(ledger)
    path = write_lines(tmp_path / "good.jsonl", [GOOD_BEFORE, GOOD_AFTER])
    assert_ok(invoke(ledger, "import", str(path)))
    assert head_of(ledger)[0] == seq + 2
    result = invoke(
        ledger, "record", "expansion", "--account-id", "A-2", "--arr", "1200.50",
        "--effective", "2026-04-01",
    )  # fmt: skip
    assert_ok(result)
    assert result.stderr == ""
    assert head_of(ledger)[0] == seq + 3


def test_a_rejected_line_can_be_fixed_and_imported(ledger: str, tmp_path: Path) -> None:
    """The message points at the fault: correcting that one value makes the import succeed."""
    bad = at("expansion", account_id="A-2", arr="-5")
    path = write_lines(tmp_path / "fix.jsonl", [GOOD_BEFORE, bad, GOOD_AFTER])
    line = assert_one_clear_line(invoke(ledger, "import", str(path)), EXIT_VALIDATION)
    assert line == "revledger: line 2: field 'arr' = '-5': must not be negative."
    seq, _ = head_of(ledger)
    write_lines(path, [GOOD_BEFORE, {**bad, "arr": "5"}, GOOD_AFTER])
    assert_ok(invoke(ledger, "import", str(path)))
    assert head_of(ledger)[0] == seq + 3


def test_a_pipeline_that_strands_an_open_deal_is_refused_from_a_file_and_an_option(
    ledger: str, tmp_path: Path
) -> None:
    # D-1 stands open in demo; a pipeline without demo would leave it in a stage that has no
    # probability or forecast category.
    stages = [
        {"name": "qualification", "probability": "0.1"},
        {"name": "negotiation", "probability": "0.9", "forecast_category": "commit"},
    ]
    stages_file = tmp_path / "stages.json"
    stages_file.write_text(json.dumps(stages), encoding="utf-8")
    line = at("ledger_configured", stages=stages)
    before = head_of(ledger)
    expected = (
        "the new pipeline drops the stage demo, where the open deal D-1 stands; move it to a "
        "stage it keeps (stage_changed, or deal_lost) first, or keep the stage."
    )
    recorded = assert_one_clear_line(
        invoke(ledger, "record", "ledger_configured", "--stages-file", str(stages_file)),
        EXIT_VALIDATION,
    )
    assert recorded == f"revledger: {expected}"
    imported = assert_one_clear_line(
        invoke(ledger, "import", str(write_lines(tmp_path / "cfg.jsonl", [line]))),
        EXIT_VALIDATION,
    )
    assert imported == f"revledger: line 1: {expected}"
    assert head_of(ledger) == before


def test_values_right_at_each_limit_are_accepted_as_given(ledger: str, tmp_path: Path) -> None:
    """The limits the refusals above name are inclusive: a 100-character id, a 40-character
    name, money a cent below one trillion, probability 1 and one of 4 decimal places, a
    500-character reason, money as a whole JSON number and a date in 2199 are recorded as
    written."""
    deal = "D-" + "7" * 98
    lines: list[Line] = [
        at(
            "deal_opened", deal_id=deal, account_id="A-" + "8" * 98, stage="demo",
            amount="999999999999.99", expected_close="2026-12-31", segment="s" * 40,
        ),
        at("deal_updated", deal_id=deal, probability="1"),
        at("deal_updated", deal_id=deal, probability="0.1234"),
        at("deal_lost", deal_id=deal, reason="r" * 500),
        at("deal_updated", deal_id="D-1", amount=250000, expected_close="2199-12-31"),
    ]  # fmt: skip
    seq, _ = head_of(ledger)
    assert_ok(invoke(ledger, "import", str(write_lines(tmp_path / "edges.jsonl", lines))))
    assert head_of(ledger)[0] == seq + 5
    result = invoke(ledger, "log", "--deal", deal, "--format", "json")
    assert_ok(result)
    payloads = [row["payload"] for row in json.loads(result.stdout)["rows"]]
    result = invoke(ledger, "log", "--deal", "D-1", "--type", "deal_updated", "--format", "json")
    assert_ok(result)
    assert [row["payload"] for row in json.loads(result.stdout)["rows"]] == [
        {"deal_id": "D-1", "amount": "250000", "expected_close": "2199-12-31"}
    ]
    assert [p.get("amount") for p in payloads] == ["999999999999.99", None, None, None]
    assert payloads[0]["deal_id"] == deal and payloads[0]["segment"] == "s" * 40
    assert [p.get("probability") for p in payloads] == [None, "1", "0.1234", None]
    assert payloads[3]["reason"] == "r" * 500


def test_a_line_of_64_kib_characters_is_read_and_one_character_more_is_refused(
    ledger: str, tmp_path: Path
) -> None:
    line = json.dumps(at("deal_lost", deal_id="D-1"))[:-1]

    def padded(length: int) -> str:  # JSON allows blanks before the closing brace
        return line + " " * (length - len(line) - 1) + "}"

    before = head_of(ledger)
    path = write_lines(tmp_path / "long.jsonl", [GOOD_BEFORE, padded(65537)])
    refused = assert_one_clear_line(invoke(ledger, "import", str(path)), EXIT_VALIDATION)
    assert refused == "revledger: line 2: is longer than 65536 characters."
    assert head_of(ledger) == before
    path = write_lines(tmp_path / "long.jsonl", [GOOD_BEFORE, padded(65536)])
    assert_ok(invoke(ledger, "import", str(path)))
    assert head_of(ledger)[0] == before[0] + 2
