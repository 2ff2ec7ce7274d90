"""The envelope bytes the hash chain is computed over are the canonical JSON of the envelope
(module docstring of `ledger.canonical`), which `envelope_bytes` writes without a JSON encoder."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json, chain_hash, envelope_bytes

texts = st.text(min_size=1, max_size=30)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    payload = draw(st.dictionaries(st.sampled_from(["deal_id", "stage", "arr", "note"]), texts))
    return {
        "seq": draw(st.integers(1, 10**12)),
        "event_id": str(draw(st.uuids())),
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
