"""Deal lifecycles: one opportunity from its opening to its signature or loss (and a reopening).

A deal walks the default pipeline. Each stage lasts a segment-scaled number of days; the
security review lasts as long as the buyer's questionnaire; about one deal in five that reaches
clinical validation slides back a stage once; lost deals are lost mostly early. Along the way
the buying committee grows, the amount is refined and the expected close is pushed out when it
passes. Every event is a `Draft` in valid time; `ledger.demo.knowledge` decides when the ledger
learns of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Literal, cast

from ledger.demo.catalogue import (
    LOSS_REASONS,
    LOSS_STAGES,
    QUESTIONNAIRE_DAYS,
    STAGE_DAYS,
    Segment,
    pick,
    triangle,
)
from ledger.demo.draft import Draft, RecordingKind, after_instant, at_work
from ledger.events import (
    DEFAULT_STAGES,
    ContractSigned,
    DealLost,
    DealOpened,
    DealReopened,
    DealUpdated,
    EventModel,
    PersonaEngaged,
    SecurityQuestionnaireCompleted,
    SecurityReviewStarted,
    StageChanged,
)
from ledger.events.deal import SecurityFramework

STAGES: tuple[str, ...] = tuple(s.name for s in DEFAULT_STAGES)
DealKind = Literal["new_logo", "upsell", "win_back"]
REGRESSION_SHARE = 0.22
"""Chance that a deal reaching clinical validation or later slides back one stage once."""
REOPEN_SHARE = 0.12
"""Chance that a deal lost after its demo comes back a few months later."""


@dataclass(frozen=True, slots=True)
class DealPlan:
    """What the company knows when a deal opens: who, which segment, what kind, and when."""

    deal_id: str
    account_id: str
    segment: Segment
    kind: DealKind
    opened: date
    channel: str
    owner: str


@dataclass(slots=True)
class DealStory:
    """The events of one deal; `contract` is its `contract_signed` draft when it was won."""

    plan: DealPlan
    drafts: list[Draft] = field(default_factory=list)
    contract: Draft | None = None

    @property
    def signed_on(self) -> date | None:
        """Return the day (UTC) the contract was signed, if it was."""
        return self.contract.effective_at.date() if self.contract else None

    @property
    def arr(self) -> Decimal:
        """Return the signed ARR (zero when the deal was not won)."""
        if self.contract is None:
            return Decimal(0)
        assert isinstance(self.contract.event, ContractSigned)
        return self.contract.event.arr


def round_to(x: float, step: int) -> Decimal:
    """Return `x` rounded to a multiple of `step` dollars, at least `step`."""
    return Decimal(max(step, round(x / step) * step))


def _visits(
    rng: Random, plan: DealPlan, framework: SecurityFramework | None
) -> tuple[list[str], bool]:
    """Return the stages the deal will pass through in order, and whether it is won."""
    seg = plan.segment
    partner = plan.channel != "direct"
    first = (
        "qualification"
        if plan.kind == "new_logo" and not (partner and rng.random() < 0.5)
        else "discovery"
    )
    skip_validation = plan.kind != "new_logo" or rng.random() < seg.skips_clinical_validation
    path = [
        s
        for s in STAGES[STAGES.index(first) :]
        if not (s == "clinical_validation" and skip_validation)
        and not (s == "security_review" and framework is None)
    ]
    win_rate = {"new_logo": seg.win_rate, "upsell": 0.65, "win_back": 0.8}[plan.kind]
    if rng.random() < win_rate:
        return path, True
    loss = pick(rng, tuple((s, w) for s, w in LOSS_STAGES if s in path))
    return path[: path.index(str(loss)) + 1], False


def _days(rng: Random, stage: str, factor: float, questionnaire: int) -> int:
    if stage == "security_review":
        return questionnaire + rng.randint(7, 25)
    return max(3, round(triangle(rng, STAGE_DAYS[stage], factor)))


def _with_regression(rng: Random, stays: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Return `stays`, with one slide back to the previous stage in about a fifth of deals."""
    late = [i for i, (s, _) in enumerate(stays) if i >= 1 and STAGES.index(s) >= 3]
    if not late or rng.random() >= REGRESSION_SHARE:
        return stays
    i = rng.choice(late)
    stage, days = stays[i]
    before = max(2, int(days * rng.uniform(0.3, 0.7)))
    back = (stays[i - 1][0], rng.randint(12, 45))
    return [*stays[:i], (stage, before), back, (stage, max(3, days - before + 10)), *stays[i + 1 :]]


