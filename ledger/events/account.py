"""Account events: what happens to a customer's live ARR (stream `account:<account_id>`)."""

from __future__ import annotations

from typing import Literal

from ledger.events.base import EventModel
from ledger.events.fields import FreeText, Identifier, PositiveMoney


class AccountEvent(EventModel):
    """An event on the stream of one customer account."""

    family = "account"
    account_id: Identifier

    def stream_id(self) -> str:
        return f"account:{self.account_id}"


class GoLive(AccountEvent):
    """The signed contract of `deal_id` goes live: its ARR moves from pending to live."""

    type: Literal["go_live"] = "go_live"
    deal_id: Identifier


class Expansion(AccountEvent):
    """Live ARR grows by `arr` immediately (seats, modules, price uplift)."""

    type: Literal["expansion"] = "expansion"
    arr: PositiveMoney


class Contraction(AccountEvent):
    """Live ARR shrinks by `arr`."""

    type: Literal["contraction"] = "contraction"
    arr: PositiveMoney


class Churn(AccountEvent):
    """The customer leaves: live and pending ARR go to zero. Recorded early, it is a notice."""

    type: Literal["churn"] = "churn"
    reason: FreeText | None = None


ACCOUNT_EVENTS: tuple[type[AccountEvent], ...] = (GoLive, Expansion, Contraction, Churn)

__all__ = ["ACCOUNT_EVENTS", "AccountEvent", "Churn", "Contraction", "Expansion", "GoLive"]
