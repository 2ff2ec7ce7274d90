"""Deal histories on both time axes: each deal's stage visits, moves, attributes and outcome.

A deal is replayed from the events that count as known at `known_at` (see
`projections.logged.visible`) in the one replay order `(effective_at, seq)`, up to an exclusive
valid-time bound (a query's "close of as_of"):
- `deal_opened` starts the deal and its first stage visit; `stage_changed` ends the current
  visit and starts the next (a move, backward when the new stage comes earlier in the
  configured pipeline); `deal_reopened` brings a lost deal back at a stage;
- `contract_signed` (won) and `deal_lost` end the open visit and close the deal;
- `deal_updated` changes amount, expected close, forecast category, probability, owner, segment;
- `persona_engaged` adds a buyer persona (the committee of a closed deal is the personas
  engaged by its close); `security_review_started` /
  `security_questionnaire_completed` open and complete a security review per framework;
- `go_live` (on the account's stream) records when the deal's signed contract went live;
  `churn` (on the account's stream) cancels the account's signed contracts not live yet;
- `quota_set` sets the bookings quota of a period (the last one in replay order counts).
The pipeline (stage order, probabilities, forecast categories) is the last configuration known
at `known_at`, whatever its effective time: stages are named, not dated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from sys import intern
from typing import Any, Literal

from ledger.events import (
    DEAL_EVENTS,
    DEFAULT_STAGES,
    Churn,
    ContractSigned,
    DealLost,
    DealOpened,
    DealReopened,
    DealUpdated,
    GoLive,
    LedgerConfigured,
    PersonaEngaged,
    QuotaSet,
    SecurityQuestionnaireCompleted,
    SecurityReviewStarted,
    StageChanged,
)
from ledger.events.deal import ForecastCategory
from projections.logged import LoggedEvent, visible

Status = Literal["open", "won", "lost"]
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The configured stages in order, with each stage's probability and forecast category."""

    stages: tuple[str, ...]
    probabilities: dict[str, Decimal]
    categories: dict[str, ForecastCategory]

    @classmethod
    def of(cls, config: LedgerConfigured | None) -> Pipeline:
        """Return the pipeline of `config` (the default pipeline when there is none)."""
        specs = config.stages if config is not None else DEFAULT_STAGES
        return cls(
            tuple(s.name for s in specs),
            {s.name: s.probability for s in specs},
            {s.name: s.forecast_category for s in specs},
        )

    def position(self, stage: str) -> int:
        """Return the stage's 0-based place in the pipeline (unknown stages sort last)."""
        try:
            return self.stages.index(stage)
        except ValueError:
            return len(self.stages)

    def is_backward(self, from_stage: str, to_stage: str) -> bool:
        """Return whether moving `from_stage` → `to_stage` goes to an earlier stage of the
        pipeline; a move from or to a stage it no longer has is none (no stage is earlier or
        later than one outside it)."""
        n = len(self.stages)
        to, came_from = self.position(to_stage), self.position(from_stage)
        return to < came_from < n

    def is_forward(self, from_stage: str, to_stage: str) -> bool:
        """Return whether moving `from_stage` → `to_stage` goes to a later stage of the
        pipeline; as with `is_backward`, a move from or to a stage outside it is neither."""
        return self.is_backward(to_stage, from_stage)


@dataclass(frozen=True, slots=True)
class StageVisit:
    """One stay of a deal in a stage, `[entered_at, left_at)` in valid time.

    `left_at` is None while the deal is still in the stage at the replay bound.
    """

    stage: str
    entered_at: datetime
    left_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.left_at is not None

    def end(self, until: datetime) -> datetime:
        """Return when the visit ended, or `until` for a visit still open."""
        return self.left_at if self.left_at is not None else until


@dataclass(frozen=True, slots=True)
class Move:
    """A `stage_changed` from one stage to another, effective `at`, recorded as event `seq`."""

    from_stage: str
    to_stage: str
    at: datetime
    seq: int
    backward: bool


@dataclass(frozen=True, slots=True)
class SecurityReview:
    """A security review under one framework: started, and completed once its questionnaire is."""

    framework: str
    started_at: datetime
    completed_at: datetime | None = None


