"""The comparison system: the same commercial events on the `eventsourcing` library.

Three aggregates (a deal, an account, the ledger) whose methods are decorated with `@event`, so
every method call triggers a typed domain event (a frozen dataclass). The import lines of
`bench.generate` are parsed with `json` and turned into aggregate method calls; amounts become
`Decimal` and dates `date`, so the stored and decoded events carry the same value types as
revledger's. There is no hash chain and no idempotency check, and the aggregates keep only the
state their events need (no domain rules): this is the library's ordinary application path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import JSONTranscoder, Transcoding

NAMESPACE = uuid.UUID("6f1c5a52-2a3e-4b7e-9d0c-1d2b3c4d5e6f")


def _id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{key}")


class DateAsISO(Transcoding):
    """Calendar dates as `YYYY-MM-DD` (the library registers datetimes, not dates)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Deal(Aggregate):
    """One opportunity, from opened to signed or lost."""

    @staticmethod
    def create_id(deal_id: str) -> uuid.UUID:
        return _id("deal", deal_id)

    @event("Opened")
    def __init__(
        self,
        deal_id: str,
        account_id: str | None,
        stage: str,
        amount: Decimal,
        expected_close: date | None,
        segment: str | None,
        channel: str | None,
        owner: str | None,
        personas: list[str],
        effective_at: str,
    ) -> None:
        self.deal_id = deal_id
        self.account_id = account_id
        self.stage = stage
        self.amount = amount
        self.status = "open"

    @event("StageChanged")
    def change_stage(self, stage: str, effective_at: str) -> None:
        self.stage = stage

    @event("Updated")
    def update(
        self,
        amount: Decimal | None,
        expected_close: date | None,
        forecast_category: str | None,
        probability: Decimal | None,
        owner: str | None,
        segment: str | None,
        effective_at: str,
    ) -> None:
        if amount is not None:
            self.amount = amount

    @event("PersonaEngaged")
    def engage(self, persona: str, effective_at: str) -> None:
        pass

    @event("SecurityReviewStarted")
    def start_review(self, framework: str, effective_at: str) -> None:
        pass

    @event("SecurityQuestionnaireCompleted")
    def complete_questionnaire(self, framework: str, effective_at: str) -> None:
        pass

    @event("ContractSigned")
    def sign(
        self,
        account_id: str | None,
        arr: Decimal,
        term_months: int,
        tcv: Decimal | None,
        baa_signed: bool,
        standard_terms: bool,
        effective_at: str,
    ) -> None:
        self.status = "won"

    @event("Lost")
    def lose(self, reason: str | None, effective_at: str) -> None:
        self.status = "lost"

    @event("Reopened")
    def reopen(self, stage: str, effective_at: str) -> None:
        self.status = "open"
        self.stage = stage


class Account(Aggregate):
    """One customer's live ARR."""

    @staticmethod
    def create_id(account_id: str) -> uuid.UUID:
        return _id("account", account_id)

    @event("Registered")
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.live = Decimal(0)

    @event("WentLive")
    def go_live(self, deal_id: str, effective_at: str) -> None:
        pass

    @event("Expanded")
    def expand(self, arr: Decimal, effective_at: str) -> None:
        self.live += arr

    @event("Contracted")
    def contract(self, arr: Decimal, effective_at: str) -> None:
        self.live -= arr

    @event("Churned")
    def churn(self, reason: str | None, effective_at: str) -> None:
        self.live = Decimal(0)


class Ledger(Aggregate):
    """The ledger's own stream: quotas and forecast calls."""

    @staticmethod
    def create_id(name: str) -> uuid.UUID:
        return _id("ledger", name)

    @event("Configured")
    def __init__(self, name: str, currency: str, timezone: str) -> None:
        self.name = name

    @event("QuotaSet")
    def set_quota(self, period: str, amount: Decimal, effective_at: str) -> None:
        pass

    @event("ForecastSubmitted")
    def submit_forecast(
        self, period: str, commit: Decimal, best_case: Decimal, note: str | None, effective_at: str
    ) -> None:
        pass


class RevenueApp(Application[uuid.UUID]):
    """The application: its repository, event store and notification log come from the library."""

    name = "revenue"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


class Commands:
    """Turns import lines into aggregate method calls, holding the aggregates it touched.

    `get` decides where an existing aggregate comes from: the in-memory map for a batch (its
    events are still pending), or the application's repository for one command at a time.
    """

    def __init__(self, app: RevenueApp, *, from_repository: bool) -> None:
        self.app = app
        self.from_repository = from_repository
        self.touched: dict[uuid.UUID, Aggregate] = {}
        self.ledger = Ledger(name="ledger", currency="USD", timezone="America/New_York")
        self.touched[self.ledger.id] = self.ledger

    def _get(self, aggregate_id: uuid.UUID) -> Any:
        if self.from_repository:
            return self.app.repository.get(aggregate_id)
        return self.touched[aggregate_id]

    def _deal(self, deal_id: str) -> Deal:
        deal: Deal = self._get(Deal.create_id(deal_id))
        self.touched[deal.id] = deal
        return deal

    def _account(self, account_id: str) -> Account:
        aid = Account.create_id(account_id)
        account: Account
        try:
            account = self._get(aid)
        except (KeyError, AggregateNotFoundError):
            # An account's first event creates it: one extra stored event per account.
            account = Account(account_id=account_id)
        self.touched[account.id] = account
        return account

    def _ledger(self) -> Ledger:
        if self.from_repository:
            self.ledger = self.app.repository.get(self.ledger.id)
        self.touched[self.ledger.id] = self.ledger
        return self.ledger

    def apply(self, obj: dict[str, Any]) -> Aggregate:
        """Apply one parsed import line; return the aggregate that holds its new event."""
        t = obj["type"]
        eff = obj["effective_at"]
        g = obj.get
        if t == "deal_opened":
            deal = Deal(
                deal_id=obj["deal_id"],
                account_id=obj["account_id"],
                stage=obj["stage"],
                amount=Decimal(str(obj["amount"])),
                expected_close=_day(g("expected_close")),
                segment=g("segment"),
                channel=g("channel"),
                owner=g("owner"),
                personas=list(g("personas") or ()),
                effective_at=eff,
            )
            self.touched[deal.id] = deal
            return deal
        handler = _HANDLERS.get(t)
        if handler is None:
            raise ValueError(f"unknown event type {t!r}")
        return handler(self, obj, eff)

    def pending(self) -> list[Aggregate]:
        """Return every aggregate touched (those without new events are saved as no-ops)."""
        return list(self.touched.values())


