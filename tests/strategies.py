"""Hypothesis strategies that generate random, valid ledger histories as JSON import lines.

`ledgers()` draws a `GeneratedLedger`: a list of import-line dicts (ready for `json.dumps`)
that a fresh ledger accepts in full, in one batch or split into several. The first line
configures the ledger (default or custom pipeline, a time zone); the others cover the whole
catalog: deals opened, moved forward and backward, updated, lost, reopened and won (with or
without a prior `deal_opened`), buyer personas, security reviews, go-lives, expansions,
contractions, churn and re-signing after churn, quotas, forecast calls, reconfigurations, and
retractions of earlier events.

How validity is kept. The rules (`ledger.rules`) are judged per stream in business order
`(effective_at, seq)`, and the log is appended in line order, so every prefix of the lines must
be valid in business order. The generator keeps a small model of the rule state and one clock
per *entity*: each deal (its stream), and each account (its stream plus the contracts signed
for it). A new event of an entity is effective at or after that entity's clock, so within an
entity line order equals business order and the model can apply events as it emits them.
Entities are independent in valid time: a new deal or account starts anywhere in the horizon,
so many events are backdated relative to events generated before them (`backdated` counts
them), and equal instants occur, so ties are broken by seq.

Retractions. The model keeps each entity's events in line order and replays them (without
the retracted ones) through its own account of the rules (`_DealRules`, `_AccountRules`, written
here, not taken from `ledger.rules`, which is what the histories test). Any event whose absence
the replay of its streams accepts may be retracted: a signature (once its go-live is retracted
too), a go-live no expansion needs, a churn, an opening, a stage change, a loss, a reopening,
and the events that change no rule state (personas, security reviews, deal updates, quotas,
forecasts, a configuration other than the last in force). After a retraction the entity's state
is replayed, so the end state the model reports (`deals`, `accounts`) is that of the history
with every retraction applied; `retractable` and `unretractable` say which of the remaining
events a further retraction could name, and which the rules must refuse to retract.

Every event carries an explicit `event_id` (a UUID, sometimes written in upper case), so
retractions can name their target. No two events share their content (type, effective_at and
payload), so each line's derived idempotency key is its own.

`new_events()` parses the lines the way `revledger import` does.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import strategies as st

from ledger.envelope import NewEvent
from ledger.jsonl import ImportParser
from ledger.timeutil import start_of_day, zone

Line = dict[str, Any]
"""One import line: `type`, `effective_at`, `event_id` and the payload fields."""

T = TypeVar("T")

DEFAULT_STAGE_NAMES: tuple[str, ...] = (
    "qualification",
    "discovery",
    "demo",
    "clinical_validation",
    "security_review",
    "legal_review",
    "negotiation",
)
CUSTOM_STAGE_POOL: tuple[str, ...] = (
    "lead",
    "intro_call",
    "pilot",
    "value_case",
    "procurement",
    "redlines",
    "board_approval",
)
PERSONAS: tuple[str, ...] = (
    "cmio",
    "cfo",
    "cio",
    "it_security",
    "legal",
    "procurement",
    "clinical_champion",
)
SEGMENTS: tuple[str, ...] = ("health_system", "payer", "physician_group", "life_sciences")
CHANNELS: tuple[str, ...] = ("direct", "partner:epic", "partner:oracle_health")
FRAMEWORKS: tuple[str, ...] = ("hitrust", "soc2", "hecvat", "custom")
FORECAST_CATEGORIES: tuple[str, ...] = ("pipeline", "best_case", "commit", "omitted")
OWNERS: tuple[str, ...] = ("ana.ruiz", "Zoë Kowalski", "rep-17", "北村 健")
REASONS: tuple[str, ...] = (
    "chose a competitor",
    "budget frozen until next fiscal year",
    "recorded against the wrong deal",
    "duplicate of a CRM entry",
    "clinical leadership changed",
)
TIMEZONES: tuple[str, ...] = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata")
CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP")
OFFSETS: tuple[timedelta, ...] = tuple(timedelta(minutes=m) for m in (0, -300, -480, 60, 330, 540))

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
"""Valid time of generated histories starts here…"""
HORIZON_DAYS = 3 * 365
"""…and a new deal, account or ledger event lands anywhere in this many days after it."""
STEP_DAYS = 60
QUARTER_STARTS: tuple[date, ...] = tuple(
    date(2023 + q // 4, 3 * (q % 4) + 1, 1) for q in range(1, 17)
)
"""The first days of the quarters after the first of the horizon, through 2027-Q1."""
"""An entity's next event is at most this many days (plus a day) after its previous one."""


# -- the generated history ---------------------------------------------------------------------
@dataclass(frozen=True)
class DealOutcome:
    """A deal at the end of the history (in business order, all retractions applied)."""

    deal_id: str
    account_id: str
    opened: bool
    status: str
    """`open`, `won` or `lost`."""
    stage: str | None


@dataclass(frozen=True)
class AccountOutcome:
    """An account at the end of the history (in business order, all retractions applied)."""

    account_id: str
    live: Decimal
    pending: Mapping[str, Decimal]
    """ARR of contracts signed and not yet live, by deal."""
    churned: bool
    reactivated: bool
    """A contract was signed for the account after it churned."""