@dataclass(slots=True)
class Deal:
    """One deal as replayed up to a valid-time bound, as known at a transaction time.

    `stage` is the current stage while open and the last stage before closing once closed.
    `forecast_category` and `probability` are the deal's own overrides (None: the stage's).
    `events` are the events that shaped the deal, in replay order.
    """

    deal_id: str
    account_id: str | None = None
    opened_at: datetime | None = None
    status: Status = "open"
    stage: str | None = None
    amount: Decimal = ZERO
    expected_close: date | None = None
    forecast_category: ForecastCategory | None = None
    probability: Decimal | None = None
    owner: str | None = None
    segment: str | None = None
    channel: str | None = None
    engaged_at: dict[str, datetime] = field(default_factory=dict)
    """Each persona engaged, in the order first engaged, with when (valid time)."""
    closed_at: datetime | None = None
    contract: ContractSigned | None = None
    live_at: datetime | None = None
    cancelled_at: datetime | None = None
    """When a churn of the account cancelled the signed contract before it went live."""
    visits: list[StageVisit] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    reopened_at: list[datetime] = field(default_factory=list)
    reviews: list[SecurityReview] = field(default_factory=list)
    events: list[LoggedEvent] = field(default_factory=list)

    def stage_probability(self, pipeline: Pipeline) -> Decimal:
        """Return the win probability: the deal's override, else its stage's (0 if unknown)."""
        if self.probability is not None:
            return self.probability
        return pipeline.probabilities.get(self.stage or "", ZERO)

    def category(self, pipeline: Pipeline) -> ForecastCategory:
        """Return the forecast category: the deal's override, else its stage's."""
        if self.forecast_category is not None:
            return self.forecast_category
        return pipeline.categories.get(self.stage or "", "pipeline")

    @property
    def personas(self) -> tuple[str, ...]:
        """Return the personas engaged, in the order first engaged."""
        return tuple(self.engaged_at)

    def committee(self) -> tuple[str, ...]:
        """Return the buying committee: every persona engaged while the deal is open, and once
        it is won or lost, those engaged by its close (one engaged later took no part in it)."""
        if self.status == "open" or self.closed_at is None:
            return self.personas
        closed_at = self.closed_at
        return tuple(p for p, at in self.engaged_at.items() if at <= closed_at)

    def _engage(self, personas: Iterable[str], at: datetime) -> None:
        for persona in personas:
            self.engaged_at.setdefault(persona, at)

    def _enter(self, stage: str, at: datetime) -> None:
        self.stage = stage
        self.visits.append(StageVisit(stage, at))

    def _leave(self, at: datetime) -> None:
        if self.visits and self.visits[-1].left_at is None:
            v = self.visits[-1]
            self.visits[-1] = StageVisit(v.stage, v.entered_at, at)


@dataclass(frozen=True, slots=True)
class DealBook:
    """Every deal replayed to one bound as known at one time, with the pipeline and quotas."""

    deals: dict[str, Deal]
    pipeline: Pipeline
    quotas: dict[str, Decimal]
    bound: datetime | None
    known_at: datetime | None


def last_configuration(events: Iterable[LoggedEvent]) -> LedgerConfigured | None:
    """Return the configuration recorded last among `events` (None if there is none)."""
    last: tuple[int, LedgerConfigured] | None = None
    for e in events:
        if isinstance(e.payload, LedgerConfigured) and (last is None or e.seq > last[0]):
            last = (e.seq, e.payload)
    return last[1] if last else None


def replay_deals(
    events: Iterable[LoggedEvent],
    bound: datetime | None = None,
    known_at: datetime | None = None,
    *,
    keep_events: bool = True,
) -> DealBook:
    """Return every deal as of the exclusive valid-time `bound` (None: all), known at `known_at`.

    `known_at` bounds transaction time (None: everything recorded); events are filtered and
    ordered by `projections.logged.visible`. Without `keep_events` each deal's `events` stay
    empty (for the questions that never read them: nothing then holds the events replayed).
    """
    seen = visible(events, known_at)
    return replay_visible(
        seen, Pipeline.of(last_configuration(seen)), bound, known_at, keep_events=keep_events
    )


