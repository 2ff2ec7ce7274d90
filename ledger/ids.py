"""Event ids: time-ordered UUIDs (version 7, RFC 9562) for events that bring none.

Ids of one batch share the batch's millisecond and count up from a random 74-bit start, so they
are unique, sort in seq order within the batch, and go in at the end of the event_id index
instead of at random places in it, so a large import writes few index pages.
"""

from __future__ import annotations

import secrets
import time

_RANDOM_BITS = 74
_LOW_BITS = 62
_LOW_MASK = (1 << _LOW_BITS) - 1
_VARIANT = 0b10 << _LOW_BITS


class EventIds:
    """Hands out the version-7 UUIDs of one batch, as canonical lower-case text."""

    def __init__(self, unix_ms: int | None = None) -> None:
        ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
        self._prefix = (ms & (1 << 48) - 1) << 80 | 0x7 << 76
        # Start in the lower half of the counter range so a batch never wraps it.
        self._next = secrets.randbits(_RANDOM_BITS - 1)
        self._high = -1
        self._head = ""

    def new(self) -> str:
        """Return the next id of the batch."""
        n = self._next
        self._next = n + 1
        high = n >> _LOW_BITS
        if high != self._high:
            # The first 64 bits (time, version, the counter's top 12 bits) as "8-4-4-" text.
            h = f"{self._prefix >> 64 | high:016x}"
            self._high, self._head = high, f"{h[:8]}-{h[8:12]}-{h[12:]}-"
        low = f"{_VARIANT | n & _LOW_MASK:016x}"
        return f"{self._head}{low[:4]}-{low[4:]}"