@dataclass(frozen=True)
class GeneratedLedger:
    """A valid history as import lines, and what the model knows about its end state."""

    lines: list[Line]
    timezone: str
    """The time zone in which the first line's bare dates are read."""
    stage_names: tuple[str, ...]
    deals: Mapping[str, DealOutcome]
    accounts: Mapping[str, AccountOutcome]
    retracted: frozenset[str]
    """Event ids named by the history's retractions."""
    retractable: frozenset[str]
    """Ids of the events a retraction appended after the history may name (the model's
    judgement: what remains of their streams stays valid)."""
    unretractable: frozenset[str]
    """Ids of the other events not retracted yet, other than retractions: the rules refuse a
    retraction of one (it would leave a later event of its stream invalid)."""
    backdated: int
    """How many events are effective before some event of an earlier line."""

    def json_lines(self) -> list[str]:
        """Return the lines as JSON text, one object per line."""
        return [json.dumps(line, ensure_ascii=False) for line in self.lines]

    def event_ids(self) -> list[str]:
        """Return each line's event id, in canonical (lower-case) form."""
        return [str(uuid.UUID(line["event_id"])) for line in self.lines]

    def types(self) -> list[str]:
        """Return each line's event type."""
        return [str(line["type"]) for line in self.lines]

    def new_events(
        self, *, actor: str = "test", source_name: str = "generated.jsonl"
    ) -> list[NewEvent]:
        """Return the lines parsed as `revledger import` would (see `new_events`)."""
        return new_events(self.lines, timezone=self.timezone, actor=actor, source_name=source_name)


def new_events(
    lines: Sequence[Mapping[str, Any]],
    *,
    timezone: str = "UTC",
    actor: str = "test",
    source_name: str = "generated.jsonl",
    start_line: int = 1,
) -> list[NewEvent]:
    """Return `NewEvent`s parsed from import-line dicts with `ledger.jsonl.ImportParser`.

    `timezone` is the zone bare dates are read in until a `ledger_configured` line changes it.
    Parse a history in one go even when it is appended in several batches: the parser carries
    the time zone from line to line.
    """
    parser = ImportParser(timezone=timezone, actor=actor, source_name=source_name)
    return [
        parser.parse(json.dumps(dict(line), ensure_ascii=False), n)
        for n, line in enumerate(lines, start=start_line)
    ]


# -- the model ---------------------------------------------------------------------------------
DEAL_STREAM_TYPES = frozenset(
    {
        "deal_opened",
        "stage_changed",
        "contract_signed",
        "deal_lost",
        "deal_reopened",
        "deal_updated",
        "persona_engaged",
        "security_review_started",
        "security_questionnaire_completed",
    }
)
"""Events the model replays on their deal's stream."""
ACCOUNT_STREAM_TYPES = frozenset(
    {"contract_signed", "go_live", "expansion", "contraction", "churn"}
)
"""Events the model replays on their account: its own stream and the contracts signed for it."""
STATELESS_TYPES = frozenset(
    {
        "persona_engaged",
        "deal_updated",
        "security_review_started",
        "security_questionnaire_completed",
        "quota_set",
        "forecast_submitted",
    }
)
"""Events that change no rule state: retracting one never makes another event invalid."""

RETRACTION_GROUPS: tuple[frozenset[str], ...] = (
    ACCOUNT_STREAM_TYPES,
    DEAL_STREAM_TYPES - ACCOUNT_STREAM_TYPES - STATELESS_TYPES,
    STATELESS_TYPES | {"ledger_configured"},
)
"""What a retraction takes out, grouped: revenue, a deal's state, what changes no state."""


class _Invalid(Exception):
    """The model's judgement that the rules refuse an event in its place."""


@dataclass(frozen=True)
class _Emitted:
    event_id: str
    type: str
    deal_id: str | None = None
    account_id: str | None = None
    arr: Decimal | None = None
    stage: str | None = None
    names_account: bool = False
    """A `contract_signed` that names its account (as one of a deal never opened must)."""
    segment: str | None = None
    """The segment a `deal_updated` sets, if it does."""


@dataclass
class _DealRules:
    """A deal's rule state, replayed from its events in business order (the model's own
    account of the rules: a deal is opened once, moves and is lost only while open, reopens
    only when lost, is signed once, and exists before anything else is recorded of it)."""

    exists: bool = False
    opened: bool = False
    status: str | None = None
    stage: str | None = None

    def apply(self, e: _Emitted) -> None:
        t = e.type
        if t == "deal_opened":
            if self.exists:
                raise _Invalid(t)
            self.exists = self.opened = True
            self.status, self.stage = "open", e.stage
        elif t == "stage_changed":
            if self.status != "open" or e.stage == self.stage:
                raise _Invalid(t)
            self.stage = e.stage
        elif t == "contract_signed":
            if self.status in ("won", "lost") or not (self.exists or e.names_account):
                raise _Invalid(t)
            self.exists, self.status = True, "won"
        elif t == "deal_lost":
            if self.status != "open":
                raise _Invalid(t)
            self.status = "lost"
        elif t == "deal_reopened":
            if self.status != "lost":
                raise _Invalid(t)
            self.status, self.stage = "open", e.stage
        elif not self.exists:
            raise _Invalid(t)


@dataclass
class _AccountRules:
    """An account's rule state, replayed from its events and the contracts signed for it in
    business order: a go-live needs its deal's contract signed, not yet live and not ended by
    a churn; expansion and contraction need live ARR, a contraction at most all of it; churn
    needs live or signed ARR and ends the contracts not yet live."""

    live: Decimal = Decimal(0)
    pending: dict[str, Decimal] = field(default_factory=dict)
    went_live: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    churned: bool = False
    reactivated: bool = False

    def apply(self, e: _Emitted) -> None:
        t = e.type
        if t == "contract_signed":
            assert e.deal_id is not None and e.arr is not None
            self.pending[e.deal_id] = e.arr
            self.cancelled.discard(e.deal_id)
            self.reactivated = self.reactivated or self.churned
        elif t == "go_live":
            d = e.deal_id
            if d is None or d in self.went_live or d in self.cancelled or d not in self.pending:
                raise _Invalid(t)
            self.live += self.pending.pop(d)
            self.went_live.add(d)
        elif t in ("expansion", "contraction"):
            assert e.arr is not None
            if self.live <= 0 or (t == "contraction" and e.arr > self.live):
                raise _Invalid(t)
            self.live += e.arr if t == "expansion" else -e.arr
        elif t == "churn":
            if self.live <= 0 and not self.pending:
                raise _Invalid(t)
            self.live = Decimal(0)
            self.cancelled.update(self.pending)
            self.pending.clear()
            self.churned = True


