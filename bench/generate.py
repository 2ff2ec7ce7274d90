"""A deterministic generator of realistic import lines that satisfy the ledger's domain rules.

The generator simulates a pipeline: deals are opened on a pool of accounts, move through the
default stages, engage personas, run security reviews, are updated, signed or lost (and some lost
deals are reopened); signed contracts go live; live customers expand, contract and occasionally
churn; quotas and forecast calls are recorded on the ledger stream. Effective times only move
forward, so every event is appended in business order.

Lines are JSON objects in the import format (`type`, `effective_at`, payload fields, and on some
lines an explicit `idempotency_key`, `event_id`, `actor` or `source`). The same seed and count
always give the same lines, byte for byte.

Run `python -m bench.generate --events 1000 out.jsonl` to write a file.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.events import DEFAULT_STAGES

STAGES: tuple[str, ...] = tuple(s.name for s in DEFAULT_STAGES)
SEGMENTS = ("health_system", "ambulatory", "payer", "life_sciences", "post_acute")
CHANNELS = ("direct", "direct", "direct", "partner:epic", "partner:cerner")
PERSONAS = ("cmio", "cio", "it_security", "cfo", "nursing_lead", "procurement", "compliance")
FRAMEWORKS = ("hitrust", "soc2", "hecvat", "custom")
CATEGORIES = ("pipeline", "best_case", "commit", "omitted")
OWNERS = ("ae-alvarez", "ae-brooks", "ae-chen", "ae-dubois", "ae-eze", "ae-fischer")
LOSS_REASONS = (
    "budget frozen until next fiscal year",
    "chose an incumbent EHR module",
    "security review stalled",
    "no clinical champion",
)
CHURN_REASONS = ("acquired by a larger system", "consolidated vendors", "budget cuts")
START = datetime(2023, 1, 2, 14, 0, tzinfo=UTC)
OFFSETS = ("Z", "Z", "Z", "+00:00", "-05:00", "+01:00")

GENERATOR_VERSION = 1
"""Bumped whenever the generated lines change, so results name the workload they measured."""


@dataclass
class _Deal:
    deal_id: str
    account_id: str
    stage: int
    status: str = "open"
    amount: Decimal = Decimal(0)
    reviewed: set[str] = field(default_factory=set)
    personas: set[str] = field(default_factory=set)


@dataclass
class _Account:
    account_id: str
    live: Decimal = Decimal(0)
    pending: set[str] = field(default_factory=set)


class Generator:
    """Produces import lines one at a time from a seeded random source."""

    def __init__(self, seed: int = 42, accounts: int = 2000) -> None:
        self.rng = random.Random(seed)
        self.now = START
        self.accounts = [_Account(f"acct-{i:05d}") for i in range(1, accounts + 1)]
        self.open: list[_Deal] = []
        self.lost: list[_Deal] = []
        self.signed: list[_Deal] = []
        self.live: list[_Account] = []
        self.deal_count = 0
        self.line_count = 0

    # -- helpers -------------------------------------------------------------------------------
    def _when(self) -> str:
        self.now += timedelta(seconds=self.rng.randint(30, 900))
        offset = self.rng.choice(OFFSETS)
        if offset in ("Z", "+00:00"):
            local = self.now
        else:
            sign = -1 if offset[0] == "-" else 1
            local = self.now + sign * timedelta(hours=int(offset[1:3]))
        return local.strftime("%Y-%m-%dT%H:%M:%S") + offset

    def _money(self, low: int, high: int) -> Any:
        cents = self.rng.randint(low * 100, high * 100)
        if self.rng.random() < 0.5:
            cents -= cents % 100_000  # a round figure
        value = Decimal(cents) / 100
        # The import takes decimal strings, and whole amounts also as JSON integers.
        if value == value.to_integral_value() and self.rng.random() < 0.3:
            return int(value)
        return str(value)

    def _day(self, days_ahead: int) -> str:
        return (self.now.date() + timedelta(days=days_ahead)).isoformat()

    def _line(self, type_name: str, **fields: Any) -> str:
        self.line_count += 1
        obj: dict[str, Any] = {"type": type_name, "effective_at": self._when()}
        obj.update({k: v for k, v in fields.items() if v is not None})
        r = self.rng.random()
        if r < 0.15:
            obj["idempotency_key"] = f"crm:{self.line_count:08d}"
        elif r < 0.20:
            obj["event_id"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if self.rng.random() < 0.05:
            obj["actor"] = self.rng.choice(OWNERS)
        return _dumps(obj)

    # -- the simulation ------------------------------------------------------------------------
    def next_line(self) -> str:
        """Return the next import line."""
        rng = self.rng
        r = rng.random()
        if r < 0.004:
            return self._ledger_event()
        if r < 0.12 or len(self.open) < 50:
            return self._open_deal()
        if r < 0.14 and self.lost:
            return self._reopen()
        if r < 0.20 and self.signed:
            return self._go_live()
        if r < 0.27 and self.live:
            return self._account_event()
        return self._advance()

    def _ledger_event(self) -> str:
        year = self.now.year + self.rng.randint(0, 1)
        period = f"{year}-Q{self.rng.randint(1, 4)}"
        if self.rng.random() < 0.5:
            return self._line("quota_set", period=period, amount=self._money(500_000, 5_000_000))
        commit = Decimal(self.rng.randint(100_000, 3_000_000))
        best = commit + Decimal(self.rng.randint(0, 1_000_000))
        return self._line(
            "forecast_submitted",
            period=period,
            commit=str(commit),
            best_case=str(best),
            note="call after the pipeline review" if self.rng.random() < 0.5 else None,
        )

    def _open_deal(self) -> str:
        self.deal_count += 1
        account = self.rng.choice(self.accounts)
        deal = _Deal(f"deal-{self.deal_count:06d}", account.account_id, self.rng.randint(0, 2))
        amount = self._money(20_000, 900_000)
        deal.amount = Decimal(str(amount))
        self.open.append(deal)
        personas = tuple(sorted(self.rng.sample(PERSONAS, self.rng.randint(0, 2))))
        deal.personas.update(personas)
        return self._line(
            "deal_opened",
            deal_id=deal.deal_id,
            account_id=deal.account_id,
            stage=STAGES[deal.stage],
            amount=amount,
            expected_close=self._day(self.rng.randint(30, 270)),
            segment=self.rng.choice(SEGMENTS),
            channel=self.rng.choice(CHANNELS) if self.rng.random() < 0.8 else None,
            owner=self.rng.choice(OWNERS),
            personas=list(personas) or None,
        )

    def _reopen(self) -> str:
        deal = self.lost.pop(self.rng.randrange(len(self.lost)))
        deal.status = "open"
        deal.stage = self.rng.randint(0, 3)
        self.open.append(deal)
        return self._line("deal_reopened", deal_id=deal.deal_id, stage=STAGES[deal.stage])

    def _go_live(self) -> str:
        deal = self.signed.pop(self.rng.randrange(len(self.signed)))
        account = self._account(deal.account_id)
        if deal.deal_id not in account.pending:  # the account churned since the signature
            return self._advance()
        account.pending.discard(deal.deal_id)
        account.live += deal.amount
        if account not in self.live:
            self.live.append(account)
        return self._line("go_live", account_id=account.account_id, deal_id=deal.deal_id)

    def _account_event(self) -> str:
        i = self.rng.randrange(len(self.live))
        account = self.live[i]
        r = self.rng.random()
        if r < 0.02:
            self.live.pop(i)
            account.live = Decimal(0)
            account.pending.clear()
            return self._line(
                "churn", account_id=account.account_id, reason=self.rng.choice(CHURN_REASONS)
            )
        if r < 0.75:
            arr = self._money(1_000, 120_000)
            account.live += Decimal(str(arr))
            return self._line("expansion", account_id=account.account_id, arr=arr)
        cut = (account.live * Decimal(self.rng.randint(1, 20)) / 100).quantize(Decimal("0.01"))
        if cut <= 0:
            arr = self._money(1_000, 50_000)
            account.live += Decimal(str(arr))
            return self._line("expansion", account_id=account.account_id, arr=arr)
        account.live -= cut
        if account.live <= 0:
            self.live.pop(i)
        return self._line("contraction", account_id=account.account_id, arr=str(cut))

    def _account(self, account_id: str) -> _Account:
        return self.accounts[int(account_id.removeprefix("acct-")) - 1]

    def _advance(self) -> str:
        rng = self.rng
        i = rng.randrange(len(self.open))
        deal = self.open[i]
        r = rng.random()
        if r < 0.38:
            if deal.stage + 1 < len(STAGES):
                deal.stage += 1
            else:
                deal.stage = rng.randint(0, len(STAGES) - 2)  # pushed back
            return self._line("stage_changed", deal_id=deal.deal_id, stage=STAGES[deal.stage])
        if r < 0.48:
            persona = rng.choice(PERSONAS)
            deal.personas.add(persona)
            return self._line("persona_engaged", deal_id=deal.deal_id, persona=persona)
        if r < 0.56:
            framework = rng.choice(FRAMEWORKS)
            kind = (
                "security_questionnaire_completed"
                if framework in deal.reviewed
                else "security_review_started"
            )
            deal.reviewed.add(framework)
            return self._line(kind, deal_id=deal.deal_id, framework=framework)
        if r < 0.74:
            which = rng.randrange(4)
            fields: dict[str, Any] = {}
            if which == 0:
                fields["amount"] = self._money(20_000, 900_000)
                deal.amount = Decimal(str(fields["amount"]))
            elif which == 1:
                fields["expected_close"] = self._day(rng.randint(14, 200))
            elif which == 2:
                fields["forecast_category"] = rng.choice(CATEGORIES)
            else:
                fields["probability"] = f"0.{rng.randint(5, 95):02d}"
                fields["owner"] = rng.choice(OWNERS)
            return self._line("deal_updated", deal_id=deal.deal_id, **fields)
        self.open.pop(i)
        if r < 0.90 or deal.amount <= 0:
            deal.status = "lost"
            self.lost.append(deal)
            return self._line(
                "deal_lost",
                deal_id=deal.deal_id,
                reason=rng.choice(LOSS_REASONS) if rng.random() < 0.7 else None,
            )
        deal.status = "won"
        account = self._account(deal.account_id)
        account.pending.add(deal.deal_id)
        self.signed.append(deal)
        term = rng.choice((12, 12, 24, 36))
        return self._line(
            "contract_signed",
            deal_id=deal.deal_id,
            account_id=deal.account_id if rng.random() < 0.5 else None,
            arr=str(deal.amount),
            term_months=term,
            tcv=str(deal.amount * term / 12) if rng.random() < 0.5 else None,
            baa_signed=rng.random() < 0.8,
            standard_terms=rng.random() < 0.4,
        )


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def generate(n: int, seed: int = 42) -> list[str]:
    """Return `n` import lines (without the ledger's configuration, which comes first)."""
    accounts = max(50, n // 40)
    gen = Generator(seed, accounts)
    return [gen.next_line() for _ in range(n)]


def write_import(path: Path, n: int, seed: int = 42) -> Path:
    """Write `n` generated lines to `path` (one JSON object per line) and return the path."""
    path.write_text("\n".join(generate(n, seed)) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("out", type=Path, help="the JSON Lines file to write")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    write_import(args.out, args.events, args.seed)


if __name__ == "__main__":
    main()
