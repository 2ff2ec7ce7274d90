"""Domain rules, checked against stream state at append.

Every rule is judged in business order: the stream's events sorted by `(effective_at, seq)` with
the new event in its place. An event appended in order is applied to the stream's current state;
a backdated one makes the whole stream replay, so it is rejected both when it is wrong itself and
when it would make a later event wrong (e.g. a `deal_lost` backdated before the deal's signature).
The rules read an event through its `RuleView` (`ledger.events.view`), the few fields they judge
it by; that is what the state keeps of every event of the streams it has loaded.

The rules:
- every event but `ledger_configured` needs a configured ledger; stages must be in its pipeline;
- a deal is opened once; stage changes, losses and signatures need an open deal; a lost deal
  takes `deal_reopened` before anything else moves it; a won deal is final;
- `go_live` needs that deal's contract, signed for this account on or before the go-live;
- expansion and contraction need live ARR, and a contraction never takes ARR below zero; churn
  needs live or signed ARR;
- a retraction names an existing event that is not yet retracted, is not itself a retraction,
  and whose absence leaves the stream valid;
- a new configuration keeps every stage in which an open deal stands (it would be stranded,
  in a stage without a probability or a forecast category), and no retraction strands one
  either (of the configuration that brought its stage back, or of the event that moved it out
  of a stage dropped since).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from ledger.errors import NOT_CONFIGURED, ConflictError, InputError
from ledger.events import LEDGER_STREAM, LedgerConfigured
from ledger.events.view import RuleView
from ledger.timeutil import zone


class Fact(NamedTuple):
    """An event placed in business order, by what the rules read of it (`view`); `account_id`
    is the account it concerns, if known.

    Immutable; a named tuple because an import makes one or two per event (see
    `ledger.envelope.RecordedEvent`).
    """

    effective_at: datetime
    seq: int
    event_id: str
    view: RuleView
    account_id: str | None = None

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.effective_at, self.seq)


class RuleViolation(Exception):
    """A rule broken at `fact`; the message is a sentence fragment for the user."""

    def __init__(self, message: str, fact: Fact) -> None:
        super().__init__(message)
        self.fact = fact


DayOf = Callable[[Fact], str]
"""Names the business day of a fact in messages: its date in the ledger's time zone."""


def utc_day(fact: Fact) -> str:
    """Return the UTC date of `fact`'s effective time (for a book with no configuration)."""
    return fact.effective_at.date().isoformat()


@dataclass
class DealState:
    """One deal's status in business order: open, won or lost, its stage and its account."""

    deal_id: str
    exists: bool = False
    opened: bool = False
    status: str | None = None
    stage: str | None = None
    account_id: str | None = None
    last_key: tuple[datetime, int] | None = None
    day: DayOf = field(default=utc_day, repr=False, compare=False)

    def apply(self, fact: Fact) -> None:
        """Apply one deal event, raising RuleViolation when it breaks a rule."""
        e = fact.view
        t = e.type
        d = self.deal_id
        if t == "deal_opened":
            if self.exists and not self.opened:
                raise RuleViolation(
                    f"deal {d} has a contract_signed effective before its deal_opened; a deal "
                    "is opened before it is signed",
                    fact,
                )
            if self.exists:
                raise RuleViolation(f"deal {d} already exists; a deal is opened once", fact)
            self.exists = self.opened = True
            self.status, self.stage, self.account_id = "open", e.stage, e.account_id
        elif t == "stage_changed":
            self._require_open(fact, "change its stage")
            if e.stage == self.stage:
                raise RuleViolation(f"deal {d} is already in stage {e.stage}", fact)
            self.stage = e.stage
        elif t == "contract_signed":
            if self.status == "won":
                raise RuleViolation(f"deal {d} is already signed", fact)
            if self.status == "lost":
                raise RuleViolation(
                    f"deal {d} is lost; record deal_reopened before signing it", fact
                )
            if not self.exists and e.account_id is None:
                raise RuleViolation(
                    f"deal {d} was never opened, so contract_signed must name its account_id",
                    fact,
                )
            if e.account_id is not None and self.account_id not in (None, e.account_id):
                raise RuleViolation(
                    f"deal {d} belongs to account {self.account_id}, not {e.account_id}", fact
                )
            self.exists = True
            self.status = "won"
            self.account_id = self.account_id or e.account_id
        elif t == "deal_lost":
            if self.status == "lost":
                raise RuleViolation(f"deal {d} is already lost", fact)
            self._require_open(fact, "lose it")
            self.status = "lost"
        elif t == "deal_reopened":
            if self.status != "lost":
                state = "not opened" if not self.exists else self.status
                raise RuleViolation(f"deal {d} is {state}; only a lost deal can reopen", fact)
            self.status, self.stage = "open", e.stage
        elif not self.exists:
            raise RuleViolation(
                f"deal {d} does not exist on {self.day(fact)}; record deal_opened first", fact
            )
        self.last_key = fact.key

    def _require_open(self, fact: Fact, action: str) -> None:
        d = self.deal_id
        if not self.opened and self.status != "won":
            raise RuleViolation(
                f"deal {d} was never opened (as of {self.day(fact)}); record deal_opened first",
                fact,
            )
        if self.status == "won":
            raise RuleViolation(
                f"deal {d} is already won, so you cannot {action}; retract its contract_signed "
                "first if the signature was recorded in error",
                fact,
            )
        if self.status == "lost":
            raise RuleViolation(f"deal {d} is lost; record deal_reopened before you {action}", fact)


