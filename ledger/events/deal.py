"""Deal events: the pipeline life of one opportunity (stream `deal:<deal_id>`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationInfo, field_validator, model_validator

from ledger.events.base import EventModel
from ledger.events.fields import (
    CalendarDate,
    Channel,
    Flag,
    FreeText,
    Identifier,
    Money,
    Probability,
    Slug,
    WholeNumber,
    stored,
)

ForecastCategory = Literal["pipeline", "best_case", "commit", "omitted"]
SecurityFramework = Literal["hitrust", "soc2", "hecvat", "custom"]


class DealEvent(EventModel):
    """An event on the stream of one deal."""

    family = "deal"
    deal_id: Identifier

    def stream_id(self) -> str:
        return f"deal:{self.deal_id}"


class DealOpened(DealEvent):
    """A new opportunity enters the pipeline at `stage` with an expected ARR `amount`."""

    type: Literal["deal_opened"] = "deal_opened"
    account_id: Identifier
    stage: Slug
    amount: Money
    expected_close: CalendarDate
    segment: Slug | None = None
    channel: Channel | None = None
    owner: Identifier | None = None
    personas: tuple[Slug, ...] = ()

    @field_validator("personas")
    @classmethod
    def _each_persona_once(cls, personas: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not stored(info):
            twice = next((p for i, p in enumerate(personas) if p in personas[:i]), None)
            if twice is not None:
                raise ValueError(f"lists the persona {twice!r} twice")
        return personas


class StageChanged(DealEvent):
    """The deal moved to `stage` (forward or backward in the configured pipeline)."""

    type: Literal["stage_changed"] = "stage_changed"
    stage: Slug


class DealUpdated(DealEvent):
    """Forecast-relevant attributes of a deal changed; at least one is given.

    A closed deal takes one too (CRM histories edit closed opportunities); it stays closed.
    """

    type: Literal["deal_updated"] = "deal_updated"
    amount: Money | None = None
    expected_close: CalendarDate | None = None
    forecast_category: ForecastCategory | None = None
    probability: Probability | None = None
    owner: Identifier | None = None
    segment: Slug | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> DealUpdated:
        fields = ("amount", "expected_close", "forecast_category", "probability", "owner")
        if all(getattr(self, f) is None for f in (*fields, "segment")):
            raise ValueError(
                "deal_updated needs at least one of amount, expected_close, forecast_category, "
                "probability, owner, segment"
            )
        return self


class PersonaEngaged(DealEvent):
    """A buyer persona (e.g. `cmio`, `it_security`) joined the buying committee."""

    type: Literal["persona_engaged"] = "persona_engaged"
    persona: Slug


class SecurityReviewStarted(DealEvent):
    """The buyer's security review started under `framework`."""

    type: Literal["security_review_started"] = "security_review_started"
    framework: SecurityFramework


class SecurityQuestionnaireCompleted(DealEvent):
    """The security questionnaire under `framework` was completed."""

    type: Literal["security_questionnaire_completed"] = "security_questionnaire_completed"
    framework: SecurityFramework


class ContractSigned(DealEvent):
    """The deal is won: a contract for `arr` is signed; it stays pending until its go-live.

    `arr` may be 0 (a free pilot): the deal counts as won, and its contract adds no ARR."""

    type: Literal["contract_signed"] = "contract_signed"
    account_id: Identifier | None = None
    arr: Money
    term_months: WholeNumber = 12
    tcv: Money | None = None
    baa_signed: Flag = False
    standard_terms: Flag = False

    @field_validator("term_months")
    @classmethod
    def _term_is_plausible(cls, term_months: int) -> int:
        if not 1 <= term_months <= 120:
            raise ValueError("must be between 1 and 120")
        return term_months


class DealLost(DealEvent):
    """The deal is lost."""

    type: Literal["deal_lost"] = "deal_lost"
    reason: FreeText | None = None


class DealReopened(DealEvent):
    """A lost deal returns to the pipeline at `stage`."""

    type: Literal["deal_reopened"] = "deal_reopened"
    stage: Slug


DEAL_EVENTS: tuple[type[DealEvent], ...] = (
    DealOpened,
    StageChanged,
    DealUpdated,
    PersonaEngaged,
    SecurityReviewStarted,
    SecurityQuestionnaireCompleted,
    ContractSigned,
    DealLost,
    DealReopened,
)

__all__ = [
    "DEAL_EVENTS",
    "ContractSigned",
    "DealEvent",
    "DealLost",
    "DealOpened",
    "DealReopened",
    "DealUpdated",
    "ForecastCategory",
    "PersonaEngaged",
    "SecurityFramework",
    "SecurityQuestionnaireCompleted",
    "SecurityReviewStarted",
    "StageChanged",
]
