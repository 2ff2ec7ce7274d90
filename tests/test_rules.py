"""Domain rules, judged in business order, on inline histories with no database at all."""

from __future__ import annotations

import gc
import uuid
import weakref
from collections.abc import Collection
from typing import Any

import pytest

from ledger.errors import ConflictError, InputError
from ledger.events import EventModel, build_event
from ledger.events.view import view_of
from ledger.rules import Fact, RuleBook
from ledger.timeutil import parse_instant


class MemoryFacts:
    """A FactSource over a list of already admitted facts (what the store would hold)."""

    def __init__(self, facts: list[Fact]) -> None:
        self.facts = facts

    def _retracted(self) -> set[str]:
        return {f.view.retracts for f in self.facts if f.view.retracts is not None}

    def retracted_ids(self) -> set[str]:
        return self._retracted()

    def facts_for_deals(self, deal_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        retracted = self._retracted()
        for f in self.facts:
            e = f.view
            if e.family == "deal" and e.deal_id in deal_ids and f.event_id not in retracted:
                out.setdefault(e.deal_id or "", []).append(f)
        return out

    def facts_for_accounts(self, account_ids: Collection[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for f in self.facts:
            e = f.view
            mine = (e.family == "account" and e.account_id in account_ids) or (
                e.type == "contract_signed" and f.account_id in account_ids
            )
            if mine and f.event_id not in self._retracted():
                out.setdefault(f.account_id or "", []).append(f)
        return out

    def facts_by_event_id(self, event_ids: Collection[str]) -> dict[str, Fact]:
        return {f.event_id: f for f in self.facts if f.event_id in event_ids}

    def stream_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.facts:
            s = f.view.stream_id
            if s in stream_ids:
                out[s] = out.get(s, 0) + 1
        return out

    def configurations(self) -> list[Fact]:
        return [
            f
            for f in self.facts
            if f.view.config is not None and f.event_id not in self._retracted()
        ]

    def deals_naming_stages(self, stages: Collection[str]) -> set[str]:
        return {f.view.deal_id or "" for f in self.facts if f.view.stage in stages}

    def stage_names(self) -> set[str]:
        return {n for f in self.facts if f.view.config for n in f.view.config.stage_names()}


class Ledger:
    """Admits events one by one, the way the store does, keeping what was admitted."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.admit("ledger_configured", "2020-01-01")

    def admit(
        self, type_name: str, when: str, *, expected_version: int | None = None, **fields: Any
    ) -> Fact:
        event: EventModel = build_event(type_name, fields)
        book = RuleBook(MemoryFacts(self.facts))
        fact = Fact(parse_instant(when), len(self.facts) + 1, str(uuid.uuid4()), view_of(event))
        placed = book.admit(fact, expected_version=expected_version, where=None)
        stored = fact._replace(account_id=placed.account_id)
        self.facts.append(stored)
        return stored


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def open_deal(ledger: Ledger, deal: str = "D-1", account: str = "A-1", when: str = "2026-01-05"):
    return ledger.admit(
        "deal_opened",
        when,
        deal_id=deal,
        account_id=account,
        stage="demo",
        amount="100000",
        expected_close="2026-09-30",
    )


def live_customer(ledger: Ledger, deal: str = "D-1", account: str = "A-1") -> None:
    open_deal(ledger, deal, account)
    ledger.admit("contract_signed", "2026-03-01", deal_id=deal, arr="100000")
    ledger.admit("go_live", "2026-04-01", account_id=account, deal_id=deal)


def test_a_customer_life_is_accepted(ledger: Ledger) -> None:
    live_customer(ledger)
    ledger.admit("expansion", "2026-06-01", account_id="A-1", arr="20000")
    ledger.admit("contraction", "2026-08-01", account_id="A-1", arr="120000")
    ledger.admit("contract_signed", "2026-09-01", deal_id="D-2", account_id="A-1", arr="50000")
    ledger.admit("churn", "2026-10-01", account_id="A-1", reason="budget cut")
    assert [f.view.type for f in ledger.facts][-2:] == ["contract_signed", "churn"]


def test_every_event_but_the_configuration_needs_a_configured_ledger() -> None:
    empty = Ledger.__new__(Ledger)
    empty.facts = []
    with pytest.raises(InputError, match="no configuration yet"):
        open_deal(empty)


def test_stage_must_be_in_the_pipeline(ledger: Ledger) -> None:
    with pytest.raises(InputError, match=r"field 'stage' = 'pilot': is not a stage"):
        ledger.admit(
            "deal_opened",
            "2026-01-05",
            deal_id="D-1",
            account_id="A-1",
            stage="pilot",
            amount="1",
            expected_close="2026-09-30",
        )


KEEPS_NO_DEMO = [
    {"name": "qualification", "probability": "0.1"},
    {"name": "negotiation", "probability": "0.9", "forecast_category": "commit"},
]


def test_a_pipeline_that_drops_the_stage_of_an_open_deal_is_refused(ledger: Ledger) -> None:
    open_deal(ledger, "D-1")  # in demo
    open_deal(ledger, "D-2", "A-2")
    with pytest.raises(
        InputError,
        match="drops the stage demo, where the open deal D-1 and 1 more stand; move them",
    ):
        ledger.admit("ledger_configured", "2026-02-01", stages=KEEPS_NO_DEMO)
    # Once no open deal stands there (moved on, lost, or won), the stage may go.
    ledger.admit("stage_changed", "2026-01-20", deal_id="D-1", stage="negotiation")
    ledger.admit("deal_lost", "2026-01-21", deal_id="D-2")
    ledger.admit("ledger_configured", "2026-02-01", stages=KEEPS_NO_DEMO)


def test_a_deal_that_moves_into_the_dropped_stage_later_is_stranded_too(ledger: Ledger) -> None:
    open_deal(ledger, "D-1")
    ledger.admit("stage_changed", "2026-03-01", deal_id="D-1", stage="negotiation")
    ledger.admit("stage_changed", "2026-04-01", deal_id="D-1", stage="demo")
    with pytest.raises(InputError, match="where the open deal D-1 stands; move it"):
        ledger.admit("ledger_configured", "2026-02-01", stages=KEEPS_NO_DEMO)


@pytest.mark.parametrize(
    ("leaves", "fields"),
    [
        ("deal_lost", {}),
        ("stage_changed", {"stage": "negotiation"}),
        ("contract_signed", {"arr": "100000"}),
    ],
)
def test_a_deal_that_leaves_the_dropped_stage_only_after_the_new_pipeline_is_stranded(
    ledger: Ledger, leaves: str, fields: dict[str, Any]
) -> None:
    """Between the configuration and the later event the deal stands in a stage the pipeline
    lacks (a forecast of those days would give it no probability)."""
    open_deal(ledger, "D-1")  # in demo from January
    ledger.admit(leaves, "2027-01-15", deal_id="D-1", **fields)
    with pytest.raises(InputError, match="where the open deal D-1 stands; move it"):
        ledger.admit("ledger_configured", "2026-02-01", stages=KEEPS_NO_DEMO)
    ledger.admit("ledger_configured", "2027-02-01", stages=KEEPS_NO_DEMO)  # after it left


def test_retracting_the_pipeline_that_allowed_a_visit_strands_it_even_once_it_moved_on(
    ledger: Ledger,
) -> None:
    ledger.admit("ledger_configured", "2026-01-01", stages=KEEPS_NO_DEMO)
    with_demo = ledger.admit("ledger_configured", "2026-03-01")
    open_deal(ledger, "D-1", when="2026-03-05")  # in demo, which only `with_demo` has
    ledger.admit("stage_changed", "2026-03-09", deal_id="D-1", stage="negotiation")
    # Without `with_demo`, the pipeline from January on has no demo: D-1 stood there in March.
    with pytest.raises(InputError, match="bring back a pipeline without the stage demo"):
        ledger.admit("event_retracted", "2026-03-10", retracts=with_demo.event_id, reason="x")


def test_no_retraction_strands_a_deal_either(ledger: Ledger) -> None:
    open_deal(ledger, "D-1")
    moved = ledger.admit("stage_changed", "2026-01-20", deal_id="D-1", stage="negotiation")
    open_deal(ledger, "D-2", "A-2")
    lost = ledger.admit("deal_lost", "2026-01-21", deal_id="D-2")
    without_demo = ledger.admit("ledger_configured", "2026-02-01", stages=KEEPS_NO_DEMO)
    # The event that moved D-1 out of demo, and the loss that closed D-2 there.
    for event, deal in ((moved, "D-1"), (lost, "D-2")):
        with pytest.raises(
            InputError, match=f"would leave the open deal {deal} in the stage demo, which the"
        ):
            ledger.admit("event_retracted", "2026-03-01", retracts=event.event_id, reason="x")
    # A configuration that brought demo back, once a deal stands in demo again.
    with_demo = ledger.admit("ledger_configured", "2026-03-01")
    ledger.admit("stage_changed", "2026-03-05", deal_id="D-1", stage="demo")
    with pytest.raises(
        InputError,
        match="retracting that ledger_configured would bring back a pipeline without the stage "
        "demo, where the open deal D-1 stands",
    ):
        ledger.admit("event_retracted", "2026-03-10", retracts=with_demo.event_id, reason="x")
    # Retracting the configuration that had dropped demo strands nothing.
    ledger.admit("event_retracted", "2026-03-10", retracts=without_demo.event_id, reason="x")


def test_a_backdated_pipeline_keeps_the_stages_deals_stand_in_from_its_own_effective_time(
    ledger: Ledger,
) -> None:
    """A configuration effective before the one in force is held to every stage it lacks, also
    one the pipeline in force had dropped already: D-1 stood in demo until April."""
    open_deal(ledger, "D-1")  # in demo from January
    ledger.admit("deal_lost", "2026-04-01", deal_id="D-1")
    ledger.admit("ledger_configured", "2026-06-01", stages=KEEPS_NO_DEMO)
    with pytest.raises(InputError, match="drops the stage demo, where the open deal D-1 stands"):
        ledger.admit(
            "ledger_configured", "2026-03-01", stages=KEEPS_NO_DEMO, timezone="Europe/Berlin"
        )
    ledger.admit("ledger_configured", "2026-05-01", stages=KEEPS_NO_DEMO, timezone="Europe/Berlin")


def test_retracting_a_pipeline_brings_back_an_earlier_one_held_to_every_stage_it_lacks(
    ledger: Ledger,
) -> None:
    """The pipeline in force again after a retraction is held to the stages deals stand in from
    its own effective time on, also those the retracted one lacked too."""
    open_deal(ledger, "D-1")  # in demo from January
    moved = ledger.admit("stage_changed", "2026-02-01", deal_id="D-1", stage="negotiation")
    ledger.admit("deal_lost", "2026-04-01", deal_id="D-1")
    ledger.admit("ledger_configured", "2026-03-01", stages=KEEPS_NO_DEMO)
    with_pilot = [*KEEPS_NO_DEMO, {"name": "pilot", "probability": "0.5"}]
    later = ledger.admit("ledger_configured", "2026-06-01", stages=with_pilot)
    # From June on (the pipeline in force) D-1 is lost: without its move it stood in demo
    # from January to its loss in April.
    ledger.admit("event_retracted", "2026-06-02", retracts=moved.event_id, reason="x")
    with pytest.raises(
        InputError,
        match="retracting that ledger_configured would bring back a pipeline without the stage "
        "demo, where the open deal D-1 stands",
    ):
        ledger.admit("event_retracted", "2026-06-03", retracts=later.event_id, reason="x")


def test_a_reconfigured_pipeline_is_the_one_in_force(ledger: Ledger) -> None:
    stages = [
        {"name": "pilot", "probability": "0.5"},
        {"name": "contracting", "probability": "0.9"},
    ]
    ledger.admit("ledger_configured", "2026-01-01", stages=stages)
    ledger.admit(
        "deal_opened",
        "2026-01-05",
        deal_id="D-1",
        account_id="A-1",
        stage="pilot",
        amount="1",
        expected_close="2026-09-30",
    )
    with pytest.raises(InputError, match="is not a stage"):
        ledger.admit("stage_changed", "2026-02-01", deal_id="D-1", stage="demo")


def test_a_deal_is_opened_once(ledger: Ledger) -> None:
    open_deal(ledger)
    with pytest.raises(InputError, match="deal D-1 already exists"):
        open_deal(ledger, when="2026-02-01")


def test_closed_deals_do_not_move_until_reopened(ledger: Ledger) -> None:
    open_deal(ledger)
    ledger.admit("deal_lost", "2026-02-01", deal_id="D-1", reason="went with a competitor")
    with pytest.raises(InputError, match="deal D-1 is lost; record deal_reopened"):
        ledger.admit("stage_changed", "2026-03-01", deal_id="D-1", stage="negotiation")
    with pytest.raises(InputError, match="deal D-1 is lost; record deal_reopened before signing"):
        ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="1")
    ledger.admit("deal_reopened", "2026-03-01", deal_id="D-1", stage="discovery")
    ledger.admit("stage_changed", "2026-04-01", deal_id="D-1", stage="negotiation")
    ledger.admit("contract_signed", "2026-05-01", deal_id="D-1", arr="90000")
    with pytest.raises(InputError, match="deal D-1 is already won"):
        ledger.admit("stage_changed", "2026-06-01", deal_id="D-1", stage="demo")
    with pytest.raises(InputError, match="only a lost deal can reopen"):
        ledger.admit("deal_reopened", "2026-06-01", deal_id="D-1", stage="demo")


def test_rules_are_judged_in_business_order_not_recording_order(ledger: Ledger) -> None:
    open_deal(ledger)
    ledger.admit("stage_changed", "2026-03-01", deal_id="D-1", stage="negotiation")
    # A loss backdated before the stage change would make that change invalid.
    with pytest.raises(InputError, match=r"would make the later stage_changed \(seq 3"):
        ledger.admit("deal_lost", "2026-02-01", deal_id="D-1")
    # A loss after it is fine, and so is a backdated stage change before it.
    ledger.admit("deal_lost", "2026-04-01", deal_id="D-1")
    ledger.admit("stage_changed", "2026-02-01", deal_id="D-1", stage="security_review")


def test_a_deal_event_before_the_deal_was_opened_is_rejected(ledger: Ledger) -> None:
    open_deal(ledger, when="2026-03-01")
    with pytest.raises(InputError, match="deal D-1 does not exist on 2026-02-01"):
        ledger.admit("persona_engaged", "2026-02-01", deal_id="D-1", persona="cmio")


def test_a_contract_for_a_never_opened_deal_names_its_account(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="must name its account_id"):
        ledger.admit("contract_signed", "2026-03-01", deal_id="D-9", arr="1000")
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-9", account_id="A-9", arr="1000")
    ledger.admit("go_live", "2026-03-15", account_id="A-9", deal_id="D-9")


def test_a_contract_is_signed_for_the_account_the_deal_belongs_to(ledger: Ledger) -> None:
    open_deal(ledger)
    with pytest.raises(InputError, match="deal D-1 belongs to account A-1, not A-2"):
        ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", account_id="A-2", arr="1")
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", account_id="A-1", arr="1000")


def test_a_stage_change_moves_the_deal_to_another_stage(ledger: Ledger) -> None:
    open_deal(ledger)
    with pytest.raises(InputError, match="deal D-1 is already in stage demo"):
        ledger.admit("stage_changed", "2026-02-01", deal_id="D-1", stage="demo")
    ledger.admit("stage_changed", "2026-02-01", deal_id="D-1", stage="negotiation")
    with pytest.raises(InputError, match="deal D-1 is already in stage negotiation"):
        ledger.admit("stage_changed", "2026-03-01", deal_id="D-1", stage="negotiation")


def test_go_live_needs_a_contract_signed_on_or_before_it(ledger: Ledger) -> None:
    open_deal(ledger)
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="100000")
    with pytest.raises(InputError, match="no contract signed for account A-1 on or before"):
        ledger.admit("go_live", "2026-02-01", account_id="A-1", deal_id="D-9")
    with pytest.raises(
        InputError,
        match=r"^the contract of deal D-1 is signed on 2026-03-01, after this go-live on "
        r"2026-02-01; a go-live comes at or after its contract's signature\.$",
    ):
        ledger.admit("go_live", "2026-02-01", account_id="A-1", deal_id="D-1")
    with pytest.raises(InputError, match="deal D-1 belongs to account A-1, not A-2"):
        ledger.admit("go_live", "2026-04-01", account_id="A-2", deal_id="D-1")
    ledger.admit("go_live", "2026-04-01", account_id="A-1", deal_id="D-1")
    with pytest.raises(InputError, match="deal D-1 is already live"):
        ledger.admit("go_live", "2026-05-01", account_id="A-1", deal_id="D-1")


def test_arr_changes_need_a_customer_and_never_go_below_zero(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="account A-1 has no live ARR"):
        ledger.admit("expansion", "2026-05-01", account_id="A-1", arr="10")
    with pytest.raises(InputError, match="only a customer can churn"):
        ledger.admit("churn", "2026-05-01", account_id="A-1")
    live_customer(ledger)
    with pytest.raises(InputError, match="exceeds account A-1's live ARR of 100000"):
        ledger.admit("contraction", "2026-05-01", account_id="A-1", arr="100000.01")
    with pytest.raises(InputError, match="has no live ARR on 2026-03-15"):
        ledger.admit("expansion", "2026-03-15", account_id="A-1", arr="10")


def test_a_live_free_pilot_is_no_customer_to_churn_and_is_not_called_unsigned(
    ledger: Ledger,
) -> None:
    open_deal(ledger)
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="0")
    ledger.admit("go_live", "2026-04-01", account_id="A-1", deal_id="D-1")
    with pytest.raises(InputError) as err:
        ledger.admit("churn", "2026-05-01", account_id="A-1")
    assert str(err.value).endswith(
        "account A-1 has no ARR on 2026-05-01 (none live, and no contract awaiting go-live); "
        "only a customer can churn."
    )


def test_a_churn_notice_is_judged_at_its_effective_date(ledger: Ledger) -> None:
    live_customer(ledger)
    ledger.admit("churn", "2027-03-31", account_id="A-1", reason="notice given")
    ledger.admit("expansion", "2026-12-01", account_id="A-1", arr="5000")
    with pytest.raises(InputError, match="has no live ARR on 2027-04-15"):
        ledger.admit("expansion", "2027-04-15", account_id="A-1", arr="5000")


def test_a_backdated_churn_cannot_strand_later_expansions(ledger: Ledger) -> None:
    live_customer(ledger)
    ledger.admit("expansion", "2026-06-01", account_id="A-1", arr="5000")
    with pytest.raises(InputError, match=r"would make the later expansion"):
        ledger.admit("churn", "2026-05-01", account_id="A-1")


def test_retractions(ledger: Ledger) -> None:
    live_customer(ledger)
    exp = ledger.admit("expansion", "2026-06-01", account_id="A-1", arr="5000")
    signed = next(f for f in ledger.facts if f.view.type == "contract_signed")
    with pytest.raises(InputError, match=f"there is no event {uuid.UUID(int=7)}"):
        ledger.admit("event_retracted", "2026-07-01", retracts=str(uuid.UUID(int=7)), reason="x")
    with pytest.raises(InputError, match=r"would leave the later go_live .* without|go_live"):
        ledger.admit("event_retracted", "2026-07-01", retracts=signed.event_id, reason="typo")
    r = ledger.admit("event_retracted", "2026-07-01", retracts=exp.event_id, reason="typo")
    with pytest.raises(InputError, match="is already retracted"):
        ledger.admit("event_retracted", "2026-07-02", retracts=exp.event_id, reason="again")
    with pytest.raises(InputError, match="a retraction cannot be retracted"):
        ledger.admit("event_retracted", "2026-07-02", retracts=r.event_id, reason="undo")
    # With the expansion gone, a contraction of the whole original ARR is allowed again.
    ledger.admit("contraction", "2026-08-01", account_id="A-1", arr="100000")


def test_a_refused_retraction_names_what_stands_on_it_latest_first(ledger: Ledger) -> None:
    # A contract typed with an extra zero, already live, expanded, and a churn notice since: to
    # sign it again for the right ARR, everything that stands on it goes first.
    open_deal(ledger)
    signed = ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="1000000")
    live = ledger.admit("go_live", "2026-04-01", account_id="A-1", deal_id="D-1")
    # Recorded before the expansion, effective after it: "latest" is in business order.
    churn = ledger.admit("churn", "2026-12-31", account_id="A-1", reason="notice")
    grown = ledger.admit("expansion", "2026-06-01", account_id="A-1", arr="5000")
    ledger.admit("persona_engaged", "2026-07-01", deal_id="D-1", persona="cfo")
    with pytest.raises(InputError) as refused:
        ledger.admit("event_retracted", "2026-12-01", retracts=signed.event_id, reason="typo")
    assert str(refused.value).endswith(
        "; retract what stands on it first, latest first: "
        f"the churn (seq {churn.seq}), the expansion (seq {grown.seq}) and the go_live "
        f"(seq {live.seq})."
    )
    # Following the advice works, and nothing else needed to go.
    for first in (churn, grown, live, signed):
        ledger.admit("event_retracted", "2026-12-01", retracts=first.event_id, reason="typo")
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="100000")


def test_a_refused_retraction_of_a_deal_opening_names_its_account_s_events_too(
    ledger: Ledger,
) -> None:
    # The contract stands on the opening, and the go-live (in the account's stream) on it.
    live_customer(ledger)
    opened = ledger.facts[1]
    with pytest.raises(InputError, match=r"first: the go_live \(seq 4\) and the contract_signed"):
        ledger.admit("event_retracted", "2026-12-01", retracts=opened.event_id, reason="typo")


def test_a_refused_retraction_names_what_stands_on_it_in_the_same_import(ledger: Ledger) -> None:
    # One book admits the whole import: its contract's fact has no account yet, its deal does.
    book = RuleBook(MemoryFacts(ledger.facts))
    lines = [
        ("deal_opened", "2026-01-05", {"deal_id": "D-1", "account_id": "A-1", "stage": "demo"}),
        ("contract_signed", "2026-03-01", {"deal_id": "D-1", "arr": "100"}),
        ("go_live", "2026-04-01", {"account_id": "A-1", "deal_id": "D-1"}),
    ]
    facts: list[Fact] = []
    for type_name, when, fields in lines:
        extra = (
            {"amount": "5", "expected_close": "2026-06-30"} if type_name == "deal_opened" else {}
        )
        event = build_event(type_name, {**fields, **extra})
        fact = Fact(parse_instant(when), len(facts) + 2, str(uuid.uuid4()), view_of(event))
        book.admit(fact, expected_version=None, where=None)
        facts.append(fact)
    undo = build_event("event_retracted", {"retracts": facts[0].event_id, "reason": "x"})
    with pytest.raises(InputError) as refused:
        book.admit(
            Fact(parse_instant("2026-05-01"), 5, str(uuid.uuid4()), view_of(undo)),
            expected_version=None,
            where=None,
        )
    assert str(refused.value).endswith(
        "latest first: the go_live (seq 4) and the contract_signed (seq 3)."
    )


def test_a_retraction_that_cannot_be_made_says_what_to_do_instead(ledger: Ledger) -> None:
    live_customer(ledger)
    go_live = ledger.facts[-1]
    undo = ledger.admit("event_retracted", "2026-05-01", retracts=go_live.event_id, reason="x")
    with pytest.raises(InputError) as twice:
        ledger.admit("event_retracted", "2026-05-02", retracts=go_live.event_id, reason="x")
    assert str(twice.value) == (
        f"the go_live (seq {go_live.seq}) is already retracted, so it no longer counts and there "
        "is nothing left to retract (`log` names its retraction)."
    )
    with pytest.raises(InputError) as back:
        ledger.admit("event_retracted", "2026-05-02", retracts=undo.event_id, reason="x")
    assert str(back.value) == (
        f"seq {undo.seq} is itself a retraction, and a retraction cannot be retracted; to make "
        f"the go_live (seq {go_live.seq}) count again, record it again."
    )
    with pytest.raises(InputError) as config:
        ledger.admit("event_retracted", "2026-05-02", retracts=ledger.facts[0].event_id, reason="x")
    assert str(config.value) == (
        "the ledger's only configuration cannot be retracted; to change its settings, record "
        "ledger_configured with the right ones (it replaces this one)."
    )


def test_the_only_configuration_cannot_be_retracted(ledger: Ledger) -> None:
    config = ledger.facts[0]
    with pytest.raises(InputError, match="only configuration cannot be retracted"):
        ledger.admit("event_retracted", "2026-01-02", retracts=config.event_id, reason="oops")


def test_expected_version_is_checked_per_stream(ledger: Ledger) -> None:
    open_deal(ledger)
    with pytest.raises(ConflictError, match="deal:D-1 is at version 1, not the expected 3"):
        ledger.admit(
            "stage_changed", "2026-02-01", expected_version=3, deal_id="D-1", stage="negotiation"
        )
    ledger.admit(
        "stage_changed", "2026-02-01", expected_version=1, deal_id="D-1", stage="negotiation"
    )
    # A new stream is at version 0.
    ledger.admit(
        "contract_signed", "2026-02-01", expected_version=0, deal_id="D-2", account_id="A-2", arr=1
    )


def test_a_book_that_sheds_forgets_the_streams_used_least_recently_and_reads_them_again() -> None:
    """A long batch sheds rule state between its chunks (`RuleBook.shed`): the streams used
    least recently are forgotten first, and one that is needed again is read from the source,
    which by then holds every event the book admitted, so the rules decide as before."""
    ledger = Ledger()
    source = MemoryFacts(ledger.facts)
    loaded: list[set[str]] = []
    read_deals = source.facts_for_deals

    def recording(deal_ids: Collection[str]) -> dict[str, list[Fact]]:
        loaded.append(set(deal_ids))
        return read_deals(deal_ids)

    source.facts_for_deals = recording  # type: ignore[method-assign]
    book = RuleBook(source)

    def admit(type_name: str, when: str, **fields: Any) -> Any:
        event = build_event(type_name, fields)
        fact = Fact(parse_instant(when), len(ledger.facts) + 1, str(uuid.uuid4()), view_of(event))
        placed = book.admit(fact, expected_version=None, where=None)
        ledger.facts.append(fact._replace(account_id=placed.account_id))
        return placed

    opening = {
        "account_id": "A-1",
        "stage": "demo",
        "amount": "1000",
        "expected_close": "2026-09-30",
    }
    for deal in ("D-1", "D-2", "D-3"):
        admit("deal_opened", "2026-01-05", deal_id=deal, **opening)
    admit("stage_changed", "2026-02-01", deal_id="D-1", stage="negotiation")
    assert book.facts_held == 4
    book.shed(2)
    assert book.facts_held == 2  # D-1's two facts: the stream used last
    loaded.clear()
    admit("stage_changed", "2026-03-01", deal_id="D-1", stage="demo")
    assert loaded == []
    assert (
        admit("stage_changed", "2026-02-01", deal_id="D-2", stage="negotiation").stream_version == 2
    )
    assert loaded == [{"D-2"}]
    with pytest.raises(InputError, match="deal D-3 already exists"):
        admit("deal_opened", "2026-01-06", deal_id="D-3", **opening)


def test_messages_name_the_day_in_the_ledgers_time_zone() -> None:
    # In Tokyo (UTC+9) the bare date 2026-01-12 starts at 2026-01-11T15:00Z: the message
    # names the day the user gave, not its UTC date.
    tokyo = Ledger()
    tokyo.admit("ledger_configured", "2020-01-02", timezone="Asia/Tokyo")
    with pytest.raises(InputError, match="account A-1 has no live ARR on 2026-01-12;"):
        tokyo.admit("expansion", "2026-01-11T15:00:00Z", account_id="A-1", arr="10")
    with pytest.raises(InputError, match=r"deal D-9 does not exist on 2026-01-12;"):
        tokyo.admit("persona_engaged", "2026-01-11T15:00:00Z", deal_id="D-9", persona="cfo")
    live_customer(tokyo)
    tokyo.admit("expansion", "2026-06-01", account_id="A-1", arr="5000")
    with pytest.raises(InputError, match=r"later expansion \(seq \d+, effective 2026-06-01\)"):
        tokyo.admit("churn", "2026-04-02", account_id="A-1")


def test_a_go_live_dated_the_day_its_contract_is_signed_later_names_both_times() -> None:
    """A date alone is the start of the day in the ledger's time zone, so a go-live given as
    the signing day comes before a signature later that day: the message says so, in the
    ledger's time zone, rather than "no contract on or before" that very day."""
    tokyo = Ledger()
    tokyo.admit("ledger_configured", "2020-01-02", timezone="Asia/Tokyo")
    open_deal(tokyo)
    tokyo.admit("contract_signed", "2026-03-01T15:30:00+09:00", deal_id="D-1", arr="1000")
    with pytest.raises(InputError) as refused:
        tokyo.admit("go_live", "2026-02-28T15:00:00Z", account_id="A-1", deal_id="D-1")
    assert str(refused.value) == (
        "the contract of deal D-1 is signed at 2026-03-01T15:30:00+09:00, after this go-live "
        "at 2026-03-01T00:00:00+09:00 (a date alone is the start of that day); a go-live comes "
        "at or after its contract's signature."
    )
    tokyo.admit("go_live", "2026-03-01T15:30:00+09:00", account_id="A-1", deal_id="D-1")


def test_messages_say_what_went_wrong_in_business_order(ledger: Ledger) -> None:
    live_customer(ledger)
    ledger.admit("contract_signed", "2026-05-01", deal_id="D-2", account_id="A-1", arr="500")
    ledger.admit("churn", "2026-06-01", account_id="A-1")
    with pytest.raises(InputError, match="the contract of deal D-2 ended with the churn"):
        ledger.admit("go_live", "2026-07-01", account_id="A-1", deal_id="D-2")
    with pytest.raises(InputError, match="deal D-1 is already won"):
        ledger.admit("deal_lost", "2026-07-01", deal_id="D-1")
    open_deal(ledger, "D-3", "A-3", when="2026-03-01")
    ledger.admit("deal_lost", "2026-04-01", deal_id="D-3")
    with pytest.raises(InputError, match=r"^deal D-3 is already lost\.$"):
        ledger.admit("deal_lost", "2026-05-01", deal_id="D-3")
    open_deal(ledger, "D-4", "A-4", when="2026-03-01")
    with pytest.raises(
        InputError,
        match=r"would make the later deal_opened .* deal D-4 has a contract_signed effective "
        r"before its deal_opened",
    ):
        ledger.admit("contract_signed", "2026-02-01", deal_id="D-4", account_id="A-4", arr="9")


def test_a_rule_book_is_freed_as_soon_as_it_is_dropped(ledger: Ledger) -> None:
    """No reference cycle runs through a book's state: a large import's rule state goes when
    the import ends, not at the cyclic garbage collector's next full pass (at exit, 0.2 s)."""
    live_customer(ledger)
    book = RuleBook(MemoryFacts(ledger.facts))
    fact = Fact(parse_instant("2026-07-01"), 99, str(uuid.uuid4()), view_of(build_event(
        "expansion", {"account_id": "A-1", "arr": "10"})))  # fmt: skip
    book.admit(fact, expected_version=None, where=None)
    gone = weakref.ref(book)
    gc.disable()
    try:
        del book
        assert gone() is None
    finally:
        gc.enable()


def test_a_deal_is_signed_once(ledger: Ledger) -> None:
    open_deal(ledger)
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="100000")
    with pytest.raises(InputError, match=r"^deal D-1 is already signed\.$"):
        ledger.admit("contract_signed", "2026-04-01", deal_id="D-1", arr="120000")
    # Backdated before the signature, a second one is refused all the same.
    with pytest.raises(InputError, match="deal D-1 is already signed"):
        ledger.admit("contract_signed", "2026-02-01", deal_id="D-1", arr="120000")


def test_a_reopened_deal_stands_in_the_stage_it_reopened_in(ledger: Ledger) -> None:
    open_deal(ledger)  # in demo
    ledger.admit("deal_lost", "2026-02-01", deal_id="D-1")
    ledger.admit("deal_reopened", "2026-03-01", deal_id="D-1", stage="discovery")
    with pytest.raises(InputError, match="deal D-1 is already in stage discovery"):
        ledger.admit("stage_changed", "2026-04-01", deal_id="D-1", stage="discovery")
    # From March on it stands in discovery, not demo: a pipeline without demo strands nothing,
    # one without discovery strands it.
    no_discovery = [{"name": "demo", "probability": "0.3"}]
    with pytest.raises(InputError, match="drops the stage discovery, where the open deal D-1"):
        ledger.admit("ledger_configured", "2026-05-01", stages=no_discovery)
    ledger.admit(
        "ledger_configured", "2026-05-01", stages=[{"name": "discovery", "probability": "0.2"}]
    )


def test_a_deal_signed_without_being_opened_is_won_not_unopened(ledger: Ledger) -> None:
    """A contract may be the first event of a deal (history from before the ledger): the deal
    is then won, and a move or a loss is refused for that reason."""
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-9", account_id="A-9", arr="1000")
    moves: list[tuple[str, dict[str, Any]]] = [
        ("stage_changed", {"stage": "demo"}),
        ("deal_lost", {}),
    ]
    for type_name, fields in moves:
        with pytest.raises(InputError, match=r"^deal D-9 is already won, so you cannot"):
            ledger.admit(type_name, "2026-04-01", deal_id="D-9", **fields)
    with pytest.raises(InputError, match=r"^deal D-9 was never opened"):
        ledger.admit("stage_changed", "2026-02-01", deal_id="D-9", stage="demo")


def test_live_arr_adds_up_the_contracts_gone_live_and_the_changes_since(ledger: Ledger) -> None:
    live_customer(ledger)  # D-1: 100000 live from April
    ledger.admit("contract_signed", "2026-04-10", deal_id="D-2", account_id="A-1", arr="50000")
    ledger.admit("go_live", "2026-05-01", account_id="A-1", deal_id="D-2")
    ledger.admit("contraction", "2026-06-01", account_id="A-1", arr="120000")  # of 150000
    with pytest.raises(InputError, match="exceeds account A-1's live ARR of 30000 on 2026-07-01"):
        ledger.admit("contraction", "2026-07-01", account_id="A-1", arr="30000.01")
    ledger.admit("expansion", "2026-07-01", account_id="A-1", arr="5000")
    ledger.admit("contraction", "2026-08-01", account_id="A-1", arr="35000")  # to zero
    with pytest.raises(InputError, match="account A-1 has no live ARR on 2026-09-01"):
        ledger.admit("expansion", "2026-09-01", account_id="A-1", arr="10")


def test_a_churn_ends_the_contracts_awaiting_go_live_so_a_second_churn_is_refused(
    ledger: Ledger,
) -> None:
    open_deal(ledger)
    ledger.admit("contract_signed", "2026-03-01", deal_id="D-1", arr="100000")
    ledger.admit("churn", "2026-03-15", account_id="A-1", reason="cancelled before go-live")
    with pytest.raises(InputError, match=r"account A-1 has no ARR on 2026-04-01 .*only a customer"):
        ledger.admit("churn", "2026-04-01", account_id="A-1", reason="again")


def test_a_book_admitting_event_by_event_reads_each_stream_it_needs() -> None:
    """One book admits one event after another (as a warm store does): an event whose stream
    version it knows already may still need a stream or a target it has not read."""
    ledger = Ledger()
    live_customer(ledger)
    expansion = ledger.admit("expansion", "2026-05-01", account_id="A-1", arr="100")
    ledger.admit("contract_signed", "2026-05-01", deal_id="D-3", account_id="A-1", arr="7")
    book = RuleBook(MemoryFacts(ledger.facts))

    def admit(type_name: str, when: str, **fields: Any) -> None:
        event = build_event(type_name, fields)
        fact = Fact(parse_instant(when), len(ledger.facts) + 1, str(uuid.uuid4()), view_of(event))
        placed = book.admit(fact, expected_version=None, where=None)
        ledger.facts.append(fact._replace(account_id=placed.account_id))

    admit("quota_set", "2026-05-02", period="2026-Q2", amount="1000")  # the ledger stream
    admit("event_retracted", "2026-05-03", retracts=expansion.event_id, reason="typo")
    admit("contract_signed", "2026-05-04", deal_id="D-2", account_id="A-2", arr="10")
    admit("expansion", "2026-05-05", account_id="A-1", arr="5")  # reads A-1, not deal D-3
    admit("go_live", "2026-05-07", account_id="A-1", deal_id="D-3")  # deal D-3 is read now
    assert book.retracted == {expansion.event_id}


def test_a_shed_book_holds_only_the_streams_it_keeps() -> None:
    """Shedding forgets the facts held by event id too: the size a warm store judges by."""
    ledger = Ledger()
    book = RuleBook(MemoryFacts(ledger.facts))
    for deal in ("D-1", "D-2"):
        event = build_event(
            "deal_opened",
            {"deal_id": deal, "account_id": "A-1", "stage": "demo", "amount": "1",
             "expected_close": "2026-09-30"},
        )  # fmt: skip
        fact = Fact(parse_instant("2026-01-05"), len(ledger.facts) + 1, deal, view_of(event))
        book.admit(fact, expected_version=None, where=None)
        ledger.facts.append(fact._replace(account_id="A-1"))
    assert book.size == 5  # 2 facts by id, streams D-1, D-2 and A-1
    book.shed(1)
    assert (book.size, book.facts_held) == (1, 1)  # D-2 alone, the deal used last


def test_a_refused_retraction_of_an_account_event_names_the_later_ones_standing_on_it(
    ledger: Ledger,
) -> None:
    live_customer(ledger)  # 100000 live from April
    grown = ledger.admit("expansion", "2026-05-01", account_id="A-1", arr="50000")
    cut = ledger.admit("contraction", "2026-06-01", account_id="A-1", arr="120000")
    with pytest.raises(InputError) as refused:
        ledger.admit("event_retracted", "2026-07-01", retracts=grown.event_id, reason="typo")
    assert str(refused.value) == (
        f"retracting that expansion (seq {grown.seq}) would leave the later contraction "
        f"(seq {cut.seq}) invalid: the contraction of 120000 exceeds account A-1's live ARR of "
        "100000 on 2026-06-01; retract what stands on it first, latest first: the contraction "
        f"(seq {cut.seq})."
    )