@dataclass
class AccountState:
    """One account's live and signed-but-pending ARR in business order."""

    account_id: str
    live: Decimal = Decimal(0)
    pending: dict[str, Decimal] = field(default_factory=dict)
    went_live: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)  # contracts a churn ended before go-live
    last_key: tuple[datetime, int] | None = None
    day: DayOf = field(default=utc_day, repr=False, compare=False)

    def apply(self, fact: Fact) -> None:
        """Apply an account event or a contract signed for this account; raise on a violation."""
        e = fact.view
        t = e.type
        a = self.account_id
        if t == "contract_signed":
            assert e.deal_id is not None and e.arr is not None
            self.pending[e.deal_id] = e.arr  # once per deal: its own rules refuse a second
        elif t == "go_live":
            assert e.deal_id is not None
            if e.deal_id in self.went_live:
                raise RuleViolation(f"deal {e.deal_id} is already live for account {a}", fact)
            if e.deal_id in self.cancelled:
                raise RuleViolation(
                    f"the contract of deal {e.deal_id} ended with the churn of account {a} "
                    "before it went live; a new deal's contract is needed (or retract the churn "
                    "if it was recorded in error)",
                    fact,
                )
            if e.deal_id not in self.pending:
                raise RuleViolation(
                    f"deal {e.deal_id} has no contract signed for account {a} on or before "
                    f"{self.day(fact)}; go-live needs a signed contract",
                    fact,
                )
            self.live += self.pending.pop(e.deal_id)
            self.went_live.add(e.deal_id)
        elif t == "expansion" or t == "contraction":
            assert e.arr is not None
            kind = "an expansion" if t == "expansion" else "a contraction"
            if self.live <= 0:
                raise RuleViolation(
                    f"account {a} has no live ARR on {self.day(fact)}; {kind} needs a live "
                    "customer",
                    fact,
                )
            if t == "contraction" and e.arr > self.live:
                raise RuleViolation(
                    f"the contraction of {e.arr} exceeds account {a}'s live ARR of {self.live} "
                    f"on {self.day(fact)}",
                    fact,
                )
            self.live += e.arr if t == "expansion" else -e.arr
        elif t == "churn":
            if self.live <= 0 and not self.pending:
                raise RuleViolation(
                    f"account {a} has no ARR on {self.day(fact)} (none live, and no contract "
                    "awaiting go-live); only a customer can churn",
                    fact,
                )
            self.live = Decimal(0)
            self.cancelled.update(self.pending)
            self.pending.clear()
        self.last_key = fact.key