@dataclass
class _Deal:
    deal_id: str
    account_id: str
    clock: datetime
    state: _DealRules = field(default_factory=_DealRules)
    events: list[str] = field(default_factory=list)
    """Ids of the deal's events in line order (which is its business order), retracted too."""

    @property
    def status(self) -> str | None:
        return self.state.status


@dataclass
class _Account:
    account_id: str
    clock: datetime | None = None
    state: _AccountRules = field(default_factory=_AccountRules)
    events: list[str] = field(default_factory=list)
    """Ids of the account's events and contracts in line (= business) order, retracted too."""

    @property
    def live(self) -> Decimal:
        return self.state.live

    @property
    def pending(self) -> dict[str, Decimal]:
        return self.state.pending


def _cents(n: int) -> Decimal:
    return Decimal(n) / 100


def _key_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_key_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _key_value(v)) for k, v in value.items()))
    return value


class _Builder:
    """Draws one history step by step, keeping the rule state of every entity."""

    def __init__(
        self,
        draw: Callable[[st.SearchStrategy[Any]], Any],
        *,
        max_deals: int,
        max_accounts: int,
        segment_corrections: bool = False,
        retract_kinds: frozenset[str] = frozenset(),
        forecast_moves: bool = False,
        revenue_lifecycle: bool = False,
        pipeline_changes: bool = False,
    ) -> None:
        self.draw = draw
        self.pipeline_changes = pipeline_changes
        self.forecast_moves = forecast_moves
        self.revenue_lifecycle = revenue_lifecycle
        first = draw(st.integers(0, len(QUARTER_STARTS) - 2))
        self.close_quarters = QUARTER_STARTS[first : first + 2]
        """With `forecast_moves`, every expected close is at a bound of these quarters."""
        self.segment_corrections = segment_corrections
        self.retract_kinds = retract_kinds
        self.sign_next: str | None = None
        self.max_deals = max_deals
        self.max_accounts = max_accounts
        self.salt: uuid.UUID = draw(st.uuids(version=4))
        self.lines: list[Line] = []
        self.deals: dict[str, _Deal] = {}
        self.accounts: dict[str, _Account] = {}
        self.emitted: dict[str, _Emitted] = {}
        self.retracted: set[str] = set()
        self._retractable: tuple[int, list[str]] | None = None
        self.follow_up: str | None = None
        self.configs: list[str] = []
        self.config_zones: dict[str, str] = {}
        self.config_stages: dict[str, tuple[str, ...]] = {}
        """The pipeline's stage names, in order, of each configuration."""
        self.contents: set[Any] = set()
        self.latest: datetime | None = None
        self.backdated = 0
        self.tz = "UTC"
        self.stages: tuple[str, ...] = DEFAULT_STAGE_NAMES
        self.custom_stages: list[dict[str, str]] | None = None

    # -- drawing helpers -----------------------------------------------------------------------
    def pick(self, options: Sequence[T]) -> T:
        """Return one of `options` (shrinking towards the first)."""
        index: int = self.draw(st.integers(0, len(options) - 1))
        return options[index]

    def flag(self) -> bool:
        return bool(self.draw(st.booleans()))

    def money(self, low_cents: int, high_cents: int) -> Decimal:
        return _cents(self.draw(st.integers(low_cents, high_cents)))

    def money_json(self, amount: Decimal) -> str | int:
        """Return `amount` spelled as an import file might: `"1200.5"`, `"1200.50"` or 1200."""
        style = self.pick(("plain", "two_places", "integer"))
        if style == "integer" and amount == amount.to_integral_value():
            return int(amount)
        if style == "two_places":
            return format(amount.quantize(Decimal("0.01")), "f")
        return format(amount.normalize(), "f") if amount else "0"

    def when(self, lower: datetime | None) -> tuple[datetime, str]:
        """Return an instant at or after `lower` (anywhere in the horizon if None) and its text.

        The text is a bare date (start of that day in the current parse time zone), an instant
        in UTC (`…Z`), or an instant with a UTC offset. Now and then the instant is `lower`
        itself, so that an entity has several events at one instant.
        """
        if lower is not None and self.draw(st.integers(0, 5)) == 0:
            # At the very instant of the entity's previous event: a tie that seq breaks.
            return lower, self.instant_text(lower, "utc")
        base = lower if lower is not None else EPOCH
        span = STEP_DAYS if lower is not None else HORIZON_DAYS
        days = self.draw(st.integers(0, span))
        style = self.pick(("date", "utc", "offset"))
        if style == "date":
            tz = zone(self.tz)
            d: date = (base.astimezone(tz) + timedelta(days=days)).date()
            instant = start_of_day(d, self.tz)
            if instant < base:
                d += timedelta(days=1)
                instant = start_of_day(d, self.tz)
            return instant, d.isoformat()
        instant = base + timedelta(days=days, seconds=self.draw(st.integers(0, 86_399)))
        return instant, self.instant_text(instant, style)

    def instant_text(self, instant: datetime, style: str) -> str:
        if style == "utc":
            return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        offset = self.pick(OFFSETS)
        return instant.astimezone(timezone(offset)).isoformat(timespec="seconds")

    # -- emitting ------------------------------------------------------------------------------
    def emit(
        self,
        type_name: str,
        payload: dict[str, Any],
        lower: datetime | None,
        *,
        deal_id: str | None = None,
        account_id: str | None = None,
        arr: Decimal | None = None,
        stage: str | None = None,
        names_account: bool = False,
        segment: str | None = None,
        at: date | None = None,
    ) -> tuple[str, datetime]:
        """Append one line at or after `lower`; return its event id and effective instant.

        `at` fixes the effective date instead. `payload` holds model values (Decimal money,
        date objects); they are spelled out here. The event is applied to the model state of
        its deal and account (which must accept it: the generator emits only valid events).
        """
        if at is not None:
            instant, text = start_of_day(at, self.tz), at.isoformat()
        else:
            instant, text = self.when(lower)
        content = tuple(sorted((k, _key_value(v)) for k, v in payload.items()))
        while (type_name, instant, content) in self.contents:
            instant += timedelta(seconds=1)
            text = self.instant_text(instant, "utc")
        self.contents.add((type_name, instant, content))
        if self.latest is not None and instant < self.latest:
            self.backdated += 1
        self.latest = instant if self.latest is None else max(self.latest, instant)

        event_id = str(uuid.uuid5(self.salt, f"event-{len(self.lines)}"))
        line: Line = {
            "type": type_name,
            "effective_at": text,
            "event_id": event_id.upper() if self.draw(st.integers(0, 4)) == 0 else event_id,
        }
        for k, v in payload.items():
            if isinstance(v, Decimal):
                line[k] = self.money_json(v) if k != "probability" else format(v, "f")
            elif isinstance(v, date):
                line[k] = v.isoformat()
            else:
                line[k] = v
        extra = self.draw(st.integers(0, 9))
        if extra == 0:
            line["idempotency_key"] = f"crm:{event_id}"
        elif extra == 1:
            line["actor"] = "crm-sync"
        self.lines.append(line)
        emitted = _Emitted(
            event_id, type_name, deal_id, account_id, arr, stage, names_account, segment
        )
        self.emitted[event_id] = emitted
        streams: tuple[tuple[frozenset[str], _Deal | _Account | None], ...] = (
            (DEAL_STREAM_TYPES, self.deals.get(deal_id or "")),
            (ACCOUNT_STREAM_TYPES, self.accounts.get(account_id or "")),
        )
        for types, stream in streams:
            if type_name in types:
                assert stream is not None
                stream.state.apply(emitted)
                stream.events.append(event_id)
                stream.clock = instant
        return event_id, instant

    # -- the configuration ---------------------------------------------------------------------
    def configure(self, *, first: bool) -> None:
        payload: dict[str, Any] = {}
        if first and self.flag():
            names = self.draw(
                st.lists(st.sampled_from(CUSTOM_STAGE_POOL), min_size=2, max_size=5, unique=True)
            )
            self.stages = tuple(names)
            self.custom_stages = self.pipeline(names)
        elif not first and (self.pipeline_changes or self.draw(st.integers(0, 2)) == 0):
            # A later configuration may reorder the pipeline and change its probabilities and
            # forecast categories; it keeps the stage names, so retracting either
            # configuration strands no deal in a stage the pipeline then lacks.
            self.stages = tuple(self.draw(st.permutations(self.stages)))
            self.custom_stages = self.pipeline(self.stages)
        if self.custom_stages is not None:
            payload["stages"] = self.custom_stages
        tz = self.pick(TIMEZONES)
        # An import line of this type is a whole configuration: a later one gives every
        # setting, since leaving out one that differs from its default is refused.
        if tz != "UTC" or not first or self.flag():
            payload["timezone"] = tz
        if not first or self.flag():
            payload["currency"] = self.pick(CURRENCIES)
            payload["fiscal_year_start_month"] = self.draw(st.integers(1, 12))
        # The first configuration precedes every other event in valid time too.
        at = (EPOCH - timedelta(days=31)).date() if first else None
        event_id, _ = self.emit("ledger_configured", payload, None, at=at)
        self.configs.append(event_id)
        self.config_zones[event_id] = tz
        self.config_stages[event_id] = self.stages
        self.tz = tz

    def pipeline(self, names: Sequence[str]) -> list[dict[str, str]]:
        """Return the `stages` of a configuration: `names` in order, each with a probability
        (rising through the pipeline, or drawn) and a forecast category."""
        rising = self.flag()
        return [
            {
                "name": n,
                "probability": format(Decimal(i + 1) / (len(names) + 1), ".2f")
                if rising
                else format(_cents(self.draw(st.integers(0, 100))), "f"),
                "forecast_category": self.pick(FORECAST_CATEGORIES[:3]),
            }
            for i, n in enumerate(names)
        ]

    # -- the actions ---------------------------------------------------------------------------
    def actions(self) -> list[Callable[[], None]]:
        """Return the actions that are valid in the current state (one event each)."""
        acts: list[Callable[[], None]] = [self.quota_set, self.forecast_submitted]
        deals = [d for d in self.deals.values() if d.state.exists]
        if len(self.deals) < self.max_deals:
            acts += [self.deal_opened, self.deal_opened, self.sign_unopened_deal]
        if deals:
            acts += [self.deal_updated, self.persona_engaged, self.security_event]
        if any(d.status == "open" for d in deals):
            acts += [self.stage_changed, self.stage_changed, self.contract_signed, self.deal_lost]
        if any(d.status == "lost" for d in deals):
            acts += [self.deal_reopened, self.deal_reopened]
        accounts = list(self.accounts.values())
        if any(a.pending for a in accounts):
            acts += [self.go_live, self.go_live]
        if any(a.live > 0 for a in accounts):
            acts += [self.expansion, self.expansion, self.contraction]
        if any(a.live > 0 or a.pending for a in accounts):
            acts.append(self.churn)
        retractable = {self.emitted[c].type for c in self.retractable()}
        if retractable:
            acts.append(self.event_retracted)
        if retractable - STATELESS_TYPES:
            acts.append(self.event_retracted)
        if len([c for c in self.configs if c not in self.retracted]) > 1:
            acts.append(self.retract_configuration)
        if self.follow_up in self.retractable():
            acts += [self.retract_follow_up] * 6
        if self.retract_kinds:
            # Emit events of those kinds more often (a churn of an account with a contract not
            # live yet, which it ends; a loss, so that a deal can be reopened), and retract them.
            lean = self.retract_kinds
            acts += [act for act in acts if act.__name__ in lean]
            if "deal_reopened" in lean and any(d.status == "open" for d in deals):
                acts.append(self.deal_lost)
            if "churn" in lean and any(a.pending for a in accounts):
                acts += [self.churn_pending] * 2
            if retractable & lean:
                acts += [self.retract_a_chosen_kind] * 6
        if self.segment_corrections:
            if self.unsigned_open_deals():
                acts += [self.deal_updated] * 3
            if self.segment_updates_to_correct():
                acts += [self.correct_segment] * 4
            if self.sign_next in self.unsigned_open_deals():
                acts += [self.sign_corrected] * 6
        if self.revenue_lifecycle:
            # Take accounts through their whole life: signed, live, changed, churned and back.
            # First in the list, which is what the simplest examples pick.
            lifecycle: list[Callable[[], None]] = []
            if any(a.state.churned and not (a.live or a.pending) for a in accounts):
                lifecycle += [self.sign_churned] * 3
            if any(a.pending for a in accounts):
                lifecycle += [self.go_live] * 5
            if any(a.live > 0 for a in accounts):
                lifecycle += [self.churn, self.churn, self.contraction]
            if any(d.status == "open" for d in deals):
                lifecycle += [self.contract_signed] * 2
            if len(self.deals) < self.max_deals:
                lifecycle += [self.sign_unopened_deal] * 2
            acts = lifecycle + acts
        if self.forecast_moves and deals:
            acts += [self.deal_updated] * 3
            if any(d.status == "open" for d in deals):
                acts += [self.stage_changed] * 2
        if self.draw(st.integers(0, 1 if self.pipeline_changes else 4)) == 0:
            acts.append(self.reconfigure)
        return acts

    def new_account_or_existing(self, *, prefer_churned: bool = False) -> _Account:
        existing = sorted(self.accounts)
        churned = [a for a in existing if self.accounts[a].state.churned]
        if prefer_churned and churned:
            return self.accounts[self.pick(churned)]
        if existing and (len(existing) >= self.max_accounts or self.flag()):
            return self.accounts[self.pick(existing)]
        n = len(self.accounts) + 1
        account_id = self.pick((f"A-{n:03d}", f"acme-health-{n}", f"Mercy Clinics {n}"))
        account = _Account(account_id)
        self.accounts[account_id] = account
        return account

    def new_deal_id(self) -> str:
        n = len(self.deals) + 1
        return str(self.pick((f"D-{n:04d}", f"opp:{n}", f"Renewal {n} FY")))

    def deal(self, status: str | None = None) -> _Deal:
        """Return an existing deal, in `status` if given."""
        ids = sorted(
            d
            for d, m in self.deals.items()
            if m.state.exists and (status is None or m.status == status)
        )
        return self.deals[self.pick(ids)]

    def deal_opened(self) -> None:
        account = self.new_account_or_existing(prefer_churned=self.flag())
        deal_id = self.new_deal_id()
        stage = self.pick(self.stages)
        payload: dict[str, Any] = {
            "deal_id": deal_id,
            "account_id": account.account_id,
            "stage": stage,
            "amount": self.money(0, 250_000_000),
            "expected_close": self.expected_close(),
        }
        if self.flag():
            payload["segment"] = self.pick(SEGMENTS)
        if self.flag():
            payload["channel"] = self.pick(CHANNELS)
        if self.flag():
            payload["owner"] = self.pick(OWNERS)
        if self.flag():
            payload["personas"] = self.draw(
                st.lists(st.sampled_from(PERSONAS), max_size=3, unique=True)
            )
        self.deals[deal_id] = _Deal(deal_id, account.account_id, EPOCH)
        self.emit("deal_opened", payload, None, deal_id=deal_id, stage=stage)

    def signature(self, deal: _Deal, account: _Account, *, name_account: bool) -> None:
        lower = max(deal.clock, account.clock) if account.clock else deal.clock
        # Now and then a free pilot: a contract for $0.
        arr = (
            self.money(0, 0) if self.draw(st.integers(0, 9)) == 0 else self.money(100, 300_000_000)
        )
        payload: dict[str, Any] = {"deal_id": deal.deal_id, "arr": arr}
        if name_account:
            payload["account_id"] = account.account_id
        if self.flag():
            payload["term_months"] = self.pick((12, 24, 36, 1, 120))
        if self.flag():
            payload["tcv"] = arr * self.draw(st.integers(1, 3))
        if self.flag():
            payload["baa_signed"] = self.flag()
        if self.flag():
            payload["standard_terms"] = self.flag()
        self.emit(
            "contract_signed",
            payload,
            lower,
            deal_id=deal.deal_id,
            account_id=account.account_id,
            arr=arr,
            names_account=name_account,
        )

    def sign_churned(self) -> None:
        """Sign a new contract, with no deal opened, for an account that churned."""
        self.sign_unopened_deal(prefer_churned=True)

    def sign_unopened_deal(self, *, prefer_churned: bool | None = None) -> None:
        if prefer_churned is None:
            prefer_churned = self.flag()
        account = self.new_account_or_existing(prefer_churned=prefer_churned)
        deal_id = self.new_deal_id()
        start = account.clock or EPOCH + timedelta(days=self.draw(st.integers(0, HORIZON_DAYS)))
        deal = _Deal(deal_id, account.account_id, start)
        self.deals[deal_id] = deal
        self.signature(deal, account, name_account=True)

    def contract_signed(self) -> None:
        deal = self.deal("open")
        self.signature(deal, self.accounts[deal.account_id], name_account=self.flag())

    def stage_changed(self) -> None:
        deal = self.deal("open")
        others = [s for s in self.stages if s != deal.state.stage]
        stage = self.pick(others)
        self.emit(
            "stage_changed",
            {"deal_id": deal.deal_id, "stage": stage},
            deal.clock,
            deal_id=deal.deal_id,
            stage=stage,
        )

    def deal_lost(self) -> None:
        deal = self.deal("open")
        payload: dict[str, Any] = {"deal_id": deal.deal_id}
        if self.flag():
            payload["reason"] = self.pick(REASONS)
        self.emit("deal_lost", payload, deal.clock, deal_id=deal.deal_id)

    def deal_reopened(self) -> None:
        deal = self.deal("lost")
        stage = self.pick(self.stages)
        self.emit(
            "deal_reopened",
            {"deal_id": deal.deal_id, "stage": stage},
            deal.clock,
            deal_id=deal.deal_id,
            stage=stage,
        )

    def deal_updated(self) -> None:
        deal = self.deal()
        if self.segment_corrections and self.unsigned_open_deals() and self.flag():
            deal = self.deals[self.pick(self.unsigned_open_deals())]
        names = sorted(
            self.draw(
                st.sets(
                    st.sampled_from(
                        (
                            "amount",
                            "expected_close",
                            "forecast_category",
                            "probability",
                            "owner",
                            "segment",
                        )
                    ),
                    min_size=1,
                )
            )
        )
        if self.segment_corrections and "segment" not in names:
            names.append("segment")
        payload: dict[str, Any] = {"deal_id": deal.deal_id}
        for name in names:
            if name == "amount":
                payload[name] = self.money(0, 250_000_000)
            elif name == "expected_close":
                payload[name] = self.expected_close()
            elif name == "forecast_category":
                payload[name] = self.pick(FORECAST_CATEGORIES)
            elif name == "probability":
                payload[name] = Decimal(self.draw(st.integers(0, 10_000))) / 10_000
            elif name == "owner":
                payload[name] = self.pick(OWNERS)
            else:
                payload[name] = self.pick(SEGMENTS)
        self.emit(
            "deal_updated",
            payload,
            deal.clock,
            deal_id=deal.deal_id,
            segment=payload.get("segment"),
        )

    def persona_engaged(self) -> None:
        deal = self.deal()
        payload = {"deal_id": deal.deal_id, "persona": self.pick(PERSONAS)}
        self.emit("persona_engaged", payload, deal.clock, deal_id=deal.deal_id)

    def security_event(self) -> None:
        deal = self.deal()
        type_name = self.pick(("security_review_started", "security_questionnaire_completed"))
        payload = {"deal_id": deal.deal_id, "framework": self.pick(FRAMEWORKS)}
        self.emit(type_name, payload, deal.clock, deal_id=deal.deal_id)

    def account_event(
        self, account: _Account, type_name: str, payload: dict[str, Any], arr: Decimal | None
    ) -> None:
        self.emit(
            type_name,
            {"account_id": account.account_id, **payload},
            account.clock,
            deal_id=payload.get("deal_id"),
            account_id=account.account_id,
            arr=arr,
        )

    def go_live(self) -> None:
        account = self.accounts[self.pick(sorted(a for a, m in self.accounts.items() if m.pending))]
        deal_id = self.pick(sorted(account.pending))
        self.account_event(account, "go_live", {"deal_id": deal_id}, None)

    def expansion(self) -> None:
        account = self.accounts[self.pick(sorted(a for a, m in self.accounts.items() if m.live))]
        arr = self.money(1, 50_000_000)
        self.account_event(account, "expansion", {"arr": arr}, arr)

    def contraction(self) -> None:
        account = self.accounts[self.pick(sorted(a for a, m in self.accounts.items() if m.live))]
        arr = self.money(1, int(account.live * 100))
        self.account_event(account, "contraction", {"arr": arr}, arr)

    def churn(self) -> None:
        self.churn_one(a for a, m in self.accounts.items() if m.live or m.pending)

    def churn_pending(self) -> None:
        """Churn an account with a contract signed and not live yet, which the churn ends."""
        self.churn_one(a for a, m in self.accounts.items() if m.pending)

    def churn_one(self, candidates: Iterable[str]) -> None:
        account = self.accounts[self.pick(sorted(candidates))]
        payload: dict[str, Any] = {}
        if self.flag():
            payload["reason"] = self.pick(REASONS)
        self.account_event(account, "churn", payload, None)

    def quota_set(self) -> None:
        payload = {"period": self.period(), "amount": self.money(1, 2_000_000_000)}
        self.emit("quota_set", payload, None)

    def forecast_submitted(self) -> None:
        commit = self.money(0, 1_000_000_000)
        payload: dict[str, Any] = {
            "period": self.period(),
            "commit": commit,
            "best_case": commit + self.money(0, 500_000_000),
        }
        if self.flag():
            payload["note"] = self.pick(("two commits slipped to Q+1", "CFO asked for a haircut"))
        self.emit("forecast_submitted", payload, None)

    def expected_close(self) -> date:
        """Return a deal's expected close: anywhere in the horizon, or (as often) a day at a
        quarter's bound, its last day or the first of the next, so that many deals share a
        period and an update moves a close across a bound (pulled in, pushed out)."""
        if not self.forecast_moves and self.flag():
            return EPOCH.date() + timedelta(days=self.draw(st.integers(0, 1500)))
        if self.forecast_moves:
            start = self.pick(self.close_quarters)
        else:
            start = QUARTER_STARTS[self.draw(st.integers(0, len(QUARTER_STARTS) - 1))]
        return start - timedelta(days=1) if self.flag() else start

    def period(self) -> str:
        if self.forecast_moves and self.flag():
            # A period of the deals' expected closes, so that calls and quotas meet them.
            d = self.pick(self.close_quarters)
            d = d - timedelta(days=1) if self.flag() else d
            return self.pick((f"{d.year}-Q{(d.month - 1) // 3 + 1}", str(d.year)))
        year = self.draw(st.integers(2023, 2026))
        kind = self.pick(("quarter", "month", "year"))
        if kind == "quarter":
            return f"{year}-Q{self.draw(st.integers(1, 4))}"
        if kind == "month":
            return f"{year}-{self.draw(st.integers(1, 12)):02d}"
        return str(year)

    def reconfigure(self) -> None:
        self.configure(first=False)

    # -- retractions ---------------------------------------------------------------------------
    def replay_deal(self, deal: _Deal, without: str | None = None) -> _DealRules:
        """Return the deal's state replayed without its retracted events (nor `without`);
        raise `_Invalid` when the rules would refuse one of the events that remain."""
        state = _DealRules()
        for event_id in deal.events:
            if event_id != without and event_id not in self.retracted:
                state.apply(self.emitted[event_id])
        return state

    def replay_account(self, account: _Account, without: str | None = None) -> _AccountRules:
        """Return the account's state replayed as `replay_deal` replays a deal's."""
        state = _AccountRules()
        for event_id in account.events:
            if event_id != without and event_id not in self.retracted:
                state.apply(self.emitted[event_id])
        return state

    def stays_valid_without(self, e: _Emitted) -> bool:
        """True when the streams of `e` stay valid without it (so the rules take a retraction
        of it), judged by replaying them."""
        try:
            if e.type in DEAL_STREAM_TYPES:
                assert e.deal_id is not None
                self.replay_deal(self.deals[e.deal_id], without=e.event_id)
            if e.type in ACCOUNT_STREAM_TYPES:
                assert e.account_id is not None
                self.replay_account(self.accounts[e.account_id], without=e.event_id)
        except _Invalid:
            return False
        return True

    def retractable(self) -> list[str]:
        """Return the ids of the events whose retraction leaves every stream valid: any event
        not retracted yet (nor a retraction) whose absence the model's replay accepts, and a
        configuration unless it is the last one in force. A configuration may reorder the
        pipeline, never change its stage names, so no retraction strands a deal in a stage it
        lacks."""
        if self._retractable is not None and self._retractable[0] == len(self.lines):
            return self._retractable[1]
        out: list[str] = []
        live_configs = [c for c in self.configs if c not in self.retracted]
        for e in self.emitted.values():
            if e.event_id in self.retracted or e.type == "event_retracted":
                continue
            if e.type == "ledger_configured":
                if len(live_configs) > 1:
                    out.append(e.event_id)
            elif e.type in STATELESS_TYPES or self.stays_valid_without(e):
                out.append(e.event_id)
        self._retractable = (len(self.lines), out)
        return out

    def unretractable(self) -> list[str]:
        """Return the ids of the events, not retracted yet, that the rules refuse to retract."""
        allowed = set(self.retractable())
        return [
            e.event_id
            for e in self.emitted.values()
            if e.event_id not in allowed
            and e.event_id not in self.retracted
            and e.type != "event_retracted"
        ]

    def event_retracted(self) -> None:
        """Retract the latest event (a correction right after it was recorded) or one drawn
        by group (revenue, deal state, the rest) and kind, so the rarer retractions that undo
        state are drawn often too: a go-live, say, retractable only while no expansion or
        contraction needs its ARR."""
        candidates = self.retractable()
        latest = next(
            (
                e.event_id
                for e in reversed(self.emitted.values())
                if e.event_id not in self.retracted and e.type != "event_retracted"
            ),
            None,
        )
        if self.pick(("latest", "by kind", "by kind")) == "latest" and latest in candidates:
            target = self.emitted[latest]
        else:
            kinds = {self.emitted[c].type for c in candidates}
            group = self.pick([g for g in RETRACTION_GROUPS if g & kinds])
            kind = self.pick(sorted(group & kinds))
            chosen = self.pick([c for c in candidates if self.emitted[c].type == kind])
            target = self.emitted[chosen]
        self.retract(target)

    def retract_configuration(self) -> None:
        """Retract one of the configurations in force (while another stays): when it is the
        last, the lines after it read bare dates in the time zone of the one before again."""
        live = [c for c in self.configs if c not in self.retracted]
        self.retract(self.emitted[self.pick(live)])

    def retract_a_chosen_kind(self) -> None:
        """Retract an event of one of the kinds `retract_kinds` names (the kind drawn first,
        so each is drawn about as often however many events of the others there are)."""
        candidates = self.retractable()
        kinds = {self.emitted[c].type for c in candidates} & self.retract_kinds
        kind = self.pick(sorted(kinds))
        chosen = self.pick([c for c in candidates if self.emitted[c].type == kind])
        self.retract(self.emitted[chosen])

    def unsigned_open_deals(self) -> list[str]:
        """Return the open deals of accounts with no contract signed yet."""
        return sorted(
            d.deal_id
            for d in self.deals.values()
            if d.status == "open"
            and not any(
                self.emitted[e].type == "contract_signed"
                for e in self.accounts[d.account_id].events
            )
        )

    def segment_updates_to_correct(self) -> list[str]:
        """Return the segment changes of the deals `unsigned_open_deals` names, not retracted."""
        deals = set(self.unsigned_open_deals())
        return [
            e.event_id
            for e in self.emitted.values()
            if e.type == "deal_updated"
            and e.segment is not None
            and e.deal_id in deals
            and e.event_id not in self.retracted
        ]

    def correct_segment(self) -> None:
        """Retract a segment change of a deal not signed yet (its account has no contract):
        a read model built before the deal is signed holds no attribute of it, so it must keep
        the retraction for the history it reads at the signature."""
        self.retract(self.emitted[self.pick(self.segment_updates_to_correct())])

    def sign_corrected(self) -> None:
        """Sign the deal whose segment change was just retracted."""
        assert self.sign_next is not None
        deal = self.deals[self.sign_next]
        self.signature(deal, self.accounts[deal.account_id], name_account=self.flag())

    def retract_follow_up(self) -> None:
        """Unwind a correction further: retract the contract of a go-live just retracted, or
        the loss before a reopening just retracted."""
        assert self.follow_up is not None
        self.retract(self.emitted[self.follow_up])

    def retract(self, target: _Emitted) -> None:
        """Emit a retraction of `target` and replay the state of its deal and account."""
        retracts = target.event_id.upper() if self.flag() else target.event_id
        self.emit("event_retracted", {"retracts": retracts, "reason": self.pick(REASONS)}, None)
        self.retracted.add(target.event_id)
        if target.type == "ledger_configured":
            # The lines after it read bare dates in the zone of the configuration in force
            # again (the last one not retracted), as `revledger import` does.
            live = [c for c in self.configs if c not in self.retracted]
            self.tz = self.config_zones[live[-1]]
        self.follow_up = self.undone_before(target)
        if target.type == "deal_updated" and target.segment is not None:
            self.sign_next = target.deal_id
        if target.type in DEAL_STREAM_TYPES:
            assert target.deal_id is not None
            deal = self.deals[target.deal_id]
            deal.state = self.replay_deal(deal)
        if target.type in ACCOUNT_STREAM_TYPES:
            assert target.account_id is not None
            account = self.accounts[target.account_id]
            account.state = self.replay_account(account)

    def undone_before(self, target: _Emitted) -> str | None:
        """Return the event a correction retracting `target` would likely retract next: the
        contract of a go-live, the loss before a reopening (None for other events)."""
        if target.type == "go_live":
            assert target.account_id is not None
            stream = self.accounts[target.account_id].events
            wanted = "contract_signed"
        elif target.type == "deal_reopened":
            assert target.deal_id is not None
            stream = self.deals[target.deal_id].events
            wanted = "deal_lost"
        else:
            return None
        before = stream[: stream.index(target.event_id)]
        for event_id in reversed(before):
            e = self.emitted[event_id]
            if e.type == wanted and e.deal_id == target.deal_id and event_id not in self.retracted:
                return event_id
        return None

    # -- the result ----------------------------------------------------------------------------
    def result(self, timezone_: str) -> GeneratedLedger:
        live_configs = [c for c in self.configs if c not in self.retracted]
        deals = {
            d.deal_id: DealOutcome(
                d.deal_id, d.account_id, d.state.opened, str(d.status), d.state.stage
            )
            for d in self.deals.values()
            if d.state.exists  # not a deal whose every event was retracted
        }
        accounts = {
            a.account_id: AccountOutcome(
                a.account_id,
                a.live,
                dict(a.pending),
                a.state.churned,
                a.state.reactivated,
            )
            for a in self.accounts.values()
        }
        return GeneratedLedger(
            lines=self.lines,
            timezone=timezone_,
            stage_names=self.config_stages[live_configs[-1]] if live_configs else self.stages,
            deals=deals,
            accounts=accounts,
            retracted=frozenset(self.retracted),
            retractable=frozenset(self.retractable()),
            unretractable=frozenset(self.unretractable()),
            backdated=self.backdated,
        )


