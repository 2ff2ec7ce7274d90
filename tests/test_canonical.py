"""The canonical encoding (module docstring of `ledger.canonical`): the envelope bytes the hash
chain is computed over are the canonical JSON of the envelope, which `envelope_bytes` writes
without a JSON encoder, and instants are fixed-width UTC text."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json, chain_hash, envelope_bytes, payload_json
from ledger.events import DealUpdated
from ledger.timeutil import TimeParseError, format_instant, parse_instant, read_instant

texts = st.text(min_size=1, max_size=30)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    payload = draw(st.dictionaries(st.sampled_from(["deal_id", "stage", "arr", "note"]), texts))
    return {
        "seq": draw(st.integers(1, 10**12)),
        "event_id": draw(st.uuids().map(str) | texts),
        "type": draw(st.sampled_from(["deal_opened", "churn", "ledger_configured"])),
        "schema_version": draw(st.integers(1, 9)),
        "stream_id": "deal:" + draw(texts),
        "stream_version": draw(st.integers(1, 10**6)),
        "effective_at": "2026-01-05T14:00:00.000000Z",
        "recorded_at": "2026-01-06T09:30:00.123456Z",
        "actor": draw(texts),
        "source": draw(texts),
        "idempotency_key": draw(st.none() | texts),
        "payload": canonical_json(payload),
    }


@settings(max_examples=200, deadline=None)
@given(envelopes(), st.sampled_from(["0" * 64, hashlib.sha256(b"x").hexdigest()]))
def test_the_envelope_is_the_canonical_json_of_its_fields(
    fields: dict[str, Any], prev: str
) -> None:
    spec = canonical_json({**fields, "payload": json.loads(fields["payload"])}).encode("utf-8")
    assert envelope_bytes(**fields) == spec
    assert chain_hash(prev, spec) == hashlib.sha256(prev.encode() + spec).hexdigest()


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30)),
    st.integers(-14 * 60, 14 * 60),
)
def test_an_instant_is_written_as_fixed_width_utc_text(
    local: datetime, offset_minutes: int
) -> None:
    instant = local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = format_instant(instant)
    assert text == instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(text) == 27
    assert read_instant(text) == instant


@pytest.mark.parametrize(
    ("text", "zone_name"),
    [
        ("1900-01-01", "Asia/Tokyo"),  # a day that starts in 1899 in UTC
        ("1900-01-01T00:00:00+09:00", "UTC"),
        ("2199-12-31T23:59:59-05:00", "UTC"),  # an instant in 2200 in UTC
    ],
)
def test_an_instant_outside_the_ledgers_years_in_utc_is_refused(text: str, zone_name: str) -> None:
    with pytest.raises(TimeParseError, match="falls in UTC in a year outside 1900-2199"):
        parse_instant(text, zone_name)
    assert parse_instant("1900-01-01", "America/New_York").year == 1900


def test_an_impossible_utc_offset_is_named() -> None:
    for offset in ("+24:00", "-25:00", "+05:60"):
        with pytest.raises(
            TimeParseError, match=f"impossible UTC offset \\({re.escape(offset)}\\)"
        ):
            parse_instant(f"2026-03-01T10:00:00{offset}")
    assert parse_instant("2026-03-01T10:00:00+23:59") == datetime(2026, 2, 28, 10, 1, tzinfo=UTC)


def _plain(text: str) -> str:
    """Return decimal text as the canonical encoding writes it: no trailing zeros after the
    point, and no point when nothing is left after it."""
    return text.rstrip("0").rstrip(".") if "." in text else text


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**14 - 1), st.integers(0, 6))
def test_equal_amounts_are_one_text_without_trailing_zeros(cents: int, zeros: int) -> None:
    """`120000.50`, `120000.500` and `120000.5` are one amount and one payload text, so they
    hash alike; zero is `0` however many zeros it was written with."""
    written = f"{cents // 100}.{cents % 100:02d}" + "0" * zeros
    expected = _plain(written)
    payload = payload_json(DealUpdated(deal_id="D-1", amount=written))
    assert payload == f'{{"amount":"{expected}","deal_id":"D-1"}}'
    assert canonical_json({"amount": Decimal(written)}) == f'{{"amount":"{expected}"}}'


def test_zero_written_with_decimal_places_is_the_text_0() -> None:
    for written in ("0", "0.0", "0.00", "00.00"):
        assert payload_json(DealUpdated(deal_id="D-1", amount=written)) == (
            '{"amount":"0","deal_id":"D-1"}'
        )
        assert canonical_json([Decimal(written)]) == '["0"]'