class FactSource(Protocol):
    """What the rules need to read from the stored log (the store implements it)."""

    def facts_for_deals(self, deal_ids: Collection[str]) -> dict[str, list[Fact]]:
        """Return each deal stream's non-retracted facts."""
        ...

    def facts_for_accounts(self, account_ids: Collection[str]) -> dict[str, list[Fact]]:
        """Return each account's stream facts plus contracts signed for it, non-retracted."""
        ...

    def facts_by_event_id(self, event_ids: Collection[str]) -> dict[str, Fact]:
        """Return stored facts by event id (retracted or not)."""
        ...

    def stream_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        """Return the current version of each stream (absent streams are at 0)."""
        ...

    def retracted_ids(self) -> set[str]:
        """Return the ids of all retracted events."""
        ...

    def configurations(self) -> list[Fact]:
        """Return every non-retracted `ledger_configured` fact in seq order."""
        ...

    def deals_naming_stages(self, stages: Collection[str]) -> set[str]:
        """Return the ids of the deals with an event that names one of `stages` (at least
        those: a superset does no harm, the caller judges each deal by its state)."""
        ...

    def stage_names(self) -> set[str]:
        """Return the name of every stage a stored `ledger_configured` lists, retracted ones
        too: every stage a stored deal event can name."""
        ...


class Admitted(NamedTuple):
    """The outcome of admitting one event: its stream version and index references."""

    stream_version: int
    deal_id: str | None
    account_id: str | None


StateT = DealState | AccountState


class _Streams:
    """Facts and end state of a family of streams (deals or accounts), kept in business order.

    Every use of a stream moves its stream id (`prefix` + key) to the end of `used`, an order
    the book's families share, least recently used first (for `RuleBook.shed`).
    """

    def __init__(
        self, make: Callable[[str], StateT], prefix: str, used: OrderedDict[str, None]
    ) -> None:
        self._make = make
        self.prefix = prefix  # of the stream ids: "deal:" or "account:"
        self.facts: dict[str, list[Fact]] = {}
        self.tail: dict[str, StateT] = {}
        self.held = 0  # facts in all the lists
        self._used = used

    def _use(self, key: str) -> None:
        stream = self.prefix + key
        self._used[stream] = None
        self._used.move_to_end(stream)

    def load(self, key: str, facts: Iterable[Fact]) -> None:
        """Take in the stored facts of the stream `key`, which is not loaded yet."""
        ordered = sorted(facts, key=lambda f: f.key)
        self.held += len(ordered)
        self.facts[key] = ordered
        self.tail[key] = self._replay(key, ordered)
        self._use(key)

    def forget(self, key: str) -> None:
        """Forget a loaded stream (its place in `used` is the caller's to drop)."""
        self.held -= len(self.facts.pop(key))
        del self.tail[key]

    def _replay(self, key: str, facts: list[Fact]) -> StateT:
        state = self._make(key)
        for f in facts:
            state.apply(f)
        return state

    def add(self, key: str, fact: Fact) -> None:
        """Place `fact` in the stream, raising RuleViolation if the stream becomes invalid."""
        facts = self.facts[key]
        tail = self.tail[key]
        self._use(key)
        if tail.last_key is None or fact.key > tail.last_key:
            tail.apply(fact)
            facts.append(fact)
            self.held += 1
            return
        keys = [f.key for f in facts]
        pos = bisect.bisect(keys, fact.key)
        candidate = [*facts[:pos], fact, *facts[pos:]]
        self.tail[key] = self._replay(key, candidate)
        self.facts[key] = candidate
        self.held += 1

    def standing_on(self, key: str, event_ids: Collection[str]) -> list[Fact]:
        """Return the later facts of the stream `key` that stand on the facts `event_ids`:
        the first that their absence leaves invalid, then the first that is invalid without
        it too, and so on, until what remains is valid (those retracted first, latest first,
        the facts can go). Changes nothing."""
        facts = self.facts.get(key, [])
        gone = set(event_ids)
        found: list[Fact] = []
        while True:
            try:
                self._replay(key, [f for f in facts if f.event_id not in gone])
            except RuleViolation as later:
                gone.add(later.fact.event_id)
                found.append(later.fact)
                continue
            return found

    def remove(self, key: str, event_id: str) -> None:
        """Take a fact out of the stream, raising RuleViolation if what remains is invalid."""
        facts = self.facts[key]
        remaining = [f for f in facts if f.event_id != event_id]
        self._use(key)
        self.tail[key] = self._replay(key, remaining)
        self.facts[key] = remaining
        self.held -= len(facts) - len(remaining)


