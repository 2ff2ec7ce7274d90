"""Money summed as integer cents, handed out as the very Decimal that summing Decimals gives.

An amount of `c` cents is `Decimal(c) / 100`, whose exponent shows only the decimal places it
needs (5, 1.5, 1.25); a Decimal sum keeps the most places of any of its terms (5 + 1.5 = 6.5,
but 1.5 + 1.5 = 3.0), and output shows a Decimal as it is. Adding cents and keeping the most
places instead gives the same Decimal, digit for digit, without a Decimal operation per term.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal


def places(cents: int) -> int:
    """Return how many decimal places the amount of `cents` needs (0, 1 or 2)."""
    if not cents % 100:
        return 0
    return 1 if not cents % 10 else 2


def as_decimal(cents: int, places: int) -> Decimal:
    """Return `cents` as a Decimal amount with exactly `places` decimal places (0 to 2).

    `places` is at least what `cents` needs (the most of the terms summed into it).
    """
    if places == 2:
        return Decimal(cents).scaleb(-2)
    step = 10 ** (2 - places)
    if cents % step:
        raise ValueError(f"{cents} cents need more than {places} decimal places")
    return Decimal(cents // step).scaleb(-places)


def summed(cents: Sequence[int]) -> Decimal:
    """Return the sum of the amounts of `cents` as the Decimal that summing each one gives."""
    return as_decimal(sum(cents), max(map(places, cents), default=0))


class Tallies:
    """Per group: a count of accounts and three money sums, each as (cents, places)."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[str, list[int]] = {}

    def add(self, key: str, a: int, pa: int, b: int, pb: int, c: int, pc: int) -> None:
        """Count one account in group `key`, adding amounts `a`, `b`, `c` (cents, places)."""
        s = self.groups.get(key)
        if s is None:
            s = self.groups[key] = [0] * 7
        s[0] += 1
        s[1] += a
        s[3] += b
        s[5] += c
        if pa > s[2]:
            s[2] = pa
        if pb > s[4]:
            s[4] = pb
        if pc > s[6]:
            s[6] = pc

    def total(self) -> tuple[int, Decimal, Decimal, Decimal]:
        """Return the count and the three sums over every group."""
        t = [0] * 7
        for s in self.groups.values():
            for i in (0, 1, 3, 5):
                t[i] += s[i]
            for i in (2, 4, 6):
                t[i] = max(t[i], s[i])
        return _decimals(t)

    def lines(self) -> dict[str, tuple[int, Decimal, Decimal, Decimal]]:
        """Return each group's count and three sums."""
        return {key: _decimals(s) for key, s in self.groups.items()}


def _decimals(s: list[int]) -> tuple[int, Decimal, Decimal, Decimal]:
    return s[0], as_decimal(s[1], s[2]), as_decimal(s[3], s[4]), as_decimal(s[5], s[6])
