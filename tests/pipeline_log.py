"""Opening deals in inline ledgers for the pipeline tests."""

from __future__ import annotations

from typing import Any

from tests.inline_log import InlineLog


def open_deal(
    log: InlineLog,
    deal: str,
    when: str,
    *,
    stage: str = "qualification",
    amount: str = "100000",
    close: str = "2025-12-31",
    **extra: Any,
) -> None:
    """Open `deal` for account `A-<deal>` at `stage`, effective `when`."""
    log.add(
        "deal_opened",
        when,
        deal_id=deal,
        account_id=f"A-{deal}",
        stage=stage,
        amount=amount,
        expected_close=close,
        **extra,
    )
