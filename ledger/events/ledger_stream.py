"""Ledger events: configuration, quotas, forecast calls and retractions (stream `ledger`)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledger.events.base import LEDGER_STREAM, EventModel
from ledger.events.deal import ForecastCategory
from ledger.events.fields import (
    FreeText,
    Money,
    PositiveMoney,
    Probability,
    Slug,
    WholeNumber,
    stored,
)
from ledger.periods import PERIOD_EXAMPLE, period_label_problem
from ledger.timeutil import TimeParseError, iana_zone_name


def _period(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError(f"is not {PERIOD_EXAMPLE}")
    problem = None if stored(info) else period_label_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.strip()


_ISO_4217_TEXT = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ISO_4217_TEXT.split())
"""The currency codes of ISO 4217 (its list of current codes, funds and precious metals)."""


def _currency(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value.strip()):
        raise ValueError("must be a three-letter ISO 4217 code such as USD")
    code = value.strip()
    if code not in ISO_4217 and not stored(info):
        raise ValueError("is not an ISO 4217 currency code (such as USD, EUR or GBP)")
    return code


def _timezone(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an IANA time zone name such as America/New_York")
    if stored(info):
        # A name an earlier release stored reads back; whether this machine's time zone
        # database has it is asked where the ledger's days are read (`configs_in_force`).
        return value.strip()
    try:
        iana_zone_name(value.strip())
    except TimeParseError as exc:  # the message names the zone, which the field's names too
        raise ValueError(str(exc).removeprefix(f"'{value.strip()}' ")) from None
    return value.strip()


def _event_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        if re.fullmatch(r"[0-9]{1,30}", str(value).strip()):
            # `record event_retracted --retracts` takes a seq; an import line, read without the
            # ledger at hand (maybe by a worker process), names the event by its id.
            raise ValueError(
                "is a seq; an import line names the event it retracts by its event_id (a UUID), "
                "which `revledger log --format csv` gives beside each seq"
            ) from None
        raise ValueError("must be the event_id (a UUID) of an event in this ledger") from None


Period = Annotated[str, BeforeValidator(_period)]
Currency = Annotated[str, BeforeValidator(_currency)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]
EventId = Annotated[str, BeforeValidator(_event_id)]


class LedgerEvent(EventModel):
    """An event on the ledger's own stream."""

    family = "ledger"

    def stream_id(self) -> str:
        return LEDGER_STREAM


class StageSpec(BaseModel):
    """One stage of the pipeline: its name, win probability and default forecast category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Slug
    probability: Probability
    forecast_category: ForecastCategory = "pipeline"


DEFAULT_STAGES: tuple[StageSpec, ...] = tuple(
    StageSpec(name=n, probability=Decimal(p), forecast_category=c)
    for n, p, c in (
        ("qualification", "0.10", "pipeline"),
        ("discovery", "0.20", "pipeline"),
        ("demo", "0.30", "pipeline"),
        ("clinical_validation", "0.40", "best_case"),
        ("security_review", "0.55", "best_case"),
        ("legal_review", "0.70", "commit"),
        ("negotiation", "0.85", "commit"),
    )
)


class LedgerConfigured(LedgerEvent):
    """The ledger's currency, time zone, fiscal year and ordered pipeline stages."""

    type: Literal["ledger_configured"] = "ledger_configured"
    currency: Currency = "USD"
    timezone: TimeZoneName = "UTC"
    fiscal_year_start_month: WholeNumber = 1
    stages: tuple[StageSpec, ...] = DEFAULT_STAGES

    @field_validator("fiscal_year_start_month")
    @classmethod
    def _a_month(cls, month: int) -> int:
        if not 1 <= month <= 12:
            raise ValueError("must be a month from 1 to 12")
        return month

    @model_validator(mode="after")
    def _consistent(self) -> LedgerConfigured:
        if not self.stages:
            raise ValueError("stages must list at least one stage")
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stages names must be unique; repeated: {', '.join(dupes)}")
        return self

    def stage_names(self) -> tuple[str, ...]:
        """Return the pipeline's stage names in order."""
        return tuple(s.name for s in self.stages)


class QuotaSet(LedgerEvent):
    """The bookings quota (new ARR) for a period such as 2026-Q4."""

    type: Literal["quota_set"] = "quota_set"
    period: Period
    amount: PositiveMoney


class ForecastSubmitted(LedgerEvent):
    """A revenue leader's forecast call for a period."""

    type: Literal["forecast_submitted"] = "forecast_submitted"
    period: Period
    commit: Money
    best_case: Money
    note: FreeText | None = None

    @field_validator("best_case")
    @classmethod
    def _best_case_covers_commit(cls, best_case: Decimal, info: ValidationInfo) -> Decimal:
        commit = info.data.get("commit")
        if commit is not None and best_case < commit:
            raise ValueError(f"must not be below commit ({commit})")
        return best_case


class EventRetracted(LedgerEvent):
    """The event `retracts` no longer counts, from this event's recorded_at on."""

    type: Literal["event_retracted"] = "event_retracted"
    retracts: EventId
    reason: FreeText


LEDGER_EVENTS: tuple[type[LedgerEvent], ...] = (
    LedgerConfigured,
    QuotaSet,
    ForecastSubmitted,
    EventRetracted,
)

__all__ = [
    "DEFAULT_STAGES",
    "LEDGER_EVENTS",
    "EventRetracted",
    "ForecastSubmitted",
    "LedgerConfigured",
    "LedgerEvent",
    "QuotaSet",
    "StageSpec",
]
