"""The base of every event payload: strict, frozen, versioned, and bound to one stream."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

LEDGER_STREAM = "ledger"


class EventModel(BaseModel):
    """A commercial fact. Subclasses declare `type` as a Literal and their stream.

    `schema_version` is the payload version written today; older stored versions are brought
    up to it by the upcasters registered in `ledger.events.catalog`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    schema_version: ClassVar[int] = 1
    family: ClassVar[str] = ""

    @property
    def event_type(self) -> str:
        """Return the stable type name of this event."""
        return self.__dict__["type"]  # type: ignore[no-any-return]  # every event defines it

    def stream_id(self) -> str:
        """Return the id of the stream this event belongs to (`deal:…`, `account:…`, `ledger`)."""
        raise NotImplementedError

    def deal_ref(self) -> str | None:
        """Return the deal this event names, if any (an index column, not part of the hash)."""
        return self.__dict__.get("deal_id")

    def account_ref(self) -> str | None:
        """Return the account this event names in its own payload, if any."""
        return self.__dict__.get("account_id")