class _Writer:
    """Writes one deal's drafts in valid-time order, keeping the chain of dependencies."""

    def __init__(self, rng: Random, story: DealStory) -> None:
        self.rng = rng
        self.story = story
        self.plan = story.plan
        self.opened: Draft | None = None
        self.spine: Draft | None = None
        self.last: datetime | None = None

    def spine_event(
        self, event: EventModel, day: date, recording: RecordingKind = "prompt"
    ) -> Draft:
        """Add a status-changing event; the next one depends on it unless it may be late."""
        when = after_instant(self.rng, day, self.last)
        self.last = when
        draft = Draft(
            event,
            when,
            self.plan.owner,
            after=(self.spine,) if self.spine else (),
            recording=recording,
        )
        self.story.drafts.append(draft)
        if recording == "prompt" or self.opened is None:
            self.spine = draft
        if self.opened is None:
            self.opened = draft
        return draft

    def leaf(self, event: EventModel, day: date) -> None:
        """Add a fact nothing depends on (personas, updates, security), after the opening."""
        assert self.opened is not None
        when = at_work(self.rng, day)
        if when <= self.opened.effective_at:
            when = self.opened.effective_at + timedelta(hours=1)
        self.story.drafts.append(
            Draft(event, when, self.plan.owner, after=(self.opened,), recording="may_be_late")
        )


def deal_story(rng: Random, plan: DealPlan) -> DealStory:
    """Return the whole (future included) history of the deal `plan` opens."""
    seg = plan.segment
    story = DealStory(plan)
    w = _Writer(rng, story)
    framework: SecurityFramework | None
    if plan.kind == "new_logo":
        framework = cast("SecurityFramework | None", pick(rng, seg.frameworks))
    else:
        framework = "custom" if plan.kind == "upsell" and rng.random() < 0.3 else None
    path, won = _visits(rng, plan, framework)
    factor = seg.cycle * {"new_logo": 1.0, "upsell": 0.45, "win_back": 0.3}[plan.kind]
    questionnaire = round(triangle(rng, QUESTIONNAIRE_DAYS[framework or "custom"], 1.0))
    stays = _with_regression(rng, [(s, _days(rng, s, factor, questionnaire)) for s in path])
    if not won:
        last_stage, last_days = stays[-1]
        stays[-1] = (last_stage, max(2, int(last_days * rng.uniform(0.3, 1.0))))
    total = sum(d for _, d in stays)
    close = plan.opened + timedelta(days=total)
    size = 0.3 if plan.kind == "upsell" else 1.0
    amount = round_to(triangle(rng, seg.arr, size), 1000)
    expected = plan.opened + timedelta(days=int(total * rng.uniform(0.6, 0.95)))
    personas = tuple(rng.sample(seg.personas, rng.randint(1, 2)))
    w.spine_event(
        DealOpened(
            deal_id=plan.deal_id,
            account_id=plan.account_id,
            stage=stays[0][0],
            amount=amount,
            expected_close=expected,
            segment=seg.name,
            channel=plan.channel,
            owner=plan.owner,
            personas=personas,
        ),
        plan.opened,
    )
    day = plan.opened
    entries: list[tuple[str, date]] = [(stays[0][0], day)]
    previous_may_be_late = False
    for j in range(1, len(stays)):
        day = day + timedelta(days=stays[j - 1][1])
        stage = stays[j][0]
        nxt = stays[j + 1][0] if j + 1 < len(stays) else None
        # A stage change may be entered late only when leaving it out keeps the deal valid
        # (the stages around it differ) and the one before it was entered on time.
        may_be_late = nxt != stays[j - 1][0] and not previous_may_be_late and rng.random() < 0.5
        previous_may_be_late = may_be_late
        w.spine_event(
            StageChanged(deal_id=plan.deal_id, stage=stage),
            day,
            "may_be_late" if may_be_late else "prompt",
        )
        entries.append((stage, day))
        if expected < day + timedelta(days=7):
            expected = max(day + timedelta(days=21), close + timedelta(days=rng.randint(-10, 40)))
            w.leaf(DealUpdated(deal_id=plan.deal_id, expected_close=expected), day)
    _committee(rng, w, plan, personas, close)
    _security(rng, w, plan, framework, entries, questionnaire, close)
    amount = _refinements(rng, w, plan, amount, entries)
    if won:
        story.contract = w.spine_event(_contract(rng, plan, amount), close)
        return story
    lost = w.spine_event(
        DealLost(deal_id=plan.deal_id, reason=rng.choice(LOSS_REASONS)), close, "may_be_late"
    )
    w.spine = lost
    lost_at = STAGES.index(stays[-1][0])
    if plan.kind == "new_logo" and lost_at >= 2 and rng.random() < REOPEN_SHARE:
        _reopen(rng, w, plan, amount, stays[-1][0], close, factor, questionnaire)
    return story