def replay_visible(
    events: Iterable[LoggedEvent],
    pipeline: Pipeline,
    bound: datetime | None = None,
    known_at: datetime | None = None,
    *,
    keep_events: bool = True,
) -> DealBook:
    """Return the book `replay_deals` returns, from events that already count as known at
    `known_at` and come in replay order (what `visible` returns: retractions and the events
    they name left out), under `pipeline` (that of the last configuration among them).

    The events are read once, in order, and (without `keep_events`) not held: a caller may
    stream them. Configurations, calls and events after `bound` may be left out of them.
    """
    deals: dict[str, Deal] = {}
    quotas: dict[str, Decimal] = {}
    signed: dict[str, list[Deal]] = {}  # account -> its deals signed so far, for a churn
    steps = _STEPS
    for e in events:
        at = e.effective_at
        if bound is not None and at >= bound:
            break
        p: Any = e.payload  # its type is looked up once, below
        step = steps.get(type(p))
        if step is None:
            if isinstance(p, QuotaSet):
                quotas[p.period] = p.amount
            elif isinstance(p, GoLive):
                d = deals.get(p.deal_id)
                if d is not None and d.live_at is None:
                    d.live_at = at
                    if keep_events:
                        d.events.append(e)
            elif isinstance(p, Churn):
                for d in signed.pop(p.account_id, ()):
                    if _awaiting_go_live(d):
                        d.cancelled_at = at
                        if keep_events:
                            d.events.append(e)
            continue
        deal_id = p.deal_id
        d = deals.get(deal_id)
        if d is None:
            d = deals[deal_id] = Deal(deal_id)
        if keep_events:
            d.events.append(e)
        step(d, p, at, e.seq, pipeline)
        if step is _signed and d.account_id is not None:
            signed.setdefault(d.account_id, []).append(d)
    return DealBook(deals, pipeline, quotas, bound, known_at)


def _awaiting_go_live(d: Deal) -> bool:
    """True when the deal is signed and its contract neither live nor cancelled."""
    return d.status == "won" and d.live_at is None and d.cancelled_at is None


def _named(text: str | None) -> str | None:
    """Return `text` interned: the stages, owners, segments and accounts deals keep recur."""
    return None if text is None else intern(text)


def _opened(d: Deal, p: DealOpened, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d.account_id, d.opened_at, d.status = intern(p.account_id), at, "open"
    d.amount, d.expected_close = p.amount, p.expected_close
    d.segment, d.channel, d.owner = _named(p.segment), _named(p.channel), _named(p.owner)
    d._engage([intern(persona) for persona in p.personas], at)
    d._enter(intern(p.stage), at)


def _moved(d: Deal, p: StageChanged, at: datetime, seq: int, pipeline: Pipeline) -> None:
    stage = intern(p.stage)
    if d.stage is not None and d.stage != stage:
        d.moves.append(Move(d.stage, stage, at, seq, pipeline.is_backward(d.stage, stage)))
    d._leave(at)
    d._enter(stage, at)


def _reopened(d: Deal, p: DealReopened, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d.status, d.closed_at = "open", None
    d.reopened_at.append(at)
    d._enter(intern(p.stage), at)


def _signed(d: Deal, p: ContractSigned, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d._leave(at)
    d.status, d.closed_at, d.contract = "won", at, p
    d.account_id = _named(p.account_id) or d.account_id


def _lost(d: Deal, p: DealLost, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d._leave(at)
    d.status, d.closed_at = "lost", at


def _updated(d: Deal, p: DealUpdated, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d.amount = p.amount if p.amount is not None else d.amount
    d.expected_close = p.expected_close or d.expected_close
    d.forecast_category = p.forecast_category or d.forecast_category
    d.probability = p.probability if p.probability is not None else d.probability
    d.owner = _named(p.owner) or d.owner
    d.segment = _named(p.segment) or d.segment


def _engaged(d: Deal, p: PersonaEngaged, at: datetime, seq: int, pipeline: Pipeline) -> None:
    d._engage((intern(p.persona),), at)


def _review_started(
    d: Deal, p: SecurityReviewStarted, at: datetime, seq: int, pipeline: Pipeline
) -> None:
    d.reviews.append(SecurityReview(p.framework, at))


def _questionnaire_completed(
    d: Deal, p: SecurityQuestionnaireCompleted, at: datetime, seq: int, pipeline: Pipeline
) -> None:
    for i in range(len(d.reviews) - 1, -1, -1):
        r = d.reviews[i]
        if r.framework == p.framework and r.completed_at is None:
            d.reviews[i] = SecurityReview(r.framework, r.started_at, at)
            break


Step = Callable[[Deal, Any, datetime, int, Pipeline], None]
_STEPS: dict[type, Step] = {
    DealOpened: _opened,
    StageChanged: _moved,
    DealReopened: _reopened,
    ContractSigned: _signed,
    DealLost: _lost,
    DealUpdated: _updated,
    PersonaEngaged: _engaged,
    SecurityReviewStarted: _review_started,
    SecurityQuestionnaireCompleted: _questionnaire_completed,
}
"""What each event of a deal's stream does to the deal, by its type (every deal event type)."""
assert set(_STEPS) == set(DEAL_EVENTS)
