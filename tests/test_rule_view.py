"""What the rules read of an event (`RuleView`) is the same from the typed event as from the
payload text the log stores, and it is all the rule state keeps of an event."""

from __future__ import annotations

from hypothesis import given, settings

from ledger.events import ContractSigned, DealOpened, EventRetracted, LedgerConfigured, build_event
from ledger.events.view import RuleView, view_of, views_of_stored
from tests.strategies import GeneratedLedger, ledgers


@settings(max_examples=60, deadline=None)
@given(ledgers(max_events=40))
def test_a_view_read_from_the_stored_payload_is_the_view_of_the_typed_event(
    history: GeneratedLedger,
) -> None:
    news = history.new_events()
    stored = []
    for n in news:
        payload, _effective = n.stored_texts()
        stored.append(
            (n.event.event_type, type(n.event).schema_version, payload, n.event.stream_id())
        )
    assert views_of_stored(stored) == [view_of(n.event) for n in news]
    assert [n.staged().view for n in news] == [view_of(n.event) for n in news]


def test_a_view_names_what_the_rules_judge_by() -> None:
    opened = build_event(
        "deal_opened",
        {
            "deal_id": "D-1",
            "account_id": "A-1",
            "stage": "demo",
            "amount": "1000",
            "expected_close": "2026-09-30",
            "owner": "ae-1",
        },
    )
    assert isinstance(opened, DealOpened)
    assert view_of(opened) == RuleView(
        "deal_opened", "deal", "deal:D-1", "D-1", "A-1", "demo", None, None, None
    )
    signed = build_event("contract_signed", {"deal_id": "D-1", "arr": "120000.50"})
    assert isinstance(signed, ContractSigned)
    assert view_of(signed)[:7] == (
        "contract_signed",
        "deal",
        "deal:D-1",
        "D-1",
        None,
        None,
        signed.arr,
    )
    retraction = build_event(
        "event_retracted", {"retracts": "00000000-0000-0000-0000-000000000007", "reason": "typo"}
    )
    assert isinstance(retraction, EventRetracted)
    assert view_of(retraction).retracts == retraction.retracts
    config = LedgerConfigured()
    assert view_of(config).config is config
    assert view_of(config).family == "ledger"