def _committee(
    rng: Random, w: _Writer, plan: DealPlan, personas: tuple[str, ...], close: date
) -> None:
    """The buying committee grows: more personas engage between the opening and the close."""
    others = [p for p in plan.segment.personas if p not in personas]
    span = max(2, (close - plan.opened).days)
    more = rng.randint(1, 4) if plan.kind == "new_logo" else rng.randint(0, 1)
    for persona in rng.sample(others, min(more, len(others))):
        day = plan.opened + timedelta(days=rng.randint(1, span - 1))
        w.leaf(PersonaEngaged(deal_id=plan.deal_id, persona=persona), day)


def _security(
    rng: Random,
    w: _Writer,
    plan: DealPlan,
    framework: SecurityFramework | None,
    entries: list[tuple[str, date]],
    questionnaire: int,
    close: date,
) -> None:
    """The security review starts when the deal first enters it; the questionnaire follows."""
    if framework is None:
        return
    entered = next((d for s, d in entries if s == "security_review"), None)
    if entered is None:
        return
    started = entered + timedelta(days=rng.randint(0, 3))
    w.leaf(SecurityReviewStarted(deal_id=plan.deal_id, framework=framework), started)
    done = started + timedelta(days=questionnaire)
    if done < close:
        w.leaf(
            SecurityQuestionnaireCompleted(deal_id=plan.deal_id, framework=framework),
            done,
        )


def _refinements(
    rng: Random, w: _Writer, plan: DealPlan, amount: Decimal, entries: list[tuple[str, date]]
) -> Decimal:
    """Amount refined after discovery, a commit call in negotiation, now and then a new owner.

    Returns the amount the contract is negotiated from.
    """
    for stage, day in entries:
        if stage in ("demo", "legal_review") and rng.random() < 0.35:
            amount = round_to(float(amount) * rng.uniform(0.85, 1.25), 1000)
            w.leaf(DealUpdated(deal_id=plan.deal_id, amount=amount), day + timedelta(days=2))
        if stage == "negotiation" and rng.random() < 0.35:
            w.leaf(
                DealUpdated(deal_id=plan.deal_id, forecast_category="commit"),
                day + timedelta(days=rng.randint(1, 5)),
            )
    if len(entries) > 2 and rng.random() < 0.04:
        others = [o for o in plan.segment.owners if o != plan.owner] or [plan.owner]
        w.leaf(DealUpdated(deal_id=plan.deal_id, owner=rng.choice(others)), entries[2][1])
    return amount


def _contract(rng: Random, plan: DealPlan, amount: Decimal) -> ContractSigned:
    seg = plan.segment
    arr = round_to(float(amount) * rng.uniform(0.88, 1.0), 500)
    term = rng.choice((12, 12, 24, 36)) if seg.name != "clinic" else rng.choice((12, 12, 12, 24))
    return ContractSigned(
        deal_id=plan.deal_id,
        account_id=plan.account_id,
        arr=arr,
        term_months=term,
        tcv=arr * term / 12,
        baa_signed=rng.random() < seg.baa_rate,
        standard_terms=rng.random() < seg.standard_terms_rate,
    )


def _reopen(
    rng: Random,
    w: _Writer,
    plan: DealPlan,
    amount: Decimal,
    lost_stage: str,
    lost_on: date,
    factor: float,
    questionnaire: int,
) -> None:
    """A lost deal comes back months later at the stage it was lost in, and closes again."""
    day = lost_on + timedelta(days=rng.randint(60, 180))
    w.spine_event(DealReopened(deal_id=plan.deal_id, stage=lost_stage), day)
    rest = list(STAGES[STAGES.index(lost_stage) + 1 :])
    won = rng.random() < 0.55
    if not won:
        rest = rest[: rng.randint(0, len(rest))]
    for stage in rest:
        day += timedelta(days=_days(rng, stage, factor * 0.7, questionnaire // 2))
        w.spine_event(StageChanged(deal_id=plan.deal_id, stage=stage), day)
    day += timedelta(days=rng.randint(10, 40))
    if won:
        w.story.contract = w.spine_event(_contract(rng, plan, amount), day)
    else:
        w.spine_event(DealLost(deal_id=plan.deal_id, reason=rng.choice(LOSS_REASONS)), day)