def _stage(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.change_stage(stage=o["stage"], effective_at=eff)
    return d


def _updated(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.update(
        amount=_dec(o.get("amount")),
        expected_close=_day(o.get("expected_close")),
        forecast_category=o.get("forecast_category"),
        probability=_dec(o.get("probability")),
        owner=o.get("owner"),
        segment=o.get("segment"),
        effective_at=eff,
    )
    return d


def _persona(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.engage(persona=o["persona"], effective_at=eff)
    return d


def _review(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.start_review(framework=o["framework"], effective_at=eff)
    return d


def _questionnaire(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.complete_questionnaire(framework=o["framework"], effective_at=eff)
    return d


def _signed(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.sign(
        account_id=o.get("account_id"),
        arr=Decimal(str(o["arr"])),
        term_months=int(o.get("term_months", 12)),
        tcv=_dec(o.get("tcv")),
        baa_signed=bool(o.get("baa_signed", False)),
        standard_terms=bool(o.get("standard_terms", False)),
        effective_at=eff,
    )
    return d


def _lost(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.lose(reason=o.get("reason"), effective_at=eff)
    return d


def _reopened(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    d = c._deal(o["deal_id"])
    d.reopen(stage=o["stage"], effective_at=eff)
    return d


def _go_live(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    a = c._account(o["account_id"])
    a.go_live(deal_id=o["deal_id"], effective_at=eff)
    return a


def _expansion(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    a = c._account(o["account_id"])
    a.expand(arr=Decimal(str(o["arr"])), effective_at=eff)
    return a


def _contraction(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    a = c._account(o["account_id"])
    a.contract(arr=Decimal(str(o["arr"])), effective_at=eff)
    return a


def _churn(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    a = c._account(o["account_id"])
    a.churn(reason=o.get("reason"), effective_at=eff)
    return a


def _quota(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    ledger = c._ledger()
    ledger.set_quota(period=o["period"], amount=Decimal(str(o["amount"])), effective_at=eff)
    return ledger


def _forecast(c: Commands, o: dict[str, Any], eff: str) -> Aggregate:
    ledger = c._ledger()
    ledger.submit_forecast(
        period=o["period"],
        commit=Decimal(str(o["commit"])),
        best_case=Decimal(str(o["best_case"])),
        note=o.get("note"),
        effective_at=eff,
    )
    return ledger


_HANDLERS: dict[str, Callable[[Commands, dict[str, Any], str], Aggregate]] = {
    "stage_changed": _stage,
    "deal_updated": _updated,
    "persona_engaged": _persona,
    "security_review_started": _review,
    "security_questionnaire_completed": _questionnaire,
    "contract_signed": _signed,
    "deal_lost": _lost,
    "deal_reopened": _reopened,
    "go_live": _go_live,
    "expansion": _expansion,
    "contraction": _contraction,
    "churn": _churn,
    "quota_set": _quota,
    "forecast_submitted": _forecast,
}


def parse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Yield the JSON object of every non-blank line."""
    for line in lines:
        if line.strip():
            yield json.loads(line)


SAVE_EVENTS = 10_000
"""Events per `save` call of a batch import.

One call for all 100,000 events hung on PostgreSQL: the library inserts them in one psycopg
pipeline, which stalled with the server waiting for input (cf. psycopg issue #685).
"""


def import_batch(
    app: RevenueApp, commands: Commands, lines: Iterable[str], per_save: int = SAVE_EVENTS
) -> int:
    """Parse `lines`, apply them to aggregates, and save the new events `per_save` at a time.

    Each `save` call records every aggregate with new events in one transaction.
    """
    n = 0
    dirty: dict[uuid.UUID, Aggregate] = {}
    for obj in parse(lines):
        aggregate = commands.apply(obj)
        dirty[aggregate.id] = aggregate
        n += 1
        if n % per_save == 0:
            app.save(*dirty.values())
            dirty.clear()
    app.save(*dirty.values())
    return n


def append_one(app: RevenueApp, commands: Commands, obj: dict[str, Any]) -> None:
    """Handle one command: load its aggregate from the repository, trigger, save."""
    app.save(commands.apply(obj))
    commands.touched.clear()


def read_all(app: RevenueApp, page: int = 10_000) -> int:
    """Read every stored event back in log order, decoded into its domain event class."""
    to_event: Callable[[Any], DomainEventProtocol[Any]] = app.mapper.to_domain_event
    n = 0
    start = 1
    while True:
        notes = app.recorder.select_notifications(start=start, limit=page)
        if not notes:
            return n
        for note in notes:
            to_event(note)
        n += len(notes)
        start = notes[-1].id + 1


__all__ = ["Account", "Commands", "Deal", "Ledger", "RevenueApp", "datetime", "import_batch"]