class _InForce:
    """The configurations in force (non-retracted, in seq order), and the `DayOf` that names a
    fact's business day in the time zone of the last one."""

    __slots__ = ("configs",)

    def __init__(self, configs: list[Fact]) -> None:
        self.configs = configs

    @property
    def last(self) -> Fact | None:
        """Return the configuration in force (the last one), None before the first."""
        return self.configs[-1] if self.configs else None

    def __call__(self, fact: Fact) -> str:
        return self._local(fact).date().isoformat()

    def moment(self, fact: Fact) -> str:
        """Return `fact`'s effective time in the ledger's time zone, as RFC 3339 text."""
        return self._local(fact).isoformat()

    def _local(self, fact: Fact) -> datetime:
        if not self.configs:
            return fact.effective_at
        config = self.configs[-1].view.config
        assert config is not None
        return fact.effective_at.astimezone(zone(config.timezone))


class RuleBook:
    """Admits new events one by one against the stored state plus the events admitted so far."""

    def __init__(self, source: FactSource) -> None:
        self._source = source
        self._used: OrderedDict[str, None] = OrderedDict()  # stream ids, least recent first
        # The states name days through `days`, which must not refer to the book: a cycle
        # through the book would leave a long import's whole rule state to the cyclic garbage
        # collector (0.2 s of a 100k-event import, at exit).
        self._in_force = days = _InForce(source.configurations())
        self._deals = _Streams(lambda k: DealState(k, day=days), "deal:", self._used)
        self._accounts = _Streams(lambda k: AccountState(k, day=days), "account:", self._used)
        self._versions: dict[str, int] = {}
        self._retracted = source.retracted_ids()
        self._by_id: dict[str, Fact] = {}
        self._stages: tuple[LedgerConfigured | None, frozenset[str]] = (None, frozenset())
        self.first_new: int | None = None
        """The first seq of the batch being admitted (None: none): a fact from it on is not
        recorded yet, so a message names it as an earlier event of the import, not by a seq
        that no commit has made real."""

    def _seq(self, f: Fact) -> str:
        """Return how a message names `f`'s place: `seq N`, or `earlier in this import`."""
        if self.first_new is not None and f.seq >= self.first_new:
            return "earlier in this import"
        return f"seq {f.seq}"

    def rebind(self, source: FactSource) -> None:
        """Read what is not loaded yet from `source` (the same log, seen by a new transaction).

        Only valid when the log has not changed since this book's last admitted event was
        stored: the store checks that by the head it saw then (see `LedgerStore`).
        """
        self._source = source

    @property
    def retracted(self) -> set[str]:
        """Return the ids of the retracted events, stored or admitted by this book (the book's
        own set, kept up to date: read it, do not change it)."""
        return self._retracted

    @property
    def size(self) -> int:
        """Return a measure of the state held: facts by id plus loaded deal and account streams."""
        return len(self._by_id) + len(self._deals.facts) + len(self._accounts.facts)

    @property
    def facts_held(self) -> int:
        """Return the number of facts the loaded deal and account streams hold."""
        return self._deals.held + self._accounts.held

    def shed(self, keep: int) -> None:
        """Forget the least recently used deal and account streams until at most `keep` facts
        are held, and every fact held by event id.

        What is forgotten is read again from the source when an event needs it, so the source
        must hold every event this book has admitted (the store sheds between the chunks of a
        long batch, when their rows are written): the rules then decide exactly as before.
        """
        deals, accounts = self._deals, self._accounts
        while deals.held + accounts.held > keep and self._used:
            stream, _ = self._used.popitem(last=False)
            family = deals if stream.startswith(deals.prefix) else accounts
            family.forget(stream[len(family.prefix) :])
            self._versions.pop(stream, None)
        self._by_id.clear()

    # -- loading ---------------------------------------------------------------------------
    def prefetch(self, events: Iterable[RuleView]) -> None:
        """Load, in bulk, the stored state every one of `events` will need."""
        deal_ids: set[str] = set()
        account_ids: set[str] = set()
        target_ids: set[str] = set()
        streams: set[str] = set()
        for e in events:
            streams.add(e.stream_id)
            family = e.family
            if family == "deal":
                deal_ids.add(e.deal_id)  # type: ignore[arg-type]  # every deal event has one
                if e.account_id:  # deal_opened, contract_signed
                    account_ids.add(e.account_id)
            elif family == "account":
                account_ids.add(e.account_id)  # type: ignore[arg-type]  # as every account event
                if e.deal_id:  # go_live
                    deal_ids.add(e.deal_id)
            elif e.retracts:
                target_ids.add(e.retracts)
        # Set differences are written as comprehensions: `set - dict.keys()` walks the whole
        # dict, which made admitting a large batch quadratic. Empty sets are skipped: `admit`
        # calls this for every single event, almost always with everything loaded already.
        if target_ids:
            self._load_targets({t for t in target_ids if t not in self._by_id})
            for f in (self._by_id[t] for t in target_ids if t in self._by_id):
                if f.view.family == "deal":
                    deal_ids.add(f.view.deal_id)  # type: ignore[arg-type]
                if f.account_id:
                    account_ids.add(f.account_id)
        if deal_ids:
            self._load_deals({d for d in deal_ids if d not in self._deals.facts})
            for did in deal_ids:
                acct = self._deals.tail[did].account_id
                if acct:
                    account_ids.add(acct)
        if account_ids:
            self._load_accounts({a for a in account_ids if a not in self._accounts.facts})
        missing = {s for s in streams if s not in self._versions}
        if missing:
            found = self._source.stream_versions(missing)
            # Absent streams are at version 0; remember that too, so that admitting the first
            # event of a new stream does not look it up again, one query per new stream.
            self._versions.update({s: found.get(s, 0) for s in missing})

    def _loaded(self, e: RuleView) -> bool:
        """True when the state `admit` reads for `e` is loaded already (the common case)."""
        if e.stream_id not in self._versions:
            return False
        family = e.family
        if family == "deal":
            return e.deal_id in self._deals.facts
        if family == "account":
            return e.account_id in self._accounts.facts and (
                e.deal_id is None or e.deal_id in self._deals.facts
            )
        return e.retracts is None

    def _load_targets(self, ids: set[str]) -> None:
        if ids:
            self._by_id.update(self._source.facts_by_event_id(ids))

    def _load_deals(self, ids: set[str]) -> None:
        if ids:
            loaded = self._source.facts_for_deals(ids)
            for did in ids:
                self._deals.load(did, loaded.get(did, []))

    def _load_accounts(self, ids: set[str]) -> None:
        if ids:
            loaded = self._source.facts_for_accounts(ids)
            for aid in ids:
                self._accounts.load(aid, loaded.get(aid, []))

    # -- admission -------------------------------------------------------------------------
    @property
    def config(self) -> LedgerConfigured | None:
        """Return the configuration in force (the latest non-retracted one)."""
        configs = self._in_force.configs
        return configs[-1].view.config if configs else None

    def admit(self, fact: Fact, *, expected_version: int | None, where: str | None) -> Admitted:
        """Check `fact` against every rule and take it into the state; return its placement.

        Raises InputError for a broken rule and ConflictError for a stale expected version.
        """
        e = fact.view
        stream = e.stream_id
        if not self._loaded(e):
            self.prefetch([e])
        current = self._versions.get(stream, 0)
        if expected_version is not None and expected_version != current:
            raise ConflictError(
                f"stream {stream} is at version {current}, not the expected {expected_version}; "
                "another append got there first, so re-read it and retry",
                where=where,
            )
        self._check_configured(e, where)
        account_id: str | None = None
        family, deal_id = e.family, e.deal_id
        try:
            if family == "deal":
                assert deal_id is not None
                self._deals.add(deal_id, fact)
                account_id = self._deals.tail[deal_id].account_id
                if e.type == "contract_signed" and account_id:
                    self._ensure_account(account_id)
                    self._accounts.add(account_id, _with_account(fact, account_id))
            elif family == "account":
                account_id = e.account_id
                assert account_id is not None
                if deal_id is not None:  # go_live
                    owner = self._deals.tail[deal_id].account_id
                    if owner not in (None, account_id):
                        raise RuleViolation(
                            f"deal {deal_id} belongs to account {owner}, not {account_id}", fact
                        )
                self._accounts.add(account_id, fact)
            elif e.retracts is not None:
                before = self._in_force.last
                self._retract(e.retracts, fact)
                self._check_retraction_strands_nothing(self._by_id[e.retracts].view, before, fact)
            elif e.config is not None:
                self._check_no_deal_stranded(self._in_force.last, e.config, fact)
                self._in_force.configs.append(fact)
        except RuleViolation as violation:
            if e.type == "go_live" and violation.fact is fact:
                self._check_signed_later(fact, where)
            raise _explain(violation, fact, where, self._in_force, self._seq) from None
        self._versions[stream] = current + 1
        placed = _with_account(fact, account_id)
        self._by_id[fact.event_id] = placed
        return Admitted(current + 1, deal_id, account_id)

    def _check_signed_later(self, go_live: Fact, where: str | None) -> None:
        """Raise InputError for a go-live refused for want of a contract when its deal's
        contract is signed later, the same day say: a go-live given as a date is at the start
        of that day, and the day alone would not tell the user why."""
        e = go_live.view
        signed = [
            f
            for f in self._accounts.facts.get(e.account_id or "", ())
            if f.view.type == "contract_signed" and f.view.deal_id == e.deal_id
        ]
        if not signed or signed[0].key < go_live.key:
            return
        day, moment = self._in_force, self._in_force.moment
        if day(signed[0]) == day(go_live):
            when = (
                f"at {moment(signed[0])}, after this go-live at {moment(go_live)} (a date alone "
                "is the start of that day)"
            )
        else:
            when = f"on {day(signed[0])}, after this go-live on {day(go_live)}"
        raise InputError(
            f"the contract of deal {e.deal_id} is signed {when}; a go-live comes at or after "
            "its contract's signature",
            where=where,
        )

    def _check_no_deal_stranded(
        self,
        old: Fact | None,
        new: LedgerConfigured,
        fact: Fact,
        lead: str = "the new pipeline drops",
        since: tuple[datetime, int] | None = None,
    ) -> None:
        """Raise RuleViolation when `new` takes the place of the configuration `old` (the
        one in force until now) and lacks a stage in which an open deal stands at place
        `since` in business order (default: `fact`'s) or later: a deal that moved on before
        stays, its past visit is history; one that leaves only later, by an event dated after,
        does not.

        From `old`'s own place on, deals stand only in stages of `old`, so the stages `new`
        drops of it are the ones to look for; before that place, any stage a configuration
        ever listed."""
        if old is None:
            return
        assert old.view.config is not None
        at = fact.key if since is None else since
        if at < old.key:
            possible = self._source.stage_names() | {
                f.view.stage for facts in self._deals.facts.values() for f in facts if f.view.stage
            }
        else:
            possible = set(old.view.config.stage_names())
        dropped = possible - set(new.stage_names())
        if not dropped:
            return
        candidates = self._source.deals_naming_stages(dropped)
        self._load_deals({d for d in candidates if d not in self._deals.facts})
        stranded = sorted(
            (stage, d) for d in self._deals.facts for stage in self._stands_in(d, dropped, at)
        )
        if stranded:
            stage, first = stranded[0]
            who = f"the open deal {first} stands"
            if len(stranded) > 1:
                who = f"the open deal {first} and {len(stranded) - 1} more stand"
            raise RuleViolation(
                f"{lead} the stage {stage}, where {who}; move "
                f"{'them' if len(stranded) > 1 else 'it'} to a stage it keeps (stage_changed, "
                "or deal_lost) first, or keep the stage",
                fact,
            )

    def _check_retraction_strands_nothing(
        self, target: RuleView, before: Fact | None, fact: Fact
    ) -> None:
        """Raise RuleViolation when a retraction just taken in leaves an open deal in a stage
        the pipeline in force lacks: it took out the configuration that brought that stage
        back, or the event that moved the deal out of a stage dropped since. `before` is the
        configuration in force before the retraction."""
        in_force = self._in_force.last
        if in_force is None:
            return
        after = in_force.view.config
        assert after is not None
        # From where the configuration in force after it stands in business order: a deal may
        # have stood in a stage it lacks before that, not from there on.
        since = in_force.key
        if target.config is not None:
            if in_force is not before:
                self._check_no_deal_stranded(
                    before,
                    after,
                    fact,
                    "retracting that ledger_configured would bring back a pipeline without",
                    since,
                )
            return
        deal_id = target.deal_id
        if target.family != "deal" or deal_id is None or deal_id not in self._deals.facts:
            return
        lacking = sorted(self._open_stages_from(deal_id, since) - self._stage_set(after))
        if lacking:
            stage = lacking[0]
            raise RuleViolation(
                f"retracting that {target.type} would leave the open deal {deal_id} in the "
                f"stage {stage}, which the pipeline in force lacks; move the deal to one of its "
                "stages first",
                fact,
            )

    def _stands_in(self, deal_id: str, stages: set[str], since: tuple[datetime, int]) -> set[str]:
        """Return which of `stages` the deal `deal_id` (loaded) stands in, open, at place
        `since` in business order or later (see `_open_stages_from`), replaying it only when
        it has events from `since` on and one of them names such a stage."""
        facts = self._deals.facts[deal_id]
        if not facts or facts[-1].key < since:
            return {stage} & stages if (stage := _open_stage(self._deals.tail[deal_id])) else set()
        if not any(f.view.stage in stages for f in facts):
            return set()
        return self._open_stages_from(deal_id, since) & stages

    def _open_stages_from(self, deal_id: str, since: tuple[datetime, int]) -> set[str]:
        """Return the stages the deal `deal_id` (loaded) stands in, open, at business-order
        place `since` or at any later one."""
        state = DealState(deal_id, day=self._in_force)
        facts = self._deals.facts[deal_id]
        later = bisect.bisect_left([f.key for f in facts], since)
        for f in facts[:later]:
            state.apply(f)
        seen = [_open_stage(state)]  # where it stands at `since`
        for f in facts[later:]:
            state.apply(f)
            seen.append(_open_stage(state))
        return {stage for stage in seen if stage is not None}

    def _ensure_account(self, account_id: str) -> None:
        if account_id not in self._accounts.facts:
            self._load_accounts({account_id})

    def _check_configured(self, e: RuleView, where: str | None) -> None:
        if e.config is not None:
            return
        config = self.config
        if config is None:
            raise InputError(NOT_CONFIGURED, where=where)
        stage = e.stage
        if stage is not None and stage not in self._stage_set(config):
            raise InputError(
                "is not a stage of the configured pipeline ("
                + ", ".join(config.stage_names())
                + ")",
                where=where,
                field="stage",
                value=stage,
                has_value=True,
            )

    def _stage_set(self, config: LedgerConfigured) -> frozenset[str]:
        if self._stages[0] is not config:
            self._stages = (config, frozenset(config.stage_names()))
        return self._stages[1]

    def _retract(self, retracts: str, fact: Fact) -> None:
        target = self._by_id.get(retracts)
        if target is None:
            raise RuleViolation(f"there is no event {retracts} in this ledger", fact)
        t = target.view
        if retracts in self._retracted:
            raise RuleViolation(
                f"the {t.type} ({self._seq(target)}) is already retracted, so it no longer counts "
                "and there is nothing left to retract (`log` names its retraction)",
                fact,
            )
        if t.retracts is not None:
            self._load_targets({t.retracts})
            undone = self._by_id.get(t.retracts)
            what = f"the {undone.view.type} ({self._seq(undone)})" if undone else "the event"
            named = self._seq(target)
            named = named if named.startswith("seq") else "that event of this import"
            raise RuleViolation(
                f"{named} is itself a retraction, and a retraction cannot be "
                f"retracted; to make {what} count again, record it again",
                fact,
            )
        if t.config is not None:
            remaining = [c for c in self._in_force.configs if c.event_id != retracts]
            if not remaining:
                raise RuleViolation(
                    "the ledger's only configuration cannot be retracted; to change its "
                    "settings, record ledger_configured with the right ones (it replaces this "
                    "one)",
                    fact,
                )
            self._in_force.configs = remaining
        try:
            if t.family == "deal":
                assert t.deal_id is not None
                self._deals.remove(t.deal_id, retracts)
                if t.type == "contract_signed" and target.account_id:
                    self._ensure_account(target.account_id)
                    self._accounts.remove(target.account_id, retracts)
            elif t.family == "account":
                assert t.account_id is not None
                self._accounts.remove(t.account_id, retracts)
        except RuleViolation as later:
            raise RuleViolation(
                f"retracting that {t.type} ({self._seq(target)}) would leave the later "
                f"{later.fact.view.type} ({self._seq(later.fact)}) invalid: "
                f"{str(later).rstrip('.')}; {self._retract_first(target)}",
                fact,
            ) from None
        self._retracted.add(retracts)

    def _retract_first(self, target: Fact) -> str:
        """Return what to do instead of retracting `target`, which later events stand on:
        retract those first, latest first, naming them (a contract among them takes the
        events of its account that stand on it along)."""
        t = target.view
        standing: dict[str, Fact] = {}
        if t.family == "deal" and t.deal_id is not None:
            for f in self._deals.standing_on(t.deal_id, {target.event_id}):
                standing[f.event_id] = f
        contracts: dict[str, set[str]] = {}
        for f in [target, *standing.values()]:
            account_id = f.account_id
            if account_id is None and f.view.deal_id in self._deals.tail:
                account_id = self._deals.tail[f.view.deal_id].account_id
            if f.view.type == "contract_signed" and account_id is not None:
                contracts.setdefault(account_id, set()).add(f.event_id)
        if t.family == "account" and t.account_id is not None:
            contracts.setdefault(t.account_id, set()).add(target.event_id)
        for account_id, gone in contracts.items():
            self._ensure_account(account_id)
            for f in self._accounts.standing_on(account_id, gone):
                standing[f.event_id] = f
        first = [
            f"the {f.view.type} ({self._seq(f)})"
            for f in sorted(standing.values(), key=lambda f: f.key, reverse=True)
        ]
        if not first:
            return "retract what stands on it first, latest first"
        named = first[0] if len(first) == 1 else ", ".join(first[:-1]) + " and " + first[-1]
        return f"retract what stands on it first, latest first: {named}"