@st.composite
def ledgers(
    draw: st.DrawFn,
    *,
    min_events: int = 1,
    max_events: int = 40,
    max_deals: int = 8,
    max_accounts: int = 5,
    with_config: bool = True,
    segment_corrections: bool = False,
    retract_kinds: frozenset[str] = frozenset(),
    forecast_moves: bool = False,
    revenue_lifecycle: bool = False,
    pipeline_changes: bool = False,
) -> GeneratedLedger:
    """Draw a valid history of `min_events`..`max_events` events after its configuration line.

    With `with_config` (the default) the first line is a `ledger_configured` (default or custom
    pipeline, some time zone), so the lines make a whole ledger when appended to an empty store.
    Without it the history assumes a ledger already configured with the default pipeline in
    UTC (such as the `store` fixture) and has only the events. Parse the lines with
    `GeneratedLedger.new_events()`.

    With `segment_corrections` the history leans towards deals of accounts not signed yet
    whose segment is changed, the change retracted, and the deal signed afterwards: the
    history a revenue read model built before the signature must read with the retraction.

    With `retract_kinds` (event types) the history leans towards events of those kinds and
    their retraction: it emits them more often (with `churn`, a churn of an account whose
    contract is not live yet, which it ends; with `deal_reopened`, losses to reopen), and often
    retracts one of them (whichever of those kinds are retractable, drawn first by kind).

    With `forecast_moves` the history leans towards what a forecast audit sorts into its
    categories: every expected close is at the bound of two adjacent quarters (the last day of
    one, the first of the next), and deals are updated (close, amount, category, probability)
    and moved between stages more often.

    With `revenue_lifecycle` the history leans towards accounts taken through their whole
    life: contracts go live, contract and churn more often, and churned accounts sign again
    (a reactivation once the new contract goes live).

    With `pipeline_changes` the history leans towards later configurations that reorder the
    pipeline and change its probabilities and forecast categories (its stage names stay).
    """
    builder = _Builder(
        draw,
        max_deals=max_deals,
        max_accounts=max_accounts,
        segment_corrections=segment_corrections,
        retract_kinds=retract_kinds,
        forecast_moves=forecast_moves,
        revenue_lifecycle=revenue_lifecycle,
        pipeline_changes=pipeline_changes,
    )
    if with_config:
        builder.configure(first=True)
    size = draw(st.integers(min_events, max_events)) + len(builder.lines)
    while len(builder.lines) < size:
        builder.pick(builder.actions())()
    return builder.result("UTC")


def batch_splits(n: int) -> st.SearchStrategy[list[int]]:
    """Return a strategy for sorted cut points that split `n` items into one or more batches."""
    if n < 2:
        return st.just([])
    return st.lists(st.integers(1, n - 1), max_size=4, unique=True).map(sorted)


def split(items: Sequence[T], cuts: Sequence[int]) -> list[list[T]]:
    """Return `items` cut at the indices `cuts` (sorted, each in 1..len-1)."""
    bounds = [0, *cuts, len(items)]
    return [list(items[a:b]) for a, b in itertools.pairwise(bounds)]


__all__ = [
    "AccountOutcome",
    "DealOutcome",
    "GeneratedLedger",
    "Line",
    "batch_splits",
    "ledgers",
    "new_events",
    "split",
]
