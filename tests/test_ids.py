"""Generated event ids: version-7 UUIDs, unique and in order within a batch."""

from __future__ import annotations

import time
import uuid

from ledger.ids import EventIds


def test_generated_ids_are_canonical_version_7_uuids_carrying_the_batch_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = EventIds()
    after = time.time_ns() // 1_000_000
    for text in [ids.new() for _ in range(50)]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after


def test_ids_of_a_batch_are_distinct_and_sorted_even_across_the_counter_carry() -> None:
    ids = EventIds(unix_ms=1_700_000_000_000)
    ids._next = (1 << 62) - 3  # the carry from the low 62 bits into the 12 bits above them
    batch = [ids.new() for _ in range(6)]
    assert batch == sorted(batch)
    assert len(set(batch)) == 6
    assert all(uuid.UUID(t).version == 7 for t in batch)


def test_two_batches_do_not_share_ids() -> None:
    a, b = EventIds(unix_ms=0), EventIds(unix_ms=0)
    assert {a.new() for _ in range(1000)}.isdisjoint({b.new() for _ in range(1000)})