def _open_stage(state: object) -> str | None:
    """Return the stage an open deal stands in (None for any other state)."""
    if isinstance(state, DealState) and state.status == "open":
        return state.stage
    return None


def _with_account(fact: Fact, account_id: str | None) -> Fact:
    if fact.account_id == account_id:
        return fact
    return Fact(fact.effective_at, fact.seq, fact.event_id, fact.view, account_id)


def _explain(
    violation: RuleViolation,
    new: Fact,
    where: str | None,
    day: DayOf,
    seq: Callable[[Fact], str],
) -> InputError:
    if violation.fact.event_id == new.event_id:
        return InputError(str(violation), where=where)
    later = violation.fact
    return InputError(
        f"this {new.view.type} would make the later {later.view.type} "
        f"({seq(later)}, effective {day(later)}) invalid: {violation}",
        where=where,
    )


__all__ = [
    "LEDGER_STREAM",
    "AccountState",
    "Admitted",
    "DealState",
    "Fact",
    "FactSource",
    "RuleBook",
    "RuleView",
    "RuleViolation",
]


_DEFAULT_CONFIG = LedgerConfigured()


def check_omitted_settings(
    in_force: LedgerConfigured | None, omitted: Sequence[str], where: str | None
) -> None:
    """Raise InputError when a `ledger_configured` import line that left out the settings
    `omitted` (so takes their defaults) would reset one of them from its value in force to the
    default: a time zone alone would put the default pipeline back in place of a custom one,
    say, and leave open deals in stages it lacks."""
    if in_force is None:
        return
    lost = [n for n in omitted if getattr(in_force, n) != getattr(_DEFAULT_CONFIG, n)]
    if not lost:
        return
    shown = " and ".join(f"{n} ({_setting_text(in_force, n)} in the ledger)" for n in lost)
    raise InputError(
        f"leaves out {shown}, which the line would reset to the default; an import line of "
        "type ledger_configured is a whole configuration: give "
        f"{'them' if len(lost) > 1 else 'it'} too, or change only the settings you give with "
        "`revledger record ledger_configured`",
        where=where,
    )


def _setting_text(config: LedgerConfigured, name: str) -> str:
    if name == "stages":
        return ", ".join(config.stage_names())
    return str(getattr(config, name))
